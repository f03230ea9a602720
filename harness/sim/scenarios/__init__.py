"""Scenarios: the field incidents, applied as faults to the simulated lab.

A scenario changes what the sim *realises*, never the lab file: the lab still says what should
be true, so the suites compare that intent with what they observe and must find the fault.
Three kinds of change, all real mechanisms:
- `realise`: configuration the sim builds differently (an MTU, an address, a teaming flag, a
  host build, an advanced option), as edits of the typed lab model that each say what they
  changed; the data plane and the simulated vCenter are both built from the realised lab, so
  they agree;
- `faults`: nftables rules added after the build (a port that drops every frame, link up);
- `vsphere`: what the lab model cannot say, applied on the vSphere side only (a host clock that
  runs ahead, a service left stopped): see `VsphereFaults`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import Any

from pydantic import ValidationError

from harness.incidents import INCIDENTS, SCENARIO_ALL, Incident, find_incident
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.sim.dataplane.plan import DataplanePlan
from harness.sim.errors import SimError, UnknownScenarioError


@dataclass(frozen=True)
class NftFault:
    """Rules to load into one namespace after the build."""

    ns: str
    rules: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class FdbFault:
    """`bridge fdb` lines to run in one namespace after the build."""

    ns: str
    lines: tuple[str, ...]
    description: str


Fault = NftFault | FdbFault


class ScenarioError(SimError):
    """A scenario cannot be applied to this lab (it lacks what the fault needs)."""


LabPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LabChange:
    """One field of the lab the sim realises differently: where, what the lab says, what the
    sim builds instead."""

    path: LabPath
    before: object
    after: object

    def text(self) -> str:
        def shown(value: object) -> str:
            return "[]" if value == [] else str(value)
        return f"{'.'.join(str(p) for p in self.path)}: {shown(self.before)} -> {shown(self.after)}"


def _get(node: Any, path: LabPath) -> Any:
    """The value at `path` (model fields by name, mapping entries by key, list items by index;
    None where a mapping has no such key yet)."""
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list):
            node = node[int(key)]
        else:
            node = getattr(node, str(key))
    return node


def _set(node: Any, path: LabPath, value: object) -> Any:
    key, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, key: value if not rest else _set(node[key], rest, value)}
    if isinstance(node, list):
        items = list(node)
        items[int(key)] = value if not rest else _set(items[int(key)], rest, value)
        return items
    new = value if not rest else _set(getattr(node, str(key)), rest, value)
    return node.model_copy(update={str(key): new})


def change(lab: Lab, path: LabPath, value: object) -> tuple[Lab, LabChange]:
    """The lab with one field replaced (`model_copy` down the path), and the change made."""
    before = _get(lab, path)
    changed: Lab = _set(lab, path, value)
    return changed, LabChange(path, before, value)


Realise = Callable[[Lab], tuple[Lab, list[LabChange]]]


# A step run through the provisioner's vSphere session after the build: (service instance,
# realised lab). The DVS migration scenario (F01) stages its starting point this way.
VsphereStep = Callable[[Any, Lab], None]


@dataclass(frozen=True)
class VsphereFaults:
    """vSphere-side changes the lab model cannot express.

    `clock_offsets` (host -> seconds ahead) go into the simulator spec; the provisioner leaves
    `services_off` (host -> service keys) stopped with policy off, and runs `after_provision`
    steps once the build is done. `dcui_reboots` hosts were rebooted from their console just
    before the sim came up: a later boot time and the log entries a DCUI reboot leaves.
    """

    clock_offsets: Mapping[str, float] = field(default_factory=dict)
    services_off: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    after_provision: tuple[VsphereStep, ...] = ()
    dcui_reboots: tuple[str, ...] = ()

    def merged(self, other: VsphereFaults) -> VsphereFaults:
        """Both sets of faults; two clocks for one host cannot both be true."""
        clash = sorted(h for h in set(self.clock_offsets) & set(other.clock_offsets)
                       if self.clock_offsets[h] != other.clock_offsets[h])
        if clash:
            raise ScenarioError(f"scenarios set different clock offsets on {', '.join(clash)}")
        services = {h: tuple(dict.fromkeys([*self.services_off.get(h, ()),
                                            *other.services_off.get(h, ())]))
                    for h in {*self.services_off, *other.services_off}}
        return VsphereFaults({**self.clock_offsets, **other.clock_offsets}, services,
                             (*self.after_provision, *other.after_provision),
                             tuple(dict.fromkeys((*self.dcui_reboots, *other.dcui_reboots))))


@dataclass(frozen=True)
class Scenario:
    """One incident reproduced in the sim.

    An incident's first scenario is keyed by the incident id (`F11`); another way the same
    incident happens in the field is a variant, keyed `<id>-<variant>` (`F11-cabling`), so its
    findings still name the incident and `harness.incidents.scenario_incident` finds it from
    the key. `field-incidents` applies the first scenario of each incident only: one fault per
    incident, so each incident's findings and cause can be told apart in one run.
    """

    incident: Incident
    summary: str
    realise: Realise | None = None  # edits the typed lab, saying what it changed
    faults: Callable[[Lab, DataplanePlan], list[Fault]] | None = None
    vsphere: Callable[[Lab], VsphereFaults] | None = None  # given the lab file's lab
    notes: tuple[str, ...] = field(default_factory=tuple)
    variant: str | None = None  # None: the incident's own scenario

    @property
    def id(self) -> str:
        """The key: `F11`, or `F11-cabling` for a variant."""
        return self.incident.id if self.variant is None else f"{self.incident.id}-{self.variant}"

    @property
    def slug(self) -> str:
        """The key in words: `silent-uplink`, or `silent-uplink-cabling` for a variant."""
        return (self.incident.slug if self.variant is None
                else f"{self.incident.slug}-{self.variant}")

    @property
    def label(self) -> str:
        """`F11-cabling silent-uplink-cabling`: how listings name the scenario."""
        return f"{self.id} {self.slug}"


def _drop_all(ns: str, ifaces: list[str], table: str) -> tuple[str, ...]:
    """A netdev table that drops every frame in and out of each interface; carrier stays up."""
    chains = []
    for i, ifname in enumerate(ifaces):
        chains += [
            f'  chain in{i} {{ type filter hook ingress device "{ifname}" priority -500; '
            "policy drop; }",
            f'  chain out{i} {{ type filter hook egress device "{ifname}" priority -500; '
            "policy drop; }",
        ]
    return (f"table netdev {table} {{", *chains, "}")


def _vtep_hosts(lab: Lab) -> list[str]:
    return [h for h, host in lab.hosts.items()
            if any("vxlan" in v.services for v in host.vmknics.values())]


# -- F02: one underlay router link at MTU 1500 ------------------------------------------------

def _f02_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    hosts = _vtep_hosts(lab)
    if len(hosts) < 2:
        raise ScenarioError("F02 needs two hosts with VTEPs")
    vteps = [next(v for v in lab.hosts[h].vmknics.values() if "vxlan" in v.services)
             for h in hosts]
    # the router interface toward a VTEP on another L3 network than the first host's
    far = next((v for v in vteps[1:] if v.ip.network != vteps[0].ip.network), vteps[-1])
    for rname, router in lab.routers.items():
        for iname, iface in router.interfaces.items():
            if far.ip.ip in iface.ip.network:
                lab, done = change(lab, ("routers", rname, "interfaces", iname, "mtu"), 1500)
                return lab, [done]
    raise ScenarioError("F02 needs a router interface on the far VTEP's network")


# -- F03: a duplicate flood-replication entry -------------------------------------------------

def _f03_faults(lab: Lab, plan: DataplanePlan) -> list[Fault]:
    if not plan.vxlans:
        raise ScenarioError("F03 needs NSX segments")
    vx = next(v for v in plan.vxlans if v.remotes)
    remote = vx.remotes[0]
    # A second all-zeros entry to the same VTEP, distinct only by its outgoing device: the
    # kernel then replicates every flooded frame twice to that VTEP.
    vtep_dev = next(v.name for v in plan.vmknics if v.ns == vx.ns and v.ip.ip == vx.local)
    return [FdbFault(vx.ns, (f"fdb append 00:00:00:00:00:00 dev {vx.name} dst {remote} "
                             f"via {vtep_dev}",),
                     f"duplicate flood entry for VTEP {remote} on {vx.name} (VNI {vx.vni})")]


# -- F09: unicast NLB port group notifying switches -------------------------------------------

def _port_group_path(lab: Lab, host: str, port_group: str) -> LabPath:
    """Where a port group that `host` uses is defined: on a DVS the host is a member of, or on
    one of the host's standard switches."""
    for dname, dvs in lab.distributed_switches.items():
        if port_group in dvs.port_groups and host in dvs.hosts:
            return ("distributed_switches", dname, "port_groups", port_group)
    for sname, sw in lab.hosts[host].standard_switches.items():
        if port_group in sw.port_groups:
            return ("hosts", host, "standard_switches", sname, "port_groups", port_group)
    raise ScenarioError(f"{host} has no port group {port_group!r}")


