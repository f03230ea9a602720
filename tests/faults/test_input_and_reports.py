"""Hostile input files and report directories that cannot hold a run's results: one clear line,
its own exit code, fast, and nothing built or left behind."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import ExitCode
from harness.lab.source import MAX_DEPTH, MAX_VALUES
from harness.sim import lifecycle
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB
from tests.faults.inject import LAB, cli_env, needs_sim


def labharness(*args: str, timeout: float = 30) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    return proc.returncode, out, time.monotonic() - started


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\nname: bomb\n"


HOSTILE = {
    "alias-bomb": (_alias_bomb(), f"more than {MAX_VALUES} values"),
    "deep-flow": ("name: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n",
                  f"nested more than {MAX_DEPTH} levels"),
    "deep-block": ("name: deep\n" + "".join(f"{' ' * i}k{i}:\n" for i in range(200))
                   + " " * 200 + "v: 1\n", f"nested more than {MAX_DEPTH} levels"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_is_rejected_quickly_with_a_location(tmp_path: Path, case: str) -> None:
    text, message = HOSTILE[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    code, out, took = labharness("validate", str(path))
    assert code == ExitCode.BAD_INPUT, out
    assert f"{path}:" in out and message in out, out
    assert took < 10, took  # it used to hang (alias bomb) or overflow the stack


def test_inventory_for_another_lab_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SIM_INVENTORY.read_text().replace("\nlab: sim\n", "\nlab: other\n"))
    for args in (["validate", str(SIM_LAB), str(other)],
                 ["validate", str(other), "--lab", str(SIM_LAB)],
                 ["run", "--lab", str(SIM_LAB), "--inventory", str(other), "--report-dir",
                  str(tmp_path / "r")]):
        code, out, _ = labharness(*args)
        assert code == ExitCode.BAD_INPUT, out
        assert "this inventory realises lab 'other', but the lab given is 'sim'" in out


@needs_sim
@pytest.mark.parametrize(("options", "message"), [("size=64k", "free"),
                                                   ("ro,size=1m", "not writable")],
                         ids=["full", "read-only"])
def test_report_dir_that_cannot_hold_the_reports_is_refused_first(
        tmp_path: Path, options: str, message: str) -> None:
    """A 64 KiB disk or a read-only one: one clear line, exit 6, before the lab is built."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    (mount / "r").mkdir()  # exists on the mount point's own fs; hidden by the mount below
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "lh-fault-tiny", str(mount)],
                   check=True)
    try:
        target = mount if "ro" in options.split(",") else mount / "r"
        code, out, took = labharness("run", "--report-dir", str(target))
        assert code == ExitCode.REPORT_IO, out
        assert "report directory" in out and message in out, out
        assert len([line for line in out.splitlines() if line.strip()]) == 1, out
        assert lifecycle.load_state(LAB) is None and lifecycle.leftovers(LAB) == []
        assert took < 10
    finally:
        subprocess.run(["umount", str(mount)], check=True)
