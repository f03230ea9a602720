"""Session fixtures: the lab, its inventory, the backend and the design view.

A fixture whose input is absent skips with a message that says what to pass, instead of failing
every test that depends on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.backend import Backend
from harness.checks.catalog import CHECKS_BY_NAME, run_design_checks
from harness.checks.finding import Finding
from harness.checks.intent import view_from_lab
from harness.checks.view import DesignView
from harness.lab.loader import LoadedInventory
from harness.lab.model import Lab
from harness.pytest_plugin.state import (
    BACKEND_KEY,
    INVENTORY_KEY,
    KEEP_SIM_KEY,
    LAB_KEY,
    SCENARIOS_KEY,
)
from harness.sim import lifecycle
from harness.sim.dataplane import daemons
from harness.sim.scenarios import SCENARIOS


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
def design_findings(design_view: DesignView) -> DesignFindings:
    """Every design check run once per session over the intent view."""
    return DesignFindings(tuple(run_design_checks(design_view)))


@pytest.fixture(scope="session")
def sim_state(pytestconfig: pytest.Config, lab: Lab, inventory: LoadedInventory,
              backend: Backend) -> Iterator[lifecycle.SimState]:
    """The running simulated lab: reused when `labharness run` (or `sim up`) built it with the
    same scenarios, else built here and torn down at the end of the session."""
    if backend.kind != "sim":
        pytest.skip(f"backend {backend.kind} is not the simulated lab")
    problem = backend.why_not("probe")
    if problem is not None:
        pytest.skip(problem)
    wanted: list[str] = [*pytestconfig.stash[SCENARIOS_KEY]]
    state = lifecycle.load_state(lab.name)
    reuse = (state is not None and sorted(state.scenarios) == sorted(wanted)
             and all(daemons.is_running(d) for d in state.daemons))
    if reuse and state is not None:
        yield state
        return
    try:
        state = lifecycle.up(lab, inventory.inventory, [SCENARIOS[s] for s in wanted],
                             base_dir=inventory.base_dir)
    except lifecycle.SimError as exc:
        pytest.skip(f"the simulated lab could not be built: {exc}")
    try:
        yield state
    finally:
        if not pytestconfig.stash[KEEP_SIM_KEY]:
            lifecycle.down(lab.name)


@pytest.fixture(scope="session")
def probe_sites(lab: Lab, backend: Backend, request: pytest.FixtureRequest) -> Iterator[object]:
    """Probe agents where the suites need them (in the sim: one per namespace)."""
    from harness.sim.probesites import SimProbeSites

    reason = backend.why_not("probe")
    if reason is not None:
        pytest.skip(f"needs probe: {reason}")
    if backend.kind != "sim":
        pytest.skip("probes inside ESXi hosts and VMs are simulated-lab only; a real lab's "
                    "inventory probe hosts cannot see a host's vmknics")
    state = request.getfixturevalue("sim_state")
    sites = SimProbeSites.start(lab, state)
    try:
        yield sites
    finally:
        sites.close()


@pytest.fixture(scope="session")
def router_hosts(lab: Lab, inventory: LoadedInventory, backend: Backend,
                 request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """testinfra hosts for every router the inventory can reach over SSH."""
    from harness.drivers.ssh import SshError, connect, testinfra_host

    reason = backend.why_not("ssh")
    if reason is not None:
        pytest.skip(f"needs ssh: {reason}")
    if backend.kind == "sim":
        request.getfixturevalue("sim_state")
    hosts: dict[str, object] = {}
    clients = []
    try:
        for name, endpoint in inventory.inventory.ssh.items():
            if name not in lab.routers:
                continue
            try:
                client = connect(endpoint, inventory.base_dir)
            except SshError as exc:
                pytest.skip(f"router {name} unreachable over SSH: {exc}")
            clients.append(client)
            hosts[name] = testinfra_host(client, name)
        yield hosts
    finally:
        for client in clients:
            client.close()
