"""The wire's pure checks on facts (no probes): each passes on what a healthy lab shows and
fails, with the right incident, on the fault it exists for."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Interface

import pytest

from harness.checks.network import check_neighbours, check_uplinks, classify, diagnose_path
from harness.checks.vsphere import check_management_paths, check_time, intended_ntp
from harness.facts.vsphere import (
    NTP_RULESET,
    NTP_SERVICE,
    ClockOffset,
    HostFacts,
    PolicyFacts,
    PortGroupFacts,
    ServiceFacts,
    Snapshot,
    TeamingFacts,
    VcenterFacts,
    VmknicFacts,
    VswitchFacts,
)
from harness.facts.wire import Heard, UplinkKey
from harness.lab import Lab, load_lab
from harness.lab.views import expected_neighbours
from tests.conftest import SIM_LAB


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load_lab(SIM_LAB)


def _heard_as_cabled(lab: Lab) -> dict[UplinkKey, list[Heard]]:
    return {key: [Heard(p, device, port) for p in protocols]
            for key, (device, port, protocols) in expected_neighbours(lab).items()}


def test_neighbours_as_cabled_pass(lab: Lab) -> None:
    assert check_neighbours(lab, _heard_as_cabled(lab), set()) == []


def test_a_cable_in_another_port_is_named(lab: Lab) -> None:
    heard = _heard_as_cabled(lab)
    heard[("esx02", "vmnic5")] = [Heard("cdp", "lab-sw02.example.test", "TenGigabitEthernet1/1/9"),
                                  Heard("lldp", "lab-sw02.example.test", "TenGigabitEthernet1/1/9")]
    found = check_neighbours(lab, heard, set())
    assert [(f.id, f.severity, f.subject) for f in found] == [("F11", "error", "esx02/vmnic5")]
    assert "TenGigabitEthernet1/1/9, not lab-sw02.example.test TenGigabitEthernet1/1/2" \
        in found[0].message


def test_swapped_cables_name_both_ports(lab: Lab) -> None:
    """Two cables swapped between a host's vmnics: each vmnic hears the other's port, and the
    finding says they are swapped and which two switch ports to swap back."""
    heard = _heard_as_cabled(lab)
    heard[("esx01", "vmnic4")], heard[("esx01", "vmnic7")] = (
        heard[("esx01", "vmnic7")], heard[("esx01", "vmnic4")])
    found = check_neighbours(lab, heard, set())
    assert sorted(f.subject for f in found) == ["esx01/vmnic4", "esx01/vmnic7"]
    assert {(f.id, f.severity) for f in found} == {("F11", "error")}
    vmnic4 = next(f for f in found if f.subject == "esx01/vmnic4")
    assert vmnic4.evidence["planned_for"] == "esx01/vmnic7"
    assert vmnic4.evidence["expected"] == {"device": "lab-sw01.example.test",
                                           "port": "TenGigabitEthernet1/1/1",
                                           "protocols": ["cdp", "lldp"]}
    assert {h["port"] for h in vmnic4.evidence["heard"]} == {"TenGigabitEthernet1/1/5"}
    assert "cables of vmnic4 and vmnic7 are swapped" in vmnic4.cause
    assert vmnic4.fix.startswith("swap the cables in lab-sw01.example.test "
                                 "TenGigabitEthernet1/1/1 and TenGigabitEthernet1/1/5")
    # across two switches the fix names both
    heard = _heard_as_cabled(lab)
    heard[("esx01", "vmnic4")], heard[("esx01", "vmnic5")] = (
        heard[("esx01", "vmnic5")], heard[("esx01", "vmnic4")])
    vmnic4 = next(f for f in check_neighbours(lab, heard, set()) if f.subject == "esx01/vmnic4")
    assert "cables of vmnic4 and vmnic5 are swapped" in vmnic4.cause
    assert vmnic4.fix.startswith("swap the cables in lab-sw01.example.test TenGigabitEthernet1/1/1"
                                 " and lab-sw02.example.test TenGigabitEthernet1/1/1")


def test_a_cable_in_another_vmnics_port_is_not_called_a_swap(lab: Lab) -> None:
    """esx02's vmnic5 hears the port the plan gives esx03's vmnic5, which still hears its own:
    a cable in the wrong port, not a swap (moving it is the fix)."""
    heard = _heard_as_cabled(lab)
    heard[("esx02", "vmnic5")] = heard[("esx03", "vmnic5")]
    [found] = check_neighbours(lab, heard, set())
    assert (found.id, found.subject) == ("F11", "esx02/vmnic5")
    assert found.evidence["planned_for"] == "esx03/vmnic5"
    assert "swapped" not in found.cause and "gives esx03/vmnic5" in found.cause
    assert found.fix.startswith("move the cable to lab-sw02.example.test TenGigabitEthernet1/1/2")


def test_a_missing_protocol_is_a_warning(lab: Lab) -> None:
    heard = _heard_as_cabled(lab)
    heard[("esx03", "vmnic4")] = [h for h in heard[("esx03", "vmnic4")] if h.protocol == "lldp"]
    found = check_neighbours(lab, heard, set())
    assert [(f.id, f.severity) for f in found] == [("F11", "warning")]
    assert "not by cdp" in found[0].message


def test_silence_is_f11_for_one_port_and_f10_for_a_whole_adapter(lab: Lab) -> None:
    heard = _heard_as_cabled(lab)
    heard[("esx01", "vmnic4")] = []
    one = check_neighbours(lab, heard, set())
    assert [(f.id, f.subject) for f in one] == [("F11", "esx01/vmnic4")]
    heard = _heard_as_cabled(lab)
    heard[("esx03", "vmnic6")], heard[("esx03", "vmnic7")] = [], []  # the 530SFP+, both ports
    both = check_neighbours(lab, heard, set())
    assert sorted((f.id, f.subject) for f in both) == [("F10", "esx03/vmnic6"),
                                                        ("F10", "esx03/vmnic7")]


def test_unobserved_vmnics_are_not_judged(lab: Lab) -> None:
    heard = _heard_as_cabled(lab)
    del heard[("esx02", "vmnic6")]
    assert check_neighbours(lab, heard, set()) == []


def test_uplinks_all_passing_pass_and_a_dead_one_is_named(lab: Lab) -> None:
    keys = list(expected_neighbours(lab))
    assert check_uplinks(lab, dict.fromkeys(keys, True), {}) == []
    reachable = dict.fromkeys(keys, True)
    reachable[("esx02", "vmnic7")] = False
    found = check_uplinks(lab, reachable, {("esx02", "vmnic7"): {"sent": 3, "answered": 0}})
    assert [(f.id, f.subject) for f in found] == [("F11", "esx02/vmnic7")]
    assert found[0].evidence["answered"] == 0
    # both ports of esx03's 530SFP+ dead: the adapter, not two switch ports (F10)
    reachable = dict.fromkeys(keys, True)
    reachable[("esx03", "vmnic6")] = reachable[("esx03", "vmnic7")] = False
    assert sorted((f.id, f.subject) for f in check_uplinks(lab, reachable, {})) == [
        ("F10", "esx03/vmnic6"), ("F10", "esx03/vmnic7")]


def test_classify_needs_every_cabled_port_of_the_adapter(lab: Lab) -> None:
    assert classify(lab, {("esx03", "vmnic6")})[("esx03", "vmnic6")][0] == "F11"
    kinds = classify(lab, {("esx03", "vmnic6"), ("esx03", "vmnic7")})
    assert {k: v[0] for k, v in kinds.items()} == {("esx03", "vmnic6"): "F10",
                                                  ("esx03", "vmnic7"): "F10"}


def test_diagnose_path_follows_the_failover_order(lab: Lab) -> None:
    """vMotion on esx01 forwards through vmnic4 (link status only): a dead vmnic4 explains a
    failed vMotion path; a dead standby (vmnic7) does not; a beacon-probing team with three
    uplinks fails over, so its path is not explained by one dead uplink."""
    explained = diagnose_path(lab, "esx01", "dvpg-vmotion", {("esx01", "vmnic4")})
    assert explained is not None and explained[0] == "F11"
    assert "forwards through vmnic4 (link status only)" in explained[1]
    assert diagnose_path(lab, "esx01", "dvpg-vmotion", {("esx01", "vmnic7")}) is None
    assert diagnose_path(lab, "esx01", "dvpg-vmotion", set()) is None
    assert diagnose_path(lab, "esx01", "dvpg-vm", {("esx01", "vmnic4")}) is None
    assert diagnose_path(lab, "esx01", "no-such-pg", {("esx01", "vmnic4")}) is None


# -- host time (F05) ------------------------------------------------------------------------

def _timely(lab: Lab, name: str) -> HostFacts:
    return HostFacts(name=name, moref=f"host-{name}", ntp_servers=intended_ntp(lab, name),
                     services={NTP_SERVICE: ServiceFacts(NTP_SERVICE, True, "on")},
                     firewall_rulesets={NTP_RULESET: True})


def _offset(host: str, seconds: float, uncertainty: float = 0.01) -> ClockOffset:
    return ClockOffset(host, seconds, uncertainty, datetime(2026, 12, 5, tzinfo=UTC))


def test_time_as_the_lab_says_passes(lab: Lab) -> None:
    hosts = {h: _timely(lab, h) for h in lab.hosts}
    assert check_time(lab, hosts, {h: _offset(h, 0.2) for h in lab.hosts}) == []


def test_one_host_without_ntp_gets_one_finding_with_every_problem(lab: Lab) -> None:
    hosts = {h: _timely(lab, h) for h in lab.hosts}
    hosts["esx02"] = HostFacts(name="esx02", moref="host-esx02",
                               services={NTP_SERVICE: ServiceFacts(NTP_SERVICE, False, "off")},
                               firewall_rulesets={NTP_RULESET: False})
    found = check_time(lab, hosts, {"esx02": _offset("esx02", 360.0)})
    assert [(f.id, f.subject) for f in found] == [("F05", "esx02")]
    for words in ("NTP servers none", "ntpd is stopped", "policy is 'off'",
                  "ntpClient firewall rule is off", "clock +360.0 s off"):
        assert words in found[0].message


def test_an_offset_within_its_uncertainty_is_not_blamed(lab: Lab) -> None:
    """The offset is known only to half the round trip: a slow read is not a drifting clock."""
    bound = lab.ntp.max_offset_seconds
    hosts = {"esx01": _timely(lab, "esx01")}
    assert check_time(lab, hosts, {"esx01": _offset("esx01", bound + 0.5, 1.0)}) == []
    assert check_time(lab, hosts, {"esx01": _offset("esx01", bound + 1.5, 1.0)})


# -- management paths before a migration (F01) ----------------------------------------------

def _snapshot(hosts: dict[str, HostFacts]) -> Snapshot:
    return Snapshot(vcenter=VcenterFacts("VMware vCenter Server 8.0.3", "8.0.3", "24022515",
                                         "8.0.3.0", None),
                    hosts=hosts, dvs={}, dv_port_groups={}, vms={},
                    taken_at=datetime(2026, 12, 5, tzinfo=UTC), elapsed_s=0.1, requests=1,
                    pages=1)


def _managed(name: str, uplinks: tuple[str, ...], active: tuple[str, ...],
             standby: tuple[str, ...]) -> HostFacts:
    """A connected host whose vmk0 sits on vSwitch0's Management Network (VLAN 10)."""
    team = PolicyFacts(teaming=TeamingFacts(active=active, standby=standby))
    return HostFacts(
        name=name, moref=f"host-{name}", connection_state="connected",
        vswitches={"vSwitch0": VswitchFacts("vSwitch0", 1500, uplinks, ("Management Network",),
                                            team)},
        port_groups={"Management Network": PortGroupFacts("Management Network", "vSwitch0",
                                                          10, team)},
        vmknics={"vmk0": VmknicFacts("vmk0", "Management Network", None,
                                     IPv4Interface("198.18.10.11/24"), False,
                                     "00:50:56:00:00:01", 1500, "defaultTcpipStack",
                                     ("management",))})