def _f09_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    cluster = next((c for c in lab.nlb_clusters.values() if c.mode == "unicast"), None)
    if cluster is None:
        raise ScenarioError("F09 needs a unicast NLB cluster")
    member = lab.vms[cluster.members[0]]
    path = _port_group_path(lab, member.host, cluster.port_group)
    lab, done = change(lab, (*path, "teaming", "notify_switches"), True)
    return lab, [done]


# -- F10: FlexFabric ports in FCoE personality, 530SFP+ DCB/LLDP agent off -------------------
# Realised in the emulated iLO, not in nftables here: the emulator serves these settings and,
# while the 530SFP+ agent is off in its applied state, makes that adapter's uplinks drop every
# frame (harness.sim.ilo.uplinks); a Redfish fix plus a reset removes the fault.

def _f10_server(lab: Lab) -> str:
    """The iLO 5 server with both adapters (writable over Redfish), else one with a 530SFP+."""
    hosted = {h.server for h in lab.hosts.values() if h.server is not None}
    candidates = [n for n in lab.servers if n in hosted] + [n for n in lab.servers
                                                             if n not in hosted]
    models = {n: {a.model for a in lab.servers[n].adapters.values()} for n in candidates}
    for name in candidates:
        if lab.servers[name].bmc.kind == "ilo5" and {"534FLR-SFP+", "530SFP+"} <= models[name]:
            return name
    for name in candidates:
        if "530SFP+" in models[name]:
            return name
    raise ScenarioError("F10 needs a server with a 530SFP+ adapter (ideally an iLO 5 server "
                        "with a 534FLR-SFP+ as well)")


