"""Keys of what the plugin keeps in `config.stash`."""

from __future__ import annotations

import pytest

from harness.backend import Backend
from harness.lab.loader import LoadedInventory
from harness.lab.model import Lab

LAB_KEY = pytest.StashKey[Lab | None]()
INVENTORY_KEY = pytest.StashKey[LoadedInventory | None]()
BACKEND_KEY = pytest.StashKey[Backend]()
SCENARIOS_KEY = pytest.StashKey[tuple[str, ...]]()
DISRUPTIVE_KEY = pytest.StashKey[bool]()
KEEP_SIM_KEY = pytest.StashKey[bool]()

LAYER_PROPERTY = "labharness.layer"
INCIDENT_PROPERTY = "labharness.incident"
SUBJECT_PROPERTY = "labharness.subject"
