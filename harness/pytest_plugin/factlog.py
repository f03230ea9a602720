"""The facts a session read, flattened per layer for the run history (`facts.json`).

The fixtures that read a lab (the vCenter snapshot, network hints, esxcli host views, each
router, each server's BMC) record what they read here as they read it: a run that never
touched a layer stores nothing for it, and no read happens for the history's sake. When a
layer is read again (a server re-read after its fix and reset), the later read wins: the
history keeps the lab as the run left it.
"""

from __future__ import annotations

import pytest

from harness.checks.server import bios_nic_attributes
from harness.facts.flat import REDFISH, LayerFacts, server_facts
from harness.facts.redfish import ServerFacts
from harness.lab.model import Lab

FACTS_KEY = pytest.StashKey["FactsLog"]()


class FactsLog:
    """Per layer, per subject, the flattened facts of one session."""

    def __init__(self) -> None:
        self.layers: dict[str, LayerFacts] = {}

    def record(self, layer: str, facts: LayerFacts) -> None:
        """Keep the facts of the subjects read (replacing an earlier read of the same one)."""
        self.layers.setdefault(layer, {}).update(facts)

    def to_dict(self) -> dict[str, LayerFacts]:
        return {layer: dict(sorted(subjects.items()))
                for layer, subjects in sorted(self.layers.items())}


def facts_log(config: pytest.Config) -> FactsLog:
    """The session's log (made on first use)."""
    found = config.stash.get(FACTS_KEY, None)
    if found is None:
        found = config.stash[FACTS_KEY] = FactsLog()
    return found


def record_server(config: pytest.Config, lab: Lab, facts: ServerFacts) -> None:
    """Keep what a server's BMC walk read, with the BIOS attributes the checks judge."""
    server = lab.servers.get(facts.name)
    keys = [a for a, _, _ in bios_nic_attributes(server)] if server is not None else []
    facts_log(config).record(REDFISH, server_facts(facts, keys))
