"""Session fixtures: the lab, its inventory, the backend and the design view.

A fixture whose input is absent skips with a message that says what to pass, instead of failing
every test that depends on it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from harness.backend import Backend
from harness.checks.catalog import CHECKS_BY_NAME, run_design_checks
from harness.checks.finding import Finding
from harness.checks.intent import view_from_lab
from harness.checks.view import DesignView
from harness.errors import EndpointUnreachable, LabharnessError, NotProvided
from harness.facts.router import RouterFacts
from harness.lab.loader import LoadedInventory
from harness.lab.model import Lab
from harness.lab.reference import Reference, shipped_reference
from harness.lab.views import expected_neighbours
from harness.pytest_plugin.endpoints import endpoints, reached, run_notes, unreachable
from harness.pytest_plugin.factlog import facts_log
from harness.pytest_plugin.previous import PreviousRun
from harness.pytest_plugin.state import (
    BACKEND_KEY,
    DISRUPTIVE_KEY,
    INVENTORY_KEY,
    KEEP_SIM_KEY,
    LAB_KEY,
    PREVIOUS_KEY,
    SCENARIOS_KEY,
    EndpointStatus,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from harness.drivers.probe.sites import ProbeSites
    from harness.drivers.redfish import RedfishBmc
    from harness.drivers.vsphere import PerHost, VsphereDriver
    from harness.facts.esxcli import HostView
    from harness.facts.vsphere import NetworkHintFacts, Snapshot
    from harness.sim.state import SimState


# a request that took this share of its read timeout and still succeeded: the endpoint stalled
# (noted in the summary); 10 s with the default 30 s Redfish read timeout
STALL_SHARE = 1 / 3


def stall_s(read_timeout: float) -> float:
    return max(1.0, read_timeout * STALL_SHARE)


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Lab:
    """The lab under test (from --lab / LABHARNESS_LAB)."""
    model = pytestconfig.stash.get(LAB_KEY, None)
    if model is None:
        pytest.skip("no lab given: pass --lab FILE (or set LABHARNESS_LAB)")
    return model


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> LoadedInventory:
    """How to reach the lab (from --inventory / LABHARNESS_INVENTORY)."""
    loaded = pytestconfig.stash.get(INVENTORY_KEY, None)
    if loaded is None:
        pytest.skip("no inventory given: pass --inventory FILE (or set LABHARNESS_INVENTORY)")
    return loaded


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> Backend:
    """The backend and its capabilities."""
    return pytestconfig.stash[BACKEND_KEY]


@pytest.fixture(scope="session")
def design_view(lab: Lab) -> DesignView:
    """The lab's design as the checks see it (intent side)."""
    return view_from_lab(lab)


@dataclass(frozen=True)
class DesignFindings:
    """All design findings of one view, looked up by check and subject."""

    findings: tuple[Finding, ...]

    def of(self, check: str, subject: str) -> list[Finding]:
        """Findings of one check about one subject."""
        if check not in CHECKS_BY_NAME:
            raise KeyError(f"no design check {check!r}; checks: {', '.join(CHECKS_BY_NAME)}")
        return [f for f in self.findings if f.check == check and f.subject == subject]


@pytest.fixture(scope="session")
def reference() -> Reference:
    """The reference tables shipped with labharness (ESXi/vCenter compatibility, ...)."""
    return shipped_reference()


@pytest.fixture(scope="session")
def design_findings(design_view: DesignView, reference: Reference) -> DesignFindings:
    """Every design check run once per session over the intent view."""
    return DesignFindings(tuple(run_design_checks(design_view, reference)))


