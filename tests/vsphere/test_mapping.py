"""The declarative mapping and the observed view on hand-built vSphere data (no simulator)."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import IPv4Interface
from types import SimpleNamespace

from pyVmomi import vim

from harness.checks.observed import view_from_snapshot
from harness.drivers.vsphere import mapping
from harness.facts.vsphere import (
    CdpFacts,
    DvPortFacts,
    DvPortGroupFacts,
    DvsFacts,
    HostFacts,
    LldpFacts,
    PolicyFacts,
    ProxySwitchFacts,
    SecurityFacts,
    Snapshot,
    TeamingFacts,
    VcenterFacts,
    VmknicFacts,
)
from harness.lab.model import Lab

DVS = vim.dvs.VmwareDistributedVirtualSwitch


def test_network_hint_with_cdp_and_lldp() -> None:
    cdp = vim.host.PhysicalNic.CdpInfo(
        devId="lab-sw01.example.test", portId="TenGigabitEthernet1/1/1", address="198.19.255.3",
        hardwarePlatform="cisco WS-C3850-48P", softwareVersion="IOS", vlan=1, mtu=9000)
    lldp = vim.host.PhysicalNic.LldpInfo(
        chassisId="00:11:22:33:44:55", portId="Te1/1/5", timeToLive=120, parameter=[
            vim.KeyAnyValue(key="System Name", value="lab-sw02.example.test"),
            vim.KeyAnyValue(key="Port Description", value="esx01 vmnic6")])
    hints = [
        vim.host.PhysicalNic.NetworkHint(device="vmnic4", connectedSwitchPort=cdp, subnet=[
            vim.host.PhysicalNic.NetworkHint.IpNetwork(vlanId=20, ipSubnet="198.18.20.0")]),
        vim.host.PhysicalNic.NetworkHint(device="vmnic6", lldpInfo=lldp),
        vim.host.PhysicalNic.NetworkHint(device="vmnic1"),
    ]
    got = mapping.network_hints("esx01", hints)
    assert [h.device for h in got] == ["vmnic4", "vmnic6", "vmnic1"]
    assert got[0].cdp == CdpFacts("lab-sw01.example.test", "TenGigabitEthernet1/1/1",
                                  "198.19.255.3", "cisco WS-C3850-48P", "IOS", 1, 9000)
    assert got[0].subnets == ("198.18.20.0 vlan 20",) and got[0].lldp is None
    assert got[1].lldp == LldpFacts("00:11:22:33:44:55", "Te1/1/5", "lab-sw02.example.test",
                                    "esx01 vmnic6", ttl=120)
    assert (got[2].cdp, got[2].lldp) == (None, None)


def test_dvs_vlan_kinds() -> None:
    assert mapping.dvs_vlan(DVS.VmwarePortConfigPolicy(vlan=DVS.VlanIdSpec(vlanId=40))) == 40
    trunk = DVS.TrunkVlanSpec(vlanId=[vim.NumericRange(start=0, end=4094)])
    assert mapping.dvs_vlan(DVS.VmwarePortConfigPolicy(vlan=trunk)) == 4095
    assert mapping.dvs_vlan(DVS.VmwarePortConfigPolicy(vlan=DVS.PvlanSpec(pvlanId=101))) == 101
    assert mapping.dvs_vlan(DVS.VmwarePortConfigPolicy()) is None


def test_policies_with_unset_parts() -> None:
    assert mapping.standard_policy(None) == PolicyFacts()
    partial = vim.host.NetworkPolicy(nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
        rollingOrder=True))
    assert mapping.standard_policy(partial) == PolicyFacts(
        SecurityFacts(), TeamingFacts(failback=False))
    setting = DVS.VmwarePortConfigPolicy(uplinkTeamingPolicy=DVS.UplinkPortTeamingPolicy(
        notifySwitches=vim.BoolPolicy(value=False)))
    assert mapping.dvs_policy(setting) == PolicyFacts(
        SecurityFacts(), TeamingFacts(notify_switches=False))


def test_apply_table_collects_keyed_paths() -> None:
    props = mapping.host_props(["Mem.ShareForceSalting", "Net.Foo"], ["ntpd"], ["ntpClient"])
    paths = [p.path for p in props]
    assert 'config.option["Mem.ShareForceSalting"]' in paths
    assert 'config.firewall.ruleset["ntpClient"].enabled' in paths
    prop_set = [
        SimpleNamespace(name="name", val="esx09"),
        SimpleNamespace(name='config.option["Mem.ShareForceSalting"]',
                        val=vim.option.OptionValue(key="Mem.ShareForceSalting", value=0)),
        SimpleNamespace(name='config.firewall.ruleset["ntpClient"].enabled', val=True),
    ]
    fields = mapping.apply(props, prop_set)
    assert fields == {"name": "esx09", "options": {"Mem.ShareForceSalting": 0},
                      "firewall_rulesets": {"ntpClient": True}}


def _snapshot(vmks: dict[str, VmknicFacts], pg_policy: PolicyFacts) -> Snapshot:
    proxy = ProxySwitchFacts("uuid-1", "dvs-lab", 9000, ("vmnic4", "vmnic7"),
                             {"uplink1": "vmnic4", "uplink2": "vmnic7"})
    host = HostFacts(
        name="esx01", moref="host-1", connection_state="connected", version="6.5.0",
        build="5969303", vswitches={}, port_groups={}, vmknics=vmks, pnics={},
        proxy_switches=(proxy,), ntp_servers=(), services={}, firewall_rulesets={}, options={})
    dvs = DvsFacts("dvs-lab", "uuid-1", 9000, ("uplink1", "uplink2", "uplink3"), {}, None,
                   PolicyFacts(), None, "6.5.0")
    pgs = {"dvpg-iscsi-a": DvPortGroupFacts("dvpg-iscsi-a", "pg-1", "dvs-lab", 30, pg_policy,
                                            False)}
    return Snapshot(VcenterFacts("vc", "6.5.0", "1", "6.5", None), {"esx01": host},
                    {"dvs-lab": dvs}, pgs, {}, datetime.now(UTC), 0.0, 3, 1)


def _vmk(device: str) -> VmknicFacts:
    return VmknicFacts(device, None, DvPortFacts("uuid-1", "pg-1", None),
                       IPv4Interface("198.18.30.11/24"), False, "00:50:56:00:00:42", 9000,
                       "defaultTcpipStack", ())


def test_observed_view_resolves_defaults_and_keeps_intent_only_where_it_matches(
        sim_lab: Lab) -> None:
    # the lab's vmk2 is the iSCSI vmknic on dvpg-iscsi-a: its intent applies
    policy = PolicyFacts(teaming=TeamingFacts(active=("uplink1", "uplink3"), standby=()))
    view = view_from_snapshot(_snapshot({"vmk2": _vmk("vmk2")}, policy), sim_lab)
    vmk2 = view.hosts["esx01"].vmknics["vmk2"]
    assert (vmk2.port_group, vmk2.services, vmk2.subnet_shared_with) == (
        "dvpg-iscsi-a", ("iscsi",), ("vmk3",))
    pg = view.hosts["esx01"].port_groups["dvpg-iscsi-a"]
    # uplink3 has no vmnic behind it on this host: it cannot carry traffic, so it is dropped
    assert (pg.teaming.active, pg.teaming.standby) == (("vmnic4",), ())
    # nothing set on port group or DVS: vSphere's DVS defaults (reject all)
    assert (pg.security.allow_promiscuous, pg.security.mac_changes,
            pg.security.forged_transmits) == (False, False, False)
    assert (pg.teaming.load_balancing, pg.teaming.failure_detection, pg.teaming.failback) == (
        "loadbalance_srcid", "link_status", True)
    # a vmk4 that is not where the lab's vmk4 is (dvpg-vtep-a) takes nothing from intent
    other = view_from_snapshot(_snapshot({"vmk4": _vmk("vmk4")}, PolicyFacts()), sim_lab)
    assert other.hosts["esx01"].vmknics["vmk4"].services == ()
    assert other.hosts["esx01"].port_groups["dvpg-iscsi-a"].teaming.active == (
        "vmnic4", "vmnic7")
