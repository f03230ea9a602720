"""What the suites share, gathered once per session (only when a test asks for it: the design
suite needs none of it).

Wire measurements go through the probe capability (`probe_sites`): a probe VM per host with a
trunk on each virtual switch and a NIC pinned to each uplink, and the lab's VMs. The hosts' own
measurements go through vCenter: vmkping (`esxcli network diag ping`) for every VTEP and
vMotion pair in one batch (`vmkpings`). Where a test aims at a vmknic it takes the vmknic's
address from vCenter (what is configured), falling back to the lab's intent only when the
inventory has no vCenter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import allure
import pytest

from harness.backend import Backend
from harness.checks.host_view import ICMP_OVERHEAD, payload_sizes
from harness.checks.network import diagnose_path
from harness.checks.vsphere import hints_as_heard
from harness.drivers.probe.paths import PathPlan, PathProbes
from harness.drivers.probe.sites import ProbeSites, UplinkEchoJob
from harness.drivers.vsphere import VsphereDriver, VsphereError
from harness.errors import LabharnessError
from harness.facts import JsonValue
from harness.facts.esxcli import PingRequest, PingResult
from harness.facts.vsphere import NetworkHintFacts
from harness.facts.wire import Answer, Heard, UplinkKey, VmknicTarget
from harness.lab.model import Lab
from harness.lab.views import expected_neighbours, host_port_groups, uplink_carriage
from harness.probes.evidence import Frame, pcap_bytes
from harness.probes.trunk import TrunkEcho
from harness.pytest_plugin.fixtures import HostViews
from harness.pytest_plugin.state import DISRUPTIVE_KEY


def cite_frames(name: str, frames: Iterable[Frame]) -> dict[str, JsonValue]:
    """Attach the frames a verdict rests on to the test's report as a pcap, and say so in the
    finding's evidence (the probe kept them, whatever machine it ran on)."""
    kept = list(frames)
    if not kept:
        return {"pcap": None}
    allure.attach(pcap_bytes(kept), name=name, attachment_type=allure.attachment_type.PCAP)
    return {"pcap": name, "pcap_frames": len(kept)}


def answers_of(echo: TrunkEcho) -> tuple[Answer, ...]:
    return tuple(Answer(s.kind, s.vlan, s.src_mac, s.src_ip) for s in echo.seen)


def echo_evidence(echo: TrunkEcho) -> dict[str, JsonValue]:
    """The echoes and every frame seen about the probe's address, decoded."""
    return {"probe_vlan": echo.vlan, "probe_address": echo.src, "dst": echo.dst,
            "next_hop": echo.next_hop, "arp_answered": echo.arp_answered,
            "next_hop_mac": echo.next_hop_mac, "sent": echo.sent, "answered": echo.answered,
            "replies_per_seq": {str(k): v for k, v in echo.replies.items()},
            "frames": [{"kind": s.kind, "nic": s.iface, "vlan": s.vlan, "src_mac": s.src_mac,
                        "src_ip": s.src_ip, "at_ms": s.at_ms} for s in echo.seen]}


@pytest.fixture(scope="session")
def vmknic_targets(lab: Lab, backend: Backend, request: pytest.FixtureRequest
                   ) -> dict[tuple[str, str], VmknicTarget]:
    """Every vmknic of the lab's hosts: address, MAC and port group as vCenter reports them,
    else (no vCenter in the inventory) as the lab says."""
    if backend.why_not("vsphere") is None:
        snapshot = request.getfixturevalue("snapshot")
        dvpg_names = {pg.key: pg.name for pg in snapshot.dv_port_groups.values()}
        out: dict[tuple[str, str], VmknicTarget] = {}
        for hname, host in snapshot.hosts.items():
            for vmk in host.vmknics.values():
                pg = vmk.port_group or (dvpg_names.get(vmk.dvs_port.portgroup_key or "", "")
                                        if vmk.dvs_port else "")
                if vmk.ip is not None:
                    out[(hname, vmk.device)] = VmknicTarget(hname, vmk.device, vmk.ip, vmk.mac,
                                                            pg, "observed")
        return out
    return {(h, name): VmknicTarget(h, name, vmk.ip, vmk.mac, vmk.port_group, "intent")
            for h, host in lab.hosts.items() for name, vmk in host.vmknics.items()}


def vmknic_with(lab: Lab, targets: dict[tuple[str, str], VmknicTarget], host: str,
                service: str) -> list[VmknicTarget]:
    """The host's vmknics that carry `service` in the lab, as found (vCenter or intent)."""
    names = sorted(n for n, v in lab.hosts[host].vmknics.items() if service in v.services)
    found = [targets[(host, n)] for n in names if (host, n) in targets]
    if not found:
        pytest.fail(f"{host} has no {service} vmknic with an address "
                    f"({', '.join(names) or 'none in the lab'})")
    return found


