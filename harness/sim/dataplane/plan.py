"""Plan the simulated data plane of a lab: namespaces, veth pairs, bridges, addresses, routes,
nftables rulesets and daemons, as plain data. No I/O here: `build.py` realises a plan.

How lab elements map (see ARCHITECTURE.md, "The simulated lab"):
- a namespace per ESXi host, physical switch, router, VM, NSX edge, plus the management network
  and sim-only probe clients;
- a cable is a veth pair (`vmnic4` <-> `Te1-1-1`, alias `TenGigabitEthernet1/1/1`) that carries
  CDP/LLDP; this kernel has no 802.1Q devices, so every VLAN a cable carries for a port group is
  a further veth pair (`vmnic4.20` <-> `Te1-1-1.20`);
- on a host, one bridge per port group joins its uplinks' VLAN links, vmknic ports and VM vNICs;
  the teaming controller lets one uplink forward and blocks the rest (nftables, before learning);
- on a switch, one bridge per VLAN joins the VLAN links of every port that carries it;
- TCP/IP stacks other than `default` are policy-routing tables selected by the vmknic's address;
- a probe VM per host, shaped as engineers build them on real labs: sshd on the management
  network, one trunk NIC into each virtual switch of its host carrying every VLAN tagged, and
  one NIC pinned to each cabled uplink. The kernel has no 802.1Q devices, so the host's vSwitch
  controller tags and untags for these ports (`TrunkPlan`, `PinnedPlan`); VMs get a management
  NIC with sshd too, so the whole lab can be reached the way a real one is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Literal

from harness.lab.inventory import Inventory
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.sim.dataplane import names
from harness.sim.errors import SimError

Role = Literal["host", "switch", "router", "vm", "edge", "mgmt", "client", "probe"]
STACK_TABLES = {"vmotion": 101, "vxlan": 102, "provisioning": 103}
MGMT_SUBNET = IPv4Network("198.19.255.0/24")  # without an inventory to say otherwise
SIM_SPACE = IPv4Network("198.18.0.0/15")


def mgmt_subnet(inventory: Inventory | None) -> IPv4Network:
    """The management network a sim lab's harness reaches it on: the /24 of its inventory's
    vCenter (else its first BMC's) address, so labs whose inventories use different /24s can be
    up side by side. Inside the sim's 198.18.0.0/15 only.

    Raises:
        PlanError: the address is not an IPv4 address inside 198.18.0.0/15.
    """
    url = None
    if inventory is not None:
        url = inventory.vcenter.url if inventory.vcenter is not None else next(
            (b.url for _, b in sorted(inventory.bmcs.items())), None)
    if url is None:
        return MGMT_SUBNET
    try:
        ip = IPv4Address(url.host or "")
    except ValueError:
        raise PlanError(f"inventory: {url} must use an IPv4 address for the sim (its "
                        f"management network is the /24 around it, inside {SIM_SPACE})") from None
    net = IPv4Network(f"{ip}/24", strict=False)
    if not net.subnet_of(SIM_SPACE):
        raise PlanError(f"inventory: {url} is outside {SIM_SPACE}, the only addresses the "
                        "simulated lab uses")
    return net
VXLAN_PORT = 4789
BEACON_ETHERTYPE = 0x8922  # ESXi's beacon frames
PROBE_MTU = 9000  # probe VM NICs carry the largest frames any lab port group does


class PlanError(SimError):
    """The lab cannot be realised by the simulated data plane; says which element and why."""


@dataclass(frozen=True)
class Namespace:
    name: str
    role: Role
    element: str
    sysctls: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class VethEnd:
    ns: str
    ifname: str
    mtu: int = 1500
    mac: str | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Link:
    """A veth pair. `cable` names the lab cable (or port) a link belongs to, so faults on a
    cable reach its VLAN links too."""

    a: VethEnd
    b: VethEnd
    kind: Literal["cable", "vlan", "port", "mgmt"]
    cable: str | None = None
    vlan: int | None = None


@dataclass(frozen=True)
class Bridge:
    ns: str
    name: str
    members: tuple[str, ...]
    mtu: int = 1500


@dataclass(frozen=True)
class Vxlan:
    ns: str
    name: str
    vni: int
    local: IPv4Address
    bridge: str
    remotes: tuple[IPv4Address, ...]
    mtu: int = 1500


@dataclass(frozen=True)
class Address:
    ns: str
    ifname: str
    ip: IPv4Interface
    metric: int | None = None
    prefix_route: bool = True


@dataclass(frozen=True)
class Route:
    ns: str
    dst: str  # "default" or a prefix
    via: IPv4Address | None
    dev: str | None = None
    table: int | None = None
    metric: int | None = None


@dataclass(frozen=True)
class Rule:
    ns: str
    src: IPv4Address
    table: int


@dataclass(frozen=True)
class TeamUplink:
    vmnic: str
    link: str  # the host-side VLAN link in the port group's bridge


@dataclass(frozen=True)
class TeamPlan:
    """One port group's team, as the teaming controller runs it."""

    port_group: str
    bridge: str
    vlan: int
    uplinks: tuple[TeamUplink, ...]  # failover order: active, then standby
    active_count: int
    failure_detection: str
    notify_switches: bool
    failback: bool
    macs: tuple[str, ...]  # MACs behind the port group, announced by notify-switches (RARP)


@dataclass(frozen=True)
class LldpPlan:
    ns: str
    mode: Literal["send", "receive"]
    hostname: str
    platform: str
    software: str
    interfaces: tuple[str, ...]  # main ports (not VLAN links)
    port_ids: tuple[tuple[str, str], ...] = ()  # ifname -> the port's real name (its alias)


@dataclass(frozen=True)
class VmknicInfo:
    host: str
    name: str
    ns: str
    ip: IPv4Interface
    mac: str
    port_group: str
    services: tuple[str, ...]
    tcpip_stack: str


@dataclass(frozen=True)
class PortLinks:
    """A cabled port's interfaces in its namespace: the cable's main veth, then its VLAN
    links (faults on a port reach all of them)."""

    ns: str
    ifaces: tuple[str, ...]


@dataclass(frozen=True)
class GuestInterface:
    """A VM's or edge's network adapter inside its namespace."""

    ns: str
    iface: str


@dataclass(frozen=True)
class ProbeClient:
    """A sim-only client on a network (for NLB clusters), cabled to a physical switch."""

    ns: str
    iface: str
    ip: IPv4Interface


@dataclass(frozen=True)
class TrunkPlan:
    """A probe VM's trunk NIC into one virtual switch of its host. The host's vSwitch controller
    relays it: a frame tagged V on `port` leaves untagged on V's link into that VLAN's
    port-group bridge, and what the bridge sends there comes back tagged V."""

    switch: str  # vSwitch0, dvs-lab
    probe_iface: str  # tr0, in the probe VM
    port: str  # pt0, the host side of the trunk cable
    vlans: tuple[tuple[int, str], ...]  # VLAN -> host-side link into the bridge (pt0.20)


@dataclass(frozen=True)
class PinnedPlan:
    """A probe VM NIC pinned to one uplink: its VLANs go straight out of (and come straight in
    from) that vmnic's VLAN links, whatever the teams' failover order says."""

    vmnic: str
    probe_iface: str  # up-vmnic4
    port: str  # pu-vmnic4
    vlans: tuple[tuple[int, str], ...]  # VLAN -> vmnic4.20


@dataclass(frozen=True)
class HostProbePlan:
    """One host's probe VM: where it is reached, its NICs, and the address it may use on each
    lab network."""

    host: str
    ns: str
    mgmt_ip: IPv4Address
    trunks: tuple[TrunkPlan, ...]
    pinned: tuple[PinnedPlan, ...]
    addresses: tuple[tuple[str, IPv4Interface], ...]  # lab network -> address


@dataclass(frozen=True)
class VmAccessPlan:
    """A lab VM reached over SSH on its management NIC; its lab NICs by label."""

    vm: str
    ns: str
    mgmt_ip: IPv4Address
    interfaces: tuple[tuple[str, str], ...]  # ethernet0 -> eth0


@dataclass(frozen=True)
class Endpoint:
    """Something reachable on the management network from the harness."""

    name: str
    kind: Literal["ssh", "vcenter", "bmc", "opnsense"]
    ns: str
    ip: IPv4Address
    port: int


@dataclass
class DataplanePlan:
    """Everything needed to build (and later tear down) one lab's data plane."""

    lab: str
    namespaces: list[Namespace] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    vxlans: list[Vxlan] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    nft: dict[str, list[str]] = field(default_factory=dict)  # ns -> ruleset fragments
    teams: dict[str, list[TeamPlan]] = field(default_factory=dict)  # host ns -> teams
    lldp: list[LldpPlan] = field(default_factory=list)
    vmknics: list[VmknicInfo] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    root_ifaces: list[str] = field(default_factory=list)
    # element/port -> its interfaces, for fault injection: "esx01/vmnic4", "sw01/Te..."
    ports: dict[str, PortLinks] = field(default_factory=dict)
    vm_ifaces: dict[str, GuestInterface] = field(default_factory=dict)  # "vm/ethernet0"
    clients: dict[str, ProbeClient] = field(default_factory=dict)  # NLB cluster -> client
    host_probes: list[HostProbePlan] = field(default_factory=list)
    vm_access: list[VmAccessPlan] = field(default_factory=list)

    def ns(self, element: str) -> str:
        return names.netns(self.lab, element)

    def namespace_names(self) -> list[str]:
        return [n.name for n in self.namespaces]


def stable_mac(*parts: str, oui: str = "00:50:56") -> str:
    """A stable MAC for a sim interface: VMware OUI for vmknics/VMs, locally administered else."""
    digest = hashlib.sha1("/".join(parts).encode()).digest()
    if oui == "local":
        return "02:" + ":".join(f"{b:02x}" for b in digest[:5])
    # VMware's range for static MACs is 00:50:56:00-3f:xx:xx
    return f"{oui}:{digest[0] & 0x3F:02x}:{digest[1]:02x}:{digest[2]:02x}"


# br_netfilter is built into these kernels and on in every new namespace: bridged IPv4 would
# then also traverse the ip hooks, which bypasses the teaming drops and loops multicast
# between a host's uplinks (seen: an IGMP report storm). Bridges here are pure layer 2.
NO_BR_NETFILTER = (
    ("net.bridge.bridge-nf-call-iptables", "0"), ("net.bridge.bridge-nf-call-ip6tables", "0"),
    ("net.bridge.bridge-nf-call-arptables", "0"),
)
HOST_SYSCTLS = (
    *NO_BR_NETFILTER,
    ("net.ipv4.conf.all.arp_ignore", "1"), ("net.ipv4.conf.default.arp_ignore", "1"),
    ("net.ipv4.conf.all.arp_announce", "2"), ("net.ipv4.conf.default.arp_announce", "2"),
    ("net.ipv6.conf.all.disable_ipv6", "1"), ("net.ipv6.conf.default.disable_ipv6", "1"),
    ("net.ipv4.ip_forward", "0"),
)
QUIET_SYSCTLS = (
    *NO_BR_NETFILTER,
    ("net.ipv6.conf.all.disable_ipv6", "1"), ("net.ipv6.conf.default.disable_ipv6", "1"),
)
ROUTER_SYSCTLS = (*QUIET_SYSCTLS, ("net.ipv4.ip_forward", "1"))


class _Planner:
    def __init__(self, lab: Lab, inventory: Inventory | None) -> None:
        self.lab = lab
        self.inv = inventory
        self.mgmt = mgmt_subnet(inventory)
        self.harness_ip = IPv4Interface(f"{next(self.mgmt.hosts())}/{self.mgmt.prefixlen}")
        self.plan = DataplanePlan(lab=lab.name)
        self.elements: dict[str, str] = {}
        self.sw_vlan_members: dict[tuple[str, int], list[str]] = {}
        self.sw_port_if: dict[tuple[str, str], str] = {}  # (switch, port) -> main ifname
        self.host_vmnic_peer: dict[tuple[str, str], tuple[str, str]] = {}  # -> (switch, port)
        self.ns_ifaces: dict[str, set[str]] = {}
        self._pg_bridges: dict[str, dict[str, str]] = {}  # host -> port group -> bridge

    # -- helpers -----------------------------------------------------------------------------
    def add_ns(self, element: str, role: Role, sysctls: Iterable[tuple[str, str]]) -> str:
        if element in self.elements:
            raise PlanError(f"element name {element!r} is used by a {self.elements[element]} "
                            f"and a {role}; the simulated lab needs unique names")
        self.elements[element] = role
        name = names.netns(self.lab.name, element)
        self.plan.namespaces.append(Namespace(name, role, element, tuple(sysctls)))
        self.ns_ifaces[name] = set()
        return name

    def ifname(self, ns: str, name: str) -> str:
        if len(name) > names.IFNAMSIZ:
            raise PlanError(f"interface name {name!r} in {ns} is longer than 15 characters")
        if name in self.ns_ifaces[ns]:
            raise PlanError(f"interface name {name!r} is used twice in {ns}")
        self.ns_ifaces[ns].add(name)
        return name

    def veth(self, a: VethEnd, b: VethEnd, kind: Literal["cable", "vlan", "port", "mgmt"],
             cable: str | None = None, vlan: int | None = None) -> Link:
        self.ifname(a.ns, a.ifname)
        self.ifname(b.ns, b.ifname)
        link = Link(a, b, kind, cable, vlan)
        self.plan.links.append(link)
        return link

    def port_entry(self, key: str, ns: str, ifname: str) -> None:
        found = self.plan.ports.get(key)
        self.plan.ports[key] = PortLinks(ns, (*(found.ifaces if found else ()), ifname))

    # -- the plan ----------------------------------------------------------------------------
    def run(self) -> DataplanePlan:
        self.namespaces()
        self.cables()
        self.hosts()
        self.switch_bridges()
        self.routers()
        self.mgmt_network()
        self.vms_and_edges()
        trunks = self.probe_trunks()
        self.prune_unused_port_groups()
        self.probes(trunks)
        self.clients()
        return self.plan

    def prune_unused_port_groups(self) -> None:
        """A port group with nothing attached carries no traffic: drop its bridge, team and
        VLAN links (fewer interfaces, faster builds)."""
        drop: set[tuple[str, str]] = set()  # (ns, ifname) of every removed interface
        for ns, teams in self.plan.teams.items():
            keep: list[TeamPlan] = []
            for team in teams:
                bridge = next(b for b in self.plan.bridges if b.ns == ns and b.name == team.bridge)
                uplinks = {u.link for u in team.uplinks}
                if set(bridge.members) <= uplinks:
                    self.plan.bridges.remove(bridge)
                    drop.update((ns, u) for u in uplinks)
                else:
                    keep.append(team)
            self.plan.teams[ns] = keep
        links = [k for k in self.plan.links if (k.a.ns, k.a.ifname) in drop]
        for link in links:
            self.plan.links.remove(link)
            drop.add((link.b.ns, link.b.ifname))
        for i, b in enumerate(self.plan.bridges):
            if any((b.ns, m) in drop for m in b.members):
                self.plan.bridges[i] = Bridge(b.ns, b.name, tuple(
                    m for m in b.members if (b.ns, m) not in drop), b.mtu)
        for key, port in list(self.plan.ports.items()):
            self.plan.ports[key] = PortLinks(port.ns, tuple(
                i for i in port.ifaces if (port.ns, i) not in drop))

    def namespaces(self) -> None:
        self.add_ns("mgmt", "mgmt", QUIET_SYSCTLS)
        for h in self.lab.hosts:
            self.add_ns(h, "host", HOST_SYSCTLS)
        for s in self.lab.physical_switches:
            self.add_ns(s, "switch", QUIET_SYSCTLS)
        for r in self.lab.routers:
            self.add_ns(r, "router", ROUTER_SYSCTLS)
        for v in self.lab.vms:
            self.add_ns(v, "vm", QUIET_SYSCTLS)
        if self.lab.nsx is not None:
            for e in self.lab.nsx.edges:
                self.add_ns(e, "edge", ROUTER_SYSCTLS)

    def cables(self) -> None:
        """Main veth per cable; switch-to-switch cables also get their VLAN links here."""
        lab = self.lab
        for cable in lab.cabling:
            (a_node, a_port), (b_node, b_port) = cable.ends
            label = f"{cable.a}<->{cable.b}"
            ends = []
            for node, port in ((a_node, a_port), (b_node, b_port)):
                ns = self.plan.ns(node)
                if node in lab.physical_switches:
                    sw_port = lab.physical_switches[node].ports[port]
                    # a switch's port MACs (and so its LLDP chassis ID) stay the same from one
                    # `sim up` to the next, as a real switch's do
                    ends.append(VethEnd(ns, names.switch_port(port), sw_port.mtu, alias=port,
                                        mac=stable_mac(node, port, oui="local")))
                    self.sw_port_if[(node, port)] = names.switch_port(port)
                elif node in lab.routers:
                    iface = lab.routers[node].interfaces[port]
                    ends.append(VethEnd(ns, names.short(port, 15), iface.mtu,
                                        mac=stable_mac(node, port, oui="local")))
                else:  # a host vmnic; its MTU follows the largest switch it serves
                    ends.append(VethEnd(ns, port, 9000, mac=stable_mac(node, port, oui="local")))
            self.veth(ends[0], ends[1], "cable", cable=label)
            for (node, port), end in zip(((a_node, a_port), (b_node, b_port)), ends, strict=True):
                self.port_entry(f"{node}/{port}", end.ns, end.ifname)
            a_sw, b_sw = a_node in lab.physical_switches, b_node in lab.physical_switches
            if a_sw and b_sw:
                self.inter_switch(a_node, a_port, b_node, b_port, ends[0], ends[1], label)
            elif a_sw or b_sw:
                sw, sw_port_name, other, other_port, sw_end = (
                    (a_node, a_port, b_node, b_port, ends[0]) if a_sw else
                    (b_node, b_port, a_node, a_port, ends[1]))
                sw_port = lab.physical_switches[sw].ports[sw_port_name]
                if other in lab.hosts:
                    self.host_vmnic_peer[(other, other_port)] = (sw, sw_port_name)
                untagged = (sw_port.vlans[0] if sw_port.mode == "access" and sw_port.vlans
                            else sw_port.native_vlan)
                if untagged is not None:
                    self.sw_vlan_members.setdefault((sw, untagged), []).append(sw_end.ifname)

    def inter_switch(self, a: str, a_port: str, b: str, b_port: str, a_end: VethEnd,
                     b_end: VethEnd, label: str) -> None:
        pa = self.lab.physical_switches[a].ports[a_port]
        pb = self.lab.physical_switches[b].ports[b_port]
        mtu = min(pa.mtu, pb.mtu)
        for vlan in sorted(set(pa.vlans) & set(pb.vlans)):
            la = names.sublink(a_end.ifname, vlan)
            lb = names.sublink(b_end.ifname, vlan)
            self.veth(VethEnd(a_end.ns, la, mtu), VethEnd(b_end.ns, lb, mtu), "vlan",
                      cable=label, vlan=vlan)
            self.sw_vlan_members.setdefault((a, vlan), []).append(la)
            self.sw_vlan_members.setdefault((b, vlan), []).append(lb)
            self.port_entry(f"{a}/{a_port}", a_end.ns, la)
            self.port_entry(f"{b}/{b_port}", b_end.ns, lb)

    def hosts(self) -> None:
        lab = self.lab
        used_names: dict[str, set[str]] = {}
        for hname, host in lab.hosts.items():
            ns = self.plan.ns(hname)
            teams: list[TeamPlan] = []
            pg_bridge: dict[str, str] = {}
            per_vlan_count: dict[tuple[str, int], int] = {}
            bridges_used = used_names.setdefault(ns, set())
            for pg in host_port_groups(lab, hname).values():
                bridge = names.short(f"pg-{pg.name}", 15, exact=True)
                if bridge in bridges_used:
                    bridge = names.short(f"pg-{pg.name}", 15)
                bridges_used.add(bridge)
                pg_bridge[pg.name] = bridge
                members: list[str] = []
                uplinks: list[TeamUplink] = []
                for vmnic in pg.teaming.uplinks:
                    peer = self.host_vmnic_peer.get((hname, vmnic))
                    if peer is None or not 0 < pg.vlan < 4095:
                        continue  # an uncabled uplink carries nothing; VGT is not simulated
                    sw, sw_port_name = peer
                    n_same = per_vlan_count.get((vmnic, pg.vlan), 0)
                    per_vlan_count[(vmnic, pg.vlan)] = n_same + 1
                    h_if = names.sublink(vmnic, pg.vlan, n_same)
                    s_if = names.sublink(self.sw_port_if[(sw, sw_port_name)], pg.vlan, n_same)
                    sw_port = lab.physical_switches[sw].ports[sw_port_name]
                    h_mac = stable_mac(hname, h_if, oui="local")
                    self.veth(VethEnd(ns, h_if, pg.switch_mtu, mac=h_mac),
                              VethEnd(self.plan.ns(sw), s_if, sw_port.mtu,
                                      mac=stable_mac(sw, s_if, oui="local")), "vlan",
                              cable=f"{hname}/{vmnic}", vlan=pg.vlan)
                    self.port_entry(f"{hname}/{vmnic}", ns, h_if)
                    self.port_entry(f"{sw}/{sw_port_name}", self.plan.ns(sw), s_if)
                    if pg.vlan in sw_port.vlans and sw_port.mode == "trunk":
                        self.sw_vlan_members.setdefault((sw, pg.vlan), []).append(s_if)
                    members.append(h_if)
                    uplinks.append(TeamUplink(vmnic, h_if))
                active = sum(1 for u in uplinks if u.vmnic in pg.teaming.active)
                self.plan.bridges.append(Bridge(ns, bridge, tuple(members), pg.switch_mtu))
                teams.append(TeamPlan(
                    port_group=pg.name, bridge=bridge, vlan=pg.vlan, uplinks=tuple(uplinks),
                    active_count=active, failure_detection=pg.teaming.failure_detection,
                    notify_switches=pg.teaming.notify_switches, failback=pg.teaming.failback,
                    macs=()))
            self.plan.teams[ns] = teams
            self.vmknics(hname, ns, pg_bridge)
            # lldpd on the host listens on every cabled vmnic (its neighbours become the
            # network hints vCenter serves)
            cabled = tuple(v for (h, v) in self.host_vmnic_peer if h == hname)
            if cabled:
                self.plan.lldp.append(LldpPlan(ns, "receive", hname, "VMware ESX",
                                               f"VMware ESXi {host.version}", cabled))
            self._pg_bridges[hname] = pg_bridge

    def vmknics(self, hname: str, ns: str, pg_bridge: dict[str, str]) -> None:
        host = self.lab.hosts[hname]
        default_gw = None
        for vname, vmk in sorted(host.vmknics.items(), key=lambda kv: int(kv[0][3:])):
            index = int(vname[3:])
            mac = vmk.mac or stable_mac(hname, vname)
            port = self.ifname(ns, f"{vname}p")
            self.ifname(ns, vname)
            self.plan.links.append(Link(VethEnd(ns, vname, vmk.mtu, mac=mac),
                                        VethEnd(ns, port, vmk.mtu), "port"))
            bridge = pg_bridge.get(vmk.port_group)
            if bridge is None:
                raise PlanError(f"{hname}/{vname}: port group {vmk.port_group!r} is not on "
                                "this host")
            self._add_member(ns, bridge, port)
            self._add_mac(ns, bridge, mac)
            self.plan.vmknics.append(VmknicInfo(hname, vname, ns, vmk.ip, mac, vmk.port_group,
                                                tuple(vmk.services), vmk.tcpip_stack))
            gateway = self._gateway_of(vmk.ip)
            if vmk.tcpip_stack == "default":
                self.plan.addresses.append(Address(ns, vname, vmk.ip, metric=100 + index))
                if gateway is not None and default_gw is None and "management" in vmk.services:
                    default_gw = gateway
                    self.plan.routes.append(Route(ns, "default", gateway, vname))
            else:
                table = STACK_TABLES[vmk.tcpip_stack]
                self.plan.addresses.append(Address(ns, vname, vmk.ip, prefix_route=False))
                self.plan.routes.append(Route(ns, str(vmk.ip.network), None, vname, table=table))
                self.plan.rules.append(Rule(ns, vmk.ip.ip, table))
                if gateway is not None:
                    self.plan.routes.append(Route(ns, "default", gateway, vname, table=table))

    def _gateway_of(self, ip: IPv4Interface) -> IPv4Address | None:
        for net in self.lab.networks.values():
            if ip.ip in net.subnet:
                return net.gateway
        return None

    def _add_member(self, ns: str, bridge: str, member: str) -> None:
        for i, b in enumerate(self.plan.bridges):
            if b.ns == ns and b.name == bridge:
                self.plan.bridges[i] = Bridge(ns, bridge, (*b.members, member), b.mtu)
                return
        raise PlanError(f"no bridge {bridge} in {ns}")  # pragma: no cover - planner bug

    def _add_mac(self, ns: str, bridge: str, mac: str) -> None:
        teams = self.plan.teams.get(ns, [])
        for i, t in enumerate(teams):
            if t.bridge == bridge and mac not in t.macs:
                teams[i] = TeamPlan(t.port_group, t.bridge, t.vlan, t.uplinks, t.active_count,
                                    t.failure_detection, t.notify_switches, t.failback,
                                    (*t.macs, mac))

    def switch_bridges(self) -> None:
        for sname, sw in self.lab.physical_switches.items():
            ns = self.plan.ns(sname)
            vlans = sorted(v for (s, v) in self.sw_vlan_members if s == sname)
            for vlan in vlans:
                members = tuple(dict.fromkeys(self.sw_vlan_members[(sname, vlan)]))
                self.plan.bridges.append(Bridge(ns, self.ifname(ns, f"br-v{vlan}"), members,
                                                9216))
            mine = [(self.sw_port_if[(s, p)], p) for (s, p) in self.sw_port_if if s == sname]
            if mine and sw.discovery:
                self.plan.lldp.append(LldpPlan(ns, "send", sw.hostname, sw.platform,
                                               sw.software, tuple(i for i, _ in mine),
                                               tuple(mine)))

    def routers(self) -> None:
        for rname, router in self.lab.routers.items():
            ns = self.plan.ns(rname)
            for iname, iface in router.interfaces.items():
                self.plan.addresses.append(Address(ns, names.short(iname, 15), iface.ip))
            for route in router.routes:
                self.plan.routes.append(Route(ns, str(route.destination), route.gateway))
            rules = ["table inet lh_router {",
                     "  chain forward { type filter hook forward priority 0; policy accept; }",
                     "}"]
            if router.nat:
                rules += ["table ip lh_nat {",
                          "  chain postrouting { type nat hook postrouting priority 100; "
                          "policy accept;"]
                rules += [f'    ip saddr {n.source} oifname "{names.short(n.out_interface, 15)}"'
                          " masquerade" for n in router.nat]
                rules += ["  }", "}"]
            self.plan.nft.setdefault(ns, []).extend(rules)

    def mgmt_network(self) -> None:
        """One bridge in the mgmt namespace; the harness reaches it through one root veth."""
        ns = self.plan.ns("mgmt")
        root_if = names.root_veth(self.lab.name)
        members = ["harness"]
        self.ifname(ns, "harness")
        self.plan.links.append(Link(VethEnd("", root_if), VethEnd(ns, "harness"), "mgmt"))
        self.plan.root_ifaces.append(root_if)
        self.plan.addresses.append(Address("", root_if, self.harness_ip))
        for rname, (ip, doors) in self._router_mgmt().items():
            rns = self.plan.ns(rname)
            port = names.short(rname, 15)
            self.veth(VethEnd(rns, "mgmt0", mac=stable_mac(rname, "mgmt0", oui="local")),
                      VethEnd(ns, port), "mgmt")
            self.plan.addresses.append(Address(rns, "mgmt0",
                                               IPv4Interface(f"{ip}/{self.mgmt.prefixlen}")))
            self.plan.endpoints += [Endpoint(rname, kind, rns, ip, p) for kind, p in doors]
            members.append(port)
        bridge = self.ifname(ns, "mgmt0")
        self.plan.bridges.append(Bridge(ns, bridge, tuple(members)))
        # The simulated vCenter and the emulated iLOs serve from the mgmt namespace itself,
        # each on its inventory address, added to the bridge.
        for name, kind, url in self._https_endpoints():
            ip = IPv4Address(url.host or "")
            if ip not in self.mgmt or ip == self.harness_ip.ip:
                raise PlanError(f"inventory: {name} URL {url} must use an address in the sim "
                                f"management network {self.mgmt} (not {self.harness_ip.ip})")
            self.plan.addresses.append(
                Address(ns, bridge, IPv4Interface(f"{ip}/{self.mgmt.prefixlen}")))
            self.plan.endpoints.append(Endpoint(name, kind, ns, ip, url.port or 443))

    def _router_mgmt(self) -> dict[str, tuple[IPv4Address, list[tuple[Literal["ssh", "opnsense"],
                                                                        int]]]]:
        """Router -> its management address and the doors the inventory opens on it (sshd,
        an OPNsense router's API); both must name one address."""
        out: dict[str, tuple[IPv4Address, list[tuple[Literal["ssh", "opnsense"], int]]]] = {}
        if self.inv is None:
            return out
        doors: list[tuple[str, Literal["ssh", "opnsense"], str, str | None, int]] = [
            (r, "ssh", f"ssh.{r}.host", ssh.host, ssh.port)
            for r, ssh in self.inv.ssh.items() if r in self.lab.routers]
        doors += [(r, "opnsense", f"opnsense.{r}.url", api.url.host, api.url.port or 443)
                  for r, api in self.inv.opnsense.items() if r in self.lab.routers]
        for rname, kind, where, host, port in doors:
            try:
                ip = IPv4Address(host or "")
            except ValueError:
                raise PlanError(f"inventory: {where} {host!r} must be an IPv4 address of the "
                                f"sim management network {self.mgmt}") from None
            if ip not in self.mgmt or ip == self.harness_ip.ip:
                raise PlanError(f"inventory: {where} {ip} is outside the sim management "
                                f"network {self.mgmt} (or the harness's own address)")
            known = out.setdefault(rname, (ip, []))
            if known[0] != ip:
                raise PlanError(f"inventory: {where} {ip} differs from {rname}'s other "
                                f"management address {known[0]}: the sim gives a router one")
            known[1].append((kind, port))
        return out

    def _https_endpoints(self) -> list[tuple[str, Literal["vcenter", "bmc"], Any]]:
        if self.inv is None:
            return []
        out: list[tuple[str, Literal["vcenter", "bmc"], Any]] = []
        if self.inv.vcenter is not None and self.lab.vcenter is not None:
            out.append(("vcenter", "vcenter", self.inv.vcenter.url))
        out += [(name, "bmc", bmc.url) for name, bmc in sorted(self.inv.bmcs.items())
                if name in self.lab.servers]
        return out

    def vms_and_edges(self) -> None:
        lab = self.lab
        nlb_of: dict[tuple[str, str], tuple[str, IPv4Address]] = {}
        for cluster in lab.nlb_clusters.values():
            for member in cluster.members:
                nlb_of[(member, cluster.port_group)] = (cluster.effective_cluster_mac, cluster.vip)
        seg_bridges = self.segments()
        for vname, vm in lab.vms.items():
            ns = self.plan.ns(vname)
            hns = self.plan.ns(vm.host)
            for i, (label, nic) in enumerate(vm.nics.items()):
                guest_if = f"eth{i}"
                host_if = names.short(f"{vname}.{i}", 15)
                nlb = nlb_of.get((vname, nic.port_group))
                mac = nlb[0] if nlb and self._nlb_mode(vname) == "unicast" else (
                    nic.mac or stable_mac(vname, label))
                self.veth(VethEnd(ns, guest_if, nic.mtu, mac=mac),
                          VethEnd(hns, host_if, nic.mtu), "port")
                self.plan.vm_ifaces[f"{vname}/{label}"] = GuestInterface(ns, guest_if)
                bridge = self._bridge_for(vm.host, nic.port_group, seg_bridges)
                self._add_member(hns, bridge, host_if)
                if nic.ip is not None:
                    self.plan.addresses.append(Address(ns, guest_if, nic.ip))
                    gw = self._gateway_for(nic.port_group, nic.ip)
                    if gw is not None:
                        self.plan.routes.append(Route(ns, "default", gw, guest_if))
                if nlb is not None:
                    self._nlb_member(ns, guest_if, vname, nlb, hns, bridge)
                else:
                    self._add_mac(hns, bridge, mac)

    def _nlb_mode(self, vm: str) -> str:
        for c in self.lab.nlb_clusters.values():
            if vm in c.members:
                return c.mode
        return ""

    def _nlb_member(self, ns: str, ifname: str, vm: str, nlb: tuple[str, IPv4Address],
                    hns: str, bridge: str) -> None:
        cluster_mac, vip = nlb
        net = next((n for n in self.lab.networks.values() if vip in n.subnet), None)
        prefixlen = net.subnet.prefixlen if net else 24
        self.plan.addresses.append(Address(ns, ifname, IPv4Interface(f"{vip}/{prefixlen}")))
        # Windows NLB masks the cluster MAC as the source of every frame a node sends
        # (02:<host id>:...), so switches never learn it and keep flooding. RARP is exempt so a
        # "notify switches" announcement can still teach the switch (F09).
        host_id = sorted(c for c in self.lab.vms if self._nlb_mode(c))  # stable member order
        masked = "02:" + f"{host_id.index(vm) + 1:02x}:" + cluster_mac.split(":", 2)[2]
        self.plan.nft.setdefault(ns, []).extend([
            "table netdev lh_nlb {",
            f'  chain mask {{ type filter hook egress device "{ifname}" priority 0; '
            "policy accept;",
            f"    ether saddr {cluster_mac} ether type != 0x8035 ether saddr set {masked}",
            "  }",
            "}",
        ])
        # The host's vSwitch sees the guest-changed MAC (the cluster MAC) on this port: with
        # notify-switches on, that is the MAC the host announces.
        self._add_mac(hns, bridge, cluster_mac)

    def _bridge_for(self, host: str, port_group: str, seg_bridges: dict[tuple[str, str], str]
                    ) -> str:
        if (host, port_group) in seg_bridges:
            return seg_bridges[(host, port_group)]
        bridge = self._pg_bridges.get(host, {}).get(port_group)
        if bridge is None:
            raise PlanError(f"{host}: no port group or segment {port_group!r}")
        return bridge

    def _gateway_for(self, port_group: str, ip: IPv4Interface) -> IPv4Address | None:
        nsx = self.lab.nsx
        if nsx is not None and port_group in nsx.segments:
            for edge in nsx.edges.values():
                for iface in edge.interfaces.values():
                    if iface.segment == port_group and edge.kind == "dlr":
                        return iface.ip.ip
            for edge in nsx.edges.values():
                for iface in edge.interfaces.values():
                    if iface.segment == port_group:
                        return iface.ip.ip
            return None
        for net in self.lab.networks.values():
            if ip.ip in net.subnet:
                return net.gateway
        return None

    def segments(self) -> dict[tuple[str, str], str]:
        """VXLAN devices and segment bridges on every transport-zone host, and the edges."""
        lab = self.lab
        out: dict[tuple[str, str], str] = {}
        nsx = lab.nsx
        if nsx is None:
            return out
        vtep: dict[str, IPv4Address] = {}
        for hname, host in lab.hosts.items():
            for vmk in host.vmknics.values():
                if "vxlan" in vmk.services:
                    vtep.setdefault(hname, vmk.ip.ip)
        for sname, seg in nsx.segments.items():
            tz = nsx.transport_zones[seg.transport_zone]
            for hname in tz.hosts:
                if hname not in vtep:
                    continue
                ns = self.plan.ns(hname)
                bridge = self.ifname(ns, names.short(f"seg{seg.vni}", 15))
                dev = self.ifname(ns, names.short(f"vx{seg.vni}", 15))
                remotes = tuple(vtep[h] for h in tz.hosts if h != hname and h in vtep)
                # the segment's MTU inside; the VTEP's stack adds the 50 bytes of VXLAN outside
                self.plan.vxlans.append(Vxlan(ns, dev, seg.vni, vtep[hname], bridge, remotes,
                                              seg.mtu))
                self.plan.bridges.append(Bridge(ns, bridge, (dev,), seg.mtu))
                out[(hname, sname)] = bridge
        # Edges run as VMs on the first transport-zone host (a real DLR is distributed; one
        # routing namespace gives the same reachability).
        for ename, edge in nsx.edges.items():
            ns = self.plan.ns(ename)
            first_tz = next(iter(nsx.transport_zones.values()))
            edge_host = first_tz.hosts[0]
            hns = self.plan.ns(edge_host)
            for iname, iface in edge.interfaces.items():
                e_if = names.short(iname, 15)
                h_if = names.short(f"{ename}.{iname}", 15)
                mac = stable_mac(ename, iname)
                mtu = nsx.segments[iface.segment].mtu if iface.segment is not None else 1500
                self.veth(VethEnd(ns, e_if, mtu, mac=mac), VethEnd(hns, h_if, mtu), "port")
                if iface.segment is not None:
                    bridge = out[(edge_host, iface.segment)]
                else:
                    pg = self._pg_for_network(edge_host, iface.network or "")
                    bridge = self._pg_bridges[edge_host][pg]
                    self._add_mac(hns, bridge, mac)
                self._add_member(hns, bridge, h_if)
                self.plan.addresses.append(Address(ns, e_if, iface.ip))
                self.plan.vm_ifaces[f"{ename}/{iname}"] = GuestInterface(ns, e_if)
            for route in edge.routes:
                self.plan.routes.append(Route(ns, str(route.destination), route.gateway))
        return out

    def _pg_for_network(self, host: str, network: str) -> str:
        vlan = self.lab.networks[network].vlan
        for pg in host_port_groups(self.lab, host).values():
            if pg.vlan == vlan:
                return pg.name
        raise PlanError(f"{host} has no port group on VLAN {vlan} (network {network}) for an "
                        "NSX edge uplink")

    # -- probe VMs and SSH to VMs -----------------------------------------------------------
    def _mgmt_addresses(self) -> Iterator[IPv4Address]:
        """Free management addresses, from .64 up (inventory endpoints live below)."""
        taken = {e.ip for e in self.plan.endpoints} | {self.harness_ip.ip}
        for host_ip in list(self.mgmt.hosts())[63:]:
            if host_ip not in taken:
                yield host_ip

    def _mgmt_nic(self, ns: str, element: str, ip: IPv4Address, mgmt_ns: str) -> None:
        port = names.short(f"m-{element}", 15)
        self.veth(VethEnd(ns, "mgmt0", mac=stable_mac(element, "mgmt0", oui="local")),
                  VethEnd(mgmt_ns, port), "mgmt")
        self.plan.addresses.append(Address(ns, "mgmt0",
                                           IPv4Interface(f"{ip}/{self.mgmt.prefixlen}")))
        self.plan.endpoints.append(Endpoint(element, "ssh", ns, ip, 22))
        self._add_member(mgmt_ns, "mgmt0", port)

    def probe_trunks(self) -> dict[str, tuple[TrunkPlan, ...]]:
        """Each host's probe VM namespace and its trunks, before unused port groups are pruned:
        a trunk port group carries every VLAN of its switch, so the port groups it enters are
        in use (as on ESXi, where a VLAN 4095 port passes every VLAN to the uplinks)."""
        out: dict[str, tuple[TrunkPlan, ...]] = {}
        for hname in self.lab.hosts:
            ns = self.add_ns(f"probe-{hname}", "probe", QUIET_SYSCTLS)
            out[hname] = self._trunks(hname, ns, self.plan.ns(hname))
        return out

    def probes(self, trunks: Mapping[str, tuple[TrunkPlan, ...]]) -> None:
        """A probe VM per host (trunks, pinned uplinks, an address per lab network) and a
        management NIC with sshd on every VM, after the port groups are final."""
        mgmt_ns = self.plan.ns("mgmt")
        free_mgmt = self._mgmt_addresses()
        used = self._used_addresses()
        free: dict[str, Iterator[IPv4Address]] = {
            name: (a for a in reversed(list(net.subnet.hosts())) if a not in used)
            for name, net in self.lab.networks.items()}
        for hname in self.lab.hosts:
            element = f"probe-{hname}"
            ns = self.plan.ns(element)
            hns = self.plan.ns(hname)
            self._mgmt_nic(ns, element, next(free_mgmt), mgmt_ns)
            pinned = self._pinned(hname, ns, hns)
            addresses = tuple(
                (name, IPv4Interface(f"{next(free[name])}/{net.subnet.prefixlen}"))
                for name, net in self.lab.networks.items())
            self.plan.host_probes.append(HostProbePlan(hname, ns, self.plan.endpoints[-1].ip,
                                                       trunks[hname], pinned, addresses))
        for vname, vm in self.lab.vms.items():
            ns = self.plan.ns(vname)
            self._mgmt_nic(ns, vname, next(free_mgmt), mgmt_ns)
            interfaces = tuple((label, self.plan.vm_ifaces[f"{vname}/{label}"].iface)
                               for label in vm.nics)
            self.plan.vm_access.append(VmAccessPlan(vname, ns, self.plan.endpoints[-1].ip,
                                                    interfaces))

    def _trunks(self, host: str, ns: str, hns: str) -> tuple[TrunkPlan, ...]:
        """One trunk per virtual switch of the host carrying every VLAN of its port groups;
        each VLAN enters one port-group bridge of that switch on that VLAN, one that something
        else is attached to when there is one (port groups on one VLAN are one layer-2 domain
        on a real switch; the others are reached through the physical network)."""
        bridges = {(b.ns, b.name): b for b in self.plan.bridges}
        uplinks = {(ns_, t.bridge): {u.link for u in t.uplinks}
                   for ns_, teams in self.plan.teams.items() for t in teams}
        by_switch: dict[str, dict[int, str]] = {}
        for pg in host_port_groups(self.lab, host).values():
            bridge = self._pg_bridges.get(host, {}).get(pg.name)
            if bridge is None or (hns, bridge) not in bridges or not 0 < pg.vlan < 4095:
                continue
            chosen = by_switch.setdefault(pg.switch, {})
            if pg.vlan not in chosen or (
                    self._attached(bridges[hns, bridge], uplinks)
                    and not self._attached(bridges[hns, chosen[pg.vlan]], uplinks)):
                chosen[pg.vlan] = bridge
        out: list[TrunkPlan] = []
        for i, (switch, vlans) in enumerate(sorted(by_switch.items())):
            probe_if, port = f"tr{i}", f"pt{i}"
            self.veth(VethEnd(ns, probe_if, PROBE_MTU, mac=stable_mac(host, "probe", probe_if)),
                      VethEnd(hns, port, PROBE_MTU), "port")
            links: list[tuple[int, str]] = []
            for vlan, bridge in sorted(vlans.items()):
                link, member = f"{port}.{vlan}", f"pb{i}.{vlan}"
                self.veth(VethEnd(hns, link, PROBE_MTU), VethEnd(hns, member, PROBE_MTU), "port")
                self._add_member(hns, bridge, member)
                links.append((vlan, link))
            out.append(TrunkPlan(switch, probe_if, port, tuple(links)))
        return tuple(out)

    @staticmethod
    def _attached(bridge: Bridge, uplinks: Mapping[tuple[str, str], set[str]]) -> bool:
        """Whether anything besides its team's uplinks is on a port-group bridge."""
        return bool(set(bridge.members) - uplinks.get((bridge.ns, bridge.name), set()))

    def _pinned(self, host: str, ns: str, hns: str) -> tuple[PinnedPlan, ...]:
        out: list[PinnedPlan] = []
        for vmnic in sorted({v for (h, v) in self.host_vmnic_peer if h == host},
                            key=lambda v: int(v[5:])):
            links: dict[int, str] = {}
            for ifname in self.plan.ports.get(f"{host}/{vmnic}", PortLinks(hns, ())).ifaces:
                vlan = _vlan_of_sublink(ifname)
                if vlan is not None:
                    links.setdefault(vlan, ifname)  # one link per VLAN: no doubled frames
            if not links:
                continue
            probe_if, port = f"up-{vmnic}", f"pu-{vmnic}"
            self.veth(VethEnd(ns, probe_if, PROBE_MTU, mac=stable_mac(host, "probe", probe_if)),
                      VethEnd(hns, port, PROBE_MTU), "port")
            out.append(PinnedPlan(vmnic, probe_if, port, tuple(sorted(links.items()))))
        return tuple(out)

    def clients(self) -> None:
        """Sim-only probe clients: one per network that has an NLB VIP, on the last switch, so
        frames to the cluster MAC cross the physical network as a real client's would."""
        switches = list(self.lab.physical_switches)
        if not switches:
            return
        used = self._used_addresses()
        for cname, cluster in self.lab.nlb_clusters.items():
            net_name, net = next(((n, x) for n, x in self.lab.networks.items()
                                  if cluster.vip in x.subnet), (None, None))
            if net is None or net_name is None:
                continue
            sw = switches[-1]
            element = f"client-{net_name}"
            if element in self.elements:
                continue
            ns = self.add_ns(element, "client", QUIET_SYSCTLS)
            sw_ns = self.plan.ns(sw)
            port = names.short(f"sim-{net_name}", 9)
            ip = next(IPv4Interface(f"{a}/{net.subnet.prefixlen}")
                      for a in reversed(list(net.subnet.hosts())) if a not in used)
            self.veth(VethEnd(ns, "eth0", 1500, mac=stable_mac(element, "eth0")),
                      VethEnd(sw_ns, port, 1500), "port")
            self.sw_vlan_members.setdefault((sw, net.vlan), []).append(port)
            for i, b in enumerate(self.plan.bridges):
                if b.ns == sw_ns and b.name == f"br-v{net.vlan}":
                    self.plan.bridges[i] = Bridge(b.ns, b.name, (*b.members, port), b.mtu)
            self.plan.addresses.append(Address(ns, "eth0", ip))
            self.plan.clients[cname] = ProbeClient(ns, "eth0", ip)

    def _used_addresses(self) -> set[IPv4Address]:
        used = {a.ip.ip for a in self.plan.addresses}
        used |= {c.vip for c in self.lab.nlb_clusters.values()}
        used |= {n.gateway for n in self.lab.networks.values() if n.gateway}
        used |= {ip.ip for probe in self.plan.host_probes for _, ip in probe.addresses}
        return used


def _vlan_of_sublink(ifname: str) -> int | None:
    """`vmnic4.20` and `vmnic4.20b` -> 20; the cable itself -> None."""
    if "." not in ifname:
        return None
    return int(ifname.split(".", 1)[1].rstrip("abcdefghij"))


def plan_dataplane(lab: Lab, inventory: Inventory | None = None) -> DataplanePlan:
    """Plan the data plane of `lab` (already carrying any scenario's changes)."""
    return _Planner(lab, inventory).run()
