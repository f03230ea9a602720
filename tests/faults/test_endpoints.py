"""Endpoints that stop answering during a run: bounded time, errors that name them, exit 3.

The run reaches the sim as a real lab (`labharness sim inventory`, short timeouts), so what is
broken is exactly what breaks on real equipment: a TCP path, a process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness.errors import ExitCode
from harness.sim.dataplane import names
from tests.faults.inject import (
    BMC1,
    LAB,
    LOGIN_BYTES,
    SHORT_TIMEOUTS,
    VCENTER,
    black_hole,
    daemon_pid,
    finish,
    needs_sim,
    process_in_netns,
    real_inventory,
    run,
    sim_up,
    start,
    unreachable,
    wait_for_connection,
    wait_for_sim,
)

pytestmark = needs_sim

READ = SHORT_TIMEOUTS["vsphere"]["read"]


def test_vcenter_black_holed_before_login(tmp_path: Path) -> None:
    """Not a green run: every vSphere test errors naming vCenter; the login waited once."""
    with sim_up():
        inv = real_inventory(tmp_path)
        healthy = run(tmp_path / "healthy", "--inventory", str(inv), "-k", "vsphere")
        assert healthy.code == 0, healthy.out
        with black_hole(VCENTER):
            got = run(tmp_path / "r", "--inventory", str(inv), "-k", "vsphere")
    assert got.code == ExitCode.UNREACHABLE, got.out
    assert got.outcomes("vsphere") == {"errors", "skipped"}  # skipped: the disruptive ones
    assert ("vcenter", "vcenter") in unreachable(got.summary)
    # one connect timeout (retried twice), not one per test
    assert got.wall_s < healthy.wall_s + 4 * SHORT_TIMEOUTS["vsphere"]["connect"] + 10, got.wall_s


def test_vcenter_black_holed_after_login_fails_once_and_stays_failed(tmp_path: Path) -> None:
    """The first request to time out marks vCenter down; every later test errors at once, and
    the logout at the end is not waited for."""
    with sim_up():
        inv = real_inventory(tmp_path)
        healthy = run(tmp_path / "healthy", "--inventory", str(inv), "-k", "vsphere")
        with black_hole(VCENTER, after_bytes=LOGIN_BYTES):
            got = run(tmp_path / "r", "--inventory", str(inv), "-k", "vsphere")
    assert got.code == ExitCode.UNREACHABLE, got.out
    assert "errors" in got.outcomes("vsphere") and "failed" not in got.outcomes("vsphere")
    reason = unreachable(got.summary)[("vcenter", "vcenter")]
    assert "198.19.255.10" in reason and "login" not in reason, reason  # it went down later
    # at most a couple of read timeouts, never one per test (there are over 100 of them)
    assert got.wall_s < healthy.wall_s + 3 * READ + 10, (got.wall_s, healthy.wall_s)


def test_one_bmc_black_holed(tmp_path: Path) -> None:
    """That server's build tests error naming its BMC; the other servers pass."""
    with sim_up():
        inv = real_inventory(tmp_path)
        with black_hole(BMC1):
            got = run(tmp_path / "r", "--inventory", str(inv), "-k", "server_build")
    assert got.code == ExitCode.UNREACHABLE, got.out
    assert set(unreachable(got.summary)) == {("bmc", "srv-esx01")}
    results = got.summary["results"]
    assert {r["outcome"] for r in results if "srv-esx01" in (r["subject"] or "")} <= {
        "errors", "skipped"}
    assert any(r["outcome"] == "passed" for r in results if "srv-esx02" in (r["subject"] or ""))
    redfish = SHORT_TIMEOUTS["redfish"]
    assert got.wall_s < 2 * (redfish["connect"] + redfish["read"]) + 40, got.wall_s


def test_frozen_ilo_is_down_not_passed(tmp_path: Path) -> None:
    """An iLO that stops answering (SIGSTOP) longer than the read timeout: its servers' tests
    error, the BMCs are named, and the run ends in bounded time."""
    with sim_up():
        inv = real_inventory(tmp_path)
        pid = daemon_pid("lh-ilo")
        os.kill(pid, signal.SIGSTOP)
        try:
            got = run(tmp_path / "r", "--inventory", str(inv), "-k", "server_build")
        finally:
            os.kill(pid, signal.SIGCONT)
    assert got.code == ExitCode.UNREACHABLE, got.out
    assert {k for k in unreachable(got.summary)} == {
        ("bmc", "srv-esx01"), ("bmc", "srv-esx02"), ("bmc", "srv-esx03")}
    assert got.outcomes("server_build") <= {"errors", "skipped"}
    assert got.wall_s < 60, got.wall_s


def test_ilo_that_stalls_but_answers_is_noted(tmp_path: Path) -> None:
    """An iLO frozen for less than the timeouts: the tests pass (it answered), and the summary
    notes which BMC stalled and for how long."""
    with sim_up():
        inv = real_inventory(tmp_path, redfish={"connect": 8, "read": 9})  # stall: 3 s
        pid = daemon_pid("lh-ilo")
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            proc = start(tmp_path / "r", "--inventory", str(inv), "-k", "server_build")
            wait_for_connection(BMC1)  # the kernel accepts while the emulator is frozen
            time.sleep(4.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        got = finish(proc, tmp_path / "r", started)
    assert got.code == 0, got.out
    notes = {e["name"]: e["notes"] for e in got.summary["endpoints"] if e["kind"] == "bmc"}
    assert any("stalled" in n for ns in notes.values() for n in ns), notes
    assert "stalled" in got.out


def test_killed_vcsim_is_reported_with_its_log_not_rebuilt(tmp_path: Path) -> None:
    """The vCenter simulator dies after the lab is up: the vSphere tests error, the summary
    names the daemon with the last lines of its log, and the lab is not rebuilt."""
    proc_started = time.monotonic()
    proc = start(tmp_path / "r", "-k", "vsphere or design")
    wait_for_sim(proc.pid)
    pid = daemon_pid("lh-vcsim")
    os.killpg(pid, signal.SIGKILL)
    got = finish(proc, tmp_path / "r", proc_started)
    assert got.code == ExitCode.UNREACHABLE, got.out
    assert got.outcomes("vsphere") == {"errors", "skipped"}
    down = unreachable(got.summary)
    assert ("daemon", "lh-vcsim") in down and "log" in down[("daemon", "lh-vcsim")]
    assert got.outcomes("design") == {"passed"}


@pytest.mark.parametrize("agent", ["esx02"])
def test_killed_probe_agent_is_an_error_not_a_verdict(tmp_path: Path, agent: str) -> None:
    """A probe agent dies mid-run: the tests that needed it error (a harness fault, exit 4);
    no wire test fails as if the lab were wrong."""
    proc_started = time.monotonic()
    proc = start(tmp_path / "r", "-k", "network")
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        victim = process_in_netns(proc.pid, names.netns(LAB, f"probe-{agent}"),
                                  "harness.drivers.probe")
        time.sleep(0.05)
    assert victim is not None, "the probe agent never started"
    os.kill(victim, signal.SIGKILL)
    got = finish(proc, tmp_path / "r", proc_started)
    assert got.code == ExitCode.ERRORS, got.out
    assert got.summary["tests"]["errors"] > 0
    assert got.summary["tests"]["failed"] == 0
