"""Design checks proven both ways: silent on the healthy lab, exact on each fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checks.catalog import DESIGN_CHECKS, run_design_checks
from harness.checks.design import check_page_sharing, check_vm_mac_range, check_vmknic_subnets
from harness.checks.finding import Finding
from harness.checks.intent import view_from_lab
from harness.incidents import INCIDENTS
from harness.lab import Lab, load_lab
from harness.lab.reference import shipped_reference
from harness.lab.subjects import subjects_of
from tests.conftest import SIM_LAB, LabWriter
from tests.design_faults import DESIGN_FAULTS, DesignFault

REF = shipped_reference()


def _triples(findings: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.id, f.check, f.subject) for f in findings}


def test_healthy_lab_has_no_findings() -> None:
    assert run_design_checks(view_from_lab(load_lab(SIM_LAB)), REF) == []


@pytest.mark.parametrize("fault", DESIGN_FAULTS, ids=lambda f: f.name)
def test_fault_yields_exactly_its_findings(fault: DesignFault, faulty_lab: LabWriter) -> None:
    findings = run_design_checks(view_from_lab(load_lab(faulty_lab(fault.change))),
                                 shipped_reference())
    assert _triples(findings) == fault.expected
    for f in findings:
        assert f.source == "intent"
        assert f.message and f.cause and f.fix
        assert f.text().startswith(f"[{INCIDENTS[f.id].label}]")


def test_every_check_is_proven_by_a_fault() -> None:
    proven = {check for fault in DESIGN_FAULTS for _, check, _ in fault.expected}
    assert proven == {c.name for c in DESIGN_CHECKS}


@pytest.mark.parametrize("fault", DESIGN_FAULTS, ids=lambda f: f.name)
def test_findings_stay_within_their_checks_subjects(fault: DesignFault,
                                                   faulty_lab: LabWriter) -> None:
    """The design suite gives each subject a test; a finding outside them would go unseen."""
    lab = load_lab(faulty_lab(fault.change))
    by_name = {c.name: c for c in DESIGN_CHECKS}
    for f in run_design_checks(view_from_lab(lab), REF):
        assert f.subject in by_name[f.check].subjects(lab)


# -- finer points of individual checks -------------------------------------------------------


def _lab(faulty_lab: LabWriter, change: Any) -> Lab:
    return load_lab(faulty_lab(change))


def test_vmknic_subnets_honours_declared_sharing_and_stacks(faulty_lab: LabWriter) -> None:
    """iSCSI port binding shares a subnet on purpose; other TCP/IP stacks route separately."""
    def share_undeclared(d: dict[str, Any]) -> None:
        d["hosts"]["esx01"]["vmknics"]["vmk2"]["subnet_shared_with"] = []
        d["hosts"]["esx01"]["vmknics"]["vmk3"]["subnet_shared_with"] = []

    findings = check_vmknic_subnets(view_from_lab(_lab(faulty_lab, share_undeclared)), REF)
    assert _triples(findings) == {("F12", "vmknic-subnets", "esx01/vmk3")}
    assert "vmk2" in findings[0].message

    def own_stack(d: dict[str, Any]) -> None:
        share_undeclared(d)
        d["hosts"]["esx01"]["vmknics"]["vmk3"]["tcpip_stack"] = "provisioning"

    assert check_vmknic_subnets(view_from_lab(_lab(faulty_lab, own_stack)), REF) == []


def test_mac_range_bounds_and_override(faulty_lab: LabWriter) -> None:
    def macs(d: dict[str, Any]) -> None:
        d["vms"]["web01"]["nics"]["ethernet0"]["mac"] = "00:50:56:3f:ff:ff"  # last allowed
        d["vms"]["web02"]["nics"]["ethernet0"]["mac"] = "00:50:56:40:00:00"  # first refused
        d["vms"]["app01"]["nics"]["ethernet0"]["mac"] = "00:0c:29:00:00:01"
        d["vms"]["app01"]["extra_config"] = {"ethernet0.checkMACAddress": "FALSE"}
        d["vms"]["nlb01"]["nics"]["ethernet0"]["mac"] = "00:0c:29:00:00:02"
        d["vms"]["nlb01"]["nics"]["ethernet0"]["mac_type"] = "generated"

    findings = check_vm_mac_range(view_from_lab(_lab(faulty_lab, macs)), REF)
    assert _triples(findings) == {("F14", "vm-mac-range", "web02/ethernet0")}


@pytest.mark.parametrize(
    ("intent", "salting", "salts", "finding"),
    [
        ("intra_vm", 2, {}, False),
        ("intra_vm", 2, {"web01": "a", "nlb01": "a"}, True),   # shared salt lets them share
        ("intra_vm", 0, {}, True),
        ("inter_vm", 0, {}, False),
        ("inter_vm", 2, {}, True),
        ("salt_groups", 2, {"web01": "g1", "nlb01": "g1"}, False),
        ("salt_groups", 2, {"web01": "g1"}, True),
        ("salt_groups", 0, {"web01": "g1", "nlb01": "g1"}, True),
        (None, 0, {"web01": "g1"}, True),                       # salt ignored at 0
        (None, 2, {"web01": "g1"}, False),
        (None, 7, {}, True),                                    # meaningless value
    ],
)
def test_page_sharing_matrix(faulty_lab: LabWriter, intent: str | None, salting: int,
                             salts: dict[str, str], finding: bool) -> None:
    def change(d: dict[str, Any]) -> None:
        host = d["hosts"]["esx01"]
        host["advanced_options"]["Mem.ShareForceSalting"] = salting
        if intent is None:
            host.pop("page_sharing")
        else:
            host["page_sharing"] = intent
        for vm, salt in salts.items():
            d["vms"][vm]["extra_config"] = {"sched.mem.pshare.salt": salt}

    findings = [f for f in check_page_sharing(view_from_lab(_lab(faulty_lab, change)), REF)
                if f.subject == "esx01"]
    assert bool(findings) is finding


def test_port_group_policy_inheritance() -> None:
    """Unset port-group fields inherit from the switch, then from vSphere's defaults."""
    view = view_from_lab(load_lab(SIM_LAB))
    mgmt = view.hosts["esx01"].port_groups["Management Network"]
    assert mgmt.teaming.active == ("vmnic0",) and mgmt.teaming.standby == ("vmnic6",)
    assert mgmt.security.mac_changes is False  # vSwitch0 sets it
    nlb = view.hosts["esx02"].port_groups["dvpg-nlb"]
    assert nlb.security.mac_changes and nlb.security.forged_transmits  # port group override
    assert nlb.security.allow_promiscuous is False  # from the DVS
    assert nlb.teaming.notify_switches is False
    assert nlb.teaming.active == ("vmnic7",) and nlb.teaming.standby == ("vmnic4",)
    vm_pg = view.hosts["esx03"].port_groups["dvpg-vm"]
    assert vm_pg.teaming.failure_detection == "beacon_probing"
    assert vm_pg.teaming.load_balancing == "loadbalance_srcid"
    assert len(vm_pg.teaming.uplinks) == 3


