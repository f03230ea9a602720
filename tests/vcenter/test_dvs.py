"""lh-vcsim's distributed switches, F01's management-path guard and network hints, driven
through pyVmomi exactly as a nested-lab build or a migration script would drive vCenter.

The stock simulator ignores pnic backing, never shows a proxy switch on the host, copies a
DV port group spec verbatim, and never loses a host; each test here fails on the stock one.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyVmomi import vim, vmodl

from tests.vcenter.tasks import wait_for_task

UPLINKS = ["uplink1", "uplink2"]


def _create_dvs(si: Any, name: str = "dvs-t", mtu: int = 9000) -> Any:
    content = si.RetrieveContent()
    dc = content.rootFolder.childEntity[0]
    spec = vim.DistributedVirtualSwitch.CreateSpec(
        configSpec=vim.dvs.VmwareDistributedVirtualSwitch.ConfigSpec(
            name=name, maxMtu=mtu,
            uplinkPortPolicy=vim.DistributedVirtualSwitch.NameArrayUplinkPortPolicy(
                uplinkPortName=UPLINKS)))
    wait_for_task(dc.networkFolder.CreateDVS_Task(spec))
    return next(d for d in dc.networkFolder.childEntity if d.name == name)


def _add_host(dvs: Any, host: Any, vmnics: list[str], op: str = "add") -> None:
    backing = vim.dvs.HostMember.PnicBacking(
        pnicSpec=[vim.dvs.HostMember.PnicSpec(pnicDevice=n) for n in vmnics])
    spec = vim.DistributedVirtualSwitch.ConfigSpec(
        configVersion=dvs.config.configVersion,
        host=[vim.dvs.HostMember.ConfigSpec(operation=op, host=host, backing=backing)])
    wait_for_task(dvs.ReconfigureDvs_Task(spec))


def _add_pg(dvs: Any, name: str, vlan: int, active: list[str]) -> Any:
    setting = vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(
        vlan=vim.dvs.VmwareDistributedVirtualSwitch.VlanIdSpec(vlanId=vlan),
        uplinkTeamingPolicy=vim.dvs.VmwareDistributedVirtualSwitch.UplinkPortTeamingPolicy(
            uplinkPortOrder=vim.dvs.VmwareDistributedVirtualSwitch.UplinkPortOrderPolicy(
                activeUplinkPort=active, standbyUplinkPort=[])))
    wait_for_task(dvs.AddDVPortgroup_Task([vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        name=name, type="earlyBinding", numPorts=8, defaultPortConfig=setting)]))
    return next(p for p in dvs.portgroup if p.name == name)


def _move_vmk(host: Any, device: str, *, dvs: Any = None, pg: Any = None,
              portgroup: str = "") -> None:
    ns = host.configManager.networkSystem
    if dvs is not None:
        spec = vim.host.VirtualNic.Specification(
            distributedVirtualPort=vim.dvs.PortConnection(switchUuid=dvs.uuid,
                                                          portgroupKey=pg.key))
    else:
        spec = vim.host.VirtualNic.Specification(portgroup=portgroup)
    ns.UpdateVirtualNic(device, spec)


def _mgmt_on_vlan10(host: Any) -> None:
    """The template's vmk0 sits on VLAN 0, which the lab's access trunk does not carry: put
    it on the lab's management VLAN first, so the host has a working management path."""
    ns = host.configManager.networkSystem
    pg = next(p for p in ns.networkInfo.portgroup if p.spec.name == "Management Network")
    spec = pg.spec
    spec.vlanId = 10
    ns.UpdatePortGroup("Management Network", spec)


def _two_mgmt_uplinks(host: Any) -> None:
    """vSwitch0 on vmnic0 and vmnic6 (both cabled to trunks carrying VLAN 10), both active."""
    ns = host.configManager.networkSystem
    vs0 = next(v for v in ns.networkInfo.vswitch if v.name == "vSwitch0")
    spec = vs0.spec
    spec.bridge = vim.host.VirtualSwitch.BondBridge(nicDevice=["vmnic0", "vmnic6"])
    spec.policy.nicTeaming.nicOrder = vim.host.NetworkPolicy.NicOrderPolicy(
        activeNic=["vmnic0", "vmnic6"])
    ns.UpdateVirtualSwitch("vSwitch0", spec)


def _set_rollback(si: Any, enabled: bool) -> None:
    si.RetrieveContent().setting.UpdateOptions(changedValue=[
        vim.option.OptionValue(key="config.vpxd.network.rollback", value=str(enabled).lower())])


