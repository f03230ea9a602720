"""The probe capability: questions about a lab's wire, asked in the lab's own words.

Suites never ask where a probe runs. `ProbeSites` answers "echo from esx01 on dvpg-vmotion to
198.18.20.12 and say where the answers came back", "the path MTU from esx01's VTEP network to
esx02's VTEP", "does vmnic6 reach anything on VLAN 10", "send frames to the cluster MAC on
VLAN 40", "ping web02 from web01", with one set of agents: a probe VM per ESXi host (a trunk NIC
on each virtual switch, a NIC pinned to each uplink, an address on each lab network) and the
lab's VMs. The agents run in the simulated lab's namespaces (started locally) or on a real lab's
probe VMs and VMs over SSH (staged by `remote.py`); the frames, and so the verdicts, are the same
either way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import LabharnessError, NotProvided
from harness.lab.inventory import ProbeSite, SecretError, resolve_secret
from harness.lab.model import Lab, Network
from harness.lab.views import host_port_groups
from harness.probes.flood import FloodResult, measure_flood
from harness.probes.mtu import PathMtuResult
from harness.probes.trunk import TrunkEcho
from harness.probes.vxlan import OverlayPingResult

from .client import AgentClient, BatchCall
from .errors import AgentUnavailable, ProbeError
from .remote import RemoteAgent, SshTarget

Silencer = Callable[[str, str], AbstractContextManager[None]]


class NoProbeSite(ProbeError, NotProvided):
    """The lab element has no probe (the inventory or the sim does not give one): the tests
    that need it skip and say what to add."""

    def __init__(self, message: str, *, element: str) -> None:
        super().__init__(message, namespace=element, error_type="NoProbeSite")
        self.element = element


PER_HOST = 8  # probes one probe VM runs at once (threads in its agent)
# probe VMs asked at once (each works in its own process or VM; the harness only waits): all
# of a 32-host lab, whose 3,968 path echoes then took 10.0-10.6 s instead of 13.4-14.4 s
HOSTS_AT_ONCE = 32


@dataclass(frozen=True)
class EchoJob:
    """Echoes from `host`'s probe VM on `port_group`'s VLAN to `dst` (see `ProbeSites.echo`)."""

    host: str
    port_group: str
    dst: str
    network: str | None = None
    size: int = 64
    dont_fragment: bool = True
    count: int = 3


@dataclass(frozen=True)
class MtuJob:
    """The path MTU from `host`'s probe VM on `port_group`'s VLAN to `dst`, up to `hi`."""

    host: str
    port_group: str
    dst: str
    hi: int
    lo: int = 1200


@dataclass(frozen=True)
class UplinkEchoJob:
    """Echoes out of `host`'s probe NIC pinned to `vmnic` only, tagged `vlan`, to `dst`."""

    host: str
    vmnic: str
    vlan: int
    dst: str
    count: int = 2


@dataclass(frozen=True)
class OverlayJob:
    """Echoes from lab VM `vm` to `dst` over its overlay NIC (see `AgentClient.overlay_ping`)."""

    vm: str
    dst: str
    count: int = 5
    interval: float = 0.02
    window: float = 0.5
    size: int = 64

    @property
    def host(self) -> str:
        """The element whose agent sends (a VM's own)."""
        return self.vm


J = TypeVar("J", EchoJob, MtuJob, UplinkEchoJob, OverlayJob)


@dataclass(frozen=True)
class HostProbe:
    """A host's probe VM: its trunk NIC per virtual switch, its NIC pinned to each uplink, and
    the address it may use on each lab network."""

    host: str
    trunks: Mapping[str, str]
    uplinks: Mapping[str, str]
    addresses: Mapping[str, ipaddress.IPv4Interface]

    @property
    def nics(self) -> list[str]:
        return [*self.trunks.values(), *self.uplinks.values()]


@dataclass(frozen=True)
class VmProbe:
    """A lab VM that runs probes: its lab NICs by label (ethernet0 -> eth0)."""

    vm: str
    interfaces: Mapping[str, str]


