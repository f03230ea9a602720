"""Scenarios: the field incidents, applied as faults to the simulated lab.

A scenario changes what the sim *realises*, never the lab file: the lab still says what should
be true, so the suites compare that intent with what they observe and must find the fault.
Two kinds of change, both real mechanisms:
- `realise`: configuration the sim builds differently (an MTU, an address, a teaming flag);
- `faults`: nftables rules added after the build (a port that drops every frame, link up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.incidents import INCIDENTS, Incident
from harness.lab.model import Lab
from harness.sim.dataplane.plan import DataplanePlan

SCENARIO_ALL = "field-incidents"


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


@dataclass(frozen=True)
class Scenario:
    """One incident reproduced in the sim."""

    incident: Incident
    summary: str
    realise: Callable[[dict[str, Any]], None] | None = None  # edits the lab's data
    faults: Callable[[Lab, DataplanePlan], list[Fault]] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return self.incident.id


class ScenarioError(Exception):
    """A scenario cannot be applied to this lab (it lacks what the fault needs)."""


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

def _f02_realise(data: dict[str, Any]) -> None:
    lab = Lab.model_validate(data)
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
                data["routers"][rname]["interfaces"][iname]["mtu"] = 1500
                return
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

def _f09_realise(data: dict[str, Any]) -> None:
    lab = Lab.model_validate(data)
    cluster = next((c for c in lab.nlb_clusters.values() if c.mode == "unicast"), None)
    if cluster is None:
        raise ScenarioError("F09 needs a unicast NLB cluster")
    for dname, dvs in lab.distributed_switches.items():
        if cluster.port_group in dvs.port_groups:
            pg = data["distributed_switches"][dname]["port_groups"][cluster.port_group]
            pg.setdefault("teaming", {})["notify_switches"] = True
            return
    for hname, host in lab.hosts.items():
        for sname, sw in host.standard_switches.items():
            if cluster.port_group in sw.port_groups:
                pg = data["hosts"][hname]["standard_switches"][sname]["port_groups"][
                    cluster.port_group]
                pg.setdefault("teaming", {})["notify_switches"] = True


# -- F10: the 530SFP+ ports pass nothing while their link stays up -----------------------------

def _adapter_ports(lab: Lab, model: str) -> tuple[str, list[str]]:
    for hname, host in lab.hosts.items():
        if host.server is None:
            continue
        server = lab.servers[host.server]
        for adapter in server.adapters.values():
            if adapter.model == model:
                return hname, [p.vmnic for p in adapter.ports.values() if p.vmnic]
    raise ScenarioError(f"F10 needs a host on a server with a {model}")


def _f10_faults(lab: Lab, plan: DataplanePlan) -> list[Fault]:
    host, vmnics = _adapter_ports(lab, "530SFP+")
    ifaces: list[str] = []
    ns = plan.ns(host)
    for vmnic in vmnics:
        ifaces += plan.ports.get(f"{host}/{vmnic}", (ns, []))[1]
    return [NftFault(ns, _drop_all(ns, ifaces, "lh_fault_f10"),
                     f"{host} {', '.join(vmnics)} (530SFP+, DCB/LLDP agent off): no traffic")]


# -- F11: a switch port drops every frame and sends no CDP, link up ---------------------------

def _f11_faults(lab: Lab, plan: DataplanePlan) -> list[Fault]:
    for cable in lab.cabling:
        (a, ap), (b, bp) = cable.ends
        for (host, vmnic), (sw, port) in (((a, ap), (b, bp)), ((b, bp), (a, ap))):
            if host in lab.hosts and sw in lab.physical_switches:
                uplinks = _vmotion_active(lab, host)
                if vmnic in uplinks:
                    ns, ifaces = plan.ports[f"{sw}/{port}"]
                    return [NftFault(ns, _drop_all(ns, ifaces, "lh_fault_f11"),
                                     f"{sw} {port} (to {host} {vmnic}) drops every frame and "
                                     "sends no CDP; link stays up")]
    raise ScenarioError("F11 needs a cabled vMotion uplink")


def _vmotion_active(lab: Lab, host: str) -> list[str]:
    from harness.checks.intent import host_port_groups

    vmk = next((v for v in lab.hosts[host].vmknics.values() if "vmotion" in v.services), None)
    if vmk is None:
        return []
    pg = host_port_groups(lab, host).get(vmk.port_group)
    return list(pg.teaming.active[:1]) if pg else []


# -- F12: vMotion vmk in the management subnet on another VLAN --------------------------------

def _f12_realise(data: dict[str, Any]) -> None:
    lab = Lab.model_validate(data)
    moved = False
    for hname, host in lab.hosts.items():
        mgmt = next((v for v in host.vmknics.values() if "management" in v.services), None)
        for vname, vmk in host.vmknics.items():
            if mgmt is not None and "vmotion" in vmk.services and vmk is not mgmt:
                offset = int(vmk.ip.ip) - int(vmk.ip.network.network_address)
                new_ip = mgmt.ip.network.network_address + offset + 10
                data["hosts"][hname]["vmknics"][vname]["ip"] = \
                    f"{new_ip}/{mgmt.ip.network.prefixlen}"
                data["hosts"][hname]["vmknics"][vname]["tcpip_stack"] = "default"
                moved = True
    if not moved:
        raise ScenarioError("F12 needs hosts with a management and a vMotion vmknic")


SCENARIOS: dict[str, Scenario] = {
    s.id: s for s in (
        Scenario(INCIDENTS["F02"], "one underlay router interface at MTU 1500",
                 realise=_f02_realise),
        Scenario(INCIDENTS["F03"], "a duplicate flood-replication entry in a VXLAN FDB",
                 faults=_f03_faults),
        Scenario(INCIDENTS["F09"], "NLB port group notifies switches: a node announces the "
                 "cluster MAC", realise=_f09_realise),
        Scenario(INCIDENTS["F10"], "530SFP+ uplinks drop every frame while the link stays up",
                 faults=_f10_faults),
        Scenario(INCIDENTS["F11"], "a switch port drops every frame and sends no CDP, link up",
                 faults=_f11_faults),
        Scenario(INCIDENTS["F12"], "vMotion vmk in the management subnet on another VLAN",
                 realise=_f12_realise),
    )
}


def resolve(names: list[str]) -> list[Scenario]:
    """Scenario names (incident ids, slugs, or `field-incidents`) -> scenarios.

    Raises:
        ScenarioError: a name is not an incident or not reproduced by the sim.
    """
    from harness.incidents import find_incident

    out: list[Scenario] = []
    for name in names:
        if name == SCENARIO_ALL:
            out.extend(SCENARIOS.values())
            continue
        incident = find_incident(name)
        if incident is None:
            allowed = ", ".join(f"{s.id}/{s.incident.slug}" for s in SCENARIOS.values())
            raise ScenarioError(f"unknown scenario {name!r}; the sim reproduces {allowed} "
                                f"({SCENARIO_ALL} for all)")
        if incident.id not in SCENARIOS:
            raise ScenarioError(f"scenario {incident.label} is not reproduced by the simulated "
                                "lab yet")
        out.append(SCENARIOS[incident.id])
    return list({s.id: s for s in out}.values())


def realised_lab(lab: Lab, scenarios: list[Scenario]) -> Lab:
    """The lab the sim builds: the lab file with each scenario's configuration changes."""
    data = lab.model_dump(mode="json")
    for s in scenarios:
        if s.realise is not None:
            s.realise(data)
    return Lab.model_validate(data)
