"""Acceptance of the run history on the simulated lab: a healthy night, then a night with F05
(one host lost its NTP servers and ntpd): `labharness diff` names the new F05 findings (and
cause, where the run has causes) and the changed NTP facts of that host, and nothing else.
Two full runs, as users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.lab.loader import load_lab
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.conftest import ROOT, SIM_LAB

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

# what F05 may change on its host, as the vCenter snapshot and esxcli report it
NTP_KEYS = {"ntp.servers", "service.ntpd.running", "service.ntpd.policy",
            "firewall.ntpClient.enabled"}


def labharness(history: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    env["LABHARNESS_HISTORY"] = str(history)
    env["COLUMNS"] = "200"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def test_diff_after_f05_names_its_findings_and_ntp_facts_and_nothing_else(
        tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    healthy = labharness(history, "run", "--report-dir", str(tmp_path / "healthy"))
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "history: run 1 stored" in healthy.stdout
    faulty = labharness(history, "run", "--scenario", "F05", "--report-dir",
                        str(tmp_path / "f05"))
    assert faulty.returncode == 1, faulty.stdout + faulty.stderr
    assert "history: run 2 stored" in faulty.stdout
    assert lifecycle.leftovers("sim") == [], "a run left namespaces behind"

    # the facts each run read, per layer, are in its report directory too
    facts: dict[str, Any] = json.loads((tmp_path / "f05" / "facts.json").read_text())
    assert {"vsphere", "esxcli", "wire", "redfish", "router"} <= set(facts)
    # every host's boot time is read; unchanged between the two runs (no host rebooted)
    assert all(facts["vsphere"][h]["boot_time"] for h in load_lab(SIM_LAB).hosts)

    proc = labharness(history, "diff", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    d = json.loads(proc.stdout)
    assert (d["a"]["id"], d["b"]["id"]) == (1, 2)
    host = sorted(load_lab(SIM_LAB).hosts)[1]  # the host F05 breaks
    new = d["findings"]["new"]
    assert new, "F05's findings are not new"
    assert {f["id"] for f in new} == {"F05"}
    assert {f["subject"].split("/")[0] for f in new} == {host}
    assert d["findings"]["fixed"] == []
    if d["causes"] is not None:  # runs whose summary has causes
        assert [(c["incident"], c["subject"].split("/")[0]) for c in d["causes"]["new"]] \
            == [("F05", host)]
        assert d["causes"]["fixed"] == []
    changed = {(c["layer"], c["subject"], c["key"]): (c["before"], c["after"])
               for c in d["facts"]}
    assert {(layer, subject) for layer, subject, _ in changed} == {("vsphere", host)}, changed
    assert {key for _, _, key in changed} <= NTP_KEYS, changed
    servers = changed[("vsphere", host, "ntp.servers")]
    assert servers[0] and servers[1] == []
    assert changed[("vsphere", host, "service.ntpd.running")] == (True, False)
    assert d["not_compared"] == []

    human = labharness(history, "diff")
    assert f"changed vsphere {host} ntp.servers:" in human.stdout
    assert "new finding F05" in human.stdout
    listed = labharness(history, "history", "--lab", "sim")
    assert listed.returncode == 0 and "F05" in listed.stdout
