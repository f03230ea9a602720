"""Server-build checks proven both ways on facts read from the emulator: they pass on the lab as
it says, and each fails with the right cause and fix on the fault it exists for. Remediation
fixes F10 end to end on iLO 5 and refuses with the manual steps on iLO 4."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.checks.finding import Finding
from harness.checks.server import (
    about,
    check_adapter_ports,
    check_bios_nics,
    check_inventory,
    check_power_cycle,
    findings_for_server,
    plan_adapter_fixes,
)
from harness.drivers.redfish import RemediationRefused, read_server, remediate
from harness.facts.redfish import ResetAction
from harness.lab.model import Lab
from harness.lab.subjects import subjects_of
from tests.redfish.conftest import (
    GEN9,
    GEN10,
    POLL_S,
    Ilo,
    StartIlo,
    adapter_entry,
    bmc_entry,
    seed_f10,
)


def _errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "info"]


def test_healthy_gen10_passes_every_check(ilo: Ilo) -> None:
    facts = read_server(ilo.bmc(GEN10))
    assert findings_for_server(ilo.lab, GEN10, facts) == []


def test_healthy_gen9_passes_and_says_what_it_cannot_see(ilo: Ilo) -> None:
    """iLO 4 shows no personality or DCB: `info` findings with the manual check, no errors."""
    facts = read_server(ilo.bmc(GEN9))
    findings = findings_for_server(ilo.lab, GEN9, facts)
    assert _errors(findings) == []
    # personality and LLDP agent of each port of the 534FLR-SFP+ and the 530SFP+ (the 331i is
    # NIC-only: nothing to verify)
    unseen = sorted(f.subject for f in findings)
    assert unseen == sorted(2 * [f"{GEN9}/{a}/port{n}" for a in ("flexlom", "pcie1")
                                 for n in (1, 2)])
    personality = next(f for f in findings if f.subject == f"{GEN9}/flexlom/port1"
                       and "personality" in f.message)
    assert "iLO 4" in personality.message
    assert ("System Configuration > HPE FlexFabric 10Gb 2-port 534FLR-SFP+ Adapter > Port 1 > "
            "Device Hardware Configuration > Storage Personality = iSCSI") in personality.fix


def test_f10_fault_fails_the_port_checks_with_a_redfish_fix_on_ilo5(start_ilo: StartIlo
                                                                    ) -> None:
    ilo = start_ilo(seed_f10)
    facts = read_server(ilo.bmc(GEN10))
    findings = check_adapter_ports(ilo.lab, GEN10, facts)
    assert all(f.id == "F10" and f.severity == "error" for f in findings)
    assert sorted(f.subject for f in findings) == [
        f"{GEN10}/flexlom/port1", f"{GEN10}/flexlom/port2", f"{GEN10}/pcie1/port1",
        f"{GEN10}/pcie1/port2"]
    fcoe = about(findings, f"{GEN10}/flexlom/port1")[0]
    assert "FCoE personality, the lab says iSCSI" in fcoe.message
    assert "no iSCSI function" in fcoe.cause and "NetDevFuncType=iSCSI" in fcoe.fix
    assert fcoe.evidence["reported"] == "FCoE"
    dcb = about(findings, f"{GEN10}/pcie1/port2")[0]
    assert "LLDP/DCBX agent is off" in dcb.message and "passes no traffic" in dcb.cause
    assert "EmbeddedLLDPFunctions.Enabled=true" in dcb.fix
    assert dcb.evidence["lldp_received"] is None  # with the agent off it hears no switch
    # the other checks are not distracted by it
    assert check_inventory(ilo.lab, GEN10, facts) == []
    assert check_bios_nics(ilo.lab, GEN10, facts) == []


def test_gen9_fault_is_reported_as_a_manual_fix_when_ilo4_shows_it(ilo: Ilo) -> None:
    """If an iLO 4 ever reports a wrong personality, the fix is System Utilities, not Redfish."""
    facts = read_server(ilo.bmc(GEN9))
    flexlom = facts.adapter_in("flexlom")
    assert flexlom is not None
    from harness.facts.redfish import FunctionFacts
    fn = FunctionFacts("/x/1/", "1", 1, "FibreChannelOverEthernet", (), True, None, None)
    shown = replace(facts, adapters=tuple(replace(a, functions=(fn,)) if a is flexlom else a
                                          for a in facts.adapters))
    (finding,) = [f for f in check_adapter_ports(ilo.lab, GEN9, shown)
                  if f.subject == f"{GEN9}/flexlom/port1" and f.severity == "error"]
    assert "iLO 4 exposes adapters read-only" in finding.fix
    assert "press F9" in finding.fix and "Storage Personality = iSCSI" in finding.fix


def test_bios_nic_disabled_slot_is_found(start_ilo: StartIlo) -> None:
    def slot1_off(spec: dict[str, Any]) -> None:
        for server in (GEN9, GEN10):
            bmc_entry(spec, server)["bios_nics"]["pcie_slots"] = {"1": False}

    ilo = start_ilo(slot1_off)
    for server, value, fix in ((GEN10, "Disabled", '"Attributes": {"PciSlot1Enable": "Auto"}'),
                               (GEN9, "Disabled", '"PciSlot1Enable": "Enabled"')):
        facts = read_server(ilo.bmc(server))
        (finding,) = check_bios_nics(ilo.lab, server, facts)
        assert (finding.id, finding.subject) == ("F10", f"{server}/bios")
        assert f"PciSlot1Enable={value}" in finding.message and fix in finding.fix
        assert "vmnics are missing" in finding.cause


def test_inventory_differences_are_version_skew(start_ilo: StartIlo) -> None:
    def drift(spec: dict[str, Any]) -> None:
        bmc_entry(spec, GEN10)["firmware"] = "2.30"
        adapter_entry(spec, GEN10, "530SFP+")["slot"] = "pcie2"  # seated in another slot

    ilo = start_ilo(drift)
    facts = read_server(ilo.bmc(GEN10))
    findings = check_inventory(ilo.lab, GEN10, facts)
    assert {(f.id, f.subject) for f in findings} == {("F10", GEN10), ("F10", f"{GEN10}/pcie1")}
    firmware = about(findings, GEN10)[0]
    assert "iLO firmware is 2.30, the lab says 2.44" in firmware.message
    moved = next(f for f in findings if f.subject == f"{GEN10}/pcie1")
    assert "reported in slot pcie2, the lab says pcie1" in moved.message


def test_power_cycle_capability_rack_blade_and_missing_action(ilo: Ilo, sim_lab: Lab) -> None:
    facts = read_server(ilo.bmc(GEN10))
    assert check_power_cycle(sim_lab, GEN10, facts) == []
    blade_lab = sim_lab.model_copy(update={"servers": {
        **sim_lab.servers,
        GEN10: sim_lab.servers[GEN10].model_copy(update={"blade_enclosure": "enc01"})}})
    (blade,) = check_power_cycle(blade_lab, GEN10, facts)
    assert (blade.id, blade.severity) == ("F07", "warning")
    assert "does not drive yet" in blade.message and "reset server <bay>" in blade.fix
    no_off = replace(facts, power=replace(facts.power, reset=ResetAction(
        facts.power.reset.target if facts.power.reset else "", ("On", "ForceRestart"))))
    (missing,) = check_power_cycle(sim_lab, GEN10, no_off)
    assert "lacks ForceOff" in missing.message
    bl = replace(facts, model="ProLiant BL460c Gen10")
    (unlabelled,) = check_power_cycle(sim_lab, GEN10, bl)
    assert "blade" in unlabelled.message and "blade_enclosure" in unlabelled.fix


def test_remediation_fixes_f10_end_to_end_on_ilo5(start_ilo: StartIlo) -> None:
    ilo = start_ilo(seed_f10)
    bmc = ilo.bmc(GEN10)
    facts = read_server(bmc)
    plan = plan_adapter_fixes(ilo.lab, GEN10, facts)
    assert not plan.manual and not plan.unverified
    assert sorted(c.description for c in plan.changes) == [
        f"{GEN10}/flexlom/port1: NetDevFuncType FibreChannelOverEthernet -> iSCSI",
        f"{GEN10}/flexlom/port2: NetDevFuncType FibreChannelOverEthernet -> iSCSI",
        f"{GEN10}/pcie1: EmbeddedLLDPFunctions.Enabled False -> True"]
    ilo.served(GEN10, reset=True)
    result = remediate(bmc, facts.system_uri, plan, timeout=30, poll=POLL_S)
    assert result is not None and all(o.applied for o in result.outcomes)
    assert len(result.outcomes) == 3
    patches = {k: v for k, v in ilo.served(GEN10)["requests"].items() if k.startswith("PATCH")}
    assert len(patches) == 3  # one write per Settings object, each with If-Match (412 else)
    assert all(any(m.short_id == "SystemResetRequired" for m in msgs)
               for msgs in result.patch_replies.values())
    after = read_server(bmc)
    assert check_adapter_ports(ilo.lab, GEN10, after) == []
    assert plan_adapter_fixes(ilo.lab, GEN10, after).empty


def test_remediation_refuses_on_ilo4_with_the_manual_fix(ilo: Ilo) -> None:
    bmc = ilo.bmc(GEN9)
    facts = read_server(bmc)
    plan = plan_adapter_fixes(ilo.lab, GEN9, facts)
    assert not plan.changes and plan.unverified
    ilo.served(GEN9, reset=True)
    with pytest.raises(RemediationRefused) as err:
        remediate(bmc, facts.system_uri, plan)
    assert "nothing was changed" in str(err.value)
    assert ("press F9 at POST (System Utilities) > System Configuration > HPE FlexFabric 10Gb "
            "2-port 534FLR-SFP+ Adapter > Port 2 > Device Hardware Configuration > Storage "
            "Personality = iSCSI") in err.value.manual_fix
    assert "DCB Protocol = Enabled" in err.value.manual_fix
    assert ilo.served(GEN9)["total"] == 0  # not one request: nothing was touched


def test_adapter_that_redfish_may_not_configure_gets_manual_steps(start_ilo: StartIlo) -> None:
    ilo = start_ilo(seed_f10)
    facts = read_server(ilo.bmc(GEN10))
    locked = replace(facts, adapters=tuple(
        replace(a, writable=False, redfish_configuration="Disabled") if a.slot == "flexlom"
        else a for a in facts.adapters))
    plan = plan_adapter_fixes(ilo.lab, GEN10, locked)
    assert [c.subject for c in plan.changes] == [f"{GEN10}/pcie1"]
    assert len(plan.manual) == 2 and all("Storage Personality = iSCSI" in m
                                         for m in plan.manual)
    (finding, *_) = check_adapter_ports(ilo.lab, GEN10, locked)
    assert "RedfishConfiguration is Disabled" in finding.fix


def test_port_subjects_come_from_the_lab(sim_lab: Lab) -> None:
    ports = subjects_of(sim_lab, "adapter_ports")
    assert f"{GEN10}/flexlom/port1" in ports and f"{GEN9}/lom/port4" in ports
    assert len(ports) == 3 * 8  # three servers, 4 + 2 + 2 ports each
