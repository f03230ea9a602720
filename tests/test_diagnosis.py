"""The diagnosis on hand-built findings and the default lab: one cause per fault with its chain
across layers, causes kept apart where the lab does not connect them, nothing on a healthy run;
and the rule tables consistent with the checks that exist."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from harness import cli
from harness.checks.finding import Finding, Severity, Source
from harness.checks.network import check_neighbours, diagnose_path
from harness.diagnosis import diagnose
from harness.diagnosis.relations import relations
from harness.diagnosis.rules import CHECKS, LAYERS, RULES
from harness.facts import JsonValue
from harness.facts.wire import Heard
from harness.lab import load_lab
from harness.lab.views import expected_neighbours
from harness.report.summary import TestResult as Outcome
from harness.report.summary import new_summary
from tests.conftest import ROOT, SIM_LAB

LAB = load_lab(SIM_LAB)


def finding(incident: str, check: str, subject: str, message: str = "", *,
            severity: Severity = "error", source: Source = "observed", cause: str = "",
            evidence: Mapping[str, JsonValue] | None = None) -> Finding:
    return Finding(incident, severity, subject, message or f"{check} on {subject}",
                   cause=cause or "-", fix=f"fix {subject}", check=check, source=source,
                   evidence=evidence or {})


def path(incident: str, check: str, source_host: str, pg: str, vlan: int, target: str,
         cause: str = "") -> Finding:
    """A wire path finding as the probes write it: the subject is the target vmknic, the
    evidence names the probe's host and port group."""
    return finding(incident, check, target, f"traffic to {target} from {source_host} gets 0 "
                   "of 3 answers", cause=cause,
                   evidence={"source": f"{source_host} probe ({pg}, VLAN {vlan})",
                             "target": target})


def f10_findings() -> list[Finding]:
    return [
        finding("F10", "adapter-port", "srv-esx03/pcie1/port1",
                "530SFP+ port 1 (vmnic6): embedded LLDP/DCBX agent is off, the lab says on"),
        finding("F10", "adapter-port", "srv-esx03/pcie1/port2",
                "530SFP+ port 2 (vmnic7): embedded LLDP/DCBX agent is off, the lab says on"),
        finding("F10", "uplink-reachability", "esx03/vmnic6"),
        finding("F10", "uplink-reachability", "esx03/vmnic7"),
        finding("F10", "cabling-neighbours", "esx03/vmnic6"),
        finding("F10", "cabling-network-hints", "esx03/vmnic7"),
        # iSCSI-b teams uplink2 = vmnic7 only
        path("F10", "path-mtu", "esx01", "dvpg-iscsi-b", 30, "esx03/vmk3"),
        finding("F10", "adapter-port", "srv-esx03/flexlom/port1",
                "534FLR-SFP+ port 1 (vmnic4) is in FCoE personality, the lab says iSCSI"),
        finding("F10", "host-storage-adapters", "srv-esx03",
                "esx03 has FCoE adapters where the lab needs iSCSI"),
    ]


def test_healthy_run_has_no_cause() -> None:
    assert diagnose(LAB, []) == []
    notes = [finding("F10", "adapter-port", "srv-esx01/flexlom/port1", severity="info")]
    assert diagnose(LAB, notes) == []


def test_f10_is_one_cause_from_the_bmc_to_the_paths() -> None:
    causes = diagnose(LAB, f10_findings())
    assert len(causes) == 1
    cause = causes[0]
    assert (cause.id, cause.rank, cause.incident, cause.layer) == ("C1", 1, "F10", "redfish")
    assert sorted(cause.explains) == sorted(f"f{n}" for n in range(1, 10))
    assert cause.explains[:3] == ("f1", "f2", "f8")  # the roots first
    assert cause.subject == ("srv-esx03/pcie1/port1, srv-esx03/pcie1/port2, "
                             "srv-esx03/flexlom/port1")
    chain = cause.evidence_chain
    assert [s.layer for s in chain] == ["redfish", "wire", "wire", "vsphere", "host", "wire"]
    assert chain[0].finding == "f1" and "DCBX agent is off" in chain[0].text
    assert chain[1].subject == "esx03/vmnic6, esx03/vmnic7"
    # what a report marks: the ports, the vmnics, the switch ports they are cabled to, the path
    assert {"srv-esx03", "srv-esx03/pcie1/port2", "esx03/vmnic7", "esx03/vmnic6",
            "sw01/TenGigabitEthernet1/1/7", "sw02/TenGigabitEthernet1/1/7",
            "esx03/vmk3"} <= set(cause.touches)
    assert not {"srv-esx01", "esx01", "esx01/dvpg-iscsi-b"} & set(cause.touches)  # probe source
    assert cause.title.startswith("srv-esx03/pcie1/port1")
    assert "(Redfish) -> " in cause.title


