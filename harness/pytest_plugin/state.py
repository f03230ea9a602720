"""What the plugin keeps in `config.stash`, and its keys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import pytest

from harness.backend import Backend
from harness.lab.loader import LoadedInventory
from harness.lab.model import Lab
from harness.pytest_plugin.previous import PreviousRun


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint as the run found it."""

    kind: str  # vcenter | bmc | ssh | probe | daemon (a simulator of the sim)
    name: str
    address: str
    reachable: bool
    reason: str | None = None
    notes: tuple[str, ...] = ()  # e.g. "stalled: GET /redfish/v1/Systems/1 took 42.0 s"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Endpoints:
    """The endpoints of one session (kept in `config.stash`)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], EndpointStatus] = {}

    def record(self, status: EndpointStatus) -> None:
        old = self._by_key.get((status.kind, status.name))
        if old is not None and old.notes:
            status = replace(status, notes=old.notes + status.notes)
        self._by_key[(status.kind, status.name)] = status

    def note(self, kind: str, name: str, text: str) -> None:
        """Something the run noticed about an endpoint that still answered."""
        old = self._by_key.get((kind, name))
        if old is not None:
            self._by_key[(kind, name)] = replace(old, notes=(*old.notes, text))

    def all(self) -> list[EndpointStatus]:
        return sorted(self._by_key.values(), key=lambda s: (s.kind, s.name))

    def unreachable(self) -> list[EndpointStatus]:
        return [s for s in self.all() if not s.reachable]


LAB_KEY = pytest.StashKey[Lab | None]()
INVENTORY_KEY = pytest.StashKey[LoadedInventory | None]()
BACKEND_KEY = pytest.StashKey[Backend]()
SCENARIOS_KEY = pytest.StashKey[tuple[str, ...]]()
DISRUPTIVE_KEY = pytest.StashKey[bool]()
KEEP_SIM_KEY = pytest.StashKey[bool]()
ENDPOINTS_KEY = pytest.StashKey[Endpoints]()
NOTES_KEY = pytest.StashKey[list[str]]()
PREVIOUS_KEY = pytest.StashKey[PreviousRun | None]()

LAYER_PROPERTY = "labharness.layer"
INCIDENT_PROPERTY = "labharness.incident"
SUBJECT_PROPERTY = "labharness.subject"
ERROR_PROPERTY = "labharness.error"  # a labharness error ended the test: no verdict
