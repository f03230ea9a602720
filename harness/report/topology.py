"""The lab's topology as a Graphviz graph, drawn by `dot` into SVG, with a cause's elements marked.

Drawn from the lab file, never from what a run saw: the picture shows what the lab should be,
and the causes of a run mark the parts of it they touch. Every element is a node (or a cluster)
whose SVG `id` is the subject name the checks and causes use (`srv-esx03`, `srv-esx03/pcie1/port2`,
`esx03/vmnic6`, `sw02/TenGigabitEthernet1/1/7`, `esx03/vmk1`, `opnsense01/lan`), so a cause's
`touches` marks it directly and a browser finds it by id. Layout is Graphviz's (`dot`), not
hand-placed coordinates; without the `dot` binary the caller says so instead of drawing.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.lab.model import Lab

TOUCHED_COLOR = "#d00000"
DOT_TIMEOUT_S = 60


class TopologyUnavailable(Exception):
    """The topology cannot be drawn here (no `dot`, or `dot` failed): the reason, in a line."""


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**attrs: str | float | None) -> str:
    return ", ".join(f"{k}={_q(str(v))}" for k, v in attrs.items() if v is not None)


@dataclass
class _Graph:
    """DOT text being built, and which of its ids are marked."""

    touches: frozenset[str]
    lines: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    marked: set[str] = field(default_factory=set)

    def is_touched(self, *names: str) -> bool:
        return any(n in self.touches for n in names)

    def node(self, node_id: str, label: str, *aliases: str, shape: str = "box",
             fill: str = "#ffffff") -> None:
        if node_id in self.ids:
            return
        self.ids.add(node_id)
        touched = self.is_touched(node_id, *aliases)
        if touched:
            self.marked.update(n for n in (node_id, *aliases) if n in self.touches)
        attrs = _attrs(id=node_id, label=label, shape=shape,
                       style="filled,rounded" if shape == "box" else "filled", fillcolor=fill,
                       color=TOUCHED_COLOR if touched else "#555555",
                       penwidth=3 if touched else 1,
                       fontcolor=TOUCHED_COLOR if touched else None,
                       **{"class": "touched" if touched else "element"})
        self.lines.append(f"{_q(node_id)} [{attrs}];")

    def edge(self, a: str, b: str, *, label: str | None = None, style: str = "solid",
             edge_id: str | None = None) -> None:
        touched = self.is_touched(a) and self.is_touched(b)
        attrs = _attrs(id=edge_id, label=label, style=style, dir="none", fontsize=9,
                       color=TOUCHED_COLOR if touched else "#777777",
                       penwidth=3 if touched else 1,
                       **{"class": "touched" if touched else "link"})
        self.lines.append(f"{_q(a)} -> {_q(b)} [{attrs}];")

    def open_cluster(self, cluster_id: str, label: str, *, fill: str) -> None:
        touched = self.is_touched(cluster_id)
        if touched:
            self.marked.add(cluster_id)
        self.lines.append(f"subgraph {_q('cluster_' + cluster_id)} {{")
        self.lines.append(_attrs(
            id=cluster_id, label=label, style="filled,rounded", fillcolor=fill,
            color=TOUCHED_COLOR if touched else "#888888", penwidth=3 if touched else 1,
            # explicit either way: a cluster inside a marked one would inherit its red
            fontcolor=TOUCHED_COLOR if touched else "#222222",
            **{"class": "touched" if touched else "group"}).replace(", ", "; ") + ";")

    def close_cluster(self) -> None:
        self.lines.append("}")


def _short_port(port: str) -> str:
    """`TenGigabitEthernet1/1/7` -> `Te1/1/7`, as the switch's CLI abbreviates it."""
    for long, short in (("TenGigabitEthernet", "Te"), ("GigabitEthernet", "Gi"),
                        ("FastEthernet", "Fa"), ("FortyGigabitEthernet", "Fo"),
                        ("HundredGigE", "Hu"), ("Ethernet", "Eth")):
        if port.startswith(long):
            return short + port[len(long):]
    return port


