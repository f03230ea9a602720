"""End to end on the simulated lab: the healthy lab passes every suite, and each scenario makes
exactly its own incident's checks fail, and nothing else (run as users run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.incidents import SCENARIO_ALL
from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from harness.sim.scenarios import FIELD_INCIDENTS, SCENARIOS
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")


def run(tmp_path: Path, *args: str, report_name: str = "report"
        ) -> tuple[int, dict[str, Any], str]:
    """`labharness run ARGS` as a user runs it, with a history of the test's own (a run
    compares host boot times with the previous run of the lab in it: F06)."""
    report = tmp_path / report_name
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--report-dir",
                           str(report), "--history", str(tmp_path / "history.sqlite"), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=600,
                          check=False)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert lifecycle.leftovers("sim") == [], "the run left namespaces behind"
    return proc.returncode, summary, proc.stdout


def _faults(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings that say something is wrong (info notes, such as what an iLO 4 cannot show
    over Redfish, are not faults)."""
    return [f for f in summary["findings"] if f["severity"] != "info"]


# incidents whose fault shows in more than one layer: their cause's chain must cross them
CROSS_LAYER = {"F10", "F11", "F12"}


def _assert_one_cause(summary: dict[str, Any], incident: str, out: str) -> dict[str, Any]:
    """The diagnosis names one cause for the incident, accounting for every one of its faults,
    and the terminal prints it before anything else about findings."""
    causes = [c for c in summary["causes"] if c["incident"] == incident]
    assert len(causes) == 1, json.dumps(summary["causes"], indent=1)
    [cause] = causes
    refs = {f["ref"] for f in _faults(summary) if f["id"] == incident}
    assert set(cause["explains"]) == refs, json.dumps(cause, indent=1)
    layers = {step["layer"] for step in cause["evidence_chain"]}
    if incident in CROSS_LAYER:
        assert len(layers) >= 2, json.dumps(cause, indent=1)
    assert cause["touches"], cause
    assert f"{cause['id']} {incident}" in out, out
    return cause


def test_healthy_lab_passes_every_suite(tmp_path: Path) -> None:
    code, summary, out = run(tmp_path)
    tests = summary["tests"]
    assert code == 0, out
    assert tests["failed"] == 0 and tests["errors"] == 0
    assert tests["total"] >= 300
    layers = {g["layer"] for g in summary["groups"]}
    assert {"design", "server_build", "vsphere", "network", "nsx"} <= layers
    assert _faults(summary) == []
    assert summary["causes"] == [] and "cause(s)" not in out
    # only the disruptive drills (not asked for) and what an iLO 4 cannot show may skip:
    # nothing skips for lack of a vCenter, a BMC or the data plane
    for skip in summary["skipped"]:
        assert ("disruptive" in skip["reason"]
                or "not verifiable through this BMC" in skip["reason"]), skip


REBOOT_TESTS = "test_host_did_not_reboot_since_last_run"


def _previous_run(tmp_path: Path) -> dict[str, Any]:
    """A healthy run of the lab stored in the test's history, as last night's run would be:
    F06 shows a host that rebooted since (only the boot-time tests, to keep it short)."""
    code, summary, out = run(tmp_path, "-k", REBOOT_TESTS, report_name="previous")
    assert code == 0, out
    return summary