@pytest.fixture(scope="session")
def sim_state(pytestconfig: pytest.Config, lab: Lab, inventory: LoadedInventory,
              backend: Backend) -> Iterator[SimState]:
    """The running simulated lab: reused when `labharness run` (or `sim up`) built it with the
    same scenarios, else built here and torn down at the end of the session. A lab whose
    daemons died is an error that names them and quotes their logs: it is never rebuilt
    behind the user's back."""
    from harness.sim import lifecycle
    from harness.sim.dataplane import daemons
    from harness.sim.errors import SimError
    from harness.sim.scenarios import SCENARIOS

    if backend.kind != "sim":
        pytest.skip(f"backend {backend.kind} is not the simulated lab")
    problem = backend.why_not("probe")
    if problem is not None:
        pytest.skip(problem)
    wanted: list[str] = [*pytestconfig.stash[SCENARIOS_KEY]]
    state = lifecycle.load_state(lab.name)
    if state is not None and sorted(state.scenarios) == sorted(wanted):
        gone = daemons.dead(state.daemons)
        if gone:
            pytest.fail(f"the simulated lab {lab.name} is up but its daemons died: "
                        + "; ".join(f"{name}: {why}" for name, why in sorted(gone.items()))
                        + " (labharness sim down, then run again)", pytrace=False)
        yield state
        return
    try:
        state = lifecycle.up(lab, inventory.inventory, [SCENARIOS[s] for s in wanted],
                             base_dir=inventory.base_dir, owner_pid=os.getpid())
    except SimError as exc:
        pytest.fail(f"the simulated lab could not be built: {exc}", pytrace=False)
    try:
        yield state
    finally:
        record_dead_daemons(pytestconfig, state)
        if not pytestconfig.stash[KEEP_SIM_KEY]:
            lifecycle.down(lab.name)


def record_dead_daemons(config: pytest.Config, state: SimState) -> None:
    """A simulator or daemon that died during the run is named in the summary with its log's
    last lines (the tests that needed it already errored): a crash is reported, never healed."""
    from harness.sim.dataplane import daemons

    for name, why in sorted(daemons.dead(state.daemons).items()):
        endpoints(config).record(EndpointStatus("daemon", name, state.lab, False, why))


# the probe sites being started in the background (`start_probe_sites_early`), until the
# probe_sites fixture takes them
EARLY_SITES_KEY: pytest.StashKey[Future[ProbeSites]] = pytest.StashKey()


def _start_sites(lab: Lab, loaded: LoadedInventory, backend: Backend,
                 state: SimState | None) -> ProbeSites:
    """Start the agents: in the simulated lab's namespaces, or over SSH on each probe VM."""
    if backend.kind == "sim":
        from harness.sim.probesites import sim_probe_sites

        assert state is not None
        return sim_probe_sites(lab, state)
    from harness.drivers.probe.sites import from_inventory

    t = loaded.inventory.timeouts.probe
    return from_inventory(lab, loaded.inventory.probes, loaded.base_dir,
                          start_timeout=t.connect, call_timeout=t.read)