def _vlans(vlans: Iterable[int]) -> str:
    return ",".join(str(v) for v in vlans) or "-"


def topology_dot(lab: Lab, touches: Iterable[str] = ()) -> tuple[str, set[str]]:
    """The lab as DOT, and which of `touches` it could mark (the rest have no element here).

    Servers hold their BMC, adapters (ports) and the ESXi host on them (vmnics, vmknics);
    switches their ports with mode, VLANs and MTU; cables join host, switch and router ports;
    vmknics and router interfaces join the networks (VLAN, subnet) they are on; NSX shows its
    transport zones, segments (VNI) and edges.
    """
    g = _Graph(frozenset(touches))
    g.lines += ["digraph lab {", "graph [rankdir=LR, fontname=Helvetica, fontsize=11, "
                "nodesep=0.15, ranksep=1.1, compound=true, bgcolor=transparent];",
                "node [fontname=Helvetica, fontsize=9, height=0.25, margin=\"0.06,0.02\"];",
                "edge [fontname=Helvetica];"]
    networks_by_vlan = {net.vlan: name for name, net in lab.networks.items()}

    def host_body(host: str) -> None:
        h = lab.hosts[host]
        g.open_cluster(host, f"ESXi {host}  {h.version} ({h.build})", fill="#eef4ff")
        for vmnic in lab.host_vmnics(host):
            g.node(f"{host}/{vmnic}", vmnic, fill="#dde8ff")
        for vmk, nic in sorted(h.vmknics.items()):
            role = "VTEP " if "vxlan" in nic.services else ""
            g.node(f"{host}/{vmk}", f"{role}{vmk} {nic.ip}\n{nic.port_group} mtu {nic.mtu}\n"
                   f"{', '.join(nic.services) or '-'}", shape="note", fill="#fff8dc")
        for vswitch_name, vswitch in h.standard_switches.items():
            pgs = "\n".join(f"{pg} VLAN {p.vlan}" for pg, p in vswitch.port_groups.items())
            g.node(f"{host}/{vswitch_name}", f"{vswitch_name} mtu {vswitch.mtu}\n{pgs}",
                   *(f"{host}/{pg}" for pg in vswitch.port_groups), shape="box", fill="#e8f0e8")
        for vm_name, vm in sorted(lab.vms.items()):
            if vm.host == host:
                nics = "\n".join(f"{label} {n.ip or ''} on {n.port_group}"
                                  for label, n in vm.nics.items())
                g.node(vm_name, f"VM {vm_name}\n{nics}", *(f"{vm_name}/{label}"
                       for label in vm.nics), shape="box3d", fill="#f7f7f7")
        g.close_cluster()

    hosts_on_servers: dict[str, str] = {h.server: name for name, h in lab.hosts.items()
                                        if h.server is not None and h.server in lab.servers}
    for name, server in lab.servers.items():
        g.open_cluster(name, f"{name}  {server.model}", fill="#f4f4f4")
        bmc = f"{name}/bmc"
        g.node(bmc, f"BMC {server.bmc.kind}" + (f" fw {server.bmc.firmware}"
               if server.bmc.firmware else ""), f"{name}/{server.bmc.kind}", shape="component",
               fill="#e8ffe8")
        for adapter_name, adapter in server.adapters.items():
            g.open_cluster(f"{name}/{adapter_name}",
                           f"{adapter_name}: {adapter.model}"
                           + (" DCB/LLDP agent" if adapter.lldp_agent else ""), fill="#ffffff")
            for number, port in sorted(adapter.ports.items()):
                label = f"port {number}" + (f" {port.personality}"
                                            if port.personality != "Ethernet" else "")
                g.node(f"{name}/{adapter_name}/port{number}", label, fill="#f0f0f0")
            g.close_cluster()
        if name in hosts_on_servers:
            host_body(hosts_on_servers[name])
        g.close_cluster()
    for host, h in lab.hosts.items():
        if h.server is None or h.server not in lab.servers:
            host_body(host)
        else:  # the adapter port a vmnic is
            for adapter_name, adapter in lab.servers[h.server].adapters.items():
                for number, port in adapter.ports.items():
                    if port.vmnic is not None:
                        g.edge(f"{h.server}/{adapter_name}/port{number}", f"{host}/{port.vmnic}",
                               style="dotted")

    for name, switch in lab.physical_switches.items():
        g.open_cluster(name, f"{name} ({switch.hostname})\n{switch.platform}", fill="#f0fff0")
        for port_id, sp in switch.ports.items():
            text = f"{_short_port(port_id)} {sp.mode} vlan {_vlans(sp.vlans)}"
            if sp.native_vlan is not None:
                text += f" native {sp.native_vlan}"
            g.node(f"{name}/{port_id}", text + f"\nmtu {sp.mtu}", fill="#e0f5e0")
        g.close_cluster()

    for name, router in lab.routers.items():
        g.open_cluster(name, f"router {name} ({router.kind}"
                       + (f" {router.version}" if router.version else "") + ")", fill="#fff0f0")
        for iface, ri in router.interfaces.items():
            g.node(f"{name}/{iface}", f"{iface} {ri.ip}\nmtu {ri.mtu}", fill="#ffe0e0")
        g.close_cluster()

    for name, net in lab.networks.items():
        g.node(f"network/{name}", f"{name}: VLAN {net.vlan}\n{net.subnet} mtu {net.mtu}",
               name, f"vlan{net.vlan}", f"vlan/{net.vlan}", shape="ellipse", fill="#fffbe6")

    for i, cable in enumerate(lab.cabling):
        (a_node, a_port), (b_node, b_port) = cable.ends
        for node, end in ((a_node, a_port), (b_node, b_port)):
            g.node(f"{node}/{end}", f"{node}/{end}")  # an end the lab lists nowhere else
        g.edge(f"{a_node}/{a_port}", f"{b_node}/{b_port}", edge_id=f"cable/{i}")

    for name, router in lab.routers.items():
        for iface, ri in router.interfaces.items():
            if ri.network in lab.networks:
                g.edge(f"{name}/{iface}", f"network/{ri.network}", style="dashed")
    for host, h in lab.hosts.items():
        for vmk, nic in h.vmknics.items():
            on = next((n for n, v in lab.networks.items() if nic.ip.ip in v.subnet), None)
            if on is None:
                vlan = _port_group_vlan(lab, host, nic.port_group)
                on = networks_by_vlan.get(vlan) if vlan is not None else None
            if on is not None:
                g.edge(f"{host}/{vmk}", f"network/{on}", style="dashed")

    segments = lab.nsx.segments if lab.nsx is not None else {}
    for vm_name, vm in lab.vms.items():
        for label, vnic in vm.nics.items():
            if vnic.port_group in segments:
                g.edge(vm_name, vnic.port_group, style="dashed", edge_id=f"{vm_name}/{label}")
            else:
                vlan = _port_group_vlan(lab, vm.host, vnic.port_group) if vm.host in lab.hosts \
                    else None
                if vlan is not None and vlan in networks_by_vlan:
                    g.edge(vm_name, f"network/{networks_by_vlan[vlan]}", style="dashed",
                           edge_id=f"{vm_name}/{label}")
    for dvs_name, dvs in lab.distributed_switches.items():
        g.open_cluster(dvs_name, f"distributed switch {dvs_name} mtu {dvs.mtu} ({dvs.discovery})",
                       fill="#eef8ff")
        for pg, dvpg in dvs.port_groups.items():  # one port group, seen from every member host
            g.node(f"{dvs_name}/{pg}", f"{pg} VLAN {dvpg.vlan}", pg,
                   *(f"{h}/{pg}" for h in dvs.hosts), fill="#dff0ff")
        g.close_cluster()
        for pg, dvpg in dvs.port_groups.items():
            if dvpg.vlan in networks_by_vlan:
                g.edge(f"{dvs_name}/{pg}", f"network/{networks_by_vlan[dvpg.vlan]}",
                       style="dotted")
    for name, nlb in lab.nlb_clusters.items():
        g.node(f"nlb/{name}", f"NLB {name} {nlb.mode}\nVIP {nlb.vip}", name, shape="oval",
               fill="#fff0f8")
        for member in nlb.members:
            if member in g.ids:
                g.edge(f"nlb/{name}", member, style="dotted")

    if lab.nsx is not None:
        g.open_cluster("nsx", f"NSX {lab.nsx.version or ''} transport MTU "
                       f"{lab.nsx.transport_mtu}", fill="#f5f0ff")
        for tz, zone in lab.nsx.transport_zones.items():
            g.node(tz, f"transport zone {tz}\n{zone.replication}: {', '.join(zone.hosts)}",
                   shape="hexagon", fill="#ece0ff")
        for seg, segment in lab.nsx.segments.items():
            g.node(seg, f"segment {seg}\nVNI {segment.vni}"
                   + (f" {segment.subnet}" if segment.subnet else ""), shape="ellipse",
                   fill="#f3ebff")
        for edge_name, edge in lab.nsx.edges.items():
            g.node(edge_name, f"{edge.kind.upper()} {edge_name}", shape="octagon", fill="#e6dcff")
        g.close_cluster()
        for seg, segment in lab.nsx.segments.items():
            if segment.transport_zone in lab.nsx.transport_zones:
                g.edge(seg, segment.transport_zone, style="dotted")
        for edge_name, edge in lab.nsx.edges.items():
            for iface, ei in edge.interfaces.items():
                other = ei.segment if ei.segment is not None else f"network/{ei.network}"
                if other in g.ids:
                    g.edge(edge_name, other, label=f"{iface} {ei.ip}", style="dashed")
        for tz, zone in lab.nsx.transport_zones.items():  # the VTEPs that carry the zone
            for host in (h for h in zone.hosts if h in lab.hosts):
                for vmk, nic in lab.hosts[host].vmknics.items():
                    if "vxlan" in nic.services:
                        g.edge(f"{host}/{vmk}", tz, style="dotted")
    g.lines.append("}")
    return "\n".join(g.lines) + "\n", g.marked


