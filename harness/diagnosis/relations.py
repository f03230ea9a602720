"""How the elements of a lab lead to one another, derived from the lab definition alone.

A fault on one element shows up as findings on the elements downstream of it: an adapter port
is a vmnic on the host the server runs; a vmnic (or a router interface) is cabled to a switch
port, and a vmnic carries the port groups that team it; a port group carries the vmknics on it
(and, distributed, is one vCenter object for every member host); a vmknic carries the host's
paths of its service, and a VTEP the overlay traffic of the host's VMs; a router interface
carries its network's vmknics. Elements are named as subjects name them (`srv-esx03/pcie1/port2`,
`esx03/vmnic7`, `esx03/dvpg-iscsi-b`, `esx03/vmk3`, `sw01/TenGigabitEthernet1/1/7`), so findings
and relations meet by name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from harness.lab.model import Lab
from harness.lab.views import host_port_groups

Edge = Literal[
    "port-vmnic",  # an adapter port -> the vmnic ESXi makes of it
    "port-server",  # an adapter port -> its server
    "server-host",  # a server -> the ESXi host it runs
    "vmnic-switchport",  # a vmnic -> the switch port it is cabled to
    "vmnic-portgroup",  # a vmnic -> the host's port groups that team it (active or standby)
    "portgroup-vmknic",  # a port group -> the vmknics on it
    "portgroup-dvportgroup",  # a host's view of a distributed port group -> the vCenter object
    "portgroup-nlb",  # a port group -> the NLB clusters with a member on it on that host
    "vmknic-overlay",  # a VTEP vmknic -> the overlay VMs its host runs
    "interface-vmknic",  # a router interface -> the vmknics on its network (by VLAN)
    "interface-switchport",  # a router interface -> the switch port it is cabled to
]

# `esx01/vmk1` inside a message or an evidence string
_VMK_MENTION = re.compile(r"\b([A-Za-z0-9][\w.-]*)/(vmk\d+)\b")
# the wire checks' own attribution of a dead path (checks.network.diagnose_path)
_FORWARDS = re.compile(r"(\S+) on (\S+) forwards through (vmnic\d+)")
# `esx01 probe (dvpg-vtep-a, VLAN 50)`: a probe's source names its host and port group
_PROBE_SOURCE = re.compile(r"^(\S+) probe \(([^,()]+),")


@dataclass(frozen=True)
class Relations:
    """The lab's elements and the edges between them, built once per lab."""

    edges: Mapping[str, Mapping[str, frozenset[str]]]  # edge kind -> element -> elements
    elements: frozenset[str]
    vmknic_portgroup: Mapping[str, str]  # `esx01/vmk1` -> `esx01/dvpg-vmotion`
    vm_elements: Mapping[str, frozenset[str]] = field(default_factory=dict)  # vm -> its hosts' pgs

    def step(self, kinds: Iterable[Edge], start: Iterable[str]) -> set[str]:
        """Every element reachable from `start` along edges of `kinds` (start included)."""
        kinds = tuple(kinds)
        seen = set(start)
        todo = list(seen)
        while todo:
            element = todo.pop()
            for kind in kinds:
                for nxt in self.edges.get(kind, {}).get(element, ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return seen

    def named(self, name: str) -> set[str]:
        """The elements a subject or evidence string names, with what they sit on: a vmknic
        with its port group, a host port group with its vCenter object, a VM or an NLB cluster
        with the port groups and VTEPs its traffic takes, a probe source with its port group."""
        out: set[str] = set()
        probe = _PROBE_SOURCE.match(name)
        if probe is not None:
            host, pg = probe.group(1), probe.group(2).strip()
            return {e for e in (host, f"{host}/{pg}") if e in self.elements}
        for part in (p.strip() for p in name.split("->")):
            if part in self.elements:
                out.add(part)
            if part in self.vmknic_portgroup:
                out.add(self.vmknic_portgroup[part])
            out |= self.step(("portgroup-dvportgroup",), {part}) - {part}
            out |= self.vm_elements.get(part, frozenset())
            host = part.split("/", 1)[0]
            if "/" in part and host in self.elements:
                out.add(host)
        return out

    def mentions(self, text: str) -> set[str]:
        """The vmknics a message names (`esx02/vmk4`), with their port groups, and the port
        group and uplink a wire check blamed (`dvpg-vtep-a on esx01 forwards through vmnic4`)."""
        out: set[str] = set()
        for m in _FORWARDS.finditer(text):
            pg, host, vmnic = m.group(1), m.group(2), m.group(3)
            out |= {e for e in (f"{host}/{pg}", f"{host}/{vmnic}") if e in self.elements}
        for m in _VMK_MENTION.finditer(text):
            vmk = f"{m.group(1)}/{m.group(2)}"
            if vmk in self.vmknic_portgroup:
                out |= {vmk, self.vmknic_portgroup[vmk]}
        return out


def _add(edges: dict[str, dict[str, set[str]]], kind: Edge, a: str, b: str) -> None:
    edges.setdefault(kind, {}).setdefault(a, set()).add(b)


def relations(lab: Lab) -> Relations:
    """The relations of one lab (pure: the lab model and its derived views only)."""
    edges: dict[str, dict[str, set[str]]] = {}
    elements: set[str] = set()
    if lab.vcenter is not None:
        elements.add("vcenter")  # how the vCenter checks name it, whatever the lab calls it
    host_of_server = {h.server: name for name, h in lab.hosts.items() if h.server is not None}
    for sname, server in lab.servers.items():
        elements.add(sname)
        if sname in host_of_server:
            _add(edges, "server-host", sname, host_of_server[sname])
        for aname, adapter in server.adapters.items():
            for n, port in adapter.ports.items():
                pname = f"{sname}/{aname}/port{n}"
                elements.add(pname)
                _add(edges, "port-server", pname, sname)
                if port.vmnic is not None and sname in host_of_server:
                    _add(edges, "port-vmnic", pname, f"{host_of_server[sname]}/{port.vmnic}")
    vmknic_pg: dict[str, str] = {}
    for hname, host in lab.hosts.items():
        elements.add(hname)
        pgs = host_port_groups(lab, hname)
        for pg in pgs.values():
            hpg = f"{hname}/{pg.name}"
            elements.add(hpg)
            for vmnic in pg.teaming.uplinks:
                elements.add(f"{hname}/{vmnic}")
                _add(edges, "vmnic-portgroup", f"{hname}/{vmnic}", hpg)
            if pg.switch_kind == "distributed":
                elements.add(f"{pg.switch}/{pg.name}")
                _add(edges, "portgroup-dvportgroup", hpg, f"{pg.switch}/{pg.name}")
        for vname, vmk in host.vmknics.items():
            element = f"{hname}/{vname}"
            elements.add(element)
            vmknic_pg[element] = f"{hname}/{vmk.port_group}"
            _add(edges, "portgroup-vmknic", f"{hname}/{vmk.port_group}", element)
    for cable in lab.cabling:
        (a, ap), (b, bp) = cable.ends
        for (node, end), (sw, swport) in (((a, ap), (b, bp)), ((b, bp), (a, ap))):
            if node in lab.hosts and sw in lab.physical_switches:
                elements |= {f"{node}/{end}", f"{sw}/{swport}"}
                _add(edges, "vmnic-switchport", f"{node}/{end}", f"{sw}/{swport}")
            elif node in lab.routers and sw in lab.physical_switches:
                elements.add(f"{sw}/{swport}")
                _add(edges, "interface-switchport", f"{node}/{end}", f"{sw}/{swport}")
    segments = set(lab.nsx.segments) if lab.nsx is not None else set()
    vm_elements: dict[str, frozenset[str]] = {}
    for vname, vm in lab.vms.items():
        elements.add(vname)
        taken: set[str] = set()
        for nic in vm.nics.values():
            if nic.port_group in segments:  # overlay traffic leaves by the host's VTEPs
                for vmk_name, vmk in lab.hosts[vm.host].vmknics.items():
                    if "vxlan" in vmk.services:
                        vtep = f"{vm.host}/{vmk_name}"
                        _add(edges, "vmknic-overlay", vtep, vname)
                        taken |= {vtep, vmknic_pg[vtep]}
            else:
                taken.add(f"{vm.host}/{nic.port_group}")
        vm_elements[vname] = frozenset(taken)
    for cname, cluster in lab.nlb_clusters.items():
        elements.add(cname)
        taken = set()
        for member in cluster.members:
            machine = lab.vms.get(member)
            if machine is not None:
                hpg = f"{machine.host}/{cluster.port_group}"
                _add(edges, "portgroup-nlb", hpg, cname)
                taken |= {hpg, member}
        vm_elements[cname] = frozenset(taken)
    for rname, router in lab.routers.items():
        for iname, iface in router.interfaces.items():
            element = f"{rname}/{iname}"
            elements.add(element)
            network = lab.networks.get(iface.network)
            if network is None:
                continue
            for hname in lab.hosts:
                for pg in host_port_groups(lab, hname).values():
                    if pg.vlan == network.vlan:
                        for vmk_name, vmk in lab.hosts[hname].vmknics.items():
                            if vmk.port_group == pg.name:
                                _add(edges, "interface-vmknic", element, f"{hname}/{vmk_name}")
    frozen = {kind: {a: frozenset(b) for a, b in table.items()} for kind, table in edges.items()}
    return Relations(edges=frozen, elements=frozenset(elements), vmknic_portgroup=vmknic_pg,
                     vm_elements=vm_elements)
