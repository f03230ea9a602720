"""The kernel's shared ARP table is sized for the lab before it is built (`neigh.fit`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.lab.loader import load_inventory, load_lab
from harness.sim.dataplane import neigh
from harness.sim.dataplane.plan import DataplanePlan, plan_dataplane

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /proc's neighbour limits and stats (the real ones are machine-wide)."""
    limits = tmp_path / "neigh"
    limits.mkdir()
    for key, value in (("gc_thresh1", 128), ("gc_thresh2", 512), ("gc_thresh3", 1024)):
        (limits / key).write_text(f"{value}\n")
    stats = tmp_path / "arp_cache"
    stats.write_text("entries  allocs\n000003e8 00000010\n000003e8 00000010\n")  # 1000 in use
    monkeypatch.setattr(neigh, "LIMITS", limits)
    monkeypatch.setattr(neigh, "STATS", stats)
    return limits


def _plan() -> DataplanePlan:
    lab = load_lab(ROOT / "labs" / "sim.yaml")
    return plan_dataplane(lab, load_inventory(ROOT / "inventory" / "sim.yaml", lab).inventory)


def test_limits_rise_to_what_is_in_use_plus_what_the_lab_can_learn(proc: Path) -> None:
    plan = _plan()
    need = neigh.entries_needed(plan)
    assert need > 0

    note = neigh.fit(plan)

    soft = int((proc / "gc_thresh2").read_text())
    assert soft >= 1000 + need and soft & (soft - 1) == 0
    assert int((proc / "gc_thresh3").read_text()) == 2 * soft
    # below it the kernel deletes no entry: unused ones stay (stale) as on a real host
    assert int((proc / "gc_thresh1").read_text()) == soft
    assert note is not None and f"for {1000 + need} neighbours" in note


def test_limits_are_never_lowered(proc: Path) -> None:
    (proc / "gc_thresh1").write_text("1048576\n")
    (proc / "gc_thresh2").write_text("1048576\n")
    (proc / "gc_thresh3").write_text("2097152\n")

    assert neigh.fit(_plan()) is None
    assert (proc / "gc_thresh3").read_text() == "2097152\n"


def test_a_kernel_without_the_limits_gets_a_note_not_a_failure(proc: Path) -> None:
    (proc / "gc_thresh2").unlink()

    note = neigh.fit(_plan())

    assert note is not None and "could not be raised" in note
