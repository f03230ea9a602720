"""Routers, read through their own door: an OPNsense router's REST API, a Linux router's shell
over SSH (the lab's `kind` picks). Interfaces, forwarding and routes between the VXLAN
underlays (F02: the field notes' router between two L3 VTEP networks), gateways and NAT."""

from __future__ import annotations

import pytest

from harness.checks.router import (
    check_forwarding,
    check_interfaces,
    check_routes,
    gateways_down,
    missing_nat,
)
from harness.errors import NotProvided
from harness.lab.model import Lab
from harness.pytest_plugin import assert_no_findings
from harness.pytest_plugin.fixtures import RouterReader


@pytest.mark.incident("F02")
@pytest.mark.per_subject("routers")
def test_router_interfaces_match(lab: Lab, routers: RouterReader, subject: str) -> None:
    """Every interface up, with the lab's address and MTU (both VTEP underlays need 1600)."""
    assert_no_findings(check_interfaces(lab, routers.facts(subject)))


@pytest.mark.incident("F02")
@pytest.mark.per_subject("routers")
def test_router_forwards(routers: RouterReader, subject: str) -> None:
    """IPv4 forwarding is on."""
    facts = routers.facts(subject)
    if facts.forwarding is None:
        raise NotProvided(f"{subject} ({facts.firmware}) does not show its sysctls through "
                          "its API (OPNsense's tunables API starts with 25.1)")
    assert_no_findings(check_forwarding(facts))


@pytest.mark.incident("F02")
@pytest.mark.per_subject("routers")
def test_router_routes_between_underlays(lab: Lab, routers: RouterReader, subject: str) -> None:
    """Each VXLAN underlay is routed on the lab's interface, and the lab's static routes are
    in the routing table."""
    assert_no_findings(check_routes(lab, routers.facts(subject)))


@pytest.mark.per_subject("routers")
def test_router_gateways_up(lab: Lab, routers: RouterReader, subject: str) -> None:
    """Every gateway the router monitors is online, and every static route of the lab goes
    through one of them."""
    facts = routers.facts(subject)
    if facts.gateways is None:
        raise NotProvided(f"{subject} is a {facts.kind} router: it has no gateway objects")
    problems = gateways_down(lab, facts)
    assert not problems, f"{subject}: " + "; ".join(problems)


@pytest.mark.per_subject("routers")
def test_router_nat_rules_present(lab: Lab, routers: RouterReader, subject: str) -> None:
    """Each NAT rule of the lab is on the router (OPNsense: Firewall > Automation > Source
    NAT; Linux: an nftables masquerade)."""
    if not lab.routers[subject].nat:
        raise NotProvided(f"lab gives {subject} no NAT rules")
    facts = routers.facts(subject)
    if facts.nat is None:
        raise NotProvided(f"{subject} ({facts.firmware}) does not list where its source NAT "
                          "rules apply through its API (OPNsense 25.7 and later do)")
    missing = missing_nat(lab, facts)
    assert not missing, (f"{subject} lacks NAT for "
                         + ", ".join(f"{n.source} out of {n.out_interface}" for n in missing)
                         + f" ({facts.read('nat')})")