def start_probe_sites_early(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Once the session's tests are known and one of them needs probes, start the agents in a
    background thread: their start (a scapy import and a fork per namespace in the sim, an SSH
    login per probe VM on a real lab) then overlaps the suites that run before the first probe
    test, which keep one core busy and leave the other idle. The `probe_sites` fixture takes
    what was started, or the error it raised. On the simulated lab only a running lab of the
    session's scenarios is used (the `sim_state` fixture's own test); a lab the session still
    has to build gets its agents when the fixture asks."""
    if not any("probe_sites" in getattr(item, "fixturenames", ()) for item in items):
        return
    lab_model = config.stash.get(LAB_KEY, None)
    loaded = config.stash.get(INVENTORY_KEY, None)
    kind = config.stash.get(BACKEND_KEY, None)
    if lab_model is None or loaded is None or kind is None or kind.why_not("probe") is not None:
        return
    state = None
    if kind.kind == "sim":
        from harness.sim import lifecycle
        from harness.sim.dataplane import daemons

        wanted: tuple[str, ...] = config.stash[SCENARIOS_KEY]
        state = lifecycle.load_state(lab_model.name)
        if state is None or sorted(state.scenarios) != sorted(wanted) \
                or daemons.dead(state.daemons):
            return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lh-probe-start")
    config.stash[EARLY_SITES_KEY] = pool.submit(_start_sites, lab_model, loaded, kind, state)
    pool.shutdown(wait=False)


def close_unclaimed_probe_sites(config: pytest.Config) -> None:
    """Agents started early that no test took (the session ended first) are stopped."""
    early = config.stash.get(EARLY_SITES_KEY, None)
    if early is None:
        return
    del config.stash[EARLY_SITES_KEY]
    try:
        early.result().close()
    except Exception:  # their start failed: nothing runs that needs stopping
        pass


@pytest.fixture(scope="session")
def probe_sites(lab: Lab, inventory: LoadedInventory, backend: Backend,
                request: pytest.FixtureRequest) -> Iterator[ProbeSites]:
    """The probe capability: agents on each host's probe VM and on the lab's VMs, in the
    simulated lab's namespaces or over SSH on a real lab. A probe that cannot be reached is an
    error of the tests that need it, never a skip."""
    reason = backend.why_not("probe")
    if reason is not None:
        pytest.skip(f"needs probe: {reason}")
    state = request.getfixturevalue("sim_state") if backend.kind == "sim" else None
    early = request.config.stash.get(EARLY_SITES_KEY, None)
    if early is not None:
        del request.config.stash[EARLY_SITES_KEY]
        sites = early.result()  # the error of a start that failed is raised here
    else:
        sites = _start_sites(lab, inventory, backend, state)
    if backend.kind != "sim":
        for name, site in inventory.inventory.probes.items():
            if name in sites.failed:
                endpoints(request.config).record(EndpointStatus(
                    "probe", name, site.ssh.host, False, sites.failed[name]))
            elif name in sites.agents:
                reached(request.config, "probe", name, site.ssh.host)
    try:
        yield sites
    finally:
        sites.close()


@pytest.fixture(scope="session")
def previous_run(pytestconfig: pytest.Config) -> PreviousRun | None:
    """What the previous run of this lab read (`--previous-facts`), or None: no earlier run
    to compare with (the first run of a lab, or a plain pytest run without it)."""
    return pytestconfig.stash.get(PREVIOUS_KEY, None)


@pytest.fixture(scope="session")
def snapshot(vcenter: VsphereDriver, lab: Lab, pytestconfig: pytest.Config) -> Snapshot:
    """Everything vCenter reports in one PropertyCollector call, including each advanced option
    the lab sets (not only the defaults)."""
    from harness.checks.observed import snapshot_option_keys
    from harness.facts.flat import VSPHERE, vsphere_facts

    taken = vcenter.snapshot(option_keys=snapshot_option_keys(lab))
    facts_log(pytestconfig).record(VSPHERE, vsphere_facts(taken))
    return taken


# CDP/LLDP arrive on their own schedule: by default a switch sends CDP every 60 s (holdtime
# 180 s = 3 intervals) and LLDP every 30 s (TTL 120 s = 4 intervals). The interval actually in
# force is read back from the neighbours already heard (their holdtime and TTL); a vmnic still
# silent after one such interval (plus margin) is a finding, not a timing accident.
DEFAULT_INTERVAL_S = {"cdp": 60.0, "lldp": 30.0}
INTERVALS_PER_HOLD = {"cdp": 3, "lldp": 4}
HINT_MARGIN_S = 2.0


def protocol_intervals(hints: list[NetworkHintFacts]) -> dict[str, tuple[float, str]]:
    """Per protocol: the advertisement interval, and where it comes from."""
    holds = {"cdp": [h.cdp.holdtime for h in hints if h.cdp and h.cdp.holdtime],
             "lldp": [h.lldp.ttl for h in hints if h.lldp and h.lldp.ttl]}
    out: dict[str, tuple[float, str]] = {}
    for proto, seen in holds.items():
        if seen:
            out[proto] = (max(seen) / INTERVALS_PER_HOLD[proto],
                          f"{proto.upper()} hold {max(seen)} s heard / "
                          f"{INTERVALS_PER_HOLD[proto]}")
        else:
            out[proto] = (DEFAULT_INTERVAL_S[proto], f"{proto.upper()} default")
    return out


@pytest.fixture(scope="session")
def network_hints(vcenter: VsphereDriver, snapshot: Snapshot, lab: Lab,
                  request: pytest.FixtureRequest) -> list[NetworkHintFacts]:
    """QueryNetworkHint on every host: CDP/LLDP as each host heard them on each vmnic's wire
    (vCenter answers from the neighbours the host has cached). When a cabled vmnic has not
    heard its neighbour yet, poll for one advertisement interval of the protocols missing; the
    run's notes say which it was."""
    expected = {(key, proto) for key, (_, _, protocols) in expected_neighbours(lab).items()
                for proto in protocols}
    started = time.monotonic()
    deadline: float | None = None
    while True:
        got = vcenter.network_hints()
        if got.errors:
            pytest.fail("QueryNetworkHint failed on " + "; ".join(
                f"{h}: {e}" for h, e in sorted(got.errors.items())))
        hints = [hint for hints in got.values.values() for hint in hints]
        heard = {((h.host, h.device), proto) for h in hints
                 for proto, seen in (("cdp", h.cdp), ("lldp", h.lldp)) if seen is not None}
        missing = expected - heard
        if deadline is None:
            intervals = protocol_intervals(hints)
            wait = max((intervals[p][0] for _, p in missing), default=0.0)
            deadline = started + wait + HINT_MARGIN_S
            how = "; ".join(f"{p.upper()} every {intervals[p][0]:g} s ({intervals[p][1]})"
                            for p in sorted({p for _, p in expected}))
        if not missing or time.monotonic() > deadline:
            from harness.facts.flat import WIRE, wire_facts

            facts_log(request.config).record(WIRE, wire_facts(hints))
            took = time.monotonic() - started
            run_notes(request.config).append(
                f"CDP/LLDP: all {len(expected)} expected neighbours were in vCenter's hints "
                "at the first read" if took < 1.0 and not missing else
                f"CDP/LLDP: waited {took:.0f} s for one advertisement interval ({how}); "
                f"{len(missing)} expected neighbour(s) still not heard")
            return hints
        time.sleep(1.0)


