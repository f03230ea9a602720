"""Failover drill (disruptive): silently block the active uplink of a team, link up, and measure
the outage from probe traffic. Beacon probing must fail over within a second; link-status-only
cannot see the failure at all, which is reported (the field notes' vMotion that hung at 14%).

The drill needs a way to block a switch port silently: the simulated lab has one; on a real lab
the inventory gives no switch access yet, and the drill says so.
"""

from __future__ import annotations

import pytest

from harness.checks.finding import Finding
from harness.drivers.probe.sites import NoProbeSite, ProbeSites
from harness.facts.wire import VmknicTarget
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.probes.trunk import TrunkEcho
from harness.pytest_plugin import assert_no_findings, record_findings
from suites.conftest import vmknic_with

pytestmark = [pytest.mark.needs("probe"), pytest.mark.disruptive]

BEACON_FAILOVER_S = 1.0
INTERVAL_S = 0.05
WINDOW_S = 2.0


def _outage(echo: TrunkEcho) -> float:
    """Seconds without an answer: each unanswered echo stands for its share of the window."""
    return round((echo.sent - echo.answered) * INTERVAL_S, 3)


def _drill(probe_sites: ProbeSites, source: str, port_group: str, dst: str, host: str,
           uplink: str) -> float:
    """Echo every INTERVAL_S for WINDOW_S while `host`/`uplink` is silenced, to the next hop
    resolved before (an ARP that fails during the drill would hide how long it lasted)."""
    before = probe_sites.echo(source, port_group, dst, count=3)
    assert before.answered == before.sent and before.next_hop_mac, \
        f"the path {source} -> {dst} must work before the drill"
    try:
        silence = probe_sites.silenced(host, uplink)
    except NoProbeSite as exc:
        pytest.skip(str(exc))
    with silence:
        during = probe_sites.echo(source, port_group, dst, count=int(WINDOW_S / INTERVAL_S),
                                  interval=INTERVAL_S, timeout=0.3,
                                  next_hop_mac=before.next_hop_mac)
    assert during.sent, "the drill sent nothing"
    return _outage(during)


@pytest.mark.incident("F11")
def test_beacon_probing_fails_over(lab: Lab, probe_sites: ProbeSites) -> None:
    """A VM on a beacon-probing port group stays reachable when its active uplink goes silent."""
    found = next(((name, vm, nic) for name, vm in lab.vms.items() for nic in vm.nics.values()
                  if nic.ip is not None and (pg := host_port_groups(lab, vm.host)
                                              .get(nic.port_group)) is not None
                  and pg.teaming.failure_detection == "beacon_probing"), None)
    if found is None:
        pytest.skip("no VM on a beacon-probing port group to drill")
    _name, vm, nic = found
    assert nic.ip is not None
    team = host_port_groups(lab, vm.host)[nic.port_group].teaming
    source = next((h for h in lab.hosts if h != vm.host and h in probe_sites.hosts), None)
    if source is None:
        pytest.skip("needs a probe VM on another host to send from")
    outage = _drill(probe_sites, source, nic.port_group, str(nic.ip.ip), vm.host,
                    team.active[0])
    findings = []
    if outage > BEACON_FAILOVER_S:
        findings.append(Finding(
            "F11", "error", f"{vm.host}/{nic.port_group}",
            f"beacon probing did not fail over from silent {team.active[0]} (outage "
            f"{outage:.2f} s)",
            cause="the team did not detect the silent uplink",
            fix="check beacon probing and that the team has 3+ uplinks on independent paths",
            check="failover-drill", source="observed",
            evidence={"uplink": team.active[0], "outage_s": outage}))
    assert_no_findings(findings)


@pytest.mark.incident("F11")
def test_link_status_black_holes_and_is_reported(
        lab: Lab, probe_sites: ProbeSites,
        vmknic_targets: dict[tuple[str, str], VmknicTarget]) -> None:
    """vMotion on link-status-only: a silent uplink is never failed over; the drill measures
    the black hole and reports it as a warning for the team's design."""
    hosts = [h for h in lab.hosts
             if any("vmotion" in v.services for v in lab.hosts[h].vmknics.values())]
    if len(hosts) < 2:
        pytest.skip("needs two hosts with vMotion vmknics")
    a, b = hosts[:2]
    theirs = vmknic_with(lab, vmknic_targets, b, "vmotion")[0]
    team = host_port_groups(lab, b)[theirs.port_group].teaming
    if team.failure_detection != "link_status":
        pytest.skip(f"{theirs.port_group} uses {team.failure_detection}")
    outage = _drill(probe_sites, a, theirs.port_group, str(theirs.ip.ip), b, team.active[0])
    assert outage >= 1.5, f"expected a black hole, measured {outage:.2f} s of outage"
    record_findings([Finding(
        "F11", "warning", f"{b}/{theirs.port_group}",
        f"a silent {team.active[0]} black-holed vMotion for the whole {outage:.1f} s drill",
        cause="link-status-only failover sees carrier, not upstream blocks",
        fix="use beacon probing with 3+ uplinks, or monitor upstream ports",
        check="failover-drill", source="observed",
        evidence={"uplink": team.active[0], "outage_s": outage})])
