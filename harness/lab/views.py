"""Derived views of a lab: what its definition implies once vSphere's rules are applied.

A port group's effective policies on one host (its overrides, else its switch's, else vSphere's
defaults for that kind of switch), the VXLAN underlay hops, the switch port behind each vmnic
and the VLANs it carries. Pure functions of the lab model: the checks, the simulated lab and the
suites all read the lab through these, so the rules exist once.

The views asked for once per test (a host's port groups, the cabling plan's neighbours) are
worked out once per lab object and kept while it lives (`_derived`): a 32-host run asks for
them some 100,000 times.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.lab.model import Lab, PortGroup, Security, Teaming

_T = TypeVar("_T")

# id(lab) -> (a weak reference to that lab, its views by key). A Lab is frozen (pydantic
# frozen=True; nothing in the harness changes one in place, scenarios make changed copies), so
# what is derived from it never goes stale. The entry goes when the lab is collected (the
# reference's callback) and is used only while the reference still points at the lab asked
# about, so a new lab at a reused address never sees an old lab's views.
_DERIVED: dict[int, tuple[weakref.ref[Lab], dict[Hashable, Any]]] = {}


def _derived(lab: Lab, key: Hashable, compute: Callable[[], _T]) -> _T:
    """`compute()`, worked out once per lab and key. Threads may race to compute the same
    value; each gets a correct one and one of them is kept."""
    entry = _DERIVED.get(id(lab))
    if entry is None or entry[0]() is not lab:
        address = id(lab)
        entry = (weakref.ref(lab, lambda _ref: _DERIVED.pop(address, None)), {})
        _DERIVED[address] = entry
    views = entry[1]
    if key not in views:
        views[key] = compute()
    value: _T = views[key]
    return value


@dataclass(frozen=True)
class TeamView:
    """Effective teaming of a port group on one host, uplinks named as vmnics."""

    load_balancing: str
    active: tuple[str, ...]
    standby: tuple[str, ...]
    failure_detection: str  # link_status | beacon_probing
    notify_switches: bool
    failback: bool

    @property
    def uplinks(self) -> tuple[str, ...]:
        return self.active + self.standby


@dataclass(frozen=True)
class SecurityView:
    """Effective layer-2 security of a port group."""

    allow_promiscuous: bool
    mac_changes: bool
    forged_transmits: bool


@dataclass(frozen=True)
class PortGroupView:
    """A port group as one host sees it, with policies resolved through inheritance."""

    name: str
    switch: str
    switch_kind: str  # standard | distributed
    switch_mtu: int
    vlan: int
    security: SecurityView
    teaming: TeamView


@dataclass(frozen=True)
class UnderlayHop:
    """An element of the VXLAN underlay that frames between VTEPs cross, with its MTU."""

    subject: str  # `opnsense01/underlay_a`, `sw01/TenGigabitEthernet1/1/1`, `vtep-a`
    what: str  # router interface | switch port | network | NSX transport
    mtu: int


# vSphere defaults when neither the port group nor the switch sets a value. A standard switch
# made through the host client accepts MAC changes and forged transmits; a DVS rejects both.
SECURITY_DEFAULTS = {
    "standard": SecurityView(allow_promiscuous=False, mac_changes=True, forged_transmits=True),
    "distributed": SecurityView(allow_promiscuous=False, mac_changes=False, forged_transmits=False),
}


VXLAN_MIN_MTU = 1600
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8


def overlay_mtu(lab: Lab, segment: str) -> int:
    """The MTU an NSX segment offers its VMs (its VTEPs need this plus VXLAN_OVERHEAD)."""
    if lab.nsx is None or segment not in lab.nsx.segments:
        raise KeyError(f"{segment!r} is not an NSX segment of lab {lab.name}")
    return lab.nsx.segments[segment].mtu


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


def _vtep_port_groups(lab: Lab) -> list[tuple[str, PortGroupView]]:
    """(host, port group) of every VTEP vmknic."""
    out: list[tuple[str, PortGroupView]] = []
    for hname, host in lab.hosts.items():
        pgs = host_port_groups(lab, hname)
        for vmk in host.vmknics.values():
            pg = pgs.get(vmk.port_group)
            if "vxlan" in vmk.services and pg is not None:
                out.append((hname, pg))
    return out


def vtep_networks(lab: Lab) -> set[str]:
    """The lab networks VTEP vmknics sit on (by VLAN): the VXLAN underlays a router joins."""
    vlans = {pg.vlan for _, pg in _vtep_port_groups(lab)}
    return {n for n, net in lab.networks.items() if net.vlan in vlans}


def underlay_hops(lab: Lab) -> tuple[UnderlayHop, ...]:
    """Lab elements that VXLAN frames cross: VTEP networks, the router interfaces on them, the
    physical switch ports cabled to the uplinks that carry VTEP port groups, and NSX itself."""
    if lab.nsx is None:
        return ()
    hops: list[UnderlayHop] = [UnderlayHop("nsx", "NSX transport MTU", lab.nsx.transport_mtu)]
    vtep_uplinks = {(hname, u) for hname, pg in _vtep_port_groups(lab) for u in pg.teaming.uplinks}
    networks = vtep_networks(lab)
    for name in sorted(networks):
        hops.append(UnderlayHop(name, "network", lab.networks[name].mtu))
    for rname, router in lab.routers.items():
        for iname, iface in router.interfaces.items():
            if iface.network in networks:
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
    # a copy: the caller may change its dict, never the kept one
    return dict(_derived(lab, ("host_port_groups", host), lambda: _host_port_groups(lab, host)))


def _host_port_groups(lab: Lab, host: str) -> dict[str, PortGroupView]:
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


def expected_neighbours(lab: Lab) -> dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]:
    """(host, vmnic) -> (switch hostname, port name, protocols) from the cabling plan."""
    # a copy: the caller may change its dict, never the kept one
    return dict(_derived(lab, "expected_neighbours", lambda: _expected_neighbours(lab)))


def _expected_neighbours(lab: Lab
                         ) -> dict[tuple[str, str], tuple[str, str, tuple[str, ...]]]:
    out: dict[tuple[str, str], tuple[str, str, tuple[str, ...]]] = {}
    for cable in lab.cabling:
        (a, ap), (b, bp) = cable.ends
        for (host, vmnic), (sw, port) in (((a, ap), (b, bp)), ((b, bp), (a, ap))):
            if host in lab.hosts and sw in lab.physical_switches:
                switch = lab.physical_switches[sw]
                protocols = tuple(cable.discovery or switch.discovery)
                out[(host, vmnic)] = (switch.hostname, port, protocols)
    return out


def uplink_carriage(lab: Lab) -> dict[str, dict[str, list[int]]]:
    """host -> vmnic -> the VLANs its switch port carries, as the host sees them (0: untagged).

    A trunk carries its allowed VLANs tagged and its native VLAN untagged; an access port
    carries its VLAN untagged. The F01 checks and the simulated vCenter use it to tell whether a
    management VMkernel NIC has a working uplink.
    """
    out: dict[str, dict[str, list[int]]] = {}
    for cable in lab.cabling:
        for (host, vmnic), (sw, port) in (cable.ends, cable.ends[::-1]):
            if host not in lab.hosts or sw not in lab.physical_switches:
                continue
            sp = lab.physical_switches[sw].ports.get(port)
            if sp is None:
                continue
            if sp.mode == "access":
                vlans = [0]
            else:
                vlans = sorted({*sp.vlans, *([0] if sp.native_vlan is not None else [])})
            out.setdefault(host, {})[vmnic] = vlans
    return out