class HostViews:
    """Each host's own view through esxcli (`VsphereDriver.host_views`), read for every host in
    one batch; a host whose esxcli failed fails the tests that need it, with the reason."""

    def __init__(self, got: PerHost[HostView]) -> None:
        self.views = got.values
        self.errors = got.errors
        self.elapsed_s = got.elapsed_s

    def of(self, host: str) -> HostView:
        __tracebackhide__ = True
        if host not in self.views:
            why = self.errors.get(host)
            pytest.fail(f"esxcli on {host} through vCenter failed: {why}" if why else
                        f"vCenter has no host {host} to run esxcli on", pytrace=False)
        return self.views[host]


@pytest.fixture(scope="session")
def host_views(vcenter: VsphereDriver, snapshot: Snapshot, lab: Lab,
               pytestconfig: pytest.Config) -> HostViews:
    """What every lab host reports through esxcli (routes, vmknics, NICs, storage adapters),
    read once per session on first use, all hosts in one batch. The server-build suite runs
    first, so after its adapter fix (--allow-disruptive) this is the fixed server's view."""
    from harness.facts.flat import ESXCLI, esxcli_facts

    views = HostViews(vcenter.host_views([h for h in lab.hosts if h in snapshot.hosts]))
    facts_log(pytestconfig).record(ESXCLI, esxcli_facts(views.views))
    return views


