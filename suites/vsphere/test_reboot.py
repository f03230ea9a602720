"""F06: every host's boot time against the previous run of the lab; a host that booted since
is a finding that says when and why, from the host's own logs read through vCenter
(DiagnosticManager: vmksummary, hostd, vmkernel), as an engineer would read an exported bundle.
"""

from __future__ import annotations

import pytest

from harness.checks.reboot import check_reboot, rebooted
from harness.drivers.vsphere import Snapshot, VsphereDriver
from harness.facts.esxlog import LOG_KEYS, HostLogs
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.endpoints import run_notes
from harness.pytest_plugin.previous import PreviousRun

pytestmark = pytest.mark.needs("vsphere")

NO_PREVIOUS = ("F06 reboot-cause: no previous run of this lab to compare boot times with; "
               "this run's boot times are kept for the next run")


def _note(request: pytest.FixtureRequest, text: str) -> None:
    notes = run_notes(request.config)
    if text not in notes:
        notes.append(text)


@pytest.mark.incident("F06")
@pytest.mark.per_subject("hosts")
def test_host_did_not_reboot_since_last_run(
        snapshot: Snapshot, vcenter: VsphereDriver, previous_run: PreviousRun | None,
        request: pytest.FixtureRequest, subject: str) -> None:
    """The host's boot time is the one the previous run read; a host that booted since is
    named with the time and the reason its vmksummary/hostd/vmkernel logs give (DCUI, shell,
    vCenter, PSOD, power loss)."""
    host = snapshot.hosts.get(subject)
    if host is None:
        pytest.fail(f"vCenter reports no host {subject}")
    if previous_run is None:
        _note(request, NO_PREVIOUS)
        return
    before = previous_run.boot_times.get(subject)
    if before is None:
        _note(request, f"F06 reboot-cause: {subject} has no boot time in the previous run "
                       f"({previous_run.source}); nothing to compare with")
        return
    logs = None
    if rebooted(host.boot_time, before):
        got = vcenter.host_logs([subject])
        logs = got.values.get(subject) or HostLogs(
            subject, missing={k: str(got.errors.get(subject, "not read")) for k in LOG_KEYS})
    assert_no_findings(check_reboot(subject, host.boot_time, before, logs))
