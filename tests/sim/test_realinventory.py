"""The simulated lab reached as a real lab: `labharness sim inventory` writes a `backend: real`
inventory (vCenter over SOAP, iLOs over HTTPS, router, probe VMs and VMs over SSH), and a run
with it must give the same verdicts as the sim backend: the healthy lab passes with nothing
skipped for lack of a probe, and a fault names the same subjects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.lab.loader import load_inventory, load_lab
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.conftest import ROOT, SIM_LAB

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")


def labharness(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    env["COLUMNS"] = "200"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


@pytest.fixture
def sim_as_real(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Bring the sim up with the scenario of the test's `scenario` param and write the real
    inventory that reaches it; the sim is taken down afterwards."""
    scenario: str | None = getattr(request, "param", None)
    up = labharness("sim", "up", *(["--scenario", scenario] if scenario else []))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        inv = tmp_path / "sim-as-real.yaml"
        made = labharness("sim", "inventory", "--output", str(inv))
        assert made.returncode == 0, made.stdout + made.stderr
        yield inv
    finally:
        labharness("sim", "down")
        assert lifecycle.leftovers("sim") == []


def _run(inv: Path, report: Path) -> tuple[int, dict[str, Any], str]:
    proc = labharness("run", "--lab", str(SIM_LAB), "--inventory", str(inv),
                      "--report-dir", str(report))
    return proc.returncode, json.loads((report / "summary.json").read_text()), proc.stdout


def _faults(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in summary["findings"] if f["severity"] != "info"]


def _assert_reached_only_through_the_doors(sim_as_real: Path) -> None:
    loaded = load_inventory(sim_as_real, load_lab(SIM_LAB))
    inv = loaded.inventory
    assert inv.backend == "real"
    assert inv.vcenter is not None and inv.vcenter.url.scheme == "https"
    assert set(inv.bmcs) == {"srv-esx01", "srv-esx02", "srv-esx03"}
    assert set(inv.probes) >= {"esx01", "esx02", "esx03"}
    text = sim_as_real.read_text()
    # secrets are references to owner-only files, never values in the inventory
    assert "password: file:" in text
    refs = [str(bmc.password) for bmc in inv.bmcs.values()]
    refs += [ref for api in inv.opnsense.values() for ref in (api.key, api.secret)]
    assert set(inv.opnsense) == {"opnsense01"}
    for ref in refs:
        assert ref.startswith("file:")
        assert os.stat(ref[len("file:"):]).st_mode & 0o077 == 0


@pytest.mark.parametrize("sim_as_real", [None], indirect=True, ids=["healthy"])
def test_healthy_lab_passes_as_a_real_lab(sim_as_real: Path, tmp_path: Path) -> None:
    _assert_reached_only_through_the_doors(sim_as_real)
    code, summary, out = _run(sim_as_real, tmp_path / "r")
    assert code == 0, out
    tests = summary["tests"]
    assert tests["failed"] == 0 and tests["errors"] == 0 and tests["total"] >= 300
    assert _faults(summary) == []
    assert all(e["reachable"] for e in summary["endpoints"])
    assert {e["kind"] for e in summary["endpoints"]} == {"vcenter", "bmc", "opnsense", "probe"}
    # the wire suites ran through the probe VMs: nothing skips for lack of a probe
    for skip in summary["skipped"]:
        assert ("disruptive" in skip["reason"]
                or "not verifiable through this BMC" in skip["reason"]), skip
    wire = [r for r in summary["results"] if r["layer"] in ("network", "nsx")
            and r["outcome"] == "passed"]
    assert len(wire) >= 40


@pytest.mark.parametrize("sim_as_real", ["F12", "F09", "F02"], indirect=True)
def test_faults_give_the_sim_backends_verdicts(sim_as_real: Path, tmp_path: Path,
                                               request: pytest.FixtureRequest) -> None:
    scenario = request.node.callspec.params["sim_as_real"]
    code, summary, out = _run(sim_as_real, tmp_path / "r")
    assert code == 1, out
    findings = _faults(summary)
    assert {f["id"] for f in findings} == {scenario}, json.dumps(findings, indent=1)
    if scenario == "F12":  # the probe heard the answers leave by vmk0, as with the sim backend
        egress = {f["evidence"]["egress_vmknic"] for f in findings
                  if "egress_vmknic" in f["evidence"]}
        assert egress == {"vmk0"}
        assert {f["subject"] for f in findings} == {"esx01/vmk1", "esx02/vmk1", "esx03/vmk1"}
    if scenario == "F02":  # the router's own API says which interface, cited
        router = [f for f in findings if f["subject"] == "opnsense01/underlay_b"]
        assert router and router[0]["evidence"]["read"] == (
            "GET https://198.19.255.2/api/interfaces/overview/interfacesInfo")
    if scenario == "F09":  # the flood is measured on a probe VM of a host without members
        assert any(r["incident"] == "F09" and r["layer"] == "network"
                   and r["outcome"] == "failed" for r in summary["results"])
