"""What provisioning did, and how it fails."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from harness.sim.errors import SimError


@dataclass
class StageReport:
    """One stage of the build: how long it took and how many SOAP calls it made."""

    name: str
    seconds: float
    calls: int


@dataclass
class ProvisionReport:
    """What provisioning did: stages with timings and call counts, what it built, and notes."""

    lab: str
    stages: list[StageReport] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # SOAP method -> count
    built: dict[str, list[str]] = field(default_factory=dict)  # kind -> lab element names
    notes: list[str] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_s(self) -> float:
        return sum(s.seconds for s in self.stages)

    def add(self, kind: str, element: str) -> None:
        self.built.setdefault(kind, []).append(element)

    def summary(self) -> str:
        """One line per stage, then the totals: for logs and the benchmark's output."""
        lines = [f"{s.name:<22} {s.seconds * 1000:8.1f} ms {s.calls:5d} calls"
                 for s in self.stages]
        lines.append(f"{'total':<22} {self.total_s * 1000:8.1f} ms {self.total_calls:5d} calls")
        return "\n".join(lines)


class ProvisionError(SimError):
    """A lab element could not be built; names the element, the vSphere call and the fault.

    `report` holds what was done before the failure (stages, calls, built elements).
    """

    def __init__(self, element: str, action: str, detail: str,
                 report: ProvisionReport | None = None) -> None:
        self.element = element
        self.action = action
        self.detail = detail
        self.report = report
        super().__init__(f"{element}: {action}: {detail}")
