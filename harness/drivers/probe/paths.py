"""A session's path measurements, taken together and confirmed before they count.

Full-mesh path tests (vMotion, iSCSI, VTEP pairs) ask the same kind of question of every host
pair. Asked one pair at a time, a 32-host lab spends minutes waiting on timeouts in turn; here
every echo the session's tests will ask for is sent at once (each probe VM probes all its peers
in one batch, the probe VMs side by side), then the path-MTU searches of the paths that
answered, and the tests read their answers.

Under that load a lost frame is loss until proven otherwise: an echo that is not fully
answered, or a path MTU below what was asked with no ICMP naming a hop, is measured again once
the batch is over, one probe at a time per probe VM and a few probe VMs at once (a quieter
wire), before it counts; `attempts` keeps what every try saw, so a finding says how many probes
were sent and lost.

The plans of suites that run later may be measured in the background (`ahead`) while the tests
of an earlier one read theirs: a result is read as soon as it is in, and asking for one the
background has not measured waits for it to finish first.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

from harness.errors import LabharnessError
from harness.probes.mtu import PathMtuResult
from harness.probes.trunk import TrunkEcho
from harness.probes.vxlan import OverlayPingResult

from .sites import EchoJob, MtuJob, OverlayJob, ProbeSites

J = TypeVar("J", bound=Hashable)
PATIENT_WINDOW_S = 2.0
CONFIRM_HOSTS_AT_ONCE = 16  # probe sites confirming at once, each one probe at a time: an
# eighth of the first pass's load, and a lab with hundreds of broken paths still ends in minutes
R = TypeVar("R")


@dataclass(frozen=True)
class Attempt:
    """One try of a measurement: echoes sent and answered, or the path MTU found."""

    sent: int
    answered: int
    path_mtu: int | None = None
    method: str | None = None

    def to_dict(self) -> dict[str, int | str | None]:
        return {"sent": self.sent, "answered": self.answered, "path_mtu": self.path_mtu,
                "method": self.method}


@dataclass(frozen=True)
class PathPlan:
    """What a suite's tests will ask of the paths: echoes, the path MTUs to search once their
    path's echo (the first of each pair) was answered, and overlay pings."""

    echoes: tuple[EchoJob, ...] = ()
    mtus: tuple[tuple[EchoJob, MtuJob], ...] = ()
    overlays: tuple[OverlayJob, ...] = ()


