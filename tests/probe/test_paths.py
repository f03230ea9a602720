"""The confirmation policy of a session's path measurements (`PathProbes`), on recorded-shaped
results: a lost echo or an MTU shortfall with no ICMP behind it is measured again before it
counts, and every try is kept for the evidence; what is measured in the background is read
once it is in, never measured twice. (The batches themselves run against real agents
in test_agent.py and in every sim run.)"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

import pytest

from harness.drivers.probe.errors import ProbeError
from harness.drivers.probe.paths import (
    CONFIRM_HOSTS_AT_ONCE,
    PATIENT_WINDOW_S,
    PathPlan,
    PathProbes,
)
from harness.drivers.probe.sites import EchoJob, MtuJob, OverlayJob, ProbeSites
from harness.errors import LabharnessError
from harness.probes.mtu import Hop, PathMtuResult, SizeProbe
from harness.probes.trunk import Seen, TrunkEcho
from harness.probes.vxlan import OverlayPingResult


def _echo(answered: int) -> TrunkEcho:
    return TrunkEcho("tr0", 20, "198.18.20.250/24", "198.18.20.12", "198.18.20.12", True,
                     "02:00:00:00:00:05", 3, 64, True,
                     {seq: int(seq <= answered) for seq in (1, 2, 3)})


def _mtu(found: int, hop: Hop | None = None) -> PathMtuResult:
    method = "frag-needed" if hop else ("clean" if found >= 9000 else "search")
    return PathMtuResult("198.18.20.12", "tr0", found, hop, 2, [], hop is not None, method,
                         [SizeProbe(9000, "reply" if found >= 9000 else "timeout", None, None)],
                         1.0)


class Recorded:
    """Answers each job with the next of its recorded outcomes, and notes every batch."""

    def __init__(self, outcomes: dict[Any, list[Any]]) -> None:
        self.outcomes = outcomes
        self.batches: list[tuple[list[Any], int, int]] = []
        self.macs: list[dict[Any, Any]] = []  # the next-hop MACs each path-MTU batch was given

    def _next(self, jobs: Iterable[Any], parallel: int, hosts_at_once: int) -> dict[Any, Any]:
        todo = list(jobs)
        self.batches.append((todo, parallel, hosts_at_once))
        return {job: self.outcomes[job].pop(0) for job in todo}

    def echo_many(self, jobs: Iterable[EchoJob], *, parallel: int = 8,
                  hosts_at_once: int = 16) -> dict[Any, Any]:
        return self._next(jobs, parallel, hosts_at_once)

    def path_mtu_many(self, jobs: Iterable[MtuJob], *, parallel: int = 8,
                      hosts_at_once: int = 16,
                      next_hop_macs: dict[Any, Any] | None = None) -> dict[Any, Any]:
        self.macs.append(dict(next_hop_macs or {}))
        return self._next(jobs, parallel, hosts_at_once)

    def overlay_many(self, jobs: Iterable[OverlayJob], *, parallel: int = 8,
                     hosts_at_once: int = 16) -> dict[Any, Any]:
        return self._next(jobs, parallel, hosts_at_once)


A = EchoJob("esx01", "dvpg-vmotion", "198.18.20.12")
B = EchoJob("esx01", "dvpg-vmotion", "198.18.20.13")
C = EchoJob("esx02", "dvpg-vmotion", "198.18.20.11")
MA, MB, MC = (MtuJob(j.host, j.port_group, j.dst, hi=9000) for j in (A, B, C))


def test_a_lost_echo_is_sent_again_before_it_counts() -> None:
    sites = Recorded({A: [_echo(3)], B: [_echo(2), _echo(3)], C: [_echo(0), _echo(0)]})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.prefetch([A, B, C])

    # one batch for all, then the two not fully answered, one at a time per probe VM
    assert [(set(jobs), parallel, hosts) for jobs, parallel, hosts in sites.batches] == [
        ({A, B, C}, 8, 16), ({B, C}, 1, CONFIRM_HOSTS_AT_ONCE)]
    assert paths.answered(A) and paths.answered(B) and not paths.answered(C)
    assert paths.tries(B) == [{"sent": 3, "answered": 2, "path_mtu": None, "method": None},
                              {"sent": 3, "answered": 3, "path_mtu": None, "method": None}]
    assert paths.echo(C).answered == 0 and len(paths.tries(C)) == 2


def test_an_mtu_shortfall_without_icmp_is_measured_again() -> None:
    hop = Hop(2, "198.18.20.1", 1500)
    sites = Recorded({A: [_echo(3)], B: [_echo(3)], C: [_echo(1), _echo(1)],
                      MA: [_mtu(8999), _mtu(9000)], MB: [_mtu(1500, hop)]})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.prefetch([A, B, C], [(A, MA), (B, MB), (C, MC)])

    # no MTU search where the echo was not answered; the named hop is not asked again
    assert [set(jobs) for jobs, _, _ in sites.batches[2:]] == [{MA, MB}, {MA}]
    assert paths.path_mtu(MA).path_mtu == 9000  # a size carried once is carried
    assert [t["path_mtu"] for t in paths.tries(MA)] == [8999, 9000]
    assert paths.path_mtu(MB).limiting_hop == hop and len(paths.tries(MB)) == 1
    # the searches send to the MAC their path's echo resolved; the search tried again ARPs
    resolved = (20, "198.18.20.12", "02:00:00:00:00:05")  # the echo's VLAN, next hop and MAC
    assert sites.macs == [{MA: resolved, MB: resolved}, {}]


def test_an_error_stays_the_jobs_own() -> None:
    down = ProbeError("agent went away", namespace="esx02", error_type="AgentUnavailable")
    sites = Recorded({A: [_echo(3)], C: [down, down]})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.prefetch([A, C])

    assert paths.answered(A)
    with pytest.raises(LabharnessError) as raised:
        paths.echo(C)
    assert raised.value is down


def test_a_lossy_overlay_ping_is_sent_again_waiting_longer_for_late_replies() -> None:
    job = OverlayJob("web01", "198.18.202.10")
    patient = replace(job, window=PATIENT_WINDOW_S)
    lossy = OverlayPingResult(job.dst, 5, 0, 0, dict.fromkeys(range(1, 6), 0), 5)
    whole = OverlayPingResult(job.dst, 5, 5, 0, dict.fromkeys(range(1, 6), 1), 0)
    sites = Recorded({job: [lossy], patient: [whole]})
    paths = PathProbes(cast(ProbeSites, sites))

    assert paths.overlay(job) is whole  # kept under the job the test asked for
    assert [(jobs, parallel) for jobs, parallel, _ in sites.batches] == [([job], 8),
                                                                         ([patient], 1)]
    assert [t["answered"] for t in paths.tries(job)] == [0, 5]


def test_of_two_unanswered_tries_the_one_that_saw_more_counts() -> None:
    """F12 on the wire: the target's ARP for the probe on another VLAN may come in the first
    try only (in the second its resolution is still pending); that try is the evidence."""
    arp_elsewhere = Seen("arp-request", "tr0", 10, "00:50:56:00:00:13", "198.18.10.13", 3.0)
    saw = replace(_echo(0), seen=[arp_elsewhere])
    sites = Recorded({C: [saw, _echo(0)]})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.prefetch([C])

    assert paths.echo(C) is saw and len(paths.tries(C)) == 2


class Gated(Recorded):
    """Recorded outcomes; a batch holding a job of `held` waits until `gate` opens."""

    def __init__(self, outcomes: dict[Any, list[Any]], held: set[Any]) -> None:
        super().__init__(outcomes)
        self.held = held
        self.gate = threading.Event()

    def _next(self, jobs: Iterable[Any], parallel: int, hosts_at_once: int) -> dict[Any, Any]:
        todo = list(jobs)
        if self.held & set(todo):
            assert self.gate.wait(10), "the test never opened the gate"
        return super()._next(todo, parallel, hosts_at_once)


def test_a_later_suites_plan_measured_in_the_background_is_read_once_in() -> None:
    overlay = OverlayJob("web01", "198.18.202.10")
    whole = OverlayPingResult(overlay.dst, 5, 5, 0, dict.fromkeys(range(1, 6), 1), 0)
    sites = Gated({A: [_echo(0), _echo(0)], B: [_echo(2), _echo(3)], C: [_echo(3)],
                   MC: [_mtu(9000)], overlay: [whole]}, held={B})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.prefetch([A])
    paths.ahead([PathPlan((B,)), PathPlan((C,), ((C, MC),), (overlay,))])

    # what is in is read while the background still measures (its batch is held), and a path
    # whose echo went unanswered has no MTU to wait for
    assert paths.echo(A).answered == 0 and not sites.gate.is_set()
    paths.prefetch([A], [(A, MA)])
    assert not sites.gate.is_set()
    threading.Timer(0.2, sites.gate.set).start()
    # what is not in waits for the background, confirmation included, and is not measured
    # twice: a suite's own prefetch of what the background was given, then its readers
    paths.prefetch([B, C], [(C, MC)])
    paths.prefetch_overlays([overlay])
    assert [t["answered"] for t in paths.tries(B)] == [2, 3]
    assert paths.path_mtu(MC).path_mtu == 9000 and paths.overlay(overlay) is whole
    assert [set(jobs) for jobs, _, _ in sites.batches] == [{A}, {A}, {B}, {B}, {C}, {MC},
                                                           {overlay}]


def test_a_background_failure_is_raised_to_the_readers_of_what_it_left_out() -> None:
    overlay = OverlayJob("web01", "198.18.202.10")  # no outcome recorded: its batch raises
    sites = Gated({A: [_echo(3)], B: [_echo(3)], C: [_echo(3)]}, held={B})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.prefetch([A])
    paths.ahead([PathPlan((B,), (), (overlay,)), PathPlan((C,))])
    threading.Timer(0.2, sites.gate.set).start()

    assert paths.echo(B).answered == 3  # waited for: the failure after it is not B's
    for _ in range(2):  # every test that reads what it left out, as when a fixture raised
        with pytest.raises(KeyError):
            paths.overlay(overlay)
        with pytest.raises(KeyError):
            paths.echo(C)
    assert paths.echo(A).answered == 3  # what was measured is still read
    assert [set(jobs) for jobs, _, _ in sites.batches] == [{A}, {B}, {overlay}]


def test_closing_stops_the_background_after_its_current_step() -> None:
    sites = Gated({B: [_echo(3)], C: [_echo(3)]}, held={B})
    paths = PathProbes(cast(ProbeSites, sites))
    paths.ahead([PathPlan((B,)), PathPlan((C,))])
    threading.Timer(0.2, sites.gate.set).start()
    paths.close()  # the session ended first (-x, an interrupt): B's batch ends, C never starts

    assert [set(jobs) for jobs, _, _ in sites.batches] == [{B}]
    assert not any(t.name == "lh-paths-ahead" and t.is_alive() for t in threading.enumerate())
