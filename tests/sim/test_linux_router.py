"""A `kind: linux` router is read over SSH (testinfra: iproute2, sysctl, nftables) by the same
router checks: the default lab with its router made Linux passes them on the simulated lab,
and F02's lowered MTU fails them with a finding that cites the command it was read with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.lab.source import load_yaml
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.conftest import ROOT, SIM_INVENTORY, LabWriter, dump_yaml

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")


def _inputs(tmp_path: Path, faulty_lab: LabWriter) -> tuple[Path, Path]:
    def linux(data: dict[str, Any]) -> None:
        data["routers"]["opnsense01"]["kind"] = "linux"

    inv: dict[str, Any] = load_yaml(SIM_INVENTORY).data
    inv.pop("opnsense")
    # `labharness sim up` makes this key pair and the router's host key, and pins it
    inv["ssh"] = {"opnsense01": {"host": "198.19.255.2", "username": "root",
                                 "key_file": "/run/labharness/sim/ssh/id_ed25519",
                                 "known_hosts": "/run/labharness/sim/ssh/known_hosts"}}
    path = tmp_path / "inventory.yaml"
    path.write_text(dump_yaml(inv), encoding="utf-8")
    return faulty_lab(linux), path


@pytest.mark.parametrize("scenario", [None, "F02"])
def test_linux_router_is_read_over_ssh(tmp_path: Path, faulty_lab: LabWriter,
                                       scenario: str | None) -> None:
    lab, inv = _inputs(tmp_path, faulty_lab)
    report = tmp_path / "r"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--lab", str(lab), "--inventory", str(inv),
         "-k", "test_router", "--report-dir", str(report),
         *(["--scenario", scenario] if scenario else [])],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert lifecycle.leftovers("sim") == []
    summary = json.loads((report / "summary.json").read_text())
    outcomes = {r["test"].split("::")[-1]: r["outcome"] for r in summary["results"]}
    # a Linux router has no gateway objects: that one test says so and skips
    assert outcomes.pop("test_router_gateways_up[opnsense01]") == "skipped"
    assert {(e["kind"], e["name"]) for e in summary["endpoints"]} == {("ssh", "opnsense01")}
    if scenario is None:
        assert proc.returncode == 0, proc.stdout
        assert set(outcomes.values()) == {"passed"} and len(outcomes) == 4
        return
    assert proc.returncode == 1, proc.stdout
    (finding,) = summary["findings"]
    assert (finding["id"], finding["subject"]) == ("F02", "opnsense01/underlay_b")
    assert finding["evidence"]["read"] == "ssh opnsense01: ip -j addr show"
    assert finding["evidence"]["mtu"] == 1500
