"""Routers checked from the inside over SSH with testinfra: forwarding, NAT, interface MTUs."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.finding import Finding
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings

pytestmark = pytest.mark.needs("ssh")


def _router(router_hosts: dict[str, Any], name: str) -> Any:
    host = router_hosts.get(name)
    if host is None:
        pytest.skip(f"the inventory has no SSH endpoint for router {name}")
    if host.system_info.type != "linux":
        pytest.skip(f"router {name} runs {host.system_info.type}: these checks read Linux "
                    "(sysctl, /sys, nft); an OpnSense/FreeBSD variant is not written yet")
    return host


def _finding(incident: str, subject: str, message: str, cause: str, fix: str,
             **evidence: Any) -> Finding:
    return Finding(incident, "error", subject, message, cause=cause, fix=fix,
                   check="router-config", source="observed", evidence=evidence)


@pytest.mark.incident("F02")
@pytest.mark.per_subject("routers")
def test_router_forwards_and_interfaces_match(lab: Lab, router_hosts: dict[str, Any],
                                              subject: str) -> None:
    """Forwarding on; every interface up with the lab's address and MTU (both VTEP underlays
    need 1600 for VXLAN: the field notes' router)."""
    host = _router(router_hosts, subject)
    router = lab.routers[subject]
    findings: list[Finding] = []
    forwarding = host.sysctl("net.ipv4.ip_forward")
    if forwarding != 1:
        findings.append(_finding("F02", subject, f"{subject} does not forward IPv4",
                                 "net.ipv4.ip_forward is off", "enable IP forwarding",
                                 ip_forward=forwarding))
    for name, iface in router.interfaces.items():
        ifname = name[:15]
        mtu = int(host.check_output(f"cat /sys/class/net/{ifname}/mtu"))
        addresses = host.interface(ifname).addresses
        if str(iface.ip.ip) not in addresses:
            findings.append(_finding("F02", f"{subject}/{name}", f"{name} lacks {iface.ip}",
                                     "the interface address differs from the lab",
                                     f"set {iface.ip} on {name}", addresses=addresses))
        if mtu != iface.mtu:
            findings.append(_finding(
                "F02", f"{subject}/{name}", f"{name} has MTU {mtu}, the lab says {iface.mtu}",
                "an interface MTU below the lab's caps every path through it (VXLAN needs "
                "1600 on the underlay)", f"set the MTU of {name} to {iface.mtu} on both ends "
                "of its link", mtu=mtu, expected=iface.mtu))
    assert_no_findings(findings)


@pytest.mark.per_subject("routers")
def test_router_nat_rules_present(lab: Lab, router_hosts: dict[str, Any], subject: str) -> None:
    """Each NAT rule of the lab is in the router's nftables ruleset."""
    host = _router(router_hosts, subject)
    router = lab.routers[subject]
    if not router.nat:
        pytest.skip(f"lab gives {subject} no NAT rules")
    ruleset = host.check_output("nft list ruleset")
    missing = [n for n in router.nat
               if not any(str(n.source) in line and "masquerade" in line
                          and f'oifname "{n.out_interface}"' in line
                          for line in ruleset.splitlines())]
    assert not missing, (f"{subject} lacks NAT for "
                         + ", ".join(f"{n.source} out of {n.out_interface}" for n in missing))