@dataclass
class ProbeSites:
    """Probe agents where a lab's questions need them, and the questions themselves.

    Attributes:
        transport: `namespaces` (the simulated lab, agents started here) or `ssh`.
        failed: element -> why its agent could not be started or reached; asking for it
            raises AgentUnavailable (an error, never a skip).
    """

    lab: Lab
    hosts: dict[str, HostProbe]
    vms: dict[str, VmProbe]
    agents: dict[str, AgentClient]
    transport: str
    failed: dict[str, str] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    silencer: Silencer | None = None
    disconnector: Silencer | None = None

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()

    # -- where ----------------------------------------------------------------------------------
    def agent(self, element: str) -> AgentClient:
        if element in self.failed:
            raise AgentUnavailable(f"the probe agent for {element} is not reachable: "
                                   f"{self.failed[element]}", namespace=element)
        if element not in self.agents:
            kind = "host" if element in self.lab.hosts else "VM"
            raise NoProbeSite(
                f"no probe for {kind} {element}: add probes.{element} to the inventory "
                + ("(its probe VM: ssh, trunks, uplinks, addresses)" if kind == "host"
                   else "(ssh and its interfaces)"), element=element)
        return self.agents[element]

    def host_probe(self, host: str) -> tuple[HostProbe, AgentClient]:
        """The host's probe VM and its agent.

        Raises:
            NoProbeSite: none is given for this host; AgentUnavailable: it did not answer.
        """
        if host not in self.hosts:
            self.agent(host)  # raises with the reason
        return self.hosts[host], self.agent(host)

    def vm(self, vm: str, nic: str = "ethernet0") -> tuple[AgentClient, str]:
        """A lab VM's agent and the guest interface of its `nic`."""
        agent = self.agent(vm)
        probe = self.vms[vm]
        if nic not in probe.interfaces:
            raise NoProbeSite(f"the probe of VM {vm} names no interface for {nic}: add "
                              f"probes.{vm}.interfaces.{nic}", element=vm)
        return agent, probe.interfaces[nic]

    # -- the lab's words -> a probe's identity ------------------------------------------------
    def port_group(self, host: str, port_group: str) -> tuple[str, int]:
        """(virtual switch, VLAN) of a port group on a host, as the lab defines it."""
        pg = host_port_groups(self.lab, host).get(port_group)
        if pg is None:
            raise NoProbeSite(f"{host} has no port group {port_group!r} in lab {self.lab.name}",
                              element=host)
        return pg.switch, pg.vlan

    def network_on(self, vlan: int) -> tuple[str, Network] | None:
        """The lab network on a VLAN."""
        return next(((n, net) for n, net in self.lab.networks.items() if net.vlan == vlan), None)

    def network_of(self, address: str) -> tuple[str, Network] | None:
        """The lab network whose subnet holds an address."""
        return network_of(self.lab, address)

    def _identity(self, probe: HostProbe, host: str, vlan: int, dst: str,
                  network: str | None) -> tuple[str, str | None]:
        """The probe's address (ADDRESS/PREFIX) on `network` (default: the VLAN's), and the
        gateway to use when `dst` is off that subnet."""
        found = ((network, self.lab.networks[network]) if network is not None
                 else self.network_on(vlan))
        if found is None:
            raise NoProbeSite(f"lab {self.lab.name} has no network on VLAN {vlan}: the probe "
                              "has no address to send from", element=host)
        name, net = found
        if name not in probe.addresses:
            raise NoProbeSite(f"the probe VM of {host} has no address on network {name}: add "
                              f"probes.{host}.addresses.{name}", element=host)
        address = probe.addresses[name]
        on_link = ipaddress.IPv4Address(dst) in address.network
        return str(address), (None if on_link else str(net.gateway) if net.gateway else None)

    def _trunk(self, probe: HostProbe, host: str, switch: str) -> str:
        if switch not in probe.trunks:
            raise NoProbeSite(f"the probe VM of {host} has no trunk on {switch}: add "
                              f"probes.{host}.trunks.{switch}", element=host)
        return probe.trunks[switch]

    # -- questions -------------------------------------------------------------------------------
    def echo(self, host: str, port_group: str, dst: str, *, network: str | None = None,
             size: int = 64, dont_fragment: bool = True, count: int = 3,
             interval: float = 0.02, timeout: float = 1.0,
             next_hop_mac: str | None = None) -> TrunkEcho:
        """Echoes to `dst` from host's probe VM on `port_group`'s VLAN, as a member of
        `network` (default: the VLAN's network), watching every trunk of the probe VM: the
        result says on which VLAN, from which MAC, each answer came back. `next_hop_mac`
        (from an earlier echo) skips ARP."""
        job = EchoJob(host, port_group, dst, network, size, dont_fragment, count)
        call = self._echo_call(job, interval=interval, timeout=timeout,
                               next_hop_mac=next_hop_mac)
        return TrunkEcho.from_dict(self.agent(host).run(call))

    def path_mtu(self, host: str, port_group: str, dst: str, *, hi: int,
                 lo: int = 1200) -> PathMtuResult:
        """The largest DF packet from host's probe VM on `port_group`'s VLAN to `dst`, and the
        hop that stops larger ones (from its ICMP fragmentation-needed)."""
        call = self._mtu_call(MtuJob(host, port_group, dst, hi, lo))
        return PathMtuResult.from_dict(self.agent(host).run(call))

    def echo_many(self, jobs: Iterable[EchoJob], *, parallel: int = PER_HOST,
                  hosts_at_once: int = HOSTS_AT_ONCE
                  ) -> dict[EchoJob, TrunkEcho | LabharnessError]:
        """Every echo of `jobs` at once: each host's probe VM sends its own in one batch
        (`parallel` at a time), `hosts_at_once` hosts side by side. A job that could not run
        maps to the error that stopped it (no probe site, agent down, a probe error)."""
        got = self._many(list(jobs), self._echo_call, parallel, hosts_at_once)
        return {job: (TrunkEcho.from_dict(r) if isinstance(r, dict) else r)
                for job, r in got.items()}

    def path_mtu_many(self, jobs: Iterable[MtuJob], *, parallel: int = PER_HOST,
                      hosts_at_once: int = HOSTS_AT_ONCE,
                      next_hop_macs: Mapping[MtuJob, tuple[int | None, str, str]] | None = None
                      ) -> dict[MtuJob, PathMtuResult | LabharnessError]:
        """Every path-MTU measurement of `jobs` at once, as `echo_many`. `next_hop_macs`: per
        job, (VLAN, next hop, MAC) as its path's echo resolved them; the search sends to that
        MAC without ARP when it leaves on that VLAN for that next hop, and ARPs otherwise."""
        macs = next_hop_macs or {}
        got = self._many(list(jobs), lambda job: self._mtu_call(job, macs.get(job)), parallel,
                         hosts_at_once)
        return {job: (PathMtuResult.from_dict(r) if isinstance(r, dict) else r)
                for job, r in got.items()}

    def _many(self, jobs: list[J], make: Callable[[J], BatchCall], parallel: int,
              hosts_at_once: int = HOSTS_AT_ONCE) -> dict[J, dict[str, Any] | LabharnessError]:
        out: dict[J, dict[str, Any] | LabharnessError] = {}
        by_host: dict[str, list[tuple[J, BatchCall]]] = {}
        for job in dict.fromkeys(jobs):
            try:
                by_host.setdefault(job.host, []).append((job, make(job)))
            except (ProbeError, NoProbeSite) as exc:
                out[job] = exc

        def run(host: str) -> None:
            todo = by_host[host]
            try:
                results = self.agent(host).batch([c for _, c in todo], parallel=parallel)
            except ProbeError as exc:
                results = [exc] * len(todo)
            for (job, _), result in zip(todo, results, strict=True):
                out[job] = result

        if by_host:
            with ThreadPoolExecutor(max_workers=min(hosts_at_once, len(by_host))) as pool:
                list(pool.map(run, sorted(by_host)))
        return out

    def _echo_call(self, job: EchoJob, *, interval: float = 0.02, timeout: float = 1.0,
                   next_hop_mac: str | None = None) -> BatchCall:
        probe, _agent = self.host_probe(job.host)
        switch, vlan = self.port_group(job.host, job.port_group)
        trunk = self._trunk(probe, job.host, switch)
        src, gateway = self._identity(probe, job.host, vlan, job.dst, job.network)
        return BatchCall.trunk_echo(trunk, vlan, src, job.dst, gateway=gateway, size=job.size,
                                    dont_fragment=job.dont_fragment, count=job.count,
                                    interval=interval, timeout=timeout,
                                    next_hop_mac=next_hop_mac,
                                    watch=[n for n in probe.trunks.values() if n != trunk])

    def _mtu_call(self, job: MtuJob, resolved: tuple[int | None, str, str] | None = None
                  ) -> BatchCall:
        probe, _agent = self.host_probe(job.host)
        switch, vlan = self.port_group(job.host, job.port_group)
        trunk = self._trunk(probe, job.host, switch)
        src, gateway = self._identity(probe, job.host, vlan, job.dst, None)
        next_hop_mac = (resolved[2] if resolved is not None
                        and resolved[:2] == (vlan, gateway or job.dst) else None)
        return BatchCall.trunk_path_mtu(trunk, vlan, src, job.dst, gateway=gateway,
                                        hi=job.hi, lo=job.lo, next_hop_mac=next_hop_mac,
                                        watch=[n for n in probe.trunks.values() if n != trunk])

    def uplink_echo(self, host: str, vmnic: str, vlan: int, dst: str, *,
                    count: int = 2) -> TrunkEcho:
        """Echoes out of one uplink only (the probe VM's NIC pinned to `vmnic`), tagged `vlan`:
        a beacon that only that vmnic's path can answer."""
        call = self._uplink_call(UplinkEchoJob(host, vmnic, vlan, dst, count))
        return TrunkEcho.from_dict(self.agent(host).run(call))

    def uplink_echo_many(self, jobs: Iterable[UplinkEchoJob], *, parallel: int = PER_HOST,
                         hosts_at_once: int = HOSTS_AT_ONCE
                         ) -> dict[UplinkEchoJob, TrunkEcho | LabharnessError]:
        """Every uplink echo of `jobs` at once, as `echo_many`."""
        got = self._many(list(jobs), self._uplink_call, parallel, hosts_at_once)
        return {job: (TrunkEcho.from_dict(r) if isinstance(r, dict) else r)
                for job, r in got.items()}

    def overlay_many(self, jobs: Iterable[OverlayJob], *, parallel: int = PER_HOST,
                     hosts_at_once: int = HOSTS_AT_ONCE
                     ) -> dict[OverlayJob, OverlayPingResult | LabharnessError]:
        """Every overlay ping of `jobs` at once, each VM sending its own in one batch."""
        got = self._many(list(jobs), self._overlay_call, parallel, hosts_at_once)
        return {job: (OverlayPingResult.from_dict(r) if isinstance(r, dict) else r)
                for job, r in got.items()}

    def _overlay_call(self, job: OverlayJob) -> BatchCall:
        self.vm(job.vm)  # raises NoProbeSite/AgentUnavailable with the reason
        return BatchCall.overlay_ping(job.dst, count=job.count, interval=job.interval,
                                      window=job.window, size=job.size)

    def _uplink_call(self, job: UplinkEchoJob) -> BatchCall:
        probe, _agent = self.host_probe(job.host)
        if job.vmnic not in probe.uplinks:
            raise NoProbeSite(f"the probe VM of {job.host} has no NIC pinned to {job.vmnic}: "
                              f"add probes.{job.host}.uplinks.{job.vmnic}", element=job.host)
        src, gateway = self._identity(probe, job.host, job.vlan, job.dst, None)
        return BatchCall.trunk_echo(probe.uplinks[job.vmnic], job.vlan, src, job.dst,
                                    gateway=gateway, count=job.count, timeout=0.5)

    def flood(self, host: str, port_group: str, mac: str, receivers: Sequence[str], *,
              count: int = 20) -> FloodResult:
        """Frames to `mac` from host's probe VM on `port_group`'s VLAN, counted on each
        receiving VM (every capture armed before the first frame leaves)."""
        probe, agent = self.host_probe(host)
        switch, vlan = self.port_group(host, port_group)
        return measure_flood(agent, self._trunk(probe, host, switch),
                             {vm: self.vm(vm) for vm in receivers}, mac, count, vlan=vlan)

    def silenced(self, host: str, vmnic: str) -> AbstractContextManager[None]:
        """The switch port cabled to host/vmnic drops every frame, link up, inside the block
        (a disruptive drill). Needs a way to block a switch port: the simulated lab has one;
        a real lab needs switch access the inventory does not describe yet."""
        if self.silencer is None:
            raise NoProbeSite(f"cannot silence the switch port of {host}/{vmnic}: the inventory "
                              "gives no access to the physical switches", element=host)
        return self.silencer(host, vmnic)

    def link_down(self, host: str, vmnic: str) -> AbstractContextManager[None]:
        """The switch port cabled to host/vmnic is shut inside the block, so the vmnic loses
        carrier (a disruptive drill: a pulled cable). Needs switch access, as `silenced`."""
        if self.disconnector is None:
            raise NoProbeSite(f"cannot shut the switch port of {host}/{vmnic}: the inventory "
                              "gives no access to the physical switches", element=host)
        return self.disconnector(host, vmnic)