def test_management_paths_with_two_working_uplinks_pass(lab: Lab) -> None:
    """As the lab builds them: vmk0 on VLAN 10 through vmnic0 (sw01 Gi1/0/1) and vmnic6 (sw02
    Te1/1/5), both switch ports carrying VLAN 10; one of them only is a warning."""
    hosts = {h: _managed(h, ("vmnic0", "vmnic6"), ("vmnic0",), ("vmnic6",)) for h in lab.hosts}
    assert check_management_paths(lab, _snapshot(hosts), rollback=True) == []
    # vmnic4's switch port (an SFP trunk) does not carry VLAN 10: one working path is left
    hosts["esx03"] = _managed("esx03", ("vmnic0", "vmnic4"), ("vmnic0",), ("vmnic4",))
    [found] = check_management_paths(lab, _snapshot(hosts), rollback=True)
    assert (found.id, found.subject, found.severity) == ("F01", "esx03", "warning")
    assert "single working uplink (vmnic0)" in found.message
    assert found.evidence["paths"] == {"vmk0": ["vmnic0"]}


def test_management_paths_name_rollback_off_a_lost_host_and_no_uplink(lab: Lab) -> None:
    """Rollback off is a vCenter finding; a disconnected host is named with its state; a host
    whose management vmk has no uplink carrying its VLAN has no working path (the healthy
    side: the test above, and the vSphere suite's pass on the sim, which reads real facts)."""
    hosts = {"esx01": HostFacts(name="esx01", moref="host-1", connection_state="connected"),
             "esx02": HostFacts(name="esx02", moref="host-2",
                                connection_state="notResponding")}
    found = check_management_paths(lab, _snapshot(hosts), rollback=False)
    assert [(f.id, f.subject) for f in found] == [("F01", "vcenter"), ("F01", "esx01"),
                                                  ("F01", "esx02")]
    assert "rollback" in found[0].message and found[0].evidence
    assert "no working uplink" in found[1].message and found[1].severity == "error"
    assert "notResponding" in found[2].message
    assert [f.subject for f in check_management_paths(lab, _snapshot({}), rollback=True)] == []