def test_host_member_gets_pnic_backing_and_a_proxy_switch(si: Any, hosts: dict[str, Any]
                                                           ) -> None:
    dvs = _create_dvs(si)
    version = dvs.config.configVersion
    esx01 = hosts["esx01"]
    _add_host(dvs, esx01, ["vmnic4", "vmnic5"])

    assert dvs.config.configVersion != version
    assert esx01 in dvs.summary.hostMember
    member = next(m for m in dvs.config.host if m.config.host == esx01)
    assert [p.pnicDevice for p in member.config.backing.pnicSpec] == ["vmnic4", "vmnic5"]
    proxy = esx01.config.network.proxySwitch
    assert [p.dvsName for p in proxy] == ["dvs-t"]
    assert proxy[0].mtu == 9000
    assert sorted(proxy[0].pnic) == ["key-vim.host.PhysicalNic-vmnic4",
                                     "key-vim.host.PhysicalNic-vmnic5"]
    names = {kv.key: kv.value for kv in proxy[0].uplinkPort}
    by_pnic = {p.pnicDevice: names[p.uplinkPortKey] for p in proxy[0].spec.backing.pnicSpec}
    assert by_pnic == {"vmnic4": "uplink1", "vmnic5": "uplink2"}
    # the other hosts are untouched
    assert not hosts["esx02"].config.network.proxySwitch


def test_a_pnic_moves_off_its_standard_switch(si: Any, hosts: dict[str, Any]) -> None:
    esx01 = hosts["esx01"]
    ns = esx01.configManager.networkSystem
    ns.AddVirtualSwitch("vSwitch1", vim.host.VirtualSwitch.Specification(
        numPorts=128, bridge=vim.host.VirtualSwitch.BondBridge(nicDevice=["vmnic4", "vmnic5"])))
    _add_host(_create_dvs(si), esx01, ["vmnic4"])
    vs1 = next(v for v in esx01.config.network.vswitch if v.name == "vSwitch1")
    assert vs1.spec.bridge.nicDevice == ["vmnic5"]


def test_edit_and_remove_membership(si: Any, hosts: dict[str, Any]) -> None:
    dvs = _create_dvs(si)
    esx02 = hosts["esx02"]
    _add_host(dvs, esx02, ["vmnic4"])
    _add_host(dvs, esx02, ["vmnic4", "vmnic7"], op="edit")
    assert sorted(esx02.config.network.proxySwitch[0].pnic) == [
        "key-vim.host.PhysicalNic-vmnic4", "key-vim.host.PhysicalNic-vmnic7"]
    _add_host(dvs, esx02, [], op="remove")
    assert not esx02.config.network.proxySwitch
    assert esx02 not in dvs.summary.hostMember
    with pytest.raises(vim.fault.NotFound):
        _add_host(dvs, esx02, ["vmnic4"], op="edit")


def test_stale_config_version_is_refused(si: Any, hosts: dict[str, Any]) -> None:
    dvs = _create_dvs(si)
    _add_host(dvs, hosts["esx01"], ["vmnic4"])
    stale = dvs.config.configVersion
    _add_host(dvs, hosts["esx02"], ["vmnic4"])
    assert dvs.config.configVersion != stale
    spec = vim.DistributedVirtualSwitch.ConfigSpec(configVersion=stale, description="late")
    with pytest.raises(vim.fault.ConcurrentAccess):
        wait_for_task(dvs.ReconfigureDvs_Task(spec))


def test_dv_portgroup_reconfigure_merges_a_partial_spec(si: Any) -> None:
    pg = _add_pg(_create_dvs(si), "dvpg-vmotion", 20, ["uplink1"])
    spec = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        configVersion=pg.config.configVersion,
        defaultPortConfig=vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(
            securityPolicy=vim.dvs.VmwareDistributedVirtualSwitch.SecurityPolicy(
                macChanges=vim.BoolPolicy(value=False))))
    wait_for_task(pg.ReconfigureDVPortgroup_Task(spec))
    cfg = pg.config
    assert cfg.name == "dvpg-vmotion"
    assert cfg.defaultPortConfig.vlan.vlanId == 20
    assert cfg.defaultPortConfig.uplinkTeamingPolicy.uplinkPortOrder.activeUplinkPort == [
        "uplink1"]
    assert cfg.defaultPortConfig.securityPolicy.macChanges.value is False


def test_f01_rollback_keeps_the_host_when_the_target_has_no_working_uplink(
        si: Any, hosts: dict[str, Any]) -> None:
    esx01 = hosts["esx01"]
    _mgmt_on_vlan10(esx01)
    dvs = _create_dvs(si)
    _add_host(dvs, esx01, ["vmnic4", "vmnic5"])  # 10 Gb trunks: VLANs 20-100, not 10
    dead_end = _add_pg(dvs, "dvpg-mgmt", 10, ["uplink1"])
    with pytest.raises(vim.fault.NetworkDisruptedAndConfigRolledBack) as err:
        _move_vmk(esx01, "vmk0", dvs=dvs, pg=dead_end)
    assert err.value.host == "esx01"
    vmk0 = next(v for v in esx01.config.network.vnic if v.device == "vmk0")
    assert vmk0.portgroup == "Management Network"
    assert esx01.runtime.connectionState == "connected"


