"""Probe agents start in the background once the session's tests are known
(`start_probe_sites_early`): only when a test needs them and the backend can have them, and
agents no test took are stopped at the end."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from harness.backend import Backend
from harness.pytest_plugin import fixtures
from harness.pytest_plugin.state import BACKEND_KEY, INVENTORY_KEY, LAB_KEY, SCENARIOS_KEY

REAL = Backend("real", frozenset({"probe"}))
NO_PROBES = Backend("real", frozenset(), {"probe": "the inventory has no probes section"})
SIM = Backend("sim", frozenset({"probe"}))


@dataclass
class Item:
    fixturenames: list[str]


@dataclass
class Config:
    stash: pytest.Stash = field(default_factory=pytest.Stash)


@dataclass
class Sites:
    closed: bool = False

    def close(self) -> None:
        self.closed = True


def config_for(backend: Backend) -> Any:
    config = Config()
    config.stash[LAB_KEY] = cast(Any, object())
    config.stash[INVENTORY_KEY] = cast(Any, object())
    config.stash[BACKEND_KEY] = backend
    config.stash[SCENARIOS_KEY] = ()
    return config


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str]]:
    """What `_start_sites` was asked to start (in which thread), instead of starting it."""
    calls: list[tuple[Any, str]] = []

    def start(lab: Any, loaded: Any, backend: Backend, state: Any) -> Sites:
        calls.append((state, threading.current_thread().name))
        return Sites()

    monkeypatch.setattr(fixtures, "_start_sites", start)
    return calls


def test_started_in_the_background_when_a_test_needs_probes(starts: list[Any]) -> None:
    config = config_for(REAL)
    fixtures.start_probe_sites_early(config, [Item(["lab"]), Item(["probe_sites", "lab"])])
    sites = config.stash[fixtures.EARLY_SITES_KEY].result(timeout=10)
    [(state, thread)] = starts
    assert state is None and thread.startswith("lh-probe-start")  # not the main thread
    fixtures.close_unclaimed_probe_sites(config)  # no test took them: stopped
    assert sites.closed and fixtures.EARLY_SITES_KEY not in config.stash


@pytest.mark.parametrize(("backend", "items"), [
    (REAL, [Item(["lab", "vcenter"])]),          # no test needs probes
    (NO_PROBES, [Item(["probe_sites"])]),        # the fixture would skip
])
def test_not_started(starts: list[Any], backend: Backend, items: list[Item]) -> None:
    config = config_for(backend)
    fixtures.start_probe_sites_early(config, items)
    assert fixtures.EARLY_SITES_KEY not in config.stash and starts == []
    fixtures.close_unclaimed_probe_sites(config)  # nothing to do, no error


def test_sim_starts_early_only_on_a_running_lab_of_the_sessions_scenarios(
        starts: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.sim import lifecycle
    from harness.sim.dataplane import daemons

    @dataclass
    class State:
        scenarios: tuple[str, ...]
        daemons: tuple[()] = ()

    running: list[State | None] = [None]
    monkeypatch.setattr(lifecycle, "load_state", lambda _name: running[0])
    monkeypatch.setattr(daemons, "dead", lambda _daemons: {})
    lab = type("Lab", (), {"name": "sim"})()
    for state, started in ((None, False), (State(("F02",)), False), (State(()), True)):
        running[0] = state
        config = config_for(SIM)
        config.stash[LAB_KEY] = lab
        fixtures.start_probe_sites_early(config, [Item(["probe_sites"])])
        assert (fixtures.EARLY_SITES_KEY in config.stash) is started, state
        if started:
            config.stash[fixtures.EARLY_SITES_KEY].result(timeout=10)
            assert starts[-1][0] is state
        fixtures.close_unclaimed_probe_sites(config)


def test_a_start_that_failed_is_the_fixtures_error_and_nothing_to_stop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: Any) -> Sites:
        raise RuntimeError("agent host exited")

    monkeypatch.setattr(fixtures, "_start_sites", fail)
    config = config_for(REAL)
    fixtures.start_probe_sites_early(config, [Item(["probe_sites"])])
    with pytest.raises(RuntimeError, match="agent host exited"):
        config.stash[fixtures.EARLY_SITES_KEY].result(timeout=10)
    fixtures.close_unclaimed_probe_sites(config)
    assert fixtures.EARLY_SITES_KEY not in config.stash