@dataclass
class PathProbes:
    """Echo and path-MTU results by job: measured in batches ahead of the tests (`prefetch`),
    or on first use; every unconfirmed failure measured once more on its own."""

    sites: ProbeSites
    echoes: dict[EchoJob, TrunkEcho | LabharnessError] = field(default_factory=dict)
    mtus: dict[MtuJob, PathMtuResult | LabharnessError] = field(default_factory=dict)
    overlays: dict[OverlayJob, OverlayPingResult | LabharnessError] = field(
        default_factory=dict)
    attempts: dict[EchoJob | MtuJob | OverlayJob, list[Attempt]] = field(default_factory=dict)
    # the background measurement (`ahead`), what it ended with if that was an error, and the
    # flag that stops it between steps (`close`)
    _ahead: threading.Thread | None = field(default=None, repr=False)
    _ahead_failed: BaseException | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    # -- ahead of the tests --------------------------------------------------------------------
    def ahead(self, plans: Iterable[PathPlan]) -> None:
        """Measure `plans` in the background, one after the other (once what was started
        before has ended). Results land as they are confirmed; only the thread that measures
        writes them (a job's attempts before its result), and a job asked for that is not in
        yet waits for the background to end."""
        todo = list(plans)
        self.settle()

        def measure() -> None:
            try:
                for plan in todo:
                    if self._stop.is_set():
                        return
                    self.prefetch(plan.echoes, plan.mtus)
                    if self._stop.is_set():
                        return
                    self.prefetch_overlays(plan.overlays)
            except BaseException as exc:  # raised to a reader whose jobs it left unmeasured
                self._ahead_failed = exc

        self._ahead = threading.Thread(target=measure, name="lh-paths-ahead", daemon=True)
        self._ahead.start()

    def settle(self) -> None:
        """Wait for the background measurement to end, if one runs (a probe of its own that
        must not share the wire with it waits here). In the background thread itself, there is
        nothing to wait for."""
        ahead = self._ahead
        if ahead is not None and threading.current_thread() is not ahead:
            ahead.join()

    def _wait_for(self, missing: Callable[[], bool]) -> None:
        """While something asked for is `missing`, wait for the background; if it is still
        missing after that and the background ended with an error, raise that error (to every
        such reader: what it should have measured is not there)."""
        if not missing():
            return
        self.settle()
        if self._ahead_failed is not None and threading.current_thread() is not self._ahead \
                and missing():
            raise self._ahead_failed

    def close(self) -> None:
        """Stop the background measurement after its current step and wait for it; what it
        measured or ended with goes unread (the session is over)."""
        self._stop.set()
        self.settle()

    def prefetch(self, echoes: Iterable[EchoJob], mtus: Iterable[tuple[EchoJob, MtuJob]] = ()
                 ) -> None:
        """All `echoes` at once; then, at once, the MTU jobs whose path echo was answered."""
        echoes, mtus = list(echoes), list(mtus)
        self._wait_for(lambda: any(j not in self.echoes for j in echoes) or any(
            m not in self.mtus and self.answered(e) for e, m in mtus))
        self._echo_batch([j for j in dict.fromkeys(echoes) if j not in self.echoes])
        # the search sends to the MAC its path's echo just resolved: one ARP per path, not two
        # (a broadcast reaches every probe VM on the VLAN); a search tried again ARPs afresh
        todo: list[MtuJob] = []
        macs: dict[MtuJob, tuple[int | None, str, str]] = {}
        for echo, job in mtus:
            if job in self.mtus or not self.answered(echo):
                continue
            todo.append(job)
            got = self.echoes.get(echo)
            if isinstance(got, TrunkEcho) and got.next_hop_mac:
                macs.setdefault(job, (got.vlan, got.next_hop, got.next_hop_mac))
        self._mtu_batch(list(dict.fromkeys(todo)), macs)

    def prefetch_plan(self, plan: PathPlan) -> None:
        """A suite's plan: its echoes and path MTUs, then its overlay pings."""
        self.prefetch(plan.echoes, plan.mtus)
        self.prefetch_overlays(plan.overlays)

    def prefetch_overlays(self, jobs: Iterable[OverlayJob]) -> None:
        """All overlay pings of `jobs` at once; the not fully answered once more, on their own."""
        wanted = list(dict.fromkeys(jobs))
        self._wait_for(lambda: any(j not in self.overlays for j in wanted))
        todo = [j for j in wanted if j not in self.overlays]
        for job, (tries, last) in _confirmed(todo, self.sites.overlay_many, _overlay_ok,
                                              patient=_patient_overlay).items():
            self.attempts[job] = [Attempt(t.sent, t.answered) for t in tries]
            self.overlays[job] = last

    def answered(self, job: EchoJob) -> bool:
        got = self.echoes.get(job)
        return isinstance(got, TrunkEcho) and got.sent > 0 and got.answered == got.sent

    def _echo_batch(self, jobs: list[EchoJob]) -> None:
        for job, (tries, last) in _confirmed(jobs, self.sites.echo_many,
                                              lambda _j, t: _echo_ok(t)).items():
            self.attempts[job] = [Attempt(t.sent, t.answered) for t in tries]
            # the most telling try counts: the best answered, and of tries alike the one that
            # saw most (an answer on another VLAN, the F12 evidence, may come in one try only:
            # the target's ARP for the probe is still pending from the try before)
            self.echoes[job] = max(tries, key=lambda t: (t.answered, len(t.seen))
                                   ) if tries else last

    def _mtu_batch(self, jobs: list[MtuJob],
                   next_hop_macs: Mapping[MtuJob, tuple[int | None, str, str]] | None = None
                   ) -> None:
        first = functools.partial(self.sites.path_mtu_many, next_hop_macs=next_hop_macs)
        for job, (tries, last) in _confirmed(jobs, first, _mtu_settled,
                                              again=self.sites.path_mtu_many).items():
            self.attempts[job] = [Attempt(t.size_probes, sum(1 for p in t.probes
                                                             if p.outcome != "timeout"),
                                          t.path_mtu, t.method) for t in tries]
            self.mtus[job] = max(tries, key=lambda r: (r.path_mtu, r.limiting_hop is not None)
                                 ) if tries else last

    # -- what the tests read -------------------------------------------------------------------
    def echo(self, job: EchoJob) -> TrunkEcho:
        """The job's echoes (measured now if they were not planned).

        Raises:
            LabharnessError: what stopped the probe (no probe site, agent down, ...).
        """
        self._wait_for(lambda: job not in self.echoes)
        if job not in self.echoes:
            self._echo_batch([job])
        got = self.echoes[job]
        if isinstance(got, LabharnessError):
            raise got
        return got

    def path_mtu(self, job: MtuJob) -> PathMtuResult:
        """The job's path MTU (measured now if it was not planned).

        Raises:
            LabharnessError: what stopped the measurement (no ARP reply, unreachable, ...).
        """
        self._wait_for(lambda: job not in self.mtus)
        if job not in self.mtus:
            self._mtu_batch([job])
        got = self.mtus[job]
        if isinstance(got, LabharnessError):
            raise got
        return got

    def overlay(self, job: OverlayJob) -> OverlayPingResult:
        """The job's overlay pings (measured now if they were not planned).

        Raises:
            LabharnessError: what stopped them (no ARP reply over the overlay, agent down, ...).
        """
        self.prefetch_overlays([job])
        got = self.overlays[job]
        if isinstance(got, LabharnessError):
            raise got
        return got

    def tries(self, job: EchoJob | MtuJob | OverlayJob) -> list[dict[str, int | str | None]]:
        """Every try of a job, for a finding's evidence (the job was read first: its tries are
        in)."""
        return [a.to_dict() for a in self.attempts.get(job, [])]