def _f10_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    name = _f10_server(lab)
    changes: list[LabChange] = []
    for aname, adapter in lab.servers[name].adapters.items():
        base: LabPath = ("servers", name, "adapters", aname)
        if adapter.model == "534FLR-SFP+":
            for number in adapter.ports:
                lab, done = change(lab, (*base, "ports", number, "personality"), "FCoE")
                changes.append(done)
        elif adapter.model == "530SFP+":
            lab, done = change(lab, (*base, "lldp_agent"), False)
            changes.append(done)
    return lab, changes


# -- F11: a switch port drops every frame and sends no CDP, link up ---------------------------

def _f11_faults(lab: Lab, plan: DataplanePlan) -> list[Fault]:
    for cable in lab.cabling:
        (a, ap), (b, bp) = cable.ends
        for (host, vmnic), (sw, port) in (((a, ap), (b, bp)), ((b, bp), (a, ap))):
            if host in lab.hosts and sw in lab.physical_switches:
                uplinks = _vmotion_active(lab, host)
                if vmnic in uplinks:
                    links = plan.ports[f"{sw}/{port}"]
                    return [NftFault(links.ns, _drop_all(links.ns, list(links.ifaces),
                                                         "lh_fault_f11"),
                                     f"{sw} {port} (to {host} {vmnic}) drops every frame and "
                                     "sends no CDP; link stays up")]
    raise ScenarioError("F11 needs a cabled vMotion uplink")


def _vmotion_active(lab: Lab, host: str) -> list[str]:
    vmk = next((v for v in lab.hosts[host].vmknics.values() if "vmotion" in v.services), None)
    if vmk is None:
        return []
    pg = host_port_groups(lab, host).get(vmk.port_group)
    return list(pg.teaming.active[:1]) if pg else []


# -- F11-cabling: two of a host's vmnics swapped at the switch -------------------------------

@dataclass(frozen=True)
class _SwitchEnd:
    """Where a host's vmnic is cabled: which end of which cable is the switch's."""

    cable: int
    side: str  # "a" or "b": the cable field that names the switch port
    vmnic: str
    switch: str
    port: str


def _switch_ends(lab: Lab, host: str) -> list[_SwitchEnd]:
    out: list[_SwitchEnd] = []
    for i, cable in enumerate(lab.cabling):
        (a, ap), (b, bp) = cable.ends
        for side, (node, vmnic), (sw, port) in (("b", (a, ap), (b, bp)), ("a", (b, bp), (a, ap))):
            if node == host and sw in lab.physical_switches:
                out.append(_SwitchEnd(i, side, vmnic, sw, port))
    return sorted(out, key=lambda e: (len(e.vmnic), e.vmnic))