def test_f12_three_hosts_one_mistake_chain_from_vcenter_to_the_wire() -> None:
    findings = [finding("F12", "vmknic-subnets", f"esx0{n}/vmk1",
                        f"vmk1 shares a subnet with vmk0 on esx0{n}") for n in (1, 2, 3)]
    findings += [path("F12", "vmotion-path", "esx01", "dvpg-vmotion", 20, "esx02/vmk1"),
                 path("F12", "vmotion-path", "esx03", "dvpg-vmotion", 20, "esx01/vmk1"),
                 finding("F12", "vmotion-egress", "esx02/vmk1",
                         "esx02's ping to esx01/vmk1 leaves by vmk0")]
    [cause] = diagnose(LAB, findings)
    assert cause.incident == "F12" and cause.layer == "vsphere"
    assert cause.subject == "esx01/vmk1, esx02/vmk1, esx03/vmk1"
    assert [s.layer for s in cause.evidence_chain] == ["vsphere", "host", "wire"]
    assert len(cause.explains) == 6


def test_incidents_stay_apart_and_rank_by_layers_crossed() -> None:
    findings = [finding("F05", "ntp-servers", "esx02"), finding("F05", "host-time", "esx02"),
                *f10_findings()]
    causes = diagnose(LAB, findings)
    assert [(c.rank, c.incident) for c in causes] == [(1, "F10"), (2, "F05")]
    assert causes[1].explains == ("f1", "f2")
    assert [s.layer for s in causes[1].evidence_chain] == ["vsphere", "vsphere"]


def test_the_lab_decides_what_a_dead_uplink_explains() -> None:
    dead = finding("F11", "uplink-reachability", "esx01/vmnic4",
                   "vmnic4 passes no traffic while its link is up")
    # esx01's vMotion leaves by vmnic4: explained; esx02 -> esx03 never touches esx01
    near = path("F11", "vmotion-path", "esx01", "dvpg-vmotion", 20, "esx02/vmk1")
    far = path("F11", "vmotion-path", "esx02", "dvpg-vmotion", 20, "esx03/vmk1")
    # iSCSI-a teams vmnic5 only: a dead vmnic4 cannot explain it
    other_uplink = path("F11", "path-mtu", "esx01", "dvpg-iscsi-a", 30, "esx02/vmk2")
    # the same vCenter port group on every host: its failure detection is part of the story
    beacon = finding("F11", "beacon-uplinks", "esx03/dvpg-vmotion")
    causes = diagnose(LAB, [dead, near, far, other_uplink, beacon])
    assert [c.explains for c in causes] == [("f1", "f2", "f5"), ("f3",), ("f4",)]
    assert "sw01/TenGigabitEthernet1/1/1" in causes[0].touches


def test_a_wire_check_naming_the_dead_uplink_in_its_cause_is_connected() -> None:
    """Overlay traffic routed by the edge host: the wire check says which uplink it blamed."""
    why = diagnose_path(LAB, "esx01", "dvpg-vtep-a", {("esx01", "vmnic4")})
    assert why is not None
    assert {"esx01/vmnic4", "esx01/dvpg-vtep-a"} <= relations(LAB).mentions(why[1])
    dead = finding("F11", "uplink-reachability", "esx01/vmnic4")
    routed = finding("F11", "overlay-reachability", "web02->app01", cause=why[1])
    [cause] = diagnose(LAB, [dead, routed])
    assert cause.explains == ("f1", "f2")


def test_intent_findings_are_the_lab_files() -> None:
    [cause] = diagnose(LAB, [finding("F12", "vmknic-subnets", "esx01/vmk1", source="intent")])
    assert cause.layer == "lab" and cause.title.endswith("(the lab file)")


def test_refs_follow_the_summary() -> None:
    findings = [finding("F05", "ntp-servers", "esx02", severity="info"),
                finding("F05", "ntp-servers", "esx02")]
    [cause] = diagnose(LAB, findings, ["f7", "f8"])
    assert cause.explains == ("f8",) and cause.evidence_chain[0].finding == "f8"
    assert cause.to_dict()["explains"] == ["f8"]
    assert set(cause.to_dict()) == {"id", "rank", "incident", "subject", "layer", "title",
                                    "explains", "evidence_chain", "touches"}