def network_of(lab: Lab, address: str) -> tuple[str, Network] | None:
    """The lab network whose subnet holds an address."""
    ip = ipaddress.IPv4Address(address)
    return next(((n, net) for n, net in lab.networks.items() if ip in net.subnet), None)


def lab_prefixes(lab: Lab) -> list[str]:
    """The prefixes probes may send to: the lab's networks and its NSX segments."""
    nets = [str(n.subnet) for n in lab.networks.values()]
    if lab.nsx is not None:
        nets += [str(s.subnet) for s in lab.nsx.segments.values() if s.subnet is not None]
    return sorted(set(nets))


def from_inventory(lab: Lab, sites: Mapping[str, ProbeSite], base_dir: Path, *,
                   start_timeout: float = 30.0, call_timeout: float = 10.0,
                   parallel: int = 8) -> ProbeSites:
    """Agents on a real lab's probe VMs and VMs over SSH (host keys verified as the inventory
    says), started in parallel. An endpoint that cannot be reached is recorded in `failed`."""
    hosts = {name: HostProbe(name, dict(s.trunks), dict(s.uplinks), dict(s.addresses))
             for name, s in sites.items() if name in lab.hosts}
    vms = {name: VmProbe(name, dict(s.interfaces)) for name, s in sites.items()
           if name in lab.vms}
    prefixes = lab_prefixes(lab)

    def start(name: str) -> RemoteAgent | str:
        site = sites[name]
        try:
            password = (resolve_secret(site.ssh.password, base_dir).reveal()
                        if site.ssh.password else None)
        except SecretError as exc:
            return str(exc)
        key = _resolve(site.ssh.key_file, base_dir)
        known = _resolve(site.ssh.known_hosts, base_dir)
        target = SshTarget(site.ssh.host, site.ssh.username, site.ssh.port, password, key, known,
                           site.ssh.verify_host_key, site.python,
                           connect_timeout=min(start_timeout, 10.0))
        nics = hosts[name].nics if name in hosts else list(vms[name].interfaces.values())
        try:
            return RemoteAgent.start(target, prefixes, nics or ["-none-"],
                                     start_timeout=start_timeout, call_timeout=call_timeout)
        except ProbeError as exc:
            return exc.message

    names = [n for n in sites if n in hosts or n in vms]
    out = ProbeSites(lab, hosts, vms, {}, "ssh")
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names)))) as pool:
        for name, got in zip(names, pool.map(start, names), strict=True):
            if isinstance(got, str):
                out.failed[name] = got
            else:
                out.agents[name] = got.client
                out.closers.append(got.close)
    return out


def _resolve(path: str | None, base_dir: Path) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else base_dir / p)