class RouterReader:
    """Each router of the lab read once, through the door its `kind` says: an OPNsense
    router's REST API, a Linux router's shell over SSH (testinfra).

    What the inventory lacks is a skip that says what to add (NotProvided); a router that
    should answer and does not is an error of the tests that need it, and the run's summary
    names it (EndpointUnreachable).
    """

    def __init__(self, lab: Lab, inventory: LoadedInventory, backend: Backend,
                 config: pytest.Config) -> None:
        self._lab, self._inv, self._backend, self._config = lab, inventory, backend, config
        self._read: dict[str, RouterFacts | LabharnessError] = {}
        self._closers: list[Callable[[], None]] = []

    def facts(self, name: str) -> RouterFacts:
        """Everything router `name` reports about itself (read at the first call).

        Raises:
            NotProvided: the backend or the inventory offers no door to this router.
            EndpointUnreachable: the router did not answer or refused the credentials.
            LabharnessError: another failure of the read (an answer in an unknown shape).
        """
        if name not in self._read:
            from harness.facts.flat import ROUTER, router_facts

            try:
                self._read[name] = read = self._fetch(name)
                facts_log(self._config).record(ROUTER, router_facts(read))
            except LabharnessError as exc:  # each test asking gets the same verdict
                self._read[name] = exc
        got = self._read[name]
        if isinstance(got, LabharnessError):
            raise got
        return got

    def _fetch(self, name: str) -> RouterFacts:
        kind = self._lab.routers[name].kind
        capability = "opnsense" if kind == "opnsense" else "ssh"
        reason = self._backend.why_not(capability)
        if reason is not None:
            raise NotProvided(f"router {name} is kind {kind}: needs {capability}: {reason}")
        inv, base = self._inv.inventory, self._inv.base_dir
        if kind == "opnsense":
            from harness.drivers.opnsense import OpnsenseClient, OpnsenseError, read_router

            api = inv.opnsense.get(name)
            if api is None:
                raise NotProvided(f"the inventory has no API for OPNsense router {name}: add "
                                  f"opnsense.{name} (url, key and secret as env:NAME or "
                                  "file:PATH, ca_file or verify_tls)")
            address = str(api.url)
            try:
                client = OpnsenseClient.from_inventory(name, api, base, inv.timeouts.opnsense)
                self._closers.append(client.close)
                facts = read_router(client)
            except OpnsenseError as exc:
                if isinstance(exc, EndpointUnreachable):
                    endpoints(self._config).record(EndpointStatus("opnsense", name, address,
                                                                  False, str(exc)))
                raise
            reached(self._config, "opnsense", name, address)
            return facts
        from harness.drivers.ssh import SshError, connect, testinfra_host
        from harness.drivers.ssh.linuxrouter import read_linux_router

        endpoint = inv.ssh.get(name)
        if endpoint is None:
            raise NotProvided(f"the inventory has no SSH endpoint for Linux router {name}: add "
                              f"ssh.{name} (host, username, key_file or password)")
        try:
            ssh = connect(endpoint, base, timeout=inv.timeouts.ssh.connect)
        except SshError as exc:
            endpoints(self._config).record(EndpointStatus("ssh", name, endpoint.host, False,
                                                          str(exc)))
            raise EndpointUnreachable(f"ssh {name} ({endpoint.host}) is unreachable: "
                                      f"{exc}") from None
        self._closers.append(ssh.close)
        reached(self._config, "ssh", name, endpoint.host)
        return read_linux_router(testinfra_host(ssh, name), name)

    def close(self) -> None:
        for close in self._closers:
            close()


@pytest.fixture(scope="session")
def routers(lab: Lab, inventory: LoadedInventory, backend: Backend,
            request: pytest.FixtureRequest) -> Iterator[RouterReader]:
    """The routers of the lab, each read through its own door on first use."""
    if backend.kind == "sim":
        request.getfixturevalue("sim_state")
    reader = RouterReader(lab, inventory, backend, request.config)
    try:
        yield reader
    finally:
        reader.close()


class BmcSessions(Mapping[str, "RedfishBmc"]):
    """Logged-in Redfish sessions by server name; `unreachable` says why a BMC has none."""

    def __init__(self) -> None:
        self._sessions: dict[str, RedfishBmc] = {}
        self.unreachable: dict[str, str] = {}

    def __getitem__(self, server: str) -> RedfishBmc:
        return self._sessions[server]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, server: str, bmc: RedfishBmc) -> None:
        self._sessions[server] = bmc

    def session(self, server: str) -> RedfishBmc:
        """The server's session; an error when its BMC could not be reached, a skip that says
        what to add when the inventory has none."""
        if server in self:
            return self[server]
        if server in self.unreachable:
            raise EndpointUnreachable(f"the BMC of {server} is unreachable: "
                                      f"{self.unreachable[server]}")
        pytest.skip(f"the inventory has no BMC for server {server}: add bmcs.{server} (url, "
                    "username, password as env:NAME or file:PATH, verify_tls)")