def test_rule_tables_are_consistent() -> None:
    for rule in RULES:
        assert rule.root in CHECKS, rule
        assert set(rule.explains) <= set(CHECKS), rule
    assert {k.layer for k in CHECKS.values()} <= set(LAYERS)
    # explanations run one way: no check explains, through any chain, its own explainer
    graph = {c: {e for r in RULES if r.root == c for e in r.explains} for c in CHECKS}

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            c = todo.pop()
            if c not in seen:
                seen.add(c)
                todo.extend(graph[c])
        return seen

    for check in CHECKS:
        assert check not in reach(check), check


def test_every_check_in_the_code_has_a_layer() -> None:
    named = set()
    for source in [*(ROOT / "harness").rglob("*.py"), *(ROOT / "suites").rglob("*.py")]:
        text = source.read_text()
        named |= set(re.findall(r'check="([a-z0-9-]+)"', text))
        named |= set(re.findall(r'^CHECK = "([a-z0-9-]+)"', text, re.M))
        named |= set(re.findall(r'DesignCheck\("([a-z0-9-]+)"', text))
        # path findings name their check positionally: path_finding(obs, "F02", "overlay-mtu")
        named |= set(re.findall(r'(?:path|mtu)_finding\(\s*\w+,\s*[\w"]+,\s*"([a-z0-9-]+)"',
                                text))
    assert named and named <= set(CHECKS), named - set(CHECKS)


def test_summary_json_names_findings_and_causes(tmp_path: Path) -> None:
    summary = new_summary("sim", None, "sim", ["F10"], model=LAB)
    summary.results["t"] = Outcome("t", outcome="failed", findings=f10_findings())
    summary.write(tmp_path / "summary.json")
    data = json.loads((tmp_path / "summary.json").read_text())
    assert [f["ref"] for f in data["findings"]] == [f"f{n}" for n in range(1, 10)]
    [cause] = data["causes"]
    assert cause["id"] == "C1" and cause["incident"] == "F10" and cause["rank"] == 1
    assert set(cause["explains"]) == {f["ref"] for f in data["findings"]}
    assert {"layer", "subject", "text", "finding"} == set(cause["evidence_chain"][0])
    healthy = new_summary("sim", None, "sim", [], model=LAB)
    assert healthy.to_dict()["causes"] == [] and healthy.to_dict()["findings"] == []


def test_terminal_prints_causes_first_with_symptoms_folded() -> None:
    summary = new_summary("sim", None, "sim", ["F10"], model=LAB)
    findings = [*f10_findings(), finding("F05", "ntp-servers", "esx02")]
    summary.results["t"] = Outcome("t", outcome="failed", findings=findings)
    with cli.out.capture() as captured:
        cli._print_summary(summary, Path("/tmp/r"))
    text = captured.get()
    lines = [line for line in text.splitlines() if line.strip()]
    assert "2 cause(s)" in text and "C1 F10 nic-personality-dcb" in text
    assert "explains 9 finding(s): f1-f9 (summary.json)" in text and "C2 F05 ntp-off" in text
    # folded: no finding printed on its own, and one screen for ten findings
    assert "finding(s) no cause accounts for" not in text
    assert len(lines) <= 25, text
    without_lab = new_summary("sim", None, "sim", ["F10"])
    without_lab.results["t"] = Outcome("t", outcome="failed", findings=f10_findings())
    with cli.out.capture() as captured:
        cli._print_summary(without_lab, Path("/tmp/r"))
    assert "9 finding(s)" in captured.get()  # uncaused findings are still listed


def test_f02_router_interface_explains_the_vtep_paths_through_it() -> None:
    router = finding("F02", "router-config", "opnsense01/underlay_b",
                     "underlay_b has MTU 1500, the lab says 1600", source="observed")
    # esx02's VTEP is on vtep-b (VLAN 60): its paths cross underlay_b; esx01 <-> esx03 do not
    crossing = finding("F02", "vmkping-df", "esx01->esx02",
                       "VXLAN underlay path esx01/vmk4 -> esx02/vmk4 does not carry 1600")
    beside = finding("F02", "vmkping-df", "esx01->esx03",
                     "VXLAN underlay path esx01/vmk4 -> esx03/vmk4 does not carry 1600")
    causes = diagnose(LAB, [router, crossing, beside])
    assert [(c.layer, c.explains) for c in causes] == [("router", ("f1", "f2")),
                                                       ("host", ("f3",))]
    assert "sw01/GigabitEthernet1/0/23" in causes[0].touches


