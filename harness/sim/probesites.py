"""Where probes run in the simulated lab: one agent per namespace, found by lab element name.

The suites ask for "a probe at esx01" or "a probe at the NLB client"; here that is the agent in
`lh-<lab>-esx01`. Real labs have no agent inside an ESXi host, so there the same questions are
answered (or skipped with a reason) by the inventory's probe hosts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Interface
from pathlib import Path

from harness.drivers.probe.client import AgentClient, AgentPool
from harness.lab.model import Lab
from harness.sim import lifecycle
from harness.sim.dataplane import daemons, names, netns
from harness.sim.dataplane.plan import SIM_SPACE, VmknicInfo
from harness.sim.errors import SimError
from harness.sim.state import SimState


class SiteUnavailable(SimError):
    """No probe can run at that place in this lab (the reason says why)."""


@dataclass
class SimProbeSites:
    """Probe agents in the simulated lab's namespaces."""

    lab: Lab
    state: SimState
    pool: AgentPool

    @classmethod
    def start(cls, lab: Lab, state: SimState) -> SimProbeSites:
        wanted = [n for n in state.namespaces if not n.endswith("-mgmt")]
        pool = AgentPool.start(wanted, lifecycle.run_dir(lab.name) / "probe", [str(SIM_SPACE)],
                               ["*"])
        return cls(lab, state, pool)

    def close(self) -> None:
        self.pool.close()

    def at(self, element: str) -> AgentClient:
        ns = names.netns(self.lab.name, element)
        if ns not in self.pool.namespaces:
            raise SiteUnavailable(f"no probe agent at {element} in the simulated lab")
        return self.pool.agent(ns)

    def vm(self, vm: str, nic: str = "ethernet0") -> tuple[AgentClient, str]:
        """The agent in a VM and the guest interface of its `nic`."""
        entry = self.state.vm_ifaces.get(f"{vm}/{nic}")
        if entry is None:
            raise SiteUnavailable(f"VM {vm} has no {nic} in the simulated lab")
        return self.at(vm), entry.iface

    def client(self, cluster: str) -> tuple[AgentClient, str, IPv4Interface]:
        """The sim's client on an NLB cluster's network (not a lab element: a probe VM)."""
        entry = self.state.clients.get(cluster)
        if entry is None:
            raise SiteUnavailable(f"no probe client for NLB cluster {cluster}")
        return self.pool.agent(entry.ns), entry.iface, entry.ip

    def uplink_links(self, host: str, vmnic: str) -> list[str]:
        """The host-side interfaces of a cabled vmnic: the cable and its VLAN links."""
        entry = self.state.ports.get(f"{host}/{vmnic}")
        return list(entry.ifaces) if entry else []

    def vmknic(self, host: str, service: str) -> VmknicInfo | None:
        """A host's vmknic with `service` as the sim realised it (name, ip, mac, port group)."""
        name = next((n for n, v in sorted(self.lab.hosts[host].vmknics.items())
                     if service in v.services), None)
        return self.state.vmknic(host, name) if name else None

    def evidence_path(self, name: str) -> Path:
        """Where a capture for a report goes (kept until the sim is torn down)."""
        directory = lifecycle.run_dir(self.lab.name) / "evidence"
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def forwarding(self, host: str, port_group: str) -> str | None:
        """The vmnic a port group forwards through now, as the host's teaming controller says."""
        ns = names.netns(self.lab.name, host)
        path = daemons.team_status_path(lifecycle.run_dir(self.lab.name), ns)
        status = json.loads(path.read_text(encoding="utf-8"))
        team = status["teams"].get(port_group)
        return team["forwarding"] if team else None

    @contextmanager
    def silenced(self, host: str, vmnic: str) -> Iterator[None]:
        """The switch port cabled to `host`/`vmnic` drops every frame (link stays up) inside
        the block: the F11 fault, applied and removed on purpose by a disruptive test."""
        sw_port = next((f"{b[0]}/{b[1]}" for a, b in (c.ends for c in self.lab.cabling)
                        if a == (host, vmnic)), None) or next(
            (f"{a[0]}/{a[1]}" for a, b in (c.ends for c in self.lab.cabling)
             if b == (host, vmnic)), None)
        if sw_port is None or sw_port not in self.state.ports:
            raise SiteUnavailable(f"{host}/{vmnic} is not cabled to a simulated switch")
        ns, ifaces = self.state.ports[sw_port].ns, self.state.ports[sw_port].ifaces
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

    def switch_fdb(self, switch: str) -> list[dict[str, object]]:
        """A switch's learned MAC table (the sim's switches are namespaces we can read)."""
        ns = names.netns(self.lab.name, switch)
        out = netns.run(["bridge", "-j", "fdb", "show"], ns=ns).stdout
        entries: list[dict[str, object]] = json.loads(out or "[]")
        return entries
