"""What changed between two runs of a lab: causes and findings that are new, fixed or still
open, and every fact that changed (like pyATS learn/diff, across vSphere, esxcli, the wire,
BMCs and routers).

Pure: two stored runs in, one `RunDiff` out. A finding is the same finding in both runs when
its incident, check and subject are (its message may quote a measured value that moves); a
cause when its incident and subject are. A layer that only one run read is not compared, and
the diff says so rather than listing its every fact as added or removed.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from harness.report.history.model import Cause, RunInfo, StoredFinding, StoredRun

T = TypeVar("T", StoredFinding, Cause)


@dataclass(frozen=True)
class Changes(Generic[T]):
    """Items of the newer run not in the older (`new`), of the older not in the newer
    (`fixed`), and in both (`still_open`, as the newer run reports them)."""

    new: tuple[T, ...]
    fixed: tuple[T, ...]
    still_open: tuple[T, ...]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"new": [x.to_dict() for x in self.new],
                "fixed": [x.to_dict() for x in self.fixed],
                "still_open": [x.to_dict() for x in self.still_open]}


@dataclass(frozen=True)
class FactChange:
    """One fact that differs: `added` (only the newer run read it), `removed` (only the older
    did), or `changed`."""

    layer: str
    subject: str
    key: str
    change: Literal["added", "removed", "changed"]
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "subject": self.subject, "key": self.key,
                "change": self.change, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RunDiff:
    """Run `a` (older) against run `b` (newer).

    Attributes:
        causes: None when either run stored no causes (nothing to compare).
        not_compared: layers only one of the runs read, e.g. `redfish: read only in run 7`.
    """

    a: RunInfo
    b: RunInfo
    findings: Changes[StoredFinding]
    causes: Changes[Cause] | None
    facts: tuple[FactChange, ...]
    not_compared: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        """No new or fixed cause or finding and no fact changed."""
        moved = [self.findings.new, self.findings.fixed, self.facts]
        if self.causes is not None:
            moved += [self.causes.new, self.causes.fixed]
        return not any(moved)

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(),
                "causes": None if self.causes is None else self.causes.to_dict(),
                "findings": self.findings.to_dict(),
                "facts": [f.to_dict() for f in self.facts],
                "not_compared": list(self.not_compared), "unchanged": self.unchanged}


def _changes(old: Iterable[T], new: Iterable[T], key: Callable[[T], Hashable]) -> Changes[T]:
    before: dict[Hashable, T] = {}
    for item in old:
        before.setdefault(key(item), item)
    after: dict[Hashable, T] = {}
    for item in new:
        after.setdefault(key(item), item)
    return Changes(new=tuple(v for k, v in after.items() if k not in before),
                   fixed=tuple(v for k, v in before.items() if k not in after),
                   still_open=tuple(v for k, v in after.items() if k in before))


def _fact_changes(a: StoredRun, b: StoredRun) -> tuple[list[FactChange], list[str]]:
    changes: list[FactChange] = []
    not_compared: list[str] = []
    for layer in sorted(set(a.facts) | set(b.facts)):
        if layer not in a.facts or layer not in b.facts:
            only = b.info.id if layer in b.facts else a.info.id
            not_compared.append(f"{layer}: read only in run {only}")
            continue
        old, new = a.facts[layer], b.facts[layer]
        for subject in sorted(set(old) | set(new)):
            was, now = old.get(subject, {}), new.get(subject, {})
            for key in sorted(set(was) | set(now)):
                if key not in was:
                    changes.append(FactChange(layer, subject, key, "added", after=now[key]))
                elif key not in now:
                    changes.append(FactChange(layer, subject, key, "removed", before=was[key]))
                elif was[key] != now[key]:
                    changes.append(FactChange(layer, subject, key, "changed", was[key],
                                              now[key]))
    return changes, not_compared


def diff_runs(a: StoredRun, b: StoredRun) -> RunDiff:
    """Compare run `a` (older) with run `b` (newer)."""
    facts, not_compared = _fact_changes(a, b)
    causes = (None if a.causes is None or b.causes is None
              else _changes(a.causes, b.causes, lambda c: c.key))
    return RunDiff(a.info, b.info, _changes(a.findings, b.findings, lambda f: f.key), causes,
                   tuple(facts), tuple(not_compared))