def test_healthy_lab_twice_shows_no_reboot(tmp_path: Path) -> None:
    """The first run has nothing to compare with and says so; the second compares every
    host's boot time with the first and finds none moved."""
    first = _previous_run(tmp_path)
    assert any("no previous run of this lab" in n for n in first["notes"]), first["notes"]
    assert first["tests"]["passed"] == 3 and first["tests"]["failed"] == 0
    code, summary, out = run(tmp_path, "-k", REBOOT_TESTS)
    assert code == 0, out
    assert any(n.startswith("compared with run 1 of lab sim") for n in summary["notes"])
    assert summary["tests"]["passed"] == 3 and _faults(summary) == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_fails_only_its_own_checks(tmp_path: Path, scenario: str) -> None:
    incident = SCENARIOS[scenario].incident.id  # `F11-cabling` reproduces F11
    if scenario == "F06":
        _previous_run(tmp_path)
    code, summary, out = run(tmp_path, "--scenario", scenario)
    assert code == 1, out
    findings = _faults(summary)
    assert findings, "the scenario produced no finding"
    assert {f["id"] for f in findings} == {incident}, json.dumps(findings, indent=1)
    failed = [r for r in summary["results"] if r["outcome"] in ("failed", "errors")]
    # the lab file stays healthy: only what is observed on the realised lab may fail
    assert failed and all(r["layer"] in ("server_build", "vsphere", "network", "nsx")
                          for r in failed)
    assert summary["scenarios"] == [scenario]
    assert summary["masked"] == []
    cause = _assert_one_cause(summary, incident, out)
    assert [c["rank"] for c in summary["causes"]] == [1]  # the top cause, and the only one
    if scenario == "F10":  # from the BMC's adapter settings to the wire
        assert cause["layer"] == "redfish"
        assert {"srv-esx03/pcie1/port1", "esx03/vmnic6",
                "sw02/TenGigabitEthernet1/1/7"} <= set(cause["touches"])
    if scenario == "F12":  # from vCenter's vmknic to the frames that leave by vmk0
        assert cause["layer"] == "vsphere" and cause["evidence_chain"][-1]["layer"] == "wire"
    if scenario == "F06":  # the host, the time and the DCUI, from the host's own logs
        [finding] = findings
        assert finding["subject"] == "esx01" and "DCUI" in finding["message"]
        assert finding["evidence"]["rebooted_at"][:16].replace("T", " ") in finding["message"]
        assert any("through the Direct Console User Interface" in line
                   for line in finding["evidence"]["log_lines"])
    if scenario == "F05":  # exactly the affected host
        assert {f["subject"] for f in findings} == {"esx02"}
    if scenario == "F10":  # the Gen10 server's ports, through Redfish and on the wire, the
        # iSCSI path whose only uplink is on the dead 530SFP+ (vmk3: uplink2 = vmnic7), and the
        # server as its host sees it: FCoE adapters where its iSCSI adapters should be
        assert {f["subject"] for f in findings} == {
            "srv-esx03/flexlom/port1", "srv-esx03/flexlom/port2", "srv-esx03/pcie1/port1",
            "srv-esx03/pcie1/port2", "esx03/vmnic6", "esx03/vmnic7", "esx03/vmk3", "srv-esx03"}
    if scenario == "F12":  # the wire names the vmknic the answers actually left by
        egress = {f["evidence"]["egress_vmknic"] for f in findings
                  if "egress_vmknic" in f["evidence"]}  # the wire's findings (vCenter's lack it)
        assert egress == {"vmk0"}
        assert {f["subject"] for f in findings} == {"esx01/vmk1", "esx02/vmk1", "esx03/vmk1"}
    if scenario == "F02":  # the hop is named with its MTU from the router's ICMP, and the
        # router's own API names the interface
        messages = " ".join(f["message"] for f in findings)
        assert "(MTU 1500)" in messages
        assert any(f["subject"] == "opnsense01/underlay_b" and f["evidence"]["read"].startswith(
            "GET https://198.19.255.2/api/") for f in findings)
    if scenario in ("F02", "F12"):  # the hosts' own esxcli output is cited too
        cited = [f for f in findings if "vmkping" in f["evidence"] or "routes" in f["evidence"]]
        assert cited and all(f["id"] == scenario for f in cited)
    if scenario == "F11-cabling":  # esx01's vmnic4 and vmnic7 swapped at sw01: the CDP/LLDP
        # each hears is the other's planned port, on the wire and in vCenter's hints, and
        # nothing else fails (the two ports carry the same VLANs, so traffic flows)
        assert {(f["subject"], f["check"]) for f in findings} == {
            (f"esx01/{v}", check) for v in ("vmnic4", "vmnic7")
            for check in ("cabling-neighbours", "cabling-network-hints")}
        heard = {f["subject"]: ({h["port"] for h in f["evidence"]["heard"]},
                                f["evidence"]["expected"]["port"]) for f in findings}
        assert heard == {"esx01/vmnic4": ({"TenGigabitEthernet1/1/5"}, "TenGigabitEthernet1/1/1"),
                         "esx01/vmnic7": ({"TenGigabitEthernet1/1/1"}, "TenGigabitEthernet1/1/5")}
        assert all("swapped" in f["cause"] for f in findings)
        assert {r["test"].split("::")[-1].split("[")[0] for r in failed} == {
            "test_cabling_matches_cdp_lldp", "test_cabling_matches_network_hints"}
        assert [s["layer"] for s in cause["evidence_chain"]] == ["wire", "vsphere"]


def test_field_incidents_give_one_cause_per_incident(tmp_path: Path) -> None:
    """Every incident's scenario at once (variants such as F11-cabling are second ways to
    reproduce an incident already applied, so they stay out): the diagnosis keeps the
    incidents apart, one cause each, ranked 1..n."""
    applied = {s.incident.id for s in FIELD_INCIDENTS}
    assert len(applied) == len(FIELD_INCIDENTS) and applied == {
        s.incident.id for s in SCENARIOS.values()}
    _previous_run(tmp_path)  # F06 shows against the run before
    code, summary, out = run(tmp_path, "--scenario", SCENARIO_ALL)
    assert code == 1, out
    assert summary["scenarios"] == [s.id for s in FIELD_INCIDENTS]
    incidents = {f["id"] for f in _faults(summary)}
    assert incidents and incidents <= applied, incidents
    for incident in sorted(incidents):
        _assert_one_cause(summary, incident, out)
    assert [c["rank"] for c in summary["causes"]] == list(range(1, len(incidents) + 1))
    # an incident another fault hides shows no finding of its own: the summary names it and
    # the cause that masked it, so every applied incident is accounted for
    masked = {m["incident"]: m for m in summary["masked"]}
    assert incidents | set(masked) == applied, (incidents, masked)
    for m in masked.values():
        assert m["masked_by"], m
        assert f"masked: {m['text']}" in " ".join(out.split()), out


def test_f10_is_fixed_through_redfish_with_allow_disruptive(tmp_path: Path) -> None:
    """On the Gen10 server the harness sets personality and DCB through iLO 5, resets the
    server, verifies the settings messages, and then the wire passes too."""
    code, summary, out = run(tmp_path, "--scenario", "F10", "--allow-disruptive")
    assert code == 0, out
    assert summary["tests"]["failed"] == 0
    fixed = [r for r in summary["results"]
             if "test_fix_adapter_settings[srv-esx03]" in r["test"] and r["outcome"] == "passed"]
    assert fixed, "the remediation test did not run"