@pytest.fixture(scope="session")
def path_probes(probe_sites: ProbeSites) -> Iterator[PathProbes]:
    """The session's path echoes and path-MTU searches, measured in batches ahead of the tests
    that read them (`measure_paths`)."""
    paths = PathProbes(probe_sites)
    try:
        yield paths
    finally:
        paths.close()  # a background measurement no test waited for (-x, an interrupt)


PathPlanner = Callable[[Lab, dict[tuple[str, str], VmknicTarget], pytest.FixtureRequest],
                       PathPlan]
_LATER_STARTED: pytest.StashKey[bool] = pytest.StashKey()


def measure_paths(request: pytest.FixtureRequest, paths: PathProbes, plan: PathPlan
                  ) -> PathProbes:
    """Measure a suite module's `plan` now (what is not in yet); then, once per session and in
    the background, the plans of the suite modules that run after it (their
    `plan_path_probes`): this module's tests read their results with the main thread while the
    probes, idle otherwise, measure the next suite's paths. Not when disruptive drills will run
    (they break paths on purpose). A later plan that cannot be made (a host with no such
    vmknic) is left to its module, which says why in its tests. A probe of a test's own (not
    through `paths`) waits for the background first (`PathProbes.settle`): it would share the
    probes' addresses and the wire with it."""
    paths.prefetch_plan(plan)
    if request.config.stash.get(_LATER_STARTED, False) or _drills_will_run(request):
        return paths
    request.config.stash[_LATER_STARTED] = True
    modules: dict[int, Any] = {}
    for item in request.session.items:
        module = getattr(item, "module", None)
        if module is not None:
            modules.setdefault(id(module), module)
    order = list(modules.values())
    here = request.module
    later = order[order.index(here) + 1:] if here in order else []
    planners: list[PathPlanner] = [m.plan_path_probes for m in later
                                   if hasattr(m, "plan_path_probes")]
    if not planners:
        return paths
    lab: Lab = request.getfixturevalue("lab")
    targets = request.getfixturevalue("vmknic_targets")
    plans: list[PathPlan] = []
    for planner in planners:
        try:
            plans.append(planner(lab, targets, request))
        except (pytest.skip.Exception, pytest.fail.Exception, Exception):
            continue  # its module makes the plan again, and its tests say what stops it
    if plans:
        paths.ahead(plans)
    return paths


def session_subjects(request: pytest.FixtureRequest, *tests: Callable[..., None]) -> list[str]:
    """The subjects of `tests` this session runs (after -k, deselection and sharding), so a
    prefetch measures exactly what the collected tests will read."""
    wanted = set(tests)
    return [str(item.callspec.params["subject"]) for item in request.session.items
            if isinstance(item, pytest.Function) and item.function in wanted
            and hasattr(item, "callspec") and item.callspec.params.get("subject")]


def subjects_using(request: pytest.FixtureRequest, fixture: str, kind: str) -> list[str]:
    """The subjects of kind `kind` of this session's tests that use `fixture`."""
    out: dict[str, None] = {}
    kinds: dict[Callable[..., object], object] = {}
    for item in request.session.items:
        if not (isinstance(item, pytest.Function) and fixture in item.fixturenames
                and hasattr(item, "callspec") and item.callspec.params.get("subject")):
            continue
        # the marker lookup walks the node's parents: once per test function, not per item
        # (at 32 hosts, asking each of 9,350 items twice took 2.9 s of the main thread)
        if item.function not in kinds:
            marker = item.get_closest_marker("per_subject")
            kinds[item.function] = marker.args[0] if marker is not None and marker.args else None
        if kinds[item.function] == kind:
            out[str(item.callspec.params["subject"])] = None
    return list(out)


@pytest.fixture(scope="session")
def heard(lab: Lab, network_hints: list[NetworkHintFacts]) -> dict[UplinkKey, list[Heard]]:
    """CDP/LLDP neighbours each host heard on each cabled vmnic's wire (ESXi's own listener,
    through vCenter's network hints)."""
    expected = expected_neighbours(lab)
    got = hints_as_heard(network_hints)
    return {key: got.get(key, []) for key in expected}


def _beacon_targets(lab: Lab, targets: dict[tuple[str, str], VmknicTarget], host: str,
                    vlan: int) -> list[str]:
    """Addresses that answer on a VLAN's network: its gateway, then other hosts' vmknics."""
    net = next((n for n in lab.networks.values() if n.vlan == vlan), None)
    if net is None:
        return []
    out = [str(net.gateway)] if net.gateway else []
    out += [str(t.ip.ip) for (h, _), t in sorted(targets.items())
            if h != host and t.ip.ip in net.subnet]
    return out