def _swappable(lab: Lab) -> tuple[_SwitchEnd, _SwitchEnd]:
    """The first host's (lab order) first two vmnics cabled to ports of one switch that are
    configured alike (mode, VLANs, native VLAN, MTU): swapped, each vmnic still carries every
    VLAN it carried, so the discovery protocols are the only witnesses."""
    def config(end: _SwitchEnd) -> dict[str, Any]:
        return lab.physical_switches[end.switch].ports[end.port].model_dump(
            exclude={"description"})

    for host in lab.hosts:
        ends = _switch_ends(lab, host)
        for i, one in enumerate(ends):
            for other in ends[i + 1:]:
                if one.switch == other.switch and config(one) == config(other):
                    return one, other
    raise ScenarioError("F11-cabling needs a host with two vmnics cabled to ports of one switch "
                        "that are configured alike (mode, VLANs, native VLAN, MTU)")


def _f11_cabling_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    """The sim cables each of the two vmnics into the other's planned switch port; the lab
    file's cabling plan stays as designed, so the neighbours heard must disagree with it."""
    one, other = _swappable(lab)
    lab, first = change(lab, ("cabling", one.cable, one.side), f"{other.switch}/{other.port}")
    lab, second = change(lab, ("cabling", other.cable, other.side), f"{one.switch}/{one.port}")
    return lab, [first, second]


# -- F12: vMotion vmk in the management subnet on another VLAN --------------------------------

def _f12_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    changes: list[LabChange] = []
    for hname, host in lab.hosts.items():
        mgmt = next((v for v in host.vmknics.values() if "management" in v.services), None)
        for vname, vmk in host.vmknics.items():
            if mgmt is not None and "vmotion" in vmk.services and vmk is not mgmt:
                offset = int(vmk.ip.ip) - int(vmk.ip.network.network_address)
                new_ip = mgmt.ip.network.network_address + offset + 10
                base: LabPath = ("hosts", hname, "vmknics", vname)
                lab, done = change(lab, (*base, "ip"),
                                   IPv4Interface(f"{new_ip}/{mgmt.ip.network.prefixlen}"))
                changes.append(done)
                if vmk.tcpip_stack != "default":
                    lab, done = change(lab, (*base, "tcpip_stack"), "default")
                    changes.append(done)
    if not changes:
        raise ScenarioError("F12 needs hosts with a management and a vMotion vmknic")
    return lab, changes


# -- F11 (vSphere side): beacon probing on the silent uplink's two-uplink team --------------

def _f11_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    """The vMotion port group behind the silenced uplink uses beacon probing on fewer than
    three uplinks: it cannot tell which uplink failed, so it keeps the silent one (the data
    plane's teaming controller does the same), and vCenter shows a policy the check flags."""
    for cable in lab.cabling:
        (a, ap), (b, bp) = cable.ends
        for host, vmnic, other in ((a, ap, b), (b, bp, a)):
            if host not in lab.hosts or other not in lab.physical_switches:
                continue
            if vmnic not in _vmotion_active(lab, host):
                continue
            vmk = next(v for v in lab.hosts[host].vmknics.values() if "vmotion" in v.services)
            team = host_port_groups(lab, host)[vmk.port_group].teaming
            if len(team.uplinks) >= 3:
                raise ScenarioError(f"F11 needs the vMotion port group {vmk.port_group} to "
                                    f"have fewer than 3 uplinks (it has {len(team.uplinks)})")
            path = _port_group_path(lab, host, vmk.port_group)
            lab, done = change(lab, (*path, "teaming", "failure_detection"), "beacon_probing")
            return lab, [done]
    raise ScenarioError("F11 needs a cabled vMotion uplink")


# -- F01: vCenter's network rollback is off --------------------------------------------------

def _f01_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    if lab.vcenter is None:
        raise ScenarioError("F01 needs a lab with a `vcenter`")
    # Without rollback, the simulated vCenter keeps a change that cuts a host's last
    # management path and loses the host, as in the field.
    lab, done = change(lab, ("vcenter", "network_rollback"), False)
    return lab, [done]


# -- F04: a host's page-sharing salting differs from the lab ---------------------------------

def _f04_host(lab: Lab) -> str:
    hosts = [h for h, host in lab.hosts.items() if host.page_sharing is not None]
    if not hosts:
        raise ScenarioError("F04 needs a host with a `page_sharing` intent")
    return hosts[-1]


