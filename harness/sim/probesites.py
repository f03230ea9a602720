"""The probe capability on the simulated lab: agents in the probe-VM and VM namespaces.

The sim gives each host a probe VM of the shape a real lab has (trunks, pinned uplinks, an
address per network) and each VM a management NIC, so `ProbeSites` asks the same questions of
the same kind of probe here as over SSH on a real lab; only the transport differs (agents are
forked into the namespaces). The things only the sim can do are silence a switch port and shut
it (the switch access a real lab's inventory does not describe yet), which the failover drills
use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from harness.drivers.probe.client import AgentPool
from harness.drivers.probe.sites import HostProbe, ProbeSites, VmProbe, lab_prefixes
from harness.lab.model import Lab
from harness.sim import lifecycle
from harness.sim.dataplane import daemons, names, netns
from harness.sim.errors import SimError
from harness.sim.state import SimState


def sim_probe_sites(lab: Lab, state: SimState) -> ProbeSites:
    """Agents in every probe VM and VM namespace of the running sim.

    Raises:
        AgentUnavailable: the agents did not start (the message quotes their log).
    """
    hosts = {p.host: HostProbe(p.host, {t.switch: t.probe_iface for t in p.trunks},
                               {u.vmnic: u.probe_iface for u in p.pinned}, dict(p.addresses))
             for p in state.host_probes}
    vms = {v.vm: VmProbe(v.vm, dict(v.interfaces)) for v in state.vm_access}
    namespaces = {p.host: p.ns for p in state.host_probes} | {v.vm: v.ns for v in state.vm_access}
    nics = sorted({n for h in hosts.values() for n in h.nics}
                  | {n for v in vms.values() for n in v.interfaces.values()})
    # the agents may start while the first suites run (see `start_probe_sites_early`): their
    # start (a scapy import, a fork per namespace) yields the CPU to the simulators' work
    pool = AgentPool.start(list(namespaces.values()), lifecycle.run_dir(lab.name) / "probe",
                           lab_prefixes(lab), nics, start_nice=10)
    agents = {element: pool.agent(ns) for element, ns in namespaces.items()}
    sites = ProbeSites(lab, hosts, vms, agents, "namespaces", closers=[pool.close])
    sites.silencer = lambda host, vmnic: silenced(lab, state, host, vmnic)
    sites.disconnector = lambda host, vmnic: disconnected(lab, state, host, vmnic)
    return sites


def _switch_port(lab: Lab, state: SimState, host: str, vmnic: str) -> tuple[str, list[str]]:
    """The namespace and interfaces of the switch port cabled to host/vmnic."""
    sw_port = next((f"{b[0]}/{b[1]}" for a, b in (c.ends for c in lab.cabling)
                    if a == (host, vmnic)), None) or next(
        (f"{a[0]}/{a[1]}" for a, b in (c.ends for c in lab.cabling) if b == (host, vmnic)), None)
    if sw_port is None or sw_port not in state.ports:
        raise SimError(f"{host}/{vmnic} is not cabled to a simulated switch")
    port = state.ports[sw_port]
    return port.ns, list(port.ifaces)


@contextmanager
def disconnected(lab: Lab, state: SimState, host: str, vmnic: str) -> Iterator[None]:
    """The switch port cabled to `host`/`vmnic` is shut inside the block: the vmnic loses
    carrier, as when a cable is pulled (a disruptive drill)."""
    ns, ifaces = _switch_port(lab, state, host, vmnic)
    netns.run(["ip", "-batch", "-"], ns=ns,
              stdin="".join(f"link set dev {x} down\n" for x in ifaces))
    try:
        yield
    finally:
        netns.run(["ip", "-batch", "-"], ns=ns, check=False,
                  stdin="".join(f"link set dev {x} up\n" for x in ifaces))


@contextmanager
def silenced(lab: Lab, state: SimState, host: str, vmnic: str) -> Iterator[None]:
    """The switch port cabled to `host`/`vmnic` drops every frame (link stays up) inside the
    block: the F11 fault, applied and removed on purpose by a disruptive drill."""
    ns, ifaces = _switch_port(lab, state, host, vmnic)
    table = "lh_drill"
    chains = "\n".join(
        f'chain i{i} {{ type filter hook ingress device "{x}" priority -400; policy drop; }}'
        f'\nchain o{i} {{ type filter hook egress device "{x}" priority -400; '
        "policy drop; }" for i, x in enumerate(ifaces))
    netns.run(["nft", "-f", "-"], ns=ns, stdin=f"table netdev {table} {{\n{chains}\n}}\n")
    try:
        yield
    finally:
        netns.run(["nft", "delete", "table", "netdev", table], ns=ns, check=False)


def forwarding_uplink(lab: Lab, host: str, port_group: str) -> str | None:
    """The vmnic a port group forwards through now, as the host's teaming controller says
    (the sim's own state, for the sim's self-tests)."""
    ns = names.netns(lab.name, host)
    path = daemons.team_status_path(lifecycle.run_dir(lab.name), ns)
    status = json.loads(path.read_text(encoding="utf-8"))
    team = status["teams"].get(port_group)
    return str(team["forwarding"]) if team and team["forwarding"] else None
