"""What probes observed on a lab's wire, as the network checks read it.

Probe agents return their own detailed results (`harness.probes`); the suites condense them into
these records, which name lab subjects (`esx01/vmk1`) and keep the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.facts import JsonValue

UplinkKey = tuple[str, str]  # (host, vmnic)


@dataclass(frozen=True)
class Heard:
    """One CDP/LLDP neighbour heard on an interface."""

    protocol: str  # cdp | lldp
    device: str
    port: str


@dataclass(frozen=True)
class PathObservation:
    """A probe along a path between two lab endpoints."""

    source: str  # `esx01/vmk1`, `web01/ethernet0`
    target: str  # `esx02/vmk1`, an address
    ok: bool
    detail: str
    evidence: Mapping[str, JsonValue] = field(default_factory=dict)
