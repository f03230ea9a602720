"""Finding: a check's verdict, written like a good colleague's note."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.facts import JsonValue
from harness.incidents import ID_SPAN, INCIDENTS

Severity = Literal["error", "warning", "info"]
Source = Literal["intent", "observed"]



@dataclass(frozen=True)
class Finding:
    """What is wrong, where, the evidence, the probable cause and the fix.

    Attributes:
        id: the incident id from INCIDENTS.md (`F12`).
        subject: what it is about, in the lab's own names (`esx01/vmk1`).
        source: `intent` when found in the lab file, `observed` when found on the lab itself.
    """

    id: str
    severity: Severity
    subject: str
    message: str
    cause: str
    fix: str
    check: str
    source: Source = "intent"
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.id not in INCIDENTS:
            raise ValueError(f"finding id {self.id!r} is not an incident id ({ID_SPAN})")

    def to_dict(self) -> dict[str, JsonValue]:
        """The summary.json form."""
        return {
            "id": self.id,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "cause": self.cause,
            "fix": self.fix,
            "check": self.check,
            "source": self.source,
            "evidence": dict(self.evidence),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            id=data["id"], severity=data["severity"], subject=data["subject"],
            message=data["message"], cause=data["cause"], fix=data["fix"], check=data["check"],
            source=data.get("source", "intent"), evidence=dict(data.get("evidence", {})),
        )

    def text(self) -> str:
        """Multi-line note for terminals and assertion messages."""
        incident = INCIDENTS[self.id]
        lines = [
            f"[{incident.label}] {self.severity}: {self.subject}: {self.message}",
            f"  cause: {self.cause}",
            f"  fix:   {self.fix}",
        ]
        if self.evidence:
            lines.append(f"  evidence ({self.source}): "
                         + json.dumps(dict(self.evidence), sort_keys=True, default=str))
        return "\n".join(lines)