def _f04_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    host = _f04_host(lab)
    # 0 shares pages between all VMs; 2 (ESXi's default) keeps them inside each VM
    value = 2 if lab.hosts[host].page_sharing == "inter_vm" else 0
    lab, done = change(lab, ("hosts", host, "advanced_options", "Mem.ShareForceSalting"), value)
    return lab, [done]


# -- F05: one host without NTP servers, ntpd stopped, clock 6 minutes ahead ------------------

F05_CLOCK_AHEAD_S = 360.0


def _f05_host(lab: Lab) -> str:
    if not lab.hosts:
        raise ScenarioError("F05 needs a host")
    names = sorted(lab.hosts)
    return names[1] if len(names) > 1 else names[0]


def _f05_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    lab, done = change(lab, ("hosts", _f05_host(lab), "ntp_servers"), [])
    return lab, [done]


def _f05_vsphere(lab: Lab) -> VsphereFaults:
    host = _f05_host(lab)
    return VsphereFaults(clock_offsets={host: F05_CLOCK_AHEAD_S}, services_off={host: ("ntpd",)})


# -- F06: a host rebooted from its console (DCUI) since the last run ---------------------------

def _f06_host(lab: Lab) -> str:
    if not lab.hosts:
        raise ScenarioError("F06 needs a host")
    return sorted(lab.hosts)[0]


def _f06_vsphere(lab: Lab) -> VsphereFaults:
    return VsphereFaults(dcui_reboots=(_f06_host(lab),))


# -- F08: a host patched past what its vCenter supports --------------------------------------

# The GA build of the ESXi line after each vCenter line, from VMware's ESXi release notes. A
# vCenter never manages a newer ESXi line than its own, so a host on it is too new whatever the
# compatibility table says: the scenario does not read that table, so a wrong row there makes
# the F08 check miss this host instead of agreeing with the scenario by construction.
NEXT_LINE_GA: dict[str, tuple[str, int]] = {
    "5.5": ("6.0.0", 2494585),
    "6.0": ("6.5.0", 4564106),
    "6.5": ("6.7.0", 8169922),
    "6.7": ("7.0.0", 15843807),
    "7.0": ("8.0.0", 20513097),
}


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _f08_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    if lab.vcenter is None or not lab.hosts:
        raise ScenarioError("F08 needs a vCenter and a host")
    line = ".".join(lab.vcenter.version.split(".")[:2])
    if line not in NEXT_LINE_GA:
        raise ScenarioError(f"F08 knows no ESXi line newer than vCenter {lab.vcenter.version}")
    # the most recently patched host is the one that went too far
    host = max(lab.hosts, key=lambda h: (_release(lab.hosts[h].version), lab.hosts[h].build))
    version, build = NEXT_LINE_GA[line]
    lab, first = change(lab, ("hosts", host, "version"), version)
    lab, second = change(lab, ("hosts", host, "build"), build)
    return lab, [first, second]


# -- F14: a VM imported from Workstation keeps its MAC ---------------------------------------

def _f14_realise(lab: Lab) -> tuple[Lab, list[LabChange]]:
    nlb_members = {m for c in lab.nlb_clusters.values() for m in c.members}
    for vname, vm in lab.vms.items():
        if vname in nlb_members:
            continue  # NLB rewrites its members' MACs anyway
        for label, nic in vm.nics.items():
            if nic.mac is not None and nic.address_type == "manual":
                # Workstation's OUI, the rest of the MAC kept
                lab, done = change(lab, ("vms", vname, "nics", label, "mac"),
                                   "00:0c:29:" + nic.mac.split(":", 3)[3])
                return lab, [done]
    raise ScenarioError("F14 needs a VM (not an NLB member) with a static MAC")


