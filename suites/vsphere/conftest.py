"""What vCenter reports, read once per session: one snapshot (<= 3 SOAP requests), every
host's clock and network hints (one batched pass each), and the design view built from them.
"""

from __future__ import annotations

import time

import pytest

from harness.backend import Backend
from harness.checks.catalog import DESIGN_CHECKS, run_design_checks
from harness.checks.observed import snapshot_option_keys, view_from_snapshot
from harness.checks.view import DesignView
from harness.checks.vsphere import mark_sides
from harness.drivers.vsphere import ClockOffset, NetworkHintFacts, Snapshot, VsphereDriver
from harness.lab.model import Lab
from harness.lab.reference import Reference
from harness.lab.views import expected_neighbours
from harness.pytest_plugin.fixtures import DesignFindings
from harness.pytest_plugin.state import LAB_KEY


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`design_case`: every design check with each of its subjects in the lab, so the same
    checks the design suite runs on the lab file run here on what vCenter reports."""
    if "design_case" not in metafunc.fixturenames:
        return
    lab = metafunc.config.stash.get(LAB_KEY, None)
    if lab is None:
        metafunc.parametrize("design_case", [pytest.param(None, id="no-lab", marks=pytest.mark.skip(
            reason="no lab given: pass --lab FILE (or set LABHARNESS_LAB)"))])
        return
    metafunc.parametrize("design_case", [
        pytest.param((check.name, subject), id=f"{check.name}-{subject}",
                     marks=pytest.mark.incident(check.incident))
        for check in DESIGN_CHECKS for subject in check.subjects(lab)])


@pytest.fixture(scope="session")
def snapshot(vcenter: VsphereDriver, lab: Lab) -> Snapshot:
    """Every fact, including each advanced option the lab sets (not only the defaults)."""
    return vcenter.snapshot(option_keys=snapshot_option_keys(lab))


@pytest.fixture(scope="session")
def observed_view(snapshot: Snapshot, lab: Lab) -> DesignView:
    return view_from_snapshot(snapshot, lab)


@pytest.fixture(scope="session")
def observed_findings(observed_view: DesignView, design_view: DesignView,
                      reference: Reference) -> DesignFindings:
    """Design findings on what vCenter reports, each saying which side differs."""
    return DesignFindings(tuple(mark_sides(run_design_checks(design_view, reference),
                                           run_design_checks(observed_view, reference))))


@pytest.fixture(scope="session")
def clock_offsets(vcenter: VsphereDriver, snapshot: Snapshot) -> dict[str, ClockOffset]:
    got = vcenter.clock_offsets()
    if got.errors:
        pytest.fail("QueryDateTime failed on " + "; ".join(
            f"{h}: {e}" for h, e in sorted(got.errors.items())))
    return got.values


# CDP/LLDP arrive on their own schedule: the sim's switches send every second, real ones every
# 30 s (LLDP) or 60 s (CDP); wait one full interval plus margin for a port still silent.
HINT_WAIT_S = {"sim": 5.0, "real": 65.0}


@pytest.fixture(scope="session")
def network_hints(vcenter: VsphereDriver, snapshot: Snapshot, lab: Lab,
                  backend: Backend) -> list[NetworkHintFacts]:
    """QueryNetworkHint on every host, polled until every cabled vmnic has a neighbour or the
    protocols' interval has passed (then what is missing is a finding, not a timing accident)."""
    expected = {(key, proto) for key, (_, _, protocols) in expected_neighbours(lab).items()
                for proto in protocols}
    deadline = time.monotonic() + HINT_WAIT_S.get(backend.kind, 65.0)
    while True:
        got = vcenter.network_hints()
        if got.errors:
            pytest.fail("QueryNetworkHint failed on " + "; ".join(
                f"{h}: {e}" for h, e in sorted(got.errors.items())))
        hints = [hint for hints in got.values.values() for hint in hints]
        heard = {((h.host, h.device), proto) for h in hints
                 for proto, seen in (("cdp", h.cdp), ("lldp", h.lldp)) if seen is not None}
        if expected <= heard or time.monotonic() > deadline:
            return hints
        time.sleep(1.0)


@pytest.fixture(scope="session")
def network_rollback(vcenter: VsphereDriver) -> bool | None:
    return vcenter.network_rollback()