def _echo_ok(got: TrunkEcho | LabharnessError) -> bool:
    return isinstance(got, TrunkEcho) and got.sent > 0 and got.answered == got.sent


def _confirmed(jobs: list[J], run: Callable[..., Mapping[J, R | LabharnessError]],
               settled: Callable[[J, R | LabharnessError], bool],
               patient: Callable[[J], J] = lambda job: job,
               again: Callable[..., Mapping[J, R | LabharnessError]] | None = None
               ) -> dict[J, tuple[list[R], R | LabharnessError]]:
    """Run `jobs` at once; those not `settled` once more after all of them (through `again`
    when given, else `run`), one at a time per probe site and `CONFIRM_HOSTS_AT_ONCE` sites at
    once (a quieter wire), as `patient` makes them (longer waits where the job has them). Per
    job: its results (errors left out) and the last outcome."""
    if not jobs:
        return {}
    first: Mapping[J, R | LabharnessError] = run(jobs)
    retry = {patient(j): j for j in jobs if not settled(j, first[j])}
    got: Mapping[J, R | LabharnessError] = (
        (again or run)(list(retry), parallel=1, hosts_at_once=CONFIRM_HOSTS_AT_ONCE)
        if retry else {})
    second = {retry[p]: r for p, r in got.items()}
    out: dict[J, tuple[list[R], R | LabharnessError]] = {}
    for one in jobs:
        outcomes = [first[one], *([second[one]] if one in second else [])]
        out[one] = ([t for t in outcomes if not isinstance(t, LabharnessError)], outcomes[-1])
    return out


def _patient_overlay(job: OverlayJob) -> OverlayJob:
    """The second try waits `PATIENT_WINDOW_S` for late replies: a reply that comes late on a
    loaded path is late, not lost."""
    return replace(job, window=max(job.window, PATIENT_WINDOW_S))


def _overlay_ok(_job: OverlayJob, got: OverlayPingResult | LabharnessError) -> bool:
    """Counts as it is: every echo answered, or duplicates (the verdict is about those)."""
    return isinstance(got, OverlayPingResult) and (got.answered == got.sent
                                                   or got.duplicates > 0)


def _mtu_settled(job: MtuJob, got: PathMtuResult | LabharnessError) -> bool:
    """Enough as it is: the size passed, or a hop's ICMP named the limit. When a size came back
    in one try only, the better try counts: a size carried once is carried (its loss in the
    other try was loss)."""
    if not isinstance(got, PathMtuResult):
        return False
    return got.path_mtu >= job.hi or got.limiting_hop is not None