@pytest.fixture(scope="session")
def bmcs(lab: Lab, inventory: LoadedInventory, backend: Backend,
         request: pytest.FixtureRequest) -> Iterator[BmcSessions]:
    """A logged-in Redfish session per BMC of the inventory (server name -> RedfishBmc), logged
    out at the end of the session. A BMC that cannot be reached is an error of the tests that
    need it, and the run's summary names it."""
    from harness.drivers.redfish import RedfishBmc, RedfishError

    reason = backend.why_not("redfish")
    if reason is not None:
        pytest.skip(f"needs redfish: {reason}")
    bmc_endpoints = inventory.inventory.bmcs
    if not bmc_endpoints:
        pytest.skip(f"inventory {inventory.inventory.name} has no `bmcs`: add each server's "
                    "iLO (url, username, password as env:NAME or file:PATH, verify_tls) to "
                    "read and configure it over Redfish")
    if backend.kind == "sim":
        request.getfixturevalue("sim_state")

    t = inventory.inventory.timeouts

    def connect(name: str) -> RedfishBmc | str:
        try:
            bmc = RedfishBmc.from_inventory(name, bmc_endpoints[name], inventory.base_dir,
                                            timeout=(t.redfish.connect, t.redfish.read),
                                            logout_timeout=t.logout)
            bmc.login()
        except RedfishError as exc:
            return str(exc)
        return bmc

    sessions = BmcSessions()
    names = sorted(bmc_endpoints)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        for name, got in zip(names, pool.map(connect, names), strict=True):
            address = str(bmc_endpoints[name].url)
            if isinstance(got, str):
                sessions.unreachable[name] = got
                endpoints(request.config).record(EndpointStatus("bmc", name, address, False,
                                                                got))
            else:
                sessions.add(name, got)
                reached(request.config, "bmc", name, address)
    try:
        yield sessions
    finally:
        for name, bmc in sessions.items():
            slowest = max(bmc.log.records, key=lambda r: r.elapsed_ms, default=None)
            if (slowest is not None and bmc.down is None
                    and slowest.elapsed_ms / 1000 >= stall_s(t.redfish.read)):
                endpoints(request.config).note(
                    "bmc", name, f"stalled: {slowest.method} {slowest.path} took "
                    f"{slowest.elapsed_ms / 1000:.1f} s")
            bmc.logout()


@pytest.fixture(scope="session")
def vcenter(lab: Lab, inventory: LoadedInventory, backend: Backend, pytestconfig: pytest.Config,
            request: pytest.FixtureRequest) -> Iterator[VsphereDriver]:
    """One logged-in vCenter session for the whole run (logged out at the end); changes
    through it need --allow-disruptive and a lab that says `disruptive_allowed: true`."""
    from harness.drivers.vsphere import VsphereDriver, VsphereError

    reason = backend.why_not("vsphere")
    if reason is not None:
        pytest.skip(f"needs vsphere: {reason}")
    endpoint = inventory.inventory.vcenter
    if endpoint is None:
        pytest.skip(f"inventory {inventory.inventory.name} has no `vcenter` (url, username, "
                    "password as env:NAME or file:PATH, verify_tls)")
    if backend.kind == "sim":
        request.getfixturevalue("sim_state")
    try:
        t = inventory.inventory.timeouts
        driver = VsphereDriver.connect(
            endpoint, inventory.base_dir,
            allow_disruptive=(pytestconfig.stash.get(DISRUPTIVE_KEY, False)
                              and lab.disruptive_allowed),
            connect_timeout=t.vsphere.connect, request_timeout=t.vsphere.read,
            logout_timeout=t.logout)
    except VsphereError as exc:
        unreachable(request.config, "vcenter", "vcenter", str(endpoint.url), str(exc))
    reached(request.config, "vcenter", "vcenter", str(endpoint.url))
    try:
        yield driver
    finally:
        took, method = driver.conn.slowest
        if took >= stall_s(t.vsphere.read) and driver.conn.down is None:
            endpoints(request.config).note("vcenter", "vcenter",
                                           f"stalled: {method} took {took:.1f} s")
        driver.close()