def _port_group_vlan(lab: Lab, host: str, port_group: str) -> int | None:
    h = lab.hosts[host]
    for vswitch in h.standard_switches.values():
        if port_group in vswitch.port_groups:
            return vswitch.port_groups[port_group].vlan
    for dvs in lab.distributed_switches.values():
        if host in dvs.hosts and port_group in dvs.port_groups:
            return dvs.port_groups[port_group].vlan
    return None


def dot_binary() -> str | None:
    return shutil.which("dot")


def render_svg(dot_source: str) -> str:
    """SVG from DOT through Graphviz's `dot`.

    Raises:
        TopologyUnavailable: `dot` is not installed, timed out or failed.
    """
    dot = dot_binary()
    if dot is None:
        raise TopologyUnavailable("Graphviz `dot` is not installed on this machine (Debian: "
                                  "apt-get install graphviz); the topology cannot be drawn")
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_source.encode(), capture_output=True,
                              timeout=DOT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise TopologyUnavailable(f"Graphviz `dot` took over {DOT_TIMEOUT_S} s") from None
    except OSError as exc:
        raise TopologyUnavailable(f"Graphviz `dot` could not run: {exc.strerror}") from None
    if done.returncode != 0:
        msg = done.stderr.decode(errors="replace").strip().splitlines()
        raise TopologyUnavailable(f"Graphviz `dot` failed: {msg[-1] if msg else done.returncode}")
    svg = done.stdout.decode()
    start = svg.find("<svg")  # drop the XML prolog and DOCTYPE: the SVG goes inline in HTML
    return svg[start:] if start >= 0 else svg
