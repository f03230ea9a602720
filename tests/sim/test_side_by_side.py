"""Two labs run at once on one machine, as two CI jobs on one runner would: each its own
management network and names, both green, and neither leaves anything behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab import generate
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

# vCenter, the probe VMs, the hosts' vmkpings and the BMCs: every kind of endpoint, briefly
SUBSET = "vmotion or test_server_build and inventory"


def test_two_labs_run_green_at_once(tmp_path: Path) -> None:
    lab = generate.scale_lab(generate.load(SIM_LAB), 3, "lhsideb")
    inv = generate.scale_inventory(generate.load(SIM_INVENTORY), lab, "lhsideb",
                                   "198.19.242.0/24")
    lab_b, inv_b = generate.write(lab, inv, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    runs = {name: subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", *args, "-k", SUBSET, "--history", "off",
         "--report-dir", str(tmp_path / name)], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for name, args in (("a", []), ("b", ["--lab", str(lab_b), "--inventory", str(inv_b)]))}
    outputs = {name: proc.communicate(timeout=600)[0] for name, proc in runs.items()}
    for name, proc in runs.items():
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert proc.returncode == 0, outputs[name]
        assert summary["tests"]["failed"] == summary["tests"]["errors"] == 0
        assert summary["tests"]["passed"] >= 20, summary["tests"]
    assert lifecycle.leftovers("sim") == [] and lifecycle.leftovers("lhsideb") == []