SCENARIOS: dict[str, Scenario] = {
    s.id: s for s in (
        Scenario(INCIDENTS["F01"], "vCenter's network rollback is off: a change that cuts a "
                 "host's last management path loses the host", realise=_f01_realise),
        Scenario(INCIDENTS["F02"], "one underlay router interface at MTU 1500",
                 realise=_f02_realise),
        Scenario(INCIDENTS["F03"], "a duplicate flood-replication entry in a VXLAN FDB",
                 faults=_f03_faults),
        Scenario(INCIDENTS["F04"], "a host's Mem.ShareForceSalting differs from the lab's page "
                 "sharing", realise=_f04_realise),
        Scenario(INCIDENTS["F05"], "one host without NTP servers, ntpd stopped, its clock 6 "
                 "minutes ahead", realise=_f05_realise, vsphere=_f05_vsphere),
        Scenario(INCIDENTS["F06"], "a host rebooted from its console (DCUI) since the last "
                 "run: a later boot time and the DCUI reboot in its hostd and vmksummary logs",
                 vsphere=_f06_vsphere),
        Scenario(INCIDENTS["F08"], "a host build newer than the vCenter supports",
                 realise=_f08_realise),
        Scenario(INCIDENTS["F09"], "NLB port group notifies switches: a node announces the "
                 "cluster MAC", realise=_f09_realise),
        Scenario(INCIDENTS["F10"], "FlexFabric ports in FCoE personality (they still pass "
                 "Ethernet; the host loses their iSCSI function) and the 530SFP+ DCB/LLDP agent "
                 "off (its uplinks pass nothing, link up), set in the emulated iLO",
                 realise=_f10_realise),
        Scenario(INCIDENTS["F11"], "a switch port drops every frame and sends no CDP, link up; "
                 "its team uses beacon probing on two uplinks", realise=_f11_realise,
                 faults=_f11_faults),
        Scenario(INCIDENTS["F11"], "two of a host's vmnics swapped at the switch (ports of one "
                 "switch with the same VLANs): each vmnic's CDP/LLDP names the other's planned "
                 "port, traffic still flows", realise=_f11_cabling_realise, variant="cabling"),
        Scenario(INCIDENTS["F12"], "vMotion vmk in the management subnet on another VLAN",
                 realise=_f12_realise),
        Scenario(INCIDENTS["F14"], "a VM keeps the MAC Workstation gave it", realise=_f14_realise),
    )
}


FIELD_INCIDENTS: tuple[Scenario, ...] = tuple(s for s in SCENARIOS.values() if s.variant is None)
"""What `field-incidents` applies: each incident's own scenario, variants left out (two faults
of one incident in one run would share its id, and its one cause)."""


def find_scenario(name: str) -> Scenario | None:
    """A scenario by key (`F11`, `f11-cabling`) or slug (`silent-uplink-cabling`)."""
    key = name.strip().lower()
    return next((s for s in SCENARIOS.values() if key in (s.id.lower(), s.slug)), None)


def resolve(names: Sequence[str]) -> list[Scenario]:
    """Scenario names (keys, slugs, `field-incidents`; commas allowed) -> scenarios, in the
    order given, each once.

    Raises:
        UnknownScenarioError: a name is not an incident, or not one the sim reproduces.
    """
    out: list[Scenario] = []
    for name in (n.strip() for v in names for n in v.split(",") if n.strip()):
        if name == SCENARIO_ALL:
            out.extend(FIELD_INCIDENTS)
            continue
        scenario = find_scenario(name)
        if scenario is not None:
            out.append(scenario)
            continue
        incident = find_incident(name)
        if incident is None:
            allowed = ", ".join(f"{s.id}/{s.slug}" for s in SCENARIOS.values())
            raise UnknownScenarioError(f"unknown scenario {name!r}; the sim reproduces "
                                       f"{allowed} ({SCENARIO_ALL} for one of each incident)")
        raise UnknownScenarioError(f"scenario {incident.label} is not reproduced by the "
                                   "simulated lab yet")
    return list({s.id: s for s in out}.values())


def realise(lab: Lab, scenarios: Sequence[Scenario]) -> tuple[Lab, list[tuple[str, LabChange]]]:
    """The lab the sim builds (the lab file with each scenario's configuration changes, checked
    like a lab file) and every change, with the incident that made it.

    Raises:
        ScenarioError: a scenario does not fit this lab, or its changes make an invalid lab.
    """
    changes: list[tuple[str, LabChange]] = []
    for s in scenarios:
        if s.realise is not None:
            lab, made = s.realise(lab)
            changes += [(s.id, c) for c in made]
    try:
        return Lab.model_validate(lab.model_dump()), changes
    except ValidationError as exc:
        raise ScenarioError(f"the realised lab is invalid: {exc}") from None


def realised_lab(lab: Lab, scenarios: Sequence[Scenario]) -> Lab:
    """The lab the sim builds under `scenarios` (see `realise`)."""
    return realise(lab, scenarios)[0]


def vsphere_faults(lab: Lab, scenarios: list[Scenario]) -> VsphereFaults:
    """The vSphere-side faults of the scenarios on the lab file's lab, merged.

    Raises:
        ScenarioError: a scenario does not fit the lab, or two contradict each other.
    """
    out = VsphereFaults()
    for s in scenarios:
        if s.vsphere is not None:
            out = out.merged(s.vsphere(lab))
    return out
