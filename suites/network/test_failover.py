"""Failover drill (disruptive): silently block the forwarding uplink of a team, link up, and
measure the outage. Beacon probing must fail over within a second; link-status-only cannot see
the failure at all, which is reported (the field notes' vMotion that hung at 14%)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from harness.checks.finding import Finding
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.pytest_plugin import assert_no_findings, record_findings
from harness.sim.probesites import SimProbeSites

pytestmark = [pytest.mark.needs("probe"), pytest.mark.disruptive]

BEACON_FAILOVER_S = 1.0


def _outage(echo: Callable[[], bool], seconds: float, interval: float = 0.05) -> float:
    """Seconds without an answer while probing every `interval` for `seconds` (each probe
    stands for the share of the window it covers, so slow timeouts do not shrink the outage)."""
    results: list[bool] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        results.append(echo())
        time.sleep(max(0.0, interval - (time.monotonic() - start)))
    return seconds * results.count(False) / max(1, len(results))


def _drill(probe_sites: SimProbeSites, host: str, port_group: str,
           echo: Callable[[], bool]) -> tuple[str, float, str | None]:
    before = probe_sites.forwarding(host, port_group)
    assert before is not None, f"{host}/{port_group} has no forwarding uplink"
    assert _outage(echo, 0.3) == 0, "the path must work before the drill"
    with probe_sites.silenced(host, before):
        outage = _outage(echo, 2.0)
        after = probe_sites.forwarding(host, port_group)
    return before, outage, after


@pytest.mark.incident("F11")
def test_beacon_probing_fails_over(lab: Lab, probe_sites: SimProbeSites) -> None:
    """A VM on a beacon-probing port group stays reachable when its uplink goes silent."""
    for _vm_name, vm in lab.vms.items():
        nic = next(iter(vm.nics.values()))
        pg = host_port_groups(lab, vm.host).get(nic.port_group)
        if pg and pg.teaming.failure_detection == "beacon_probing" and nic.ip is not None:
            break
    else:
        pytest.skip("no VM on a beacon-probing port group to drill")
    client = next((c for c in probe_sites.state.clients.values()), None)
    if client is None:
        pytest.skip("no probe client on the VM's network")
    agent = probe_sites.pool.agent(client.ns)
    dst = str(nic.ip.ip)
    before, outage, after = _drill(probe_sites, vm.host, nic.port_group,
                                   lambda: agent.echo(dst, timeout=0.05).replied)
    findings = []
    if after == before or outage > BEACON_FAILOVER_S:
        findings.append(Finding(
            "F11", "error", f"{vm.host}/{nic.port_group}",
            f"beacon probing did not fail over from silent {before} (outage {outage:.2f} s)",
            cause="the team did not detect the silent uplink", fix="check beacon probing and "
            "that the team has 3+ uplinks on independent paths", check="failover-drill",
            source="observed", evidence={"before": before, "after": after, "outage_s": outage}))
    assert_no_findings(findings)


@pytest.mark.incident("F11")
def test_link_status_black_holes_and_is_reported(lab: Lab, probe_sites: SimProbeSites) -> None:
    """vMotion on link-status-only: a silent uplink is never failed over; the drill measures
    the black hole and reports it as a warning for the team's design."""
    hosts = [h for h in lab.hosts if probe_sites.vmknic(h, "vmotion")]
    if len(hosts) < 2:
        pytest.skip("needs two hosts with vMotion vmknics")
    a, b = hosts[:2]
    mine, theirs = probe_sites.vmknic(a, "vmotion"), probe_sites.vmknic(b, "vmotion")
    assert mine is not None and theirs is not None
    pg = host_port_groups(lab, a)[mine.port_group]
    if pg.teaming.failure_detection != "link_status":
        pytest.skip(f"{mine.port_group} uses {pg.teaming.failure_detection}")
    agent, dst = probe_sites.at(a), str(theirs.ip.ip)
    before, outage, after = _drill(probe_sites, a, mine.port_group,
                                   lambda: agent.echo(dst, timeout=0.05).replied)
    assert after == before, "link-status-only detection cannot see a silent uplink"
    assert outage >= 1.5, f"expected a black hole, measured {outage:.2f} s of outage"
    record_findings([Finding(
        "F11", "warning", f"{a}/{mine.port_group}",
        f"a silent {before} black-holed vMotion for the whole {outage:.1f} s drill",
        cause="link-status-only failover sees carrier, not upstream blocks",
        fix="use beacon probing with 3+ uplinks, or monitor upstream ports",
        check="failover-drill", source="observed",
        evidence={"uplink": before, "outage_s": outage})])
