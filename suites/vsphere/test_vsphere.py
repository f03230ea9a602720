"""vSphere suite: what vCenter reports, checked against the lab.

The design checks run here on vCenter's facts (a finding says whether the lab file or only
vCenter differs), plus what only a live vCenter can show: host time (F05), management paths
before a migration (F01) and CDP/LLDP neighbours from the hosts' network hints.
"""

from __future__ import annotations

import pytest

from harness.checks.catalog import CHECKS_BY_NAME
from harness.checks.finding import Finding
from harness.checks.observed import missing_subject
from harness.checks.view import DesignView
from harness.checks.vsphere import check_cabling_hints, check_management_paths, check_time
from harness.drivers.vsphere import ClockOffset, NetworkHintFacts, Snapshot, VsphereDriver
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.fixtures import DesignFindings


def _host(snapshot: Snapshot, name: str) -> None:
    if name not in snapshot.hosts:
        pytest.fail(f"vCenter does not report host {name} (the lab has it): add it to the "
                    f"cluster, or fix its name; vCenter has {sorted(snapshot.hosts)}")


@pytest.mark.needs("vsphere")
def test_design_on_observed(observed_findings: DesignFindings, observed_view: DesignView,
                            design_case: tuple[str, str]) -> None:
    """The design checks on what vCenter reports (intent vs observed: which side differs); a
    subject the lab has and vCenter does not report is a finding too."""
    check, subject = design_case
    design_check = CHECKS_BY_NAME[check]
    lacking = missing_subject(observed_view, design_check.subject_kind, subject)
    if lacking is not None:
        assert_no_findings([Finding(
            design_check.incident, "error", subject,
            f"vCenter does not report {lacking}, which the lab has",
            cause="the object was never created, was renamed, or sits elsewhere in vCenter",
            fix=f"create {lacking} as the lab says, or correct the lab file",
            check=check, source="observed", evidence={"missing": lacking})])
    assert_no_findings(observed_findings.of(check, subject))


@pytest.mark.needs("vsphere")
@pytest.mark.incident("F05")
@pytest.mark.per_subject("hosts")
def test_host_time(lab: Lab, snapshot: Snapshot, clock_offsets: dict[str, ClockOffset],
                   subject: str) -> None:
    """NTP servers as the lab says, ntpd running with policy on, the NTP client firewall rule
    on, and the host clock within the lab's bound."""
    _host(snapshot, subject)
    assert_no_findings(check_time(lab, {subject: snapshot.hosts[subject]}, clock_offsets))


@pytest.mark.needs("vsphere")
@pytest.mark.incident("F01")
def test_network_rollback(lab: Lab, snapshot: Snapshot, network_rollback: bool | None) -> None:
    """vCenter undoes a network change that cuts a host off (config.vpxd.network.rollback)."""
    assert_no_findings([f for f in check_management_paths(lab, snapshot, network_rollback)
                        if f.subject == "vcenter"])


@pytest.mark.needs("vsphere")
@pytest.mark.incident("F01")
@pytest.mark.per_subject("hosts")
def test_management_paths(lab: Lab, snapshot: Snapshot, subject: str) -> None:
    """The host is connected and its management leaves through two uplinks that carry its
    VLAN, so no single move in a migration can cut vCenter off."""
    _host(snapshot, subject)
    assert_no_findings([f for f in check_management_paths(lab, snapshot, True)
                        if f.subject == subject])


@pytest.mark.needs("vsphere")
@pytest.mark.incident("F11")
@pytest.mark.per_subject("cabled_vmnics")
def test_cabling_matches_network_hints(lab: Lab, network_hints: list[NetworkHintFacts],
                                       subject: str) -> None:
    """The CDP/LLDP neighbour vCenter reports for the vmnic is the cabling plan's switch port."""
    host, vmnic = subject.split("/", 1)
    if not any(h.host == host and h.device == vmnic for h in network_hints):
        pytest.fail(f"vCenter reports no network hint for {subject} (is the vmnic there?)")
    assert_no_findings([f for f in check_cabling_hints(lab, network_hints)
                        if f.subject == subject])


@pytest.mark.needs("vsphere")
@pytest.mark.incident("F05")
@pytest.mark.disruptive
@pytest.mark.per_subject("hosts")
def test_fix_host_time(lab: Lab, vcenter: VsphereDriver, snapshot: Snapshot,
                       subject: str) -> None:
    """Remediation: set the lab's NTP servers, ntpd on and started, firewall rule on; then
    read back that vCenter reports exactly that."""
    from harness.checks.vsphere import intended_ntp

    _host(snapshot, subject)
    if not check_time(lab, {subject: snapshot.hosts[subject]}, {}):
        pytest.skip(f"{subject}: NTP configuration already as the lab says")
    vcenter.set_ntp(subject, intended_ntp(lab, subject), allow_disruptive=True)
    after = vcenter.snapshot()
    offsets = vcenter.clock_offsets([subject]).values
    assert_no_findings(check_time(lab, {subject: after.hosts[subject]}, offsets))
