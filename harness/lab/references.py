"""Cross-reference validation of a parsed lab: every reference resolves, every uplink is cabled,
addresses are unique and prefixes are consistent.

These are errors in the lab *file* (it cannot describe a real lab). Design mistakes that a real
lab can have (an MTU too small for VXLAN, two vmknics in one subnet) are findings of the checks in
`harness.checks`, not errors here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

from harness.lab.catalog import (
    ADAPTERS,
    BMC_FIRMWARE,
    BMC_OF_MODEL,
    firmware_line,
    firmware_version,
    slot_form,
)
from harness.lab.model import Lab, Teaming, nlb_cluster_mac
from harness.lab.source import PathPart

Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class RefProblem:
    """A cross-reference problem at a data path of the lab file."""

    path: Path
    message: str


def _names(items: Iterable[str]) -> str:
    names = sorted(items)
    return ", ".join(names) if names else "(none defined)"


class _Validator:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.problems: list[RefProblem] = []

    def add(self, path: Path, message: str) -> None:
        self.problems.append(RefProblem(path, message))

    def run(self) -> list[RefProblem]:
        self.servers()
        self.hosts()
        self.distributed_switches()
        self.vmknics()
        self.physical_network()
        self.routers()
        self.nsx()
        self.vms_and_nlb()
        self.addresses()
        return self.problems

    # -- servers -----------------------------------------------------------------------------
    def bmc_firmware(self, sname: str, model: str, firmware: str) -> None:
        """The firmware selects the emulated variant and what the driver expects: it must be a
        release this model's iLO runs."""
        allowed = ", ".join(line.label() for line in BMC_FIRMWARE[model])
        if firmware_version(firmware) is None:
            self.add(("servers", sname, "bmc", "firmware"),
                     f"firmware {firmware!r} is not an iLO release number like \"2.72\"; "
                     f"a {model} runs {allowed}")
        elif firmware_line(model, firmware) is None:
            self.add(("servers", sname, "bmc", "firmware"),
                     f"a {model} does not run iLO firmware {firmware}; allowed: {allowed}")

    def servers(self) -> None:
        users: dict[str, str] = {}
        for hname, host in self.lab.hosts.items():
            if host.server is None:
                continue
            if host.server in users:
                self.add(("hosts", hname, "server"),
                         f"server {host.server!r} already runs host {users[host.server]!r}")
            users[host.server] = hname
        for sname, server in self.lab.servers.items():
            want = BMC_OF_MODEL[server.model]
            if server.bmc.kind != want:
                self.add(("servers", sname, "bmc", "kind"),
                         f"a {server.model} has {want}, not {server.bmc.kind}")
            elif server.bmc.firmware is not None:
                self.bmc_firmware(sname, server.model, server.bmc.firmware)
            seen_vmnics: dict[str, str] = {}
            for aname, adapter in server.adapters.items():
                spec = ADAPTERS[adapter.model]
                base: Path = ("servers", sname, "adapters", aname)
                if slot_form(adapter.slot) != spec.form:
                    self.add((*base, "slot"), f"a {adapter.model} is a {spec.form} adapter; it "
                             f"cannot sit in slot {adapter.slot}")
                if adapter.lldp_agent is not None and not spec.dcb:
                    self.add((*base, "lldp_agent"),
                             f"a {adapter.model} has no embedded LLDP/DCB agent; remove lldp_agent")
                for number, port in adapter.ports.items():
                    ppath = (*base, "ports", number)
                    if not 1 <= number <= spec.ports:
                        self.add(ppath, f"a {adapter.model} has ports 1-{spec.ports}, not {number}")
                    if port.personality not in spec.personalities:
                        self.add((*ppath, "personality"),
                                 f"a {adapter.model} offers {', '.join(spec.personalities)}; "
                                 f"not {port.personality}")
                    if port.vmnic is not None:
                        if port.vmnic in seen_vmnics:
                            self.add((*ppath, "vmnic"), f"{port.vmnic} is already port "
                                     f"{seen_vmnics[port.vmnic]}")
                        seen_vmnics[port.vmnic] = f"{aname}/{number}"

    # -- hosts and standard switches ---------------------------------------------------------
    def hosts(self) -> None:
        for hname, host in self.lab.hosts.items():
            hpath: Path = ("hosts", hname)
            if host.kind == "nested" and host.server is not None:
                self.add((*hpath, "server"), "a nested host runs in a VM and has no server; "
                         "remove `server` (or make the host `kind: physical`)")
            if host.kind == "physical" and host.server is not None:
                if host.server not in self.lab.servers:
                    self.add((*hpath, "server"), f"no server {host.server!r}; servers: "
                             f"{_names(self.lab.servers)}")
                elif host.vmnics is not None:
                    self.add((*hpath, "vmnics"), "this host's vmnics come from its server's "
                             "adapter ports; remove `vmnics` or the `server`")
            vmnics = set(self.lab.host_vmnics(hname))
            owner: dict[str, str] = {}
            pg_owner: dict[str, str] = {}
            for sw_name, sw in host.standard_switches.items():
                spath: Path = (*hpath, "standard_switches", sw_name)
                for i, up in enumerate(sw.uplinks):
                    if up not in vmnics:
                        self.add((*spath, "uplinks", i), f"{hname} has no {up}; vmnics: "
                                 f"{_names(vmnics)}")
                    elif up in owner:
                        self.add((*spath, "uplinks", i),
                                 f"{up} is already an uplink of {owner[up]}")
                    owner[up] = sw_name
                self.teaming((*spath, "teaming"), sw.teaming, sw.uplinks)
                for pg_name, pg in sw.port_groups.items():
                    if pg_name in pg_owner:
                        self.add((*spath, "port_groups", pg_name), f"port group {pg_name!r} "
                                 f"already exists on {pg_owner[pg_name]} of this host")
                    pg_owner[pg_name] = sw_name
                    self.teaming((*spath, "port_groups", pg_name, "teaming"), pg.teaming,
                                 sw.uplinks)
            for dvs_name, dvs in self.lab.distributed_switches.items():
                member = dvs.hosts.get(hname)
                if member is None:
                    continue
                for uplink, vmnic in member.uplinks.items():
                    if vmnic in owner:
                        self.add(("distributed_switches", dvs_name, "hosts", hname, "uplinks",
                                  uplink), f"{vmnic} is already an uplink of {owner[vmnic]}")
                    owner[vmnic] = dvs_name

    def teaming(self, path: Path, teaming: Teaming, uplinks: list[str]) -> None:
        active = teaming.active or []
        standby = teaming.standby or []
        for field, names in (("active", active), ("standby", standby)):
            for i, name in enumerate(names):
                if name not in uplinks:
                    self.add((*path, field, i), f"{name} is not an uplink of this switch; "
                             f"uplinks: {_names(uplinks)}")
        for name in set(active) & set(standby):
            self.add((*path, "standby"), f"{name} is both active and standby")

    def distributed_switches(self) -> None:
        for dname, dvs in self.lab.distributed_switches.items():
            dpath: Path = ("distributed_switches", dname)
            self.teaming((*dpath, "teaming"), dvs.teaming, dvs.uplinks)
            for pg_name, pg in dvs.port_groups.items():
                self.teaming((*dpath, "port_groups", pg_name, "teaming"), pg.teaming, dvs.uplinks)
            for hname, member in dvs.hosts.items():
                mpath: Path = (*dpath, "hosts", hname)
                if hname not in self.lab.hosts:
                    self.add(mpath, f"no host {hname!r}; hosts: {_names(self.lab.hosts)}")
                    continue
                vmnics = set(self.lab.host_vmnics(hname))
                for uplink, vmnic in member.uplinks.items():
                    if uplink not in dvs.uplinks:
                        self.add((*mpath, "uplinks", uplink), f"{dname} has no uplink {uplink!r}; "
                                 f"uplinks: {_names(dvs.uplinks)}")
                    if vmnic not in vmnics:
                        self.add((*mpath, "uplinks", uplink), f"{hname} has no {vmnic}; vmnics: "
                                 f"{_names(vmnics)}")
        names: dict[str, str] = {}
        for dname, dvs in self.lab.distributed_switches.items():
            for pg_name in dvs.port_groups:
                if pg_name in names:
                    self.add(("distributed_switches", dname, "port_groups", pg_name),
                             f"port group {pg_name!r} already exists on {names[pg_name]}; "
                             "distributed port group names are unique in a datacenter")
                names[pg_name] = dname

    # -- VMkernel NICs -----------------------------------------------------------------------
    def port_group_vlan(self, host: str, port_group: str) -> tuple[int | None, list[str]]:
        """VLAN of a port group as seen from a host, and where the name was found."""
        found: list[tuple[int, str]] = []
        for sw_name, sw in self.lab.hosts[host].standard_switches.items():
            if port_group in sw.port_groups:
                found.append((sw.port_groups[port_group].vlan, sw_name))
        for dname, dvs in self.lab.distributed_switches.items():
            if host in dvs.hosts and port_group in dvs.port_groups:
                found.append((dvs.port_groups[port_group].vlan, dname))
        if self.lab.nsx is not None and port_group in self.lab.nsx.segments:
            seg = self.lab.nsx.segments[port_group]
            tz = self.lab.nsx.transport_zones.get(seg.transport_zone)
            if tz is not None and host in tz.hosts:
                found.append((0, "NSX"))
        return (found[0][0] if len(found) == 1 else None), [w for _, w in found]

    def host_port_groups(self, host: str) -> set[str]:
        names = {pg for sw in self.lab.hosts[host].standard_switches.values()
                 for pg in sw.port_groups}
        names |= {pg for dvs in self.lab.distributed_switches.values() if host in dvs.hosts
                  for pg in dvs.port_groups}
        return names

    def vmknics(self) -> None:
        for hname, host in self.lab.hosts.items():
            for vname, vmk in host.vmknics.items():
                vpath: Path = ("hosts", hname, "vmknics", vname)
                vlan, where = self.port_group_vlan(hname, vmk.port_group)
                if not where:
                    self.add((*vpath, "port_group"), f"{hname} has no port group "
                             f"{vmk.port_group!r}; port groups on this host: "
                             f"{_names(self.host_port_groups(hname))}")
                elif len(where) > 1:
                    self.add((*vpath, "port_group"), f"port group {vmk.port_group!r} exists on "
                             f"{' and '.join(where)}; rename one")
                elif vlan is not None:
                    self.in_network((*vpath, "ip"), vmk.ip, vlan, f"port group {vmk.port_group}")
                for i, other in enumerate(vmk.subnet_shared_with):
                    if other not in host.vmknics or other == vname:
                        self.add((*vpath, "subnet_shared_with", i),
                                 f"{hname} has no other vmknic {other!r}")

    def in_network(self, path: Path, ip: IPv4Interface, vlan: int, what: str) -> None:
        """An address on a VLAN must sit in one of the subnets the lab routes on that VLAN."""
        nets = {n: net for n, net in self.lab.networks.items() if net.vlan == vlan}
        if not nets:
            return
        for name, net in nets.items():
            if ip.ip in net.subnet:
                if ip.network.prefixlen != net.subnet.prefixlen:
                    self.add(path, f"{ip} has prefix /{ip.network.prefixlen} but network {name} "
                             f"is {net.subnet}")
                return
        subnets = ", ".join(f"{net.subnet} ({n})" for n, net in nets.items())
        self.add(path, f"{ip} is on VLAN {vlan} ({what}), which carries {subnets}")

    # -- physical network --------------------------------------------------------------------
    def physical_network(self) -> None:
        for nname, net in self.lab.networks.items():
            if net.gateway is not None and net.gateway not in net.subnet:
                self.add(("networks", nname, "gateway"), f"{net.gateway} is outside {net.subnet}")
        for sname, sw in self.lab.physical_switches.items():
            for pname, sw_port in sw.ports.items():
                if sw_port.mode == "access" and len(sw_port.vlans) != 1:
                    self.add(("physical_switches", sname, "ports", pname, "vlans"),
                             "an access port carries exactly one VLAN")
        cabled: dict[tuple[str, str], int] = {}
        for i, cable in enumerate(self.lab.cabling):
            for end, (node, port) in zip(("a", "b"), cable.ends, strict=True):
                path: Path = ("cabling", i, end)
                problem = self.endpoint_problem(node, port)
                if problem:
                    self.add(path, problem)
                if (node, port) in cabled:
                    self.add(path, f"{node}/{port} is already cabled "
                                   f"(cabling[{cabled[node, port]}])")
                cabled[(node, port)] = i
            if cable.discovery:
                switch_end = [n for n, _ in cable.ends if n in self.lab.physical_switches]
                for sw_name in switch_end:
                    sends = set(self.lab.physical_switches[sw_name].discovery)
                    for proto in cable.discovery:
                        if proto not in sends:
                            self.add(("cabling", i, "discovery"), f"{sw_name} does not send "
                                     f"{proto}; it sends {_names(sends)}")
        # every uplink is cabled: a switch uplink with no cable cannot carry anything
        for hname in self.lab.hosts:
            vmnics = set(self.lab.host_vmnics(hname))
            for vmnic, where in self.uplinks_of(hname).items():
                if vmnic in vmnics and (hname, vmnic) not in cabled:
                    self.add(where, f"uplink {hname}/{vmnic} is not cabled; add a `cabling` entry "
                             f"{{a: {hname}/{vmnic}, b: SWITCH/PORT}}")
        for rname, router in self.lab.routers.items():
            for iname in router.interfaces:
                if (rname, iname) not in cabled:
                    self.add(("routers", rname, "interfaces", iname), f"interface {rname}/{iname}"
                             " is not cabled; add a `cabling` entry")

    def uplinks_of(self, host: str) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for sw_name, sw in self.lab.hosts[host].standard_switches.items():
            for i, up in enumerate(sw.uplinks):
                out[up] = ("hosts", host, "standard_switches", sw_name, "uplinks", i)
        for dname, dvs in self.lab.distributed_switches.items():
            member = dvs.hosts.get(host)
            for uplink, vmnic in (member.uplinks.items() if member else ()):
                out[vmnic] = ("distributed_switches", dname, "hosts", host, "uplinks", uplink)
        return out

    def endpoint_problem(self, node: str, port: str) -> str | None:
        if node in self.lab.hosts:
            vmnics = self.lab.host_vmnics(node)
            return None if port in vmnics else f"{node} has no {port}; vmnics: {_names(vmnics)}"
        if node in self.lab.physical_switches:
            ports = self.lab.physical_switches[node].ports
            return None if port in ports else f"{node} has no port {port!r}; ports: {_names(ports)}"
        if node in self.lab.routers:
            ifaces = self.lab.routers[node].interfaces
            return None if port in ifaces else (f"{node} has no interface {port!r}; interfaces: "
                                                f"{_names(ifaces)}")
        nodes = set(self.lab.hosts) | set(self.lab.physical_switches) | set(self.lab.routers)
        return f"no host, switch or router {node!r}; known: {_names(nodes)}"

    def routers(self) -> None:
        for rname, router in self.lab.routers.items():
            rpath: Path = ("routers", rname)
            for iname, iface in router.interfaces.items():
                ipath: Path = (*rpath, "interfaces", iname)
                net = self.lab.networks.get(iface.network)
                if net is None:
                    self.add((*ipath, "network"), f"no network {iface.network!r}; networks: "
                             f"{_names(self.lab.networks)}")
                elif iface.ip.ip not in net.subnet or iface.ip.network.prefixlen != \
                        net.subnet.prefixlen:
                    self.add((*ipath, "ip"), f"{iface.ip} does not fit network {iface.network} "
                             f"({net.subnet})")
            connected = [i.ip.network for i in router.interfaces.values()]
            for i, route in enumerate(router.routes):
                if not any(route.gateway in n for n in connected):
                    self.add((*rpath, "routes", i, "gateway"), f"{route.gateway} is not on any "
                             f"network of {rname} ({', '.join(map(str, connected))})")
            for i, nat in enumerate(router.nat):
                if nat.out_interface not in router.interfaces:
                    self.add((*rpath, "nat", i, "out_interface"), f"{rname} has no interface "
                             f"{nat.out_interface!r}; interfaces: {_names(router.interfaces)}")

    # -- NSX, NLB, VMs -----------------------------------------------------------------------
    def nsx(self) -> None:
        nsx = self.lab.nsx
        if nsx is None:
            return
        for tname, tz in nsx.transport_zones.items():
            for i, hname in enumerate(tz.hosts):
                path: Path = ("nsx", "transport_zones", tname, "hosts", i)
                if hname not in self.lab.hosts:
                    self.add(path, f"no host {hname!r}; hosts: {_names(self.lab.hosts)}")
                elif not any("vxlan" in v.services for v in self.lab.hosts[hname].vmknics.values()):
                    self.add(path, f"{hname} has no VTEP: give one of its vmknics the `vxlan` "
                             "service")
        vnis: dict[int, str] = {}
        for sname, seg in nsx.segments.items():
            spath: Path = ("nsx", "segments", sname)
            if seg.transport_zone not in nsx.transport_zones:
                self.add((*spath, "transport_zone"), f"no transport zone {seg.transport_zone!r}; "
                         f"transport zones: {_names(nsx.transport_zones)}")
            if seg.vni in vnis:
                self.add((*spath, "vni"),
                         f"VNI {seg.vni} is already used by segment {vnis[seg.vni]}")
            vnis[seg.vni] = sname
        for ename, edge in nsx.edges.items():
            for iname, iface in edge.interfaces.items():
                ipath: Path = ("nsx", "edges", ename, "interfaces", iname)
                if iface.segment is not None:
                    attached = nsx.segments.get(iface.segment)
                    if attached is None:
                        self.add((*ipath, "segment"), f"no segment {iface.segment!r}; segments: "
                                 f"{_names(nsx.segments)}")
                    elif attached.subnet is not None and iface.ip.ip not in attached.subnet:
                        self.add((*ipath, "ip"), f"{iface.ip} is outside segment "
                                 f"{iface.segment} ({attached.subnet})")
                elif iface.network is not None:
                    net = self.lab.networks.get(iface.network)
                    if net is None:
                        self.add((*ipath, "network"), f"no network {iface.network!r}; networks: "
                                 f"{_names(self.lab.networks)}")
                    elif iface.ip.ip not in net.subnet:
                        self.add((*ipath, "ip"), f"{iface.ip} is outside network "
                                 f"{iface.network} ({net.subnet})")

    def vms_and_nlb(self) -> None:
        macs: dict[str, str] = {}
        for vname, vm in self.lab.vms.items():
            vpath: Path = ("vms", vname)
            if vm.host not in self.lab.hosts:
                self.add((*vpath, "host"), f"no host {vm.host!r}; hosts: {_names(self.lab.hosts)}")
                continue
            for nic_name, nic in vm.nics.items():
                npath: Path = (*vpath, "nics", nic_name)
                _, where = self.port_group_vlan(vm.host, nic.port_group)
                if not where:
                    self.add((*npath, "port_group"), f"{vm.host} has no port group or segment "
                             f"{nic.port_group!r}")
                if nic.mac is not None:
                    if nic.mac in macs:
                        self.add((*npath, "mac"), f"{nic.mac} is already used by {macs[nic.mac]}")
                    macs[nic.mac] = f"{vname}/{nic_name}"
        for cname, cluster in self.lab.nlb_clusters.items():
            cpath: Path = ("nlb_clusters", cname)
            if cluster.cluster_mac is not None and cluster.mode != "igmp_multicast":
                derived = nlb_cluster_mac(cluster.mode, cluster.vip)
                if cluster.cluster_mac != derived:
                    self.add((*cpath, "cluster_mac"), f"NLB derives {derived} from VIP "
                             f"{cluster.vip} in {cluster.mode} mode, not {cluster.cluster_mac}")
            for i, member in enumerate(cluster.members):
                member_vm = self.lab.vms.get(member)
                if member_vm is None:
                    self.add((*cpath, "members", i), f"no VM {member!r}; VMs: "
                             f"{_names(self.lab.vms)}")
                elif not any(n.port_group == cluster.port_group
                             for n in member_vm.nics.values()):
                    self.add((*cpath, "members", i), f"{member} has no NIC on port group "
                             f"{cluster.port_group!r}")

    def addresses(self) -> None:
        owners: dict[IPv4Address, str] = {}

        def claim(ip: IPv4Address, who: str, path: Path) -> None:
            if ip in owners:
                self.add(path, f"{ip} is already used by {owners[ip]}")
            else:
                owners[ip] = who

        for hname, host in self.lab.hosts.items():
            for vname, vmk in host.vmknics.items():
                claim(vmk.ip.ip, f"{hname}/{vname}", ("hosts", hname, "vmknics", vname, "ip"))
        for rname, router in self.lab.routers.items():
            for iname, iface in router.interfaces.items():
                claim(iface.ip.ip, f"{rname}/{iname}", ("routers", rname, "interfaces", iname,
                                                         "ip"))
        if self.lab.nsx is not None:
            for ename, edge in self.lab.nsx.edges.items():
                for iname, eif in edge.interfaces.items():
                    claim(eif.ip.ip, f"{ename}/{iname}",
                          ("nsx", "edges", ename, "interfaces", iname, "ip"))
        for vname, vm in self.lab.vms.items():
            for nic_name, nic in vm.nics.items():
                if nic.ip is not None:
                    claim(nic.ip.ip, f"{vname}/{nic_name}", ("vms", vname, "nics", nic_name, "ip"))
        for cname, cluster in self.lab.nlb_clusters.items():
            claim(cluster.vip, f"NLB cluster {cname}", ("nlb_clusters", cname, "vip"))


def validate_references(lab: Lab) -> list[RefProblem]:
    """Every cross-reference problem of a parsed lab, in file order of the sections."""
    return _Validator(lab).run()