def test_findings_round_trip_through_json(faulty_lab: LabWriter) -> None:
    fault = DESIGN_FAULTS[0]
    for f in run_design_checks(view_from_lab(load_lab(faulty_lab(fault.change))),
                               shipped_reference()):
        assert Finding.from_dict(f.to_dict()) == f


def test_finding_rejects_unknown_incident() -> None:
    with pytest.raises(ValueError, match="not an incident id"):
        Finding("F99", "error", "x", "m", "c", "f", check="x")


def test_labs_dir_is_lint_clean() -> None:
    """Every lab shipped under labs/ (not only the default) is a healthy example."""
    for path in sorted(Path(SIM_LAB).parent.rglob("*.yaml")):
        assert run_design_checks(view_from_lab(load_lab(path)), REF) == [], path


def test_a_lab_subject_vcenter_lacks_is_named_and_the_underlay_is_not_observed() -> None:
    """Observed means read from vCenter: a vmknic, port group, host or VM NIC the lab has and
    vCenter does not report is said; router interfaces are not vCenter's to report."""
    import dataclasses

    from harness.checks.intent import view_from_lab
    from harness.checks.observed import missing_subject, observable_subject

    lab = load_lab(SIM_LAB)
    view = view_from_lab(lab)
    assert all(missing_subject(view, kind, s) is None
               for kind in ("hosts", "vmknics", "port_groups", "vm_nics")
               for s in subjects_of(lab, kind))
    esx01 = view.hosts["esx01"]
    gone = dataclasses.replace(
        view, hosts={**view.hosts, "esx01": dataclasses.replace(
            esx01, vmknics={k: v for k, v in esx01.vmknics.items() if k != "vmk1"},
            port_groups={k: v for k, v in esx01.port_groups.items() if k != "dvpg-vmotion"})},
        vms={k: v for k, v in view.vms.items() if k != "web01"})
    assert missing_subject(gone, "vmknics", "esx01/vmk1") == "vmk1 on esx01"
    assert missing_subject(gone, "port_groups", "esx01/dvpg-vmotion") == (
        "port group dvpg-vmotion on esx01")
    assert missing_subject(gone, "vm_nics", "web01/ethernet0") == "VM web01"
    assert missing_subject(gone, "hosts", "esx09") == "host esx09"
    hops = [s for s in subjects_of(lab, "vxlan_path") if s.split("/")[0] not in lab.hosts]
    assert hops and not any(observable_subject("vxlan_path", s, lab) for s in hops)
    assert observable_subject("vxlan_path", "esx01/vmk3", lab)
