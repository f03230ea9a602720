"""Session fixtures: the lab, its inventory, the backend and the design view.

A fixture whose input is absent skips with a message that says what to pass, instead of failing
every test that depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.backend import Backend
from harness.checks.catalog import CHECKS_BY_NAME, run_design_checks
from harness.checks.finding import Finding
from harness.checks.intent import view_from_lab
from harness.checks.view import DesignView
from harness.lab.loader import LoadedInventory
from harness.lab.model import Lab
from harness.pytest_plugin.state import BACKEND_KEY, INVENTORY_KEY, LAB_KEY


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Lab:
    """The lab under test (from --lab / LABHARNESS_LAB)."""
    model = pytestconfig.stash.get(LAB_KEY, None)
    if model is None:
        pytest.skip("no lab given: pass --lab FILE (or set LABHARNESS_LAB)")
    return model


@pytest.fixture(scope="session")
def inventory(pytestconfig: pytest.Config) -> LoadedInventory:
    """How to reach the lab (from --inventory / LABHARNESS_INVENTORY)."""
    loaded = pytestconfig.stash.get(INVENTORY_KEY, None)
    if loaded is None:
        pytest.skip("no inventory given: pass --inventory FILE (or set LABHARNESS_INVENTORY)")
    return loaded


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> Backend:
    """The backend and its capabilities."""
    return pytestconfig.stash[BACKEND_KEY]


@pytest.fixture(scope="session")
def design_view(lab: Lab) -> DesignView:
    """The lab's design as the checks see it (intent side)."""
    return view_from_lab(lab)


@dataclass(frozen=True)
class DesignFindings:
    """All design findings of one view, looked up by check and subject."""

    findings: tuple[Finding, ...]

    def of(self, check: str, subject: str) -> list[Finding]:
        """Findings of one check about one subject."""
        if check not in CHECKS_BY_NAME:
            raise KeyError(f"no design check {check!r}; checks: {', '.join(CHECKS_BY_NAME)}")
        return [f for f in self.findings if f.check == check and f.subject == subject]


@pytest.fixture(scope="session")
def design_findings(design_view: DesignView) -> DesignFindings:
    """Every design check run once per session over the intent view."""
    return DesignFindings(tuple(run_design_checks(design_view)))
