"""`labharness vsphere migrate-vmk` against the running simulated lab: the F01 procedure's
checks refuse a target that would cut the host off, and nothing changes (root only)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from harness.lab.loader import load_inventory, load_lab
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")


@pytest.fixture(scope="module")
def sim() -> Iterator[None]:
    lab = load_lab(SIM_LAB)
    loaded = load_inventory(SIM_INVENTORY, lab)
    lifecycle.up(lab, loaded.inventory, base_dir=loaded.base_dir)
    try:
        yield
    finally:
        lifecycle.down(lab.name)


def migrate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "vsphere", "migrate-vmk",
                           "--host", "esx01", "--vmk", "vmk0", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_needs_allow_disruptive(sim: None) -> None:
    done = migrate("--to", "dvpg-vmotion")
    assert done.returncode == 2 and "--allow-disruptive" in done.stderr


def test_refuses_a_target_without_the_management_vlan(sim: None) -> None:
    done = migrate("--to", "dvpg-vmotion", "--allow-disruptive")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refused" in done.stdout
    assert "dvpg-vmotion is on VLAN 20, vmk0 needs VLAN 10" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    # nothing moved: vCenter still has vmk0 on its port group
    again = migrate("--to", "dvpg-vmotion", "--allow-disruptive")
    assert "esx01/vmk0: Management Network -> dvpg-vmotion" in again.stdout
