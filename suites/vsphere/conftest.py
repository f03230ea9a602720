"""What vCenter reports, read once per session: the snapshot and network hints come from the
plugin (other suites share them), every host's clock in one batched pass, and the design view
built from the snapshot.
"""

from __future__ import annotations

import pytest

from harness.checks.catalog import DESIGN_CHECKS, run_design_checks
from harness.checks.observed import observable_subject, view_from_snapshot
from harness.checks.view import DesignView
from harness.checks.vsphere import mark_sides
from harness.drivers.vsphere import ClockOffset, Snapshot, VsphereDriver
from harness.lab.model import Lab
from harness.lab.reference import Reference
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
    # only what vCenter reports: an underlay hop (a router interface) is not read here
    metafunc.parametrize("design_case", [
        pytest.param((check.name, subject), id=f"{check.name}-{subject}",
                     marks=pytest.mark.incident(check.incident))
        for check in DESIGN_CHECKS for subject in check.subjects(lab)
        if observable_subject(check.subject_kind, subject, lab)])


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


@pytest.fixture(scope="session")
def network_rollback(vcenter: VsphereDriver) -> bool | None:
    return vcenter.network_rollback()
