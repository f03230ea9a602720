"""Build the design view from a lab file (the intent side).

Policy inheritance follows vSphere: a port group field left unset takes the switch's value, and a
switch field left unset takes the vSphere default for that kind of switch.
"""

from __future__ import annotations

from harness.checks.view import (
    DesignView,
    HostView,
    NlbView,
    PortGroupView,
    SecurityView,
    TeamView,
    UnderlayHop,
    VCenterView,
    VmknicView,
    VmNicView,
    VmView,
)
from harness.lab.model import Lab, PortGroup, Security, Teaming

# vSphere defaults when neither the port group nor the switch sets a value. A standard switch
# made through the host client accepts MAC changes and forged transmits; a DVS rejects both.
SECURITY_DEFAULTS = {
    "standard": SecurityView(allow_promiscuous=False, mac_changes=True, forged_transmits=True),
    "distributed": SecurityView(allow_promiscuous=False, mac_changes=False, forged_transmits=False),
}
VXLAN_MIN_MTU = 1600


def security_view(kind: str, switch: Security, pg: Security) -> SecurityView:
    """A port group's effective security: its own value, else its switch's, else vSphere's
    default for the switch kind."""
    d = SECURITY_DEFAULTS[kind]

    def pick(name: str) -> bool:
        for layer in (pg, switch):
            value = getattr(layer, name)
            if value is not None:
                return bool(value)
        return bool(getattr(d, name))

    return SecurityView(pick("allow_promiscuous"), pick("mac_changes"), pick("forged_transmits"))


def _teaming(
    switch: Teaming, pg: Teaming, uplinks: list[str], to_vmnic: dict[str, str]
) -> TeamView:
    def pick(name: str, default: object) -> object:
        for layer in (pg, switch):
            value = getattr(layer, name)
            if value is not None:
                return value
        return default

    # Active/standby order is one setting: a port group that overrides either overrides both.
    order = pg if (pg.active is not None or pg.standby is not None) else switch
    standby = list(order.standby or [])
    active = list(order.active) if order.active is not None else [
        u for u in uplinks if u not in standby]
    return TeamView(
        load_balancing=str(pick("load_balancing", "loadbalance_srcid")),
        active=tuple(to_vmnic[u] for u in active if u in to_vmnic),
        standby=tuple(to_vmnic[u] for u in standby if u in to_vmnic),
        failure_detection=str(pick("failure_detection", "link_status")),
        notify_switches=bool(pick("notify_switches", True)),
        failback=bool(pick("failback", True)),
    )


def _port_group(name: str, switch: str, kind: str, mtu: int, sw_team: Teaming,
                sw_sec: Security, pg: PortGroup, uplinks: list[str],
                to_vmnic: dict[str, str]) -> PortGroupView:
    return PortGroupView(
        name=name, switch=switch, switch_kind=kind, switch_mtu=mtu, vlan=pg.vlan,
        security=security_view(kind, sw_sec, pg.security),
        teaming=_teaming(sw_team, pg.teaming, uplinks, to_vmnic),
    )


def view_from_lab(lab: Lab) -> DesignView:
    """The intent side of the design view."""
    hosts: dict[str, HostView] = {}
    for hname, host in lab.hosts.items():
        pgs = host_port_groups(lab, hname)
        vmknics = {
            vname: VmknicView(
                name=vname, port_group=v.port_group, ip=v.ip, mtu=v.mtu,
                services=tuple(v.services), tcpip_stack=v.tcpip_stack,
                subnet_shared_with=tuple(v.subnet_shared_with),
            )
            for vname, v in host.vmknics.items()
        }
        ntp = host.ntp_servers if host.ntp_servers is not None else lab.ntp.servers
        hosts[hname] = HostView(
            name=hname, version=host.version, build=host.build, ntp_servers=tuple(ntp),
            advanced_options=dict(host.advanced_options), port_groups=pgs, vmknics=vmknics,
            vmnic_adapter=lab.vmnic_adapter(hname), page_sharing=host.page_sharing,
        )
    vms = {
        name: VmView(
            name=name, host=vm.host, extra_config=dict(vm.extra_config),
            nics=tuple(VmNicView(label, nic.mac, nic.address_type, nic.port_group)
                       for label, nic in vm.nics.items()),
        )
        for name, vm in lab.vms.items()
    }
    nlb = {
        name: NlbView(name, c.mode, c.vip, c.effective_cluster_mac, c.port_group, tuple(c.members))
        for name, c in lab.nlb_clusters.items()
    }
    vcenter = (VCenterView(lab.vcenter.name, lab.vcenter.version, lab.vcenter.build)
               if lab.vcenter is not None else None)
    return DesignView(source="intent", hosts=hosts, vms=vms, nlb_clusters=nlb,
                      underlay=underlay_hops(lab), vcenter=vcenter)


def underlay_hops(lab: Lab) -> tuple[UnderlayHop, ...]:
    """Lab elements that VXLAN frames cross: VTEP networks, the router interfaces on them, the
    physical switch ports cabled to the uplinks that carry VTEP port groups, and NSX itself."""
    if lab.nsx is None:
        return ()
    hops: list[UnderlayHop] = [UnderlayHop("nsx", "NSX transport MTU", lab.nsx.transport_mtu)]
    view_hosts = {h: host_port_groups(lab, h) for h in lab.hosts}
    vtep_vlans: set[int] = set()
    vtep_uplinks: set[tuple[str, str]] = set()
    for hname, host in lab.hosts.items():
        for vmk in host.vmknics.values():
            if "vxlan" not in vmk.services:
                continue
            pg = view_hosts[hname].get(vmk.port_group)
            if pg is None:
                continue
            vtep_vlans.add(pg.vlan)
            vtep_uplinks.update((hname, u) for u in pg.teaming.uplinks)
    vtep_networks = {n for n, net in lab.networks.items() if net.vlan in vtep_vlans}
    for name in sorted(vtep_networks):
        hops.append(UnderlayHop(name, "network", lab.networks[name].mtu))
    for rname, router in lab.routers.items():
        for iname, iface in router.interfaces.items():
            if iface.network in vtep_networks:
                hops.append(UnderlayHop(f"{rname}/{iname}", "router interface", iface.mtu))
    for cable in lab.cabling:
        (a_node, a_port), (b_node, b_port) = cable.ends
        for (node, vmnic), (sw, port) in (((a_node, a_port), (b_node, b_port)),
                                          ((b_node, b_port), (a_node, a_port))):
            if (node, vmnic) in vtep_uplinks and sw in lab.physical_switches:
                hops.append(UnderlayHop(f"{sw}/{port}", "switch port",
                                        lab.physical_switches[sw].ports[port].mtu))
    return tuple(hops)


def host_port_groups(lab: Lab, host: str) -> dict[str, PortGroupView]:
    """Port groups of one host (standard and distributed) with effective policies."""
    h = lab.hosts[host]
    pgs: dict[str, PortGroupView] = {}
    for sw_name, sw in h.standard_switches.items():
        identity = {u: u for u in sw.uplinks}
        for pg_name, pg in sw.port_groups.items():
            pgs[pg_name] = _port_group(pg_name, sw_name, "standard", sw.mtu, sw.teaming,
                                       sw.security, pg, sw.uplinks, identity)
    for dname, dvs in lab.distributed_switches.items():
        member = dvs.hosts.get(host)
        if member is not None:
            for pg_name, pg in dvs.port_groups.items():
                pgs[pg_name] = _port_group(pg_name, dname, "distributed", dvs.mtu, dvs.teaming,
                                           dvs.security, pg, dvs.uplinks, dict(member.uplinks))
    return pgs
