"""Build a known vSphere configuration in lh-vcsim with plain pyVmomi calls, as a user's
nested-lab script would, so the driver's facts can be compared with what was configured.

`STATE` is the expected configuration; `configure()` applies it. Kept small but covering every
fact kind: a standard switch with a team and overrides, a DVS with pnic backing and port groups
with their own policies, vmknics on both (one on the vxlan stack), NTP/services/firewall on
some hosts only, an advanced option, and VMs with static and generated MACs and extraConfig.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim

DVS = "dvs-lab"
UPLINKS = ("uplink1", "uplink2", "uplink3")
DVS_BACKING = {"uplink1": "vmnic4", "uplink2": "vmnic7", "uplink3": "vmnic5"}
NTP_SERVERS = ["198.18.10.1", "198.18.10.2"]


@dataclass(frozen=True)
class DvpgSpec:
    vlan: int
    active: tuple[str, ...]
    standby: tuple[str, ...] = ()
    beacon: bool = False
    notify: bool = True
    mac_changes: bool | None = None
    forged: bool | None = None


@dataclass(frozen=True)
class VmSpec:
    host: str
    network: str
    mac: str | None
    extra: dict[str, str] = field(default_factory=dict)


DVPGS: dict[str, DvpgSpec] = {
    "dvpg-vmotion": DvpgSpec(20, ("uplink1",), ("uplink2",)),
    "dvpg-vm": DvpgSpec(40, ("uplink1", "uplink2", "uplink3"), beacon=True),
    "dvpg-nlb": DvpgSpec(40, ("uplink2",), ("uplink1",), notify=False, mac_changes=True,
                         forged=True),
    "dvpg-vtep-a": DvpgSpec(50, ("uplink1",), ("uplink2",)),
}

HOSTS = ("esx01", "esx02", "esx03")
MGMT_IP = {"esx01": "198.18.10.11", "esx02": "198.18.10.12", "esx03": "198.18.10.13"}
VMOTION_IP = {"esx01": "198.18.20.11", "esx02": "198.18.20.12", "esx03": "198.18.20.13"}
VTEP_IP = {"esx01": "198.18.50.11", "esx02": "198.18.50.12", "esx03": "198.18.50.13"}
NTP_HOSTS = ("esx01", "esx03")  # esx02 is left without NTP (F05)
SALTING = {"esx03": 0}  # esx03 turns salting off

VMS: dict[str, VmSpec] = {
    "nlb01": VmSpec("esx01", "dvpg-nlb", "00:50:56:01:40:01",
                    {"sched.mem.pshare.salt": "nlb"}),
    "nlb02": VmSpec("esx02", "dvpg-nlb", "00:50:56:01:40:02",
                    {"sched.mem.pshare.salt": "nlb"}),
    "mon01": VmSpec("esx03", "VM Network", None),
}


def ip(address: str, prefix_mask: str = "255.255.255.0") -> Any:
    return vim.host.IpConfig(dhcp=False, ipAddress=address, subnetMask=prefix_mask)


def wait(task: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while task.info.state not in ("success", "error"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task} still {task.info.state}")
        time.sleep(0.02)
    if task.info.state == "error":
        raise task.info.error
    return task.info.result


def bool_policy(value: bool) -> Any:
    return vim.BoolPolicy(inherited=False, value=value)


def dvpg_setting(spec: DvpgSpec) -> Any:
    dvs = vim.dvs.VmwareDistributedVirtualSwitch
    setting = dvs.VmwarePortConfigPolicy(
        vlan=dvs.VlanIdSpec(inherited=False, vlanId=spec.vlan),
        uplinkTeamingPolicy=dvs.UplinkPortTeamingPolicy(
            inherited=False, policy=vim.StringPolicy(inherited=False, value="failover_explicit"),
            notifySwitches=bool_policy(spec.notify), rollingOrder=bool_policy(False),
            failureCriteria=dvs.FailureCriteria(inherited=False,
                                                checkBeacon=bool_policy(spec.beacon)),
            uplinkPortOrder=dvs.UplinkPortOrderPolicy(
                inherited=False, activeUplinkPort=list(spec.active),
                standbyUplinkPort=list(spec.standby))))
    if spec.mac_changes is not None or spec.forged is not None:
        setting.securityPolicy = dvs.SecurityPolicy(
            inherited=False, allowPromiscuous=bool_policy(False),
            macChanges=bool_policy(bool(spec.mac_changes)),
            forgedTransmits=bool_policy(bool(spec.forged)))
    return setting


def configure_standard(host: Any) -> None:
    ns = host.configManager.networkSystem
    vswitch = next(v for v in ns.networkInfo.vswitch if v.name == "vSwitch0")
    spec = vswitch.spec
    spec.bridge = vim.host.VirtualSwitch.BondBridge(nicDevice=["vmnic0", "vmnic6"])
    spec.policy.security = vim.host.NetworkPolicy.SecurityPolicy(
        allowPromiscuous=False, macChanges=False, forgedTransmits=False)
    team = spec.policy.nicTeaming
    team.policy, team.notifySwitches, team.rollingOrder = "loadbalance_srcid", True, False
    team.failureCriteria.checkBeacon = False
    team.nicOrder = vim.host.NetworkPolicy.NicOrderPolicy(activeNic=["vmnic0"],
                                                          standbyNic=["vmnic6"])
    ns.UpdateVirtualSwitch("vSwitch0", spec)
    ns.UpdatePortGroup("Management Network", vim.host.PortGroup.Specification(
        name="Management Network", vlanId=10, vswitchName="vSwitch0",
        policy=vim.host.NetworkPolicy()))
    ns.UpdateVirtualNic("vmk0", vim.host.VirtualNic.Specification(ip=ip(MGMT_IP[host.name])))


def create_dvs(dc: Any, hosts: dict[str, Any]) -> Any:
    dvs = vim.dvs.VmwareDistributedVirtualSwitch
    default = dvs.VmwarePortConfigPolicy(
        securityPolicy=dvs.SecurityPolicy(
            inherited=False, allowPromiscuous=bool_policy(False),
            macChanges=bool_policy(False), forgedTransmits=bool_policy(False)),
        uplinkTeamingPolicy=dvs.UplinkPortTeamingPolicy(
            inherited=False, policy=vim.StringPolicy(inherited=False, value="loadbalance_srcid"),
            notifySwitches=bool_policy(True), rollingOrder=bool_policy(False)))
    config = dvs.ConfigSpec(
        name=DVS, maxMtu=9000, defaultPortConfig=default,
        uplinkPortPolicy=vim.DistributedVirtualSwitch.NameArrayUplinkPortPolicy(
            uplinkPortName=list(UPLINKS)),
        linkDiscoveryProtocolConfig=vim.host.LinkDiscoveryProtocolConfig(
            protocol="cdp", operation="listen"))
    switch = wait(dc.networkFolder.CreateDVS_Task(
        vim.DistributedVirtualSwitch.CreateSpec(configSpec=config)))
    members = [vim.dvs.HostMember.ConfigSpec(
        operation="add", host=h, backing=vim.dvs.HostMember.PnicBacking(pnicSpec=[
            vim.dvs.HostMember.PnicSpec(pnicDevice=DVS_BACKING[u]) for u in UPLINKS]))
        for h in hosts.values()]
    wait(switch.ReconfigureDvs_Task(dvs.ConfigSpec(configVersion=switch.config.configVersion,
                                                   host=members)))
    wait(switch.AddDVPortgroup_Task([
        vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
            name=name, type="earlyBinding", numPorts=16, defaultPortConfig=dvpg_setting(spec))
        for name, spec in DVPGS.items()]))
    return switch


def dvport(switch: Any, name: str) -> Any:
    pg = next(p for p in switch.portgroup if p.name == name)
    return vim.dvs.PortConnection(switchUuid=switch.uuid, portgroupKey=pg.key)


def configure_vmknics(host: Any, switch: Any) -> None:
    ns = host.configManager.networkSystem
    vmk1 = ns.AddVirtualNic("", vim.host.VirtualNic.Specification(
        ip=ip(VMOTION_IP[host.name]), mtu=9000,
        distributedVirtualPort=dvport(switch, "dvpg-vmotion")))
    host.configManager.virtualNicManager.SelectVnicForNicType("vmotion", vmk1)
    ns.AddVirtualNic("", vim.host.VirtualNic.Specification(
        ip=ip(VTEP_IP[host.name]), mtu=1600, netStackInstanceKey="vxlan",
        distributedVirtualPort=dvport(switch, "dvpg-vtep-a")))


def configure_time(host: Any) -> None:
    host.configManager.dateTimeSystem.UpdateDateTimeConfig(vim.host.DateTimeConfig(
        ntpConfig=vim.host.NtpConfig(server=NTP_SERVERS)))
    host.configManager.firewallSystem.EnableRuleset("ntpClient")
    host.configManager.serviceSystem.UpdateServicePolicy("ntpd", "on")
    host.configManager.serviceSystem.StartService("ntpd")


def create_vm(dc: Any, hosts: dict[str, Any], switch: Any, name: str, spec: VmSpec) -> Any:
    host = hosts[spec.host]
    if spec.network.startswith("dvpg-"):
        backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=dvport(switch, spec.network))
    else:
        backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=spec.network)
    nic = vim.vm.device.VirtualVmxnet3(key=-1, backing=backing,
                                       addressType="manual" if spec.mac else "generated",
                                       macAddress=spec.mac)
    config = vim.vm.ConfigSpec(
        name=name, guestId="otherGuest64", numCPUs=1, memoryMB=128,
        files=vim.vm.FileInfo(vmPathName=f"[{spec.host}-local]"),
        deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="add", device=nic)],
        extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in spec.extra.items()])
    return wait(dc.vmFolder.CreateVM_Task(config, host.parent.resourcePool, host))


def configure(si: Any) -> dict[str, Any]:
    """Apply STATE; returns host name -> vim.HostSystem."""
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    hosts = {h.name: h for h in view.view}
    view.Destroy()
    dc = content.rootFolder.childEntity[0]
    for h in hosts.values():
        configure_standard(h)
    switch = create_dvs(dc, hosts)
    for name, h in hosts.items():
        configure_vmknics(h, switch)
        if name in NTP_HOSTS:
            configure_time(h)
        if name in SALTING:
            h.configManager.advancedOption.UpdateOptions([vim.option.OptionValue(
                key="Mem.ShareForceSalting", value=SALTING[name])])
    for name, spec in VMS.items():
        create_vm(dc, hosts, switch, name, spec)
    return hosts
