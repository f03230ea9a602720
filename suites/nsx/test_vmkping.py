"""NSX VXLAN from the hosts themselves: vmkping with DF set between every VTEP pair, run on
each ESXi host through vCenter (esxcli network diag ping), as engineers check it:
`vmkping ++netstack=vxlan -d -s 1572 -I <vtep> <peer VTEP>` (and -s 8972 on jumbo underlays).

This needs no probe VM: on a lab where scapy cannot run, the host's own ping is the proof.
"""

from __future__ import annotations

import pytest

from harness.backend import Backend
from harness.checks.finding import Finding
from harness.checks.host_view import check_df_ping
from harness.facts.wire import VmknicTarget
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.fixtures import HostViews
from suites.conftest import VmkPings, explain_down, vmknic_with, vtep_pings

pytestmark = pytest.mark.needs("vsphere")


@pytest.mark.incident("F02")
@pytest.mark.per_subject("vtep_pairs")
def test_vmkping_df_between_vteps(lab: Lab, backend: Backend, host_views: HostViews,
                                  vmkpings: VmkPings,
                                  vmknic_targets: dict[tuple[str, str], VmknicTarget],
                                  request: pytest.FixtureRequest, subject: str) -> None:
    """a's VTEP pings b's VTEP from a itself on the vxlan netstack with DF set at 1572 bytes
    (a 1600-byte packet); a failure names the hop the router's "Frag needed" came from, or
    tells a path that is down (with the dead uplink that explains it) from an MTU limit."""
    a, b = subject.split("->")
    mine = vmknic_with(lab, vmknic_targets, a, "vxlan")[0]
    theirs = vmknic_with(lab, vmknic_targets, b, "vxlan")[0]
    iface = host_views.of(a).interface(mine.name)
    findings: list[Finding] = []
    for ping in (vmkpings.get(r) for r in vtep_pings(lab, host_views, vmknic_targets, a, b)):
        if ping.answered:
            continue
        small = None if ping.fault else vmkpings.reachability(ping.request)
        down = (explain_down(lab, backend, request, [(a, mine.port_group),
                                                     (b, theirs.port_group)])
                if small is not None and not small.answered else None)
        findings += check_df_ping(
            subject=subject, what="VXLAN underlay", source=mine.subject,
            target=f"{theirs.subject} ({theirs.ip.ip})", size=ping.request.size or 0,
            ping=ping, reachable=small, vmk_mtu=iface.mtu if iface else None, down=down)
    assert_no_findings(findings)
