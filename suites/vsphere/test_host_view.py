"""What each ESXi host itself reports through esxcli (via vCenter), against the lab: the route
and vmknic its vMotion traffic leaves by (F12).

The host's routing table is the evidence an engineer would collect on the host
(`esxcli network ip route ipv4 list`), and its own DF ping proves the path end to end.
"""

from __future__ import annotations

import pytest

from harness.backend import Backend
from harness.checks.host_view import check_vmotion_egress
from harness.facts.wire import VmknicTarget
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.fixtures import HostViews
from suites.conftest import VmkPings, explain_down, vmknic_with, vmotion_ping

pytestmark = pytest.mark.needs("vsphere")


@pytest.mark.incident("F12")
@pytest.mark.per_subject("vmotion_pairs")
def test_vmotion_leaves_by_the_vmotion_vmknic(
        lab: Lab, backend: Backend, host_views: HostViews, vmkpings: VmkPings,
        vmknic_targets: dict[tuple[str, str], VmknicTarget], request: pytest.FixtureRequest,
        subject: str) -> None:
    """a's route for b's vMotion vmknic leaves by a's own vMotion vmknic, and a DF ping at its
    MTU, routed by the host, is answered (F12: with vmk0 and vmk1 in one subnet the route
    leaves by vmk0 on the management VLAN)."""
    a, b = subject.split("->")
    mine = vmknic_with(lab, vmknic_targets, a, "vmotion")[0]
    theirs = vmknic_with(lab, vmknic_targets, b, "vmotion")[0]
    ping = vmkpings.get(vmotion_ping(lab, host_views, vmknic_targets, a, b))
    down = None if ping.answered else explain_down(
        lab, backend, request, [(a, mine.port_group), (b, theirs.port_group)])
    assert_no_findings(check_vmotion_egress(
        view=host_views.of(a), vmk=mine.name, target=theirs.subject, target_ip=theirs.ip.ip,
        ping=ping, down=down))
