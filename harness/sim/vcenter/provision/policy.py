"""The lab's words as vSphere data objects: switch, port-group and vmknic specs with the
policies the lab sets, and vSphere's defaults where it sets none. Pure: no calls to vCenter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim as _vim

from harness.facts.vsphere import NETSTACK_OF_STACK
from harness.lab.model import DistributedSwitch, Security, Teaming, VmkNic
from harness.lab.views import security_view
from harness.sim.dataplane.plan import stable_mac as dataplane_mac

# pyVmomi's stubs type data-object constructors as untyped: treat its namespace as Any here.
vim: Any = _vim
DVS = vim.dvs.VmwareDistributedVirtualSwitch


@dataclass(frozen=True)
class Team:
    load_balancing: str
    active: list[str]
    standby: list[str]
    beacon: bool
    notify: bool
    failback: bool


def switch_team(team: Teaming, uplinks: list[str]) -> Team:
    """A switch's effective teaming: its own settings, else vSphere's defaults."""
    standby = list(team.standby or [])
    active = list(team.active) if team.active is not None else [
        u for u in uplinks if u not in standby]
    return Team(team.load_balancing or "loadbalance_srcid", active, standby,
                 team.failure_detection == "beacon_probing",
                 team.notify_switches if team.notify_switches is not None else True,
                 team.failback if team.failback is not None else True)


def pg_order(pg: Teaming, uplinks: list[str]) -> tuple[list[str], list[str]] | None:
    """A port group's own active/standby order, or None when it inherits the switch's."""
    if pg.active is None and pg.standby is None:
        return None
    standby = list(pg.standby or [])
    active = list(pg.active) if pg.active is not None else [u for u in uplinks
                                                            if u not in standby]
    return active, standby


def switch_security(kind: str, sec: Security) -> tuple[bool, bool, bool]:
    """A switch's security: what the lab sets, else vSphere's default for that switch kind
    (the same defaults the intent view uses)."""
    view = security_view(kind, sec, Security())
    return (view.allow_promiscuous, view.mac_changes, view.forged_transmits)


def standard_switch_spec(mtu: int, uplinks: list[str], team: Team,
                          security: tuple[bool, bool, bool]) -> Any:
    bridge = None
    if uplinks:
        bridge = vim.host.VirtualSwitch.BondBridge(
            nicDevice=list(uplinks), beacon=vim.host.VirtualSwitch.BeaconConfig(interval=1),
            linkDiscoveryProtocolConfig=vim.host.LinkDiscoveryProtocolConfig(
                protocol="cdp", operation="listen"))
    policy = vim.host.NetworkPolicy(
        security=vim.host.NetworkPolicy.SecurityPolicy(
            allowPromiscuous=security[0], macChanges=security[1], forgedTransmits=security[2]),
        nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
            policy=team.load_balancing, reversePolicy=True, notifySwitches=team.notify,
            rollingOrder=not team.failback,
            failureCriteria=vim.host.NetworkPolicy.NicFailureCriteria(
                checkSpeed="minimum", speed=10, checkDuplex=False, fullDuplex=False,
                checkErrorPercent=False, percentage=0, checkBeacon=team.beacon),
            nicOrder=vim.host.NetworkPolicy.NicOrderPolicy(
                activeNic=team.active, standbyNic=team.standby)),
        offloadPolicy=vim.host.NetOffloadCapabilities(
            csumOffload=True, tcpSegmentation=True, zeroCopyXmit=True),
        shapingPolicy=vim.host.NetworkPolicy.TrafficShapingPolicy(enabled=False))
    return vim.host.VirtualSwitch.Specification(numPorts=128, mtu=mtu, bridge=bridge,
                                                policy=policy)


def standard_pg_policy(pg_team: Teaming, pg_sec: Security, uplinks: list[str]) -> Any:
    """Only what the port group overrides; everything else inherits from its vSwitch."""
    policy = vim.host.NetworkPolicy()
    if any(v is not None for v in (pg_sec.allow_promiscuous, pg_sec.mac_changes,
                                   pg_sec.forged_transmits)):
        policy.security = vim.host.NetworkPolicy.SecurityPolicy(
            allowPromiscuous=pg_sec.allow_promiscuous, macChanges=pg_sec.mac_changes,
            forgedTransmits=pg_sec.forged_transmits)
    order = pg_order(pg_team, uplinks)
    if order is not None or any(v is not None for v in (
            pg_team.load_balancing, pg_team.failure_detection, pg_team.notify_switches,
            pg_team.failback)):
        team = vim.host.NetworkPolicy.NicTeamingPolicy(
            policy=pg_team.load_balancing, notifySwitches=pg_team.notify_switches,
            rollingOrder=None if pg_team.failback is None else not pg_team.failback)
        if pg_team.failure_detection is not None:
            team.failureCriteria = vim.host.NetworkPolicy.NicFailureCriteria(
                checkBeacon=pg_team.failure_detection == "beacon_probing")
        if order is not None:
            team.nicOrder = vim.host.NetworkPolicy.NicOrderPolicy(activeNic=order[0],
                                                                  standbyNic=order[1])
        policy.nicTeaming = team
    return policy


def _bool(value: bool, inherited: bool) -> Any:
    return vim.BoolPolicy(value=value, inherited=inherited)


def dvs_setting(vlan: int, team: Team, security: tuple[bool, bool, bool],
                 inherited: Mapping[str, bool] | None = None) -> Any:
    """A complete DVS port setting; `inherited` flags what a port group takes from its DVS."""
    inh = dict.fromkeys(("vlan", "lb", "notify", "failback", "beacon", "order", "promiscuous",
                         "mac_changes", "forged"), False)
    inh.update(inherited or {})
    return DVS.VmwarePortConfigPolicy(
        vlan=DVS.VlanIdSpec(vlanId=vlan, inherited=inh["vlan"]),
        securityPolicy=DVS.SecurityPolicy(
            inherited=inh["promiscuous"] and inh["mac_changes"] and inh["forged"],
            allowPromiscuous=_bool(security[0], inh["promiscuous"]),
            macChanges=_bool(security[1], inh["mac_changes"]),
            forgedTransmits=_bool(security[2], inh["forged"])),
        uplinkTeamingPolicy=DVS.UplinkPortTeamingPolicy(
            inherited=all(inh[k] for k in ("lb", "notify", "failback", "beacon", "order")),
            policy=vim.StringPolicy(value=team.load_balancing, inherited=inh["lb"]),
            reversePolicy=_bool(True, True),
            notifySwitches=_bool(team.notify, inh["notify"]),
            rollingOrder=_bool(not team.failback, inh["failback"]),
            failureCriteria=DVS.FailureCriteria(
                inherited=inh["beacon"], checkBeacon=_bool(team.beacon, inh["beacon"])),
            uplinkPortOrder=DVS.UplinkPortOrderPolicy(
                inherited=inh["order"], activeUplinkPort=team.active,
                standbyUplinkPort=team.standby)))


def dvpg_setting(dvs: DistributedSwitch, vlan: int, pg_team: Teaming,
                  pg_sec: Security) -> Any:
    """A DV port group's effective setting: its overrides, the rest inherited from the DVS."""
    switch = switch_team(dvs.teaming, dvs.uplinks)
    order = pg_order(pg_team, dvs.uplinks)
    team = Team(
        pg_team.load_balancing or switch.load_balancing,
        order[0] if order else switch.active, order[1] if order else switch.standby,
        (pg_team.failure_detection == "beacon_probing") if pg_team.failure_detection
        else switch.beacon,
        pg_team.notify_switches if pg_team.notify_switches is not None else switch.notify,
        pg_team.failback if pg_team.failback is not None else switch.failback)
    sw_sec = switch_security("distributed", dvs.security)
    security = (
        pg_sec.allow_promiscuous if pg_sec.allow_promiscuous is not None else sw_sec[0],
        pg_sec.mac_changes if pg_sec.mac_changes is not None else sw_sec[1],
        pg_sec.forged_transmits if pg_sec.forged_transmits is not None else sw_sec[2])
    inherited = {
        "lb": pg_team.load_balancing is None, "notify": pg_team.notify_switches is None,
        "failback": pg_team.failback is None, "beacon": pg_team.failure_detection is None,
        "order": order is None, "promiscuous": pg_sec.allow_promiscuous is None,
        "mac_changes": pg_sec.mac_changes is None, "forged": pg_sec.forged_transmits is None,
    }
    return dvs_setting(vlan, team, security, inherited)


def vmknic_spec(host: str, device: str, vmk: VmkNic) -> Any:
    # Without a MAC in the lab, use the data plane's for this vmknic: vCenter and the wire agree.
    return vim.host.VirtualNic.Specification(
        ip=vim.host.IpConfig(dhcp=False, ipAddress=str(vmk.ip.ip),
                             subnetMask=str(vmk.ip.netmask)),
        mac=vmk.mac or dataplane_mac(host, device), mtu=vmk.mtu,
        netStackInstanceKey=NETSTACK_OF_STACK[vmk.tcpip_stack])


def option_value(value: str | int | float | bool) -> str:
    """extraConfig values are text in a .vmx; booleans the way VMware writes them."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def segment_port_group(dvs_moid: str, index: int, vni: int, segment: str) -> str:
    """The DV port group NSX for vSphere creates for a logical switch (a "virtualwire")."""
    return f"vxw-dvs-{dvs_moid.removeprefix('dvs-')}-virtualwire-{index}-sid-{vni}-{segment}"