def test_f01_without_rollback_the_host_is_lost(si: Any, hosts: dict[str, Any]) -> None:
    esx01 = hosts["esx01"]
    _mgmt_on_vlan10(esx01)
    _set_rollback(si, False)
    dvs = _create_dvs(si)
    _add_host(dvs, esx01, ["vmnic4", "vmnic5"])
    _move_vmk(esx01, "vmk0", dvs=dvs, pg=_add_pg(dvs, "dvpg-mgmt", 10, ["uplink1"]))
    assert esx01.runtime.connectionState == "disconnected"
    with pytest.raises(vmodl.fault.HostNotConnected):
        _move_vmk(esx01, "vmk0", portgroup="Management Network")
    assert hosts["esx02"].runtime.connectionState == "connected"


def test_f01_a_move_to_a_working_port_group_is_fine(si: Any, hosts: dict[str, Any]) -> None:
    esx01 = hosts["esx01"]
    _mgmt_on_vlan10(esx01)
    _two_mgmt_uplinks(esx01)
    _set_rollback(si, False)
    dvs = _create_dvs(si)
    # the safe order: one of two management uplinks first, then the vmk, then the other
    _add_host(dvs, esx01, ["vmnic6", "vmnic4"])  # vmnic6: a trunk with VLAN 10
    _move_vmk(esx01, "vmk0", dvs=dvs, pg=_add_pg(dvs, "dvpg-mgmt", 10, ["uplink1"]))
    vmk0 = next(v for v in esx01.config.network.vnic if v.device == "vmk0")
    assert vmk0.spec.distributedVirtualPort.switchUuid == dvs.uuid
    _add_host(dvs, esx01, ["vmnic6", "vmnic0"], op="edit")
    assert esx01.config.network.vswitch[0].spec.bridge.nicDevice is None or not \
        esx01.config.network.vswitch[0].spec.bridge.nicDevice
    assert esx01.runtime.connectionState == "connected"


def test_f01_moving_the_last_working_uplink_is_rolled_back(si: Any, hosts: dict[str, Any]
                                                           ) -> None:
    esx01 = hosts["esx01"]
    _mgmt_on_vlan10(esx01)
    dvs = _create_dvs(si)
    before = esx01.config.network.vswitch[0].spec.bridge.nicDevice
    assert before == ["vmnic0"]  # the template's vSwitch0 holds only vmnic0
    with pytest.raises(vim.fault.NetworkDisruptedAndConfigRolledBack):
        _add_host(dvs, esx01, ["vmnic0"])
    assert esx01.config.network.vswitch[0].spec.bridge.nicDevice == ["vmnic0"]
    assert esx01 not in dvs.summary.hostMember
    assert not esx01.config.network.proxySwitch


def test_network_hints_list_every_pnic_without_a_data_plane(hosts: dict[str, Any]) -> None:
    hints = hosts["esx03"].configManager.networkSystem.QueryNetworkHint()
    assert [h.device for h in hints] == [p.device for p in hosts["esx03"].config.network.pnic]
    assert all(h.connectedSwitchPort is None and h.lldpInfo is None for h in hints)


def test_the_uplink_port_group_is_marked(si: Any) -> None:
    """vCenter lists the DVS's own uplink port group in config.uplinkPortgroup and tags it
    SYSTEM/DVS.UPLINKPG; clients use either to tell it from VM port groups."""
    dvs = _create_dvs(si)
    [uplink_pg] = dvs.config.uplinkPortgroup
    assert uplink_pg.name.startswith("dvs-t-DVUplinks")
    assert [t.key for t in uplink_pg.tag] == ["SYSTEM/DVS.UPLINKPG"]


def test_destroying_a_dv_port_group_in_use_is_refused_and_leaves_no_references(
        si: Any, hosts: dict[str, Any]) -> None:
    """vCenter refuses to destroy a DV port group a VMkernel NIC is on (ResourceInUse); once
    free, destroying it removes it from every member host's and the cluster's `network`."""
    dvs = _create_dvs(si)
    host = hosts["esx01"]
    _add_host(dvs, host, ["vmnic4", "vmnic5"])
    pg = _add_pg(dvs, "dvpg-t", 20, ["uplink1"])
    assert pg.name in [n.name for n in host.network]
    ns = host.configManager.networkSystem
    vmk = ns.AddVirtualNic("", vim.host.VirtualNic.Specification(
        ip=vim.host.IpConfig(dhcp=False, ipAddress="198.18.20.99", subnetMask="255.255.255.0"),
        distributedVirtualPort=vim.dvs.PortConnection(switchUuid=dvs.uuid,
                                                      portgroupKey=pg.key)))
    with pytest.raises(vim.fault.ResourceInUse):
        wait_for_task(pg.Destroy_Task())
    ns.RemoveVirtualNic(vmk)
    wait_for_task(pg.Destroy_Task())
    assert "dvpg-t" not in [p.name for p in dvs.portgroup]
    for obj in (host, host.parent):
        assert all(n._moId != pg._moId for n in obj.network)
        [n.name for n in obj.network]  # every reference resolves