@dataclass(frozen=True)
class UplinkProbe:
    """One uplink probed on its own: answered (None: nothing to probe it with), what was
    tried, and the frames sent and seen."""

    reachable: bool | None
    evidence: dict[str, JsonValue]
    frames: list[Frame] = field(default_factory=list)


@pytest.fixture(scope="session")
def uplinks(lab: Lab, probe_sites: ProbeSites, path_probes: PathProbes,
            vmknic_targets: dict[tuple[str, str], VmknicTarget]
            ) -> dict[UplinkKey, UplinkProbe]:
    """Every cabled uplink probed on its own, standby ones included: echoes out of the probe
    VM's NIC pinned to that vmnic, on a VLAN the vmnic carries, to an address on that VLAN.
    Up to four tries per uplink (two targets on each of its VLANs), in waves: every uplink's
    first try at once, then the next try of those not yet answered."""
    path_probes.settle()  # its echoes use the probes' addresses: not beside a batch
    carriage = uplink_carriage(lab)
    tries: dict[UplinkKey, list[UplinkEchoJob]] = {}
    for key in sorted(expected_neighbours(lab)):
        host, vmnic = key
        vlans = sorted({pg.vlan for pg in host_port_groups(lab, host).values()
                        if vmnic in pg.teaming.uplinks and pg.vlan in carriage.get(host, {})
                        .get(vmnic, [])})
        tries[key] = [UplinkEchoJob(host, vmnic, vlan, target) for vlan in vlans
                      for target in _beacon_targets(lab, vmknic_targets, host, vlan)[:2]][:4]
    tried: dict[UplinkKey, list[dict[str, Any]]] = {k: [] for k in tries}
    frames: dict[UplinkKey, list[Frame]] = {k: [] for k in tries}
    answered: set[UplinkKey] = set()
    for wave in range(4):
        jobs = {key: todo[wave] for key, todo in tries.items()
                if key not in answered and wave < len(todo)}
        if not jobs:
            break
        got = probe_sites.uplink_echo_many(jobs.values())
        for key, job in jobs.items():
            echo = got[job]
            if not isinstance(echo, TrunkEcho):
                raise echo
            tried[key].append({"vlan": job.vlan, "target": job.dst,
                               "arp_answered": echo.arp_answered, "answered": echo.answered,
                               "sent": echo.sent})
            frames[key] += echo.frames
            if echo.arp_answered:
                answered.add(key)
    return {key: UplinkProbe(True if key in answered else (False if tried[key] else None),
                             {"probes": tried[key]}, frames[key]) for key in tries}


@pytest.fixture(scope="session")
def dead_uplinks(uplinks: dict[UplinkKey, UplinkProbe]) -> set[UplinkKey]:
    return {k for k, probe in uplinks.items() if probe.reachable is False}


# -- the hosts' own vmkping (esxcli through vCenter) -----------------------------------------

# `vmkping -i 0.05`: three echoes in 0.1 s rather than 2 s. hostd runs vmkping as root, which
# may ask for intervals under a second (ESXi, like BSD and iputils ping, limits only other users)
PING_INTERVAL_S = 0.05

def vtep_pings(lab: Lab, views: HostViews, targets: dict[tuple[str, str], VmknicTarget],
               a: str, b: str) -> list[PingRequest]:
    """What engineers run between VTEPs: `vmkping ++netstack=vxlan -d -s 1572 -I <vtep>
    <peer VTEP>`, and -s 8972 as well where the lab makes both VTEPs jumbo."""
    mine = vmknic_with(lab, targets, a, "vxlan")[0]
    theirs = vmknic_with(lab, targets, b, "vxlan")[0]
    iface = views.of(a).interface(mine.name)
    mtu = min(lab.hosts[a].vmknics[mine.name].mtu, lab.hosts[b].vmknics[theirs.name].mtu)
    return [PingRequest(a, str(theirs.ip.ip), netstack=iface.netstack if iface else None,
                        interface=mine.name, df=True, size=size, interval=PING_INTERVAL_S)
            for size in payload_sizes(mtu)]


def vmotion_ping(lab: Lab, views: HostViews, targets: dict[tuple[str, str], VmknicTarget],
                 a: str, b: str) -> PingRequest:
    """A DF ping at a's vMotion vmknic MTU to b's vMotion vmknic, on that vmknic's netstack and
    left to the host's routing: the vmknic it leaves by is the one vMotion uses."""
    mine = vmknic_with(lab, targets, a, "vmotion")[0]
    theirs = vmknic_with(lab, targets, b, "vmotion")[0]
    iface = views.of(a).interface(mine.name)
    return PingRequest(a, str(theirs.ip.ip), netstack=iface.netstack if iface else None,
                       df=True, size=lab.hosts[a].vmknics[mine.name].mtu - ICMP_OVERHEAD,
                       interval=PING_INTERVAL_S)