def test_single_layer_incidents_are_one_cause_on_their_subject() -> None:
    for incident, check, subject in (("F01", "management-paths", "vcenter"),
                                     ("F04", "page-sharing", "esx01"),
                                     ("F08", "vcenter-host-compat", "esx03"),
                                     ("F14", "vm-mac-range", "web01/ethernet0"),
                                     ("F03", "overlay-duplicates", "web01->web02")):
        [cause] = diagnose(LAB, [finding(incident, check, subject)])
        assert (cause.incident, cause.subject, cause.layer) == (incident, subject,
                                                                CHECKS[check].layer)
        assert cause.touches, (incident, cause)


def test_an_applied_scenario_without_findings_is_named_and_what_masked_it() -> None:
    """field-incidents: an incident whose paths another fault broke first shows no finding of
    its own; the summary says so and names the cause that masked it. One whose tests passed is
    named too (the fault did not show at all)."""
    summary = new_summary("sim", None, "sim", ["F10", "F03", "F14"], model=LAB)
    summary.results["overlay"] = Outcome("overlay", incident="F03", outcome="failed",
                                         findings=f10_findings())
    summary.results["mac"] = Outcome("mac", incident="F14", outcome="passed")
    masked = {m["incident"]: m for m in summary.to_dict()["masked"]}
    assert set(masked) == {"F03", "F14"}
    assert masked["F03"]["masked_by"] == ["C1 F10"]
    assert "masked by C1 F10" in masked["F03"]["text"]
    assert masked["F14"]["masked_by"] == [] and "1 of its 1 tests passed" in masked["F14"]["text"]
    with cli.out.capture() as captured:
        cli._print_summary(summary, Path("/tmp/r"))
    assert "masked: F03 was applied" in captured.get()
    unmasked = new_summary("sim", None, "sim", ["F10"], model=LAB)
    unmasked.results["t"] = Outcome("t", incident="F10", outcome="failed",
                                    findings=f10_findings())
    assert unmasked.to_dict()["masked"] == []


def test_swapped_cables_are_one_f11_cause_from_the_wire_to_vcenter() -> None:
    """F11-cabling: esx01's vmnic4 and vmnic7 swapped at sw01. The wire's neighbour check and
    vCenter's network hints each name both vmnics (the real check's findings): one cause, its
    roots the wire's two findings, its chain the wire then vCenter, touching both switch
    ports."""
    heard = {key: [Heard(p, device, port) for p in protocols]
             for key, (device, port, protocols) in expected_neighbours(LAB).items()}
    heard[("esx01", "vmnic4")], heard[("esx01", "vmnic7")] = (
        heard[("esx01", "vmnic7")], heard[("esx01", "vmnic4")])
    wire = check_neighbours(LAB, heard, set())
    hints = [replace(f, check="cabling-network-hints") for f in wire]
    [cause] = diagnose(LAB, [*hints, *wire])
    assert (cause.incident, cause.layer) == ("F11", "wire")
    assert cause.subject == "esx01/vmnic4, esx01/vmnic7"
    assert cause.explains == ("f3", "f4", "f1", "f2")
    assert [(s.layer, s.check) for s in cause.evidence_chain] == [
        ("wire", "cabling-neighbours"), ("vsphere", "cabling-network-hints")]
    assert "not as cabled" in cause.title
    assert {"esx01/vmnic4", "esx01/vmnic7", "sw01/TenGigabitEthernet1/1/1",
            "sw01/TenGigabitEthernet1/1/5"} <= set(cause.touches)


def test_a_variant_scenario_is_accounted_under_its_incident() -> None:
    """`F11-cabling` reproduces F11: its findings account for it; with none it is named as
    F11 masked or passed, never as an unknown incident."""
    shown = new_summary("sim", None, "sim", ["F11-cabling"], model=LAB)
    shown.results["t"] = Outcome("t", incident="F11", outcome="failed", findings=[
        finding("F11", "cabling-neighbours", "esx01/vmnic4")])
    assert shown.to_dict()["masked"] == []
    hidden = new_summary("sim", None, "sim", ["F11-cabling"], model=LAB)
    hidden.results["t"] = Outcome("t", incident="F11", outcome="passed")
    [masked] = hidden.to_dict()["masked"]
    assert masked["incident"] == "F11" and "1 of its 1 tests passed" in masked["text"]
