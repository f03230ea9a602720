"""The run history as the diff and the command line read it: plain typed records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    """One stored run: when, which lab and scenarios, its verdict and counts.

    Attributes:
        findings: findings of severity error or warning.
        causes: root causes; None when the run's summary had none to store (a labharness
            without the diagnosis step).
    """

    id: int
    lab: str
    backend: str
    scenarios: tuple[str, ...]
    started: datetime
    verdict: str
    exit_code: int | None
    counts: Mapping[str, int]
    findings: int
    causes: int | None
    report_dir: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "lab": self.lab, "backend": self.backend,
                "scenarios": list(self.scenarios),
                "started": self.started.isoformat(timespec="seconds"),
                "verdict": self.verdict, "exit_code": self.exit_code,
                "tests": dict(self.counts), "findings": self.findings, "causes": self.causes,
                "report_dir": self.report_dir}


@dataclass(frozen=True)
class StoredFinding:
    """A finding as the history keeps it for comparing runs."""

    ref: str | None
    incident: str
    check: str
    subject: str
    severity: str
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes it the same finding in another run, whatever its message says (a
        message quotes measured values: a clock 360.2 s ahead one night, 359.8 s the next)."""
        return (self.incident, self.check, self.subject)

    def text(self) -> str:
        return f"{self.incident} {self.severity} {self.subject} ({self.check}): {self.message}"

    def short(self) -> str:
        return f"{self.incident} {self.subject}"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "id": self.incident, "check": self.check,
                "subject": self.subject, "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Cause:
    """A root cause as the history keeps it."""

    id: str
    rank: int | None
    incident: str | None
    subject: str
    layer: str | None
    title: str
    explains: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.incident or "-", self.subject)

    def text(self) -> str:
        return f"{self.incident or '-'} {self.subject}: {self.title}"

    def short(self) -> str:
        return f"{self.incident or '-'} {self.subject}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "rank": self.rank, "incident": self.incident,
                "subject": self.subject, "layer": self.layer, "title": self.title,
                "explains": list(self.explains)}


@dataclass(frozen=True)
class StoredRun:
    """A run loaded back: its info, findings, causes (None: none stored) and facts by layer,
    subject and key."""

    info: RunInfo
    findings: tuple[StoredFinding, ...]
    causes: tuple[Cause, ...] | None
    facts: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