class VmkPings:
    """vmkpings run on the hosts through vCenter: every one the suites plan, in one batch that
    starts in the background as soon as the session can (the hosts ping while the wire suites
    probe); a ping asked for later (the small follow-up of a failed one) runs then."""

    def __init__(self, vcenter: VsphereDriver, planned: list[PingRequest]) -> None:
        self.vcenter = vcenter
        self.results: dict[PingRequest, PingResult] = {}
        self.errors: dict[PingRequest, VsphereError] = {}
        self.first_tries: dict[PingRequest, PingResult] = {}
        self._failure: BaseException | None = None
        self._batch = threading.Thread(target=self._run_planned, args=(planned,),
                                       name="lh-vmkpings", daemon=True)
        self._batch.start()

    def _run_planned(self, planned: list[PingRequest]) -> None:
        try:
            self.run(planned)
        except BaseException as exc:  # re-raised in the test that reads a result
            self._failure = exc

    def run(self, requests: list[PingRequest]) -> None:
        """Ping; a ping that got nothing back (and no fault) is sent once more, after the
        batch, before it counts: with every host pinging at once a lost reply is loss until
        proven otherwise. `first_tries` keeps what the first try saw."""
        todo = [r for r in requests if r not in self.results and r not in self.errors]
        if not todo:
            return
        batch = self.vcenter.vmkping(todo)
        self.results.update(batch.results)
        self.errors.update(batch.errors)
        lost = [r for r in todo if r in batch.results
                and not batch.results[r].answered and not batch.results[r].fault]
        if lost:
            again = self.vcenter.vmkping(lost)
            for r in lost:
                if r in again.results:
                    self.first_tries[r] = self.results[r]
                    self.results[r] = again.results[r]

    def get(self, request: PingRequest) -> PingResult:
        __tracebackhide__ = True
        self._batch.join()
        if self._failure is not None:
            raise self._failure
        self.run([request])
        if request in self.errors:
            pytest.fail(f"{request.host}: {request.command()} failed: "
                        f"{self.errors[request]}", pytrace=False)
        return self.results[request]

    def reachability(self, request: PingRequest) -> PingResult:
        """The same path with a small ping and no DF: is it up at all?"""
        return self.get(replace(request, df=False, size=None))


@pytest.fixture(scope="session")
def vmkpings(lab: Lab, vcenter: VsphereDriver, host_views: HostViews,
             vmknic_targets: dict[tuple[str, str], VmknicTarget],
             request: pytest.FixtureRequest) -> VmkPings:
    """The vmkping of every VTEP pair and vMotion pair this session's tests read, run on the
    hosts in one batch."""
    planned: list[PingRequest] = []
    for pair in subjects_using(request, "vmkpings", "vtep_pairs"):
        a, b = pair.split("->")
        planned += vtep_pings(lab, host_views, vmknic_targets, a, b)
    for pair in subjects_using(request, "vmkpings", "vmotion_pairs"):
        a, b = pair.split("->")
        planned.append(vmotion_ping(lab, host_views, vmknic_targets, a, b))
    return VmkPings(vcenter, planned)


@pytest.fixture(scope="session", autouse=True)
def _vmkpings_early(backend: Backend, request: pytest.FixtureRequest) -> None:
    """Start the vmkping batch with the session when a collected test will read it: the hosts'
    pings take a while on a big lab and need nothing the other suites do. Not when disruptive
    drills will run (they break paths on purpose, and the pings would see it). If vCenter
    cannot give them, nothing happens here; the tests that need them say why."""
    items = request.session.items
    if backend.why_not("vsphere") is not None or not any(
            "vmkpings" in getattr(item, "fixturenames", ()) for item in items):
        return
    if _drills_will_run(request):
        return  # drills will break paths on purpose: the pings wait for their first reader
    try:
        request.getfixturevalue("vmkpings")
    except (pytest.skip.Exception, pytest.fail.Exception, LabharnessError):
        return


def _drills_will_run(request: pytest.FixtureRequest) -> bool:
    """Disruptive drills are allowed and collected: they break paths on purpose."""
    return bool(request.config.stash.get(DISRUPTIVE_KEY, False)) and any(
        item.get_closest_marker("disruptive") is not None for item in request.session.items)


def explain_down(lab: Lab, backend: Backend, request: pytest.FixtureRequest,
                 ends: list[tuple[str, str]]) -> tuple[str, str] | None:
    """(incident, cause) when a dead uplink on one of the ends (host, port group) explains a
    path that answers nothing; the probes find dead uplinks where the inventory has them."""
    if backend.why_not("probe") is not None:
        return None
    dead: set[UplinkKey] = request.getfixturevalue("dead_uplinks")
    for host, port_group in ends:
        why = diagnose_path(lab, host, port_group, dead)
        if why is not None:
            return why
    return None
