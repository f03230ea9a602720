"""Signals during a run: SIGTERM and SIGINT end it within 15 s even with I/O blocked, tear the
lab down and leave reports marked interrupted; after SIGKILL, the lab is reported stale and the
next start cleans it up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.errors import ExitCode
from harness.sim import lifecycle
from tests.conftest import ROOT
from tests.faults.inject import (
    LAB,
    LOGIN_BYTES,
    VCENTER,
    black_hole,
    cli_env,
    finish,
    needs_sim,
    start,
    wait_for_connection,
    wait_for_sim,
)

pytestmark = needs_sim


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, ExitCode.TERMINATED),
                                           (signal.SIGINT, ExitCode.INTERRUPTED)])
def test_signal_during_a_vcenter_hang_ends_within_15_s(tmp_path: Path, sig: signal.Signals,
                                                       code: ExitCode) -> None:
    """vCenter black-holed mid-run (default 45 s read timeout: the worker threads are stuck in
    socket reads), then the signal CI sends: the run is gone within 15 s, the lab is down, and
    the reports say interrupted instead of looking green."""
    report = tmp_path / "r"
    started = time.monotonic()
    proc = start(report, "-k", "vsphere")
    wait_for_sim(proc.pid)
    with black_hole(VCENTER, after_bytes=LOGIN_BYTES):  # vCenter goes silent after login
        wait_for_connection(VCENTER)
        time.sleep(3.0)  # the inventory read now hangs in a socket read
        signalled = time.monotonic()
        os.kill(proc.pid, sig)
        got = finish(proc, report, started, timeout=60)
        took = time.monotonic() - signalled
    assert took < 15, took
    assert got.code == code, got.out
    assert lifecycle.leftovers(LAB) == [] and lifecycle.load_state(LAB) is None
    summary = json.loads((report / "summary.json").read_text())
    assert summary["interrupted"] == sig.name and summary["verdict"] == "interrupted"
    assert summary["exit_code"] == code
    # written by pytest or, had it not got that far, by labharness: never green either way
    root = ET.parse(report / "junit.xml").getroot()
    errors = sum(int(s.get("errors", "0")) for s in root.iter("testsuite"))
    assert errors >= 1


def test_sigint_right_after_the_lab_is_up_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C as soon as the lab is built: a few seconds, clean, exit 130."""
    report = tmp_path / "r"
    started = time.monotonic()
    proc = start(report)
    wait_for_sim(proc.pid)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGINT)
    got = finish(proc, report, started, timeout=30)
    assert got.code == ExitCode.INTERRUPTED, got.out
    assert lifecycle.leftovers(LAB) == [] and lifecycle.load_state(LAB) is None
    assert json.loads((report / "summary.json").read_text())["verdict"] == "interrupted"


def test_sigint_where_pytests_own_report_of_it_fails_ends_the_same(tmp_path: Path) -> None:
    """The signal lands where pytest cannot report the interrupt (its rendering raises): still
    exit 130, no traceback, the lab down and the reports marked interrupted."""
    report = tmp_path / "r"
    started = time.monotonic()
    proc = start(report, env=cli_env(PYTEST_ADDOPTS="-p tests.faults.interrupted_report"))
    got = finish(proc, report, started, timeout=60)
    assert got.code == ExitCode.INTERRUPTED, got.out
    assert "interrupted by SIGINT" in got.out, got.out
    assert lifecycle.leftovers(LAB) == [] and lifecycle.load_state(LAB) is None
    assert json.loads((report / "summary.json").read_text())["verdict"] == "interrupted"


def test_after_sigkill_the_lab_is_stale_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    report = tmp_path / "r"
    proc = start(report)
    wait_for_sim(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    status = subprocess.run([sys.executable, "-m", "harness.cli", "sim", "status"], cwd=ROOT,
                            env=cli_env(), capture_output=True, text=True, timeout=60,
                            check=False)
    assert "stale" in status.stdout and f"pid {proc.pid}" in status.stdout, status.stdout
    info = json.loads(subprocess.run(
        [sys.executable, "-m", "harness.cli", "sim", "status", "--json"], cwd=ROOT,
        env=cli_env(), capture_output=True, text=True, timeout=60, check=True).stdout)
    assert info["stale"] is True
    again = start(tmp_path / "again", "-k", "ntp")
    got = finish(again, tmp_path / "again", time.monotonic())
    assert got.code == 0, got.out
    assert lifecycle.leftovers(LAB) == []
