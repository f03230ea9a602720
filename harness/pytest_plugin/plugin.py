"""pytest hooks of the labharness plugin.

One option group (`--lab`, `--inventory`, `--scenario`, `--allow-disruptive`), each with a
`LABHARNESS_*` environment fallback; the parsed lab and inventory live in `config.stash`; markers
are registered and their arguments validated at collection, so a typo in `incident("F21")` is a
collection error rather than a silently unlabelled test.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from harness.backend import CAPABILITIES
from harness.errors import EndpointUnreachable, LabharnessError, NotProvided
from harness.incidents import ID_SPAN, SCENARIO_ALL, find_incident
from harness.lab.source import InputFileError
from harness.lab.subjects import SUBJECT_KINDS, subjects_of
from harness.pytest_plugin.allure_children import PLUGIN_NAME as ALLURE_CHILDREN
from harness.pytest_plugin.allure_children import AllureChildrenIndex
from harness.pytest_plugin.assertions import current_item
from harness.pytest_plugin.endpoints import endpoints
from harness.pytest_plugin.fixtures import (  # noqa: F401  (fixtures are found by name)
    backend,
    bmcs,
    close_unclaimed_probe_sites,
    design_findings,
    design_view,
    host_views,
    inventory,
    lab,
    network_hints,
    previous_run,
    probe_sites,
    record_dead_daemons,
    reference,
    routers,
    sim_state,
    snapshot,
    start_probe_sites_early,
    vcenter,
)
from harness.pytest_plugin.inputs import GivenInputs, resolve_inputs
from harness.pytest_plugin.previous import load_previous
from harness.pytest_plugin.shard import SHARD_ENV, ShardSelector, parse_shard
from harness.pytest_plugin.state import (
    BACKEND_KEY,
    DISRUPTIVE_KEY,
    ERROR_PROPERTY,
    INCIDENT_PROPERTY,
    INVENTORY_KEY,
    KEEP_SIM_KEY,
    LAB_KEY,
    LAYER_PROPERTY,
    PREVIOUS_KEY,
    SCENARIOS_KEY,
    SUBJECT_PROPERTY,
    EndpointStatus,
)

MARKERS = {
    "incident(id)": f"the field incident ({ID_SPAN}) a test guards against; labels reports",
    "needs(capability)": "backend capability the test needs: " + ", ".join(CAPABILITIES),
    "per_subject(kind)": "one test per lab subject of a kind: " + ", ".join(SUBJECT_KINDS),
    "disruptive": "changes the lab (reboots, BMC writes, uplink blocks); needs "
                  "--allow-disruptive and a lab with disruptive_allowed: true",
}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labharness", "labharness lab under test")
    group.addoption("--lab", default=os.environ.get("LABHARNESS_LAB"), metavar="FILE",
                    help="lab definition (YAML) to test [env LABHARNESS_LAB]")
    group.addoption("--inventory", default=os.environ.get("LABHARNESS_INVENTORY"),
                    metavar="FILE", help="how to reach the lab [env LABHARNESS_INVENTORY]")
    group.addoption("--scenario", action="append", metavar="NAME",
                    default=[s for s in os.environ.get("LABHARNESS_SCENARIO", "").split(",") if s],
                    help="fault scenario for the simulated lab: incident id or slug, or a "
                         "variant such as F11-cabling; several allowed, "
                         f"'{SCENARIO_ALL}' for one of each incident [env LABHARNESS_SCENARIO]")
    group.addoption("--allow-disruptive", action="store_true",
                    default=_env_flag("LABHARNESS_ALLOW_DISRUPTIVE"),
                    help="run tests marked disruptive [env LABHARNESS_ALLOW_DISRUPTIVE]")
    group.addoption("--previous-facts", default=os.environ.get("LABHARNESS_PREVIOUS_FACTS"),
                    metavar="FILE", help="facts.json of the previous run of this lab, to "
                    "compare with (host boot times, F06); `labharness run` passes the last "
                    "run's from the history [env LABHARNESS_PREVIOUS_FACTS]")
    group.addoption("--keep-sim", action="store_true", default=_env_flag("LABHARNESS_KEEP_SIM"),
                    help="leave a simulated lab this session built running afterwards "
                         "[env LABHARNESS_KEEP_SIM]")
    group.addoption("--shard", default=os.environ.get(SHARD_ENV) or None, metavar="K/N",
                    help="run shard K of N: the tests split by the element they are about "
                         "(labharness merge joins the shards' reports) [env LABHARNESS_SHARD]")


def pytest_configure(config: pytest.Config) -> None:
    # what collection froze (pytest_collection_finish) is given back after pytest's own last
    # collections: registered before theirs, this cleanup runs after them (at 32 hosts each
    # of the two took 0.5 s traversing the session), and an in-process caller (pytester,
    # pytest.main) gets its collector back whole
    config.add_cleanup(gc.unfreeze)
    for marker, text in MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {text}")
    # a no-op unless allure writes results; `-p no:labharness-allure-children` leaves it out
    config.pluginmanager.register(AllureChildrenIndex(), ALLURE_CHILDREN)
    given = next((p for p in config.pluginmanager.get_plugins() if isinstance(p, GivenInputs)),
                 None)
    try:
        inputs = given.inputs if given is not None else resolve_inputs(
            config.getoption("--lab", None), config.getoption("--inventory", None),
            config.getoption("--scenario", None) or [])
    except InputFileError as exc:
        raise pytest.UsageError("labharness: invalid input\n" + str(exc)) from None
    except LabharnessError as exc:
        raise pytest.UsageError(f"labharness: {exc}") from None
    config.stash[LAB_KEY] = inputs.lab
    config.stash[INVENTORY_KEY] = inputs.inventory
    config.stash[BACKEND_KEY] = inputs.backend
    config.stash[SCENARIOS_KEY] = inputs.scenarios
    config.stash[KEEP_SIM_KEY] = bool(config.getoption("--keep-sim", False))
    config.stash[DISRUPTIVE_KEY] = bool(config.getoption("--allow-disruptive", False))
    shard = config.getoption("--shard", None)
    if shard:
        try:
            spec = parse_shard(str(shard))
        except LabharnessError as exc:
            raise pytest.UsageError(f"labharness: {exc}") from None
        config.pluginmanager.register(ShardSelector(spec), "labharness-shard")
    previous = config.getoption("--previous-facts", None)
    try:
        config.stash[PREVIOUS_KEY] = load_previous(Path(previous)) if previous else None
    except LabharnessError as exc:
        raise pytest.UsageError(f"labharness: {exc}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("per_subject")
    if marker is None or "subject" not in metafunc.fixturenames:
        return
    kind = marker.args[0] if marker.args else None
    if kind not in SUBJECT_KINDS:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: per_subject({kind!r}): use one "
                                f"of {', '.join(SUBJECT_KINDS)}")
    lab_model = metafunc.config.stash.get(LAB_KEY, None)
    if lab_model is None:
        metafunc.parametrize("subject", [pytest.param(None, id="no-lab", marks=pytest.mark.skip(
            reason="no lab given: pass --lab FILE (or set LABHARNESS_LAB)"))])
        return
    subjects = subjects_of(lab_model, kind)
    if not subjects:
        metafunc.parametrize("subject", [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason=f"lab {lab_model.name} has no {SUBJECT_KINDS[kind].what}"))])
        return
    metafunc.parametrize("subject", subjects, ids=subjects)


def _layer(item: pytest.Item) -> str:
    parts = item.path.parts
    if "suites" in parts:
        i = len(parts) - 1 - parts[::-1].index("suites")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return "other"


LAYER_ORDER = {layer: i for i, layer in enumerate(
    ("design", "server_build", "vsphere", "network", "nsx"))}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    errors: list[str] = []
    for item in items:
        layer = _layer(item)
        item.user_properties.append((LAYER_PROPERTY, layer))
        item.add_marker(pytest.mark.allure_label(layer, label_type="epic"))
        for mark in item.iter_markers("incident"):
            incident = find_incident(str(mark.args[0])) if mark.args else None
            if incident is None:
                errors.append(f"{item.nodeid}: incident({', '.join(map(repr, mark.args))}) is "
                              f"not an incident id ({ID_SPAN})")
                continue
            item.user_properties.append((INCIDENT_PROPERTY, incident.id))
            item.add_marker(pytest.mark.allure_label(incident.label, label_type="feature"))
        for mark in item.iter_markers("needs"):
            unknown = [c for c in mark.args if c not in CAPABILITIES]
            if unknown or not mark.args:
                errors.append(f"{item.nodeid}: needs({', '.join(map(repr, mark.args))}): use "
                              f"{', '.join(CAPABILITIES)}")
        callspec: Any = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("subject") is not None:
            subject = str(callspec.params["subject"])
            item.user_properties.append((SUBJECT_PROPERTY, subject))
            item.add_marker(pytest.mark.allure_label(subject, label_type="story"))
    if errors:
        raise pytest.UsageError("labharness: invalid markers\n" + "\n".join(errors))
    # Bottom-up: the lab file, then the hardware (a BMC fix and reset changes the uplinks),
    # then vCenter, then the wire. A stable sort keeps each suite's own order.
    items.sort(key=lambda item: LAYER_ORDER.get(_layer(item), len(LAYER_ORDER)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    backend_ = config.stash[BACKEND_KEY]
    for mark in item.iter_markers("needs"):
        for capability in mark.args:
            reason = backend_.why_not(capability)
            if reason is not None:
                pytest.skip(f"needs {capability}: {reason}")
    if item.get_closest_marker("disruptive") is not None:
        if not config.stash[DISRUPTIVE_KEY]:
            pytest.skip("disruptive: run with --allow-disruptive to let it change the lab")
        lab_model = config.stash[LAB_KEY]
        if lab_model is not None and not lab_model.disruptive_allowed:
            pytest.skip(f"disruptive: lab {lab_model.name} does not set disruptive_allowed: true")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """A test that needs what the lab or inventory does not give skips and says what to add;
    any other labharness error (an endpoint that stopped answering, a probe that broke) is an
    error of the test, reported apart from failures: the test reached no verdict."""
    token = current_item.set(item)
    try:
        return (yield)
    except NotProvided as exc:
        # reported at the test's own location, not here
        raise pytest.skip.Exception(str(exc), _use_item_location=True) from None
    except EndpointUnreachable as exc:
        item.user_properties.append((ERROR_PROPERTY, type(exc).__name__))
        _record_down(item.config, exc)
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    except LabharnessError as exc:
        item.user_properties.append((ERROR_PROPERTY, type(exc).__name__))
        raise
    finally:
        current_item.reset(token)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest
                         ) -> Generator[None, Any, Any]:
    """An endpoint that went down while a fixture read it: an error that names it, without a
    traceback, recorded for the summary."""
    try:
        return (yield)
    except EndpointUnreachable as exc:
        _record_down(request.config, exc)
        raise pytest.fail.Exception(str(exc), pytrace=False) from None


def _record_down(config: pytest.Config, exc: EndpointUnreachable) -> None:
    where = exc.where()
    if where is not None:
        kind, name, address = where
        endpoints(config).record(EndpointStatus(kind, name, address, False, str(exc)))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """The tests are known (selected, sharded): agents they need start now, in the background.
    What collection built (the lab model, the items, every imported module) lives until the
    session ends, so it is frozen out of the cyclic collector's sight (after one collection, so
    no garbage is frozen with it): at 32 hosts the full collections traversed it 15 times,
    2.8 s of the main thread. A cleanup `pytest_configure` registers gives it back."""
    gc.collect()
    gc.freeze()
    start_probe_sites_early(session.config, session.items)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a simulated lab that outlives the session (built by `labharness run` or `sim up`),
    name each daemon that died during it, before the summary is written."""
    config = session.config
    close_unclaimed_probe_sites(config)
    lab_model = config.stash.get(LAB_KEY, None)
    if lab_model is None or config.stash[BACKEND_KEY].kind != "sim":
        return
    from harness.sim import lifecycle

    state = lifecycle.load_state(lab_model.name)
    if state is not None:
        record_dead_daemons(config, state)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    down = endpoints(config).unreachable()
    if not down:
        return
    terminalreporter.section("labharness: unreachable endpoints", red=True)
    for status in down:
        terminalreporter.line(f"{status.kind} {status.name} ({status.address}): {status.reason}",
                              red=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lab_model = config.stash.get(LAB_KEY, None)
    if lab_model is None:
        return []
    backend_ = config.stash[BACKEND_KEY]
    caps = ", ".join(sorted(backend_.capabilities)) or "lab file only"
    return [f"labharness: lab {lab_model.name}, backend {backend_.kind} ({caps})"]
