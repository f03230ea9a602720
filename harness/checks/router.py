"""Router checks: what a router reported about itself (its API, or its shell) against the lab.

Pure functions over `RouterFacts`, whichever door they came through (the OPNsense REST API or
a Linux router's iproute2 over SSH). The field notes' router is the hop between the VXLAN
underlays, so everything that breaks that path is F02: an interface address, MTU or link state
that differs from the lab (VXLAN needs 1600 on both underlays), forwarding off, a missing route
between the underlays or a static route the lab gives it. Gateways and NAT are judged by
`gateways_down` and `missing_nat`, which the suites assert on directly (no incident names them).
Every finding cites the read its evidence came from (`GET https://router/api/...`).
"""

from __future__ import annotations

from ipaddress import IPv4Network

from harness.checks.finding import Finding
from harness.facts import JsonValue
from harness.facts.router import GatewayFacts, NatRuleFacts, RouterFacts
from harness.lab.model import Lab, NatRule
from harness.lab.views import VXLAN_MIN_MTU, vtep_networks

CHECK = "router-config"


def _finding(subject: str, message: str, cause: str, fix: str,
             **evidence: JsonValue) -> Finding:
    return Finding("F02", "error", subject, message, cause=cause, fix=fix, check=CHECK,
                   source="observed", evidence=evidence)


def check_interfaces(lab: Lab, facts: RouterFacts) -> list[Finding]:
    """Each lab interface of the router exists, is up, has the lab's address and MTU."""
    router = lab.routers[facts.name]
    underlays = vtep_networks(lab)
    read = facts.read("interfaces")
    out: list[Finding] = []
    for name, want in router.interfaces.items():
        subject = f"{facts.name}/{name}"
        got = facts.interface(name)
        if got is None:
            out.append(_finding(
                subject, f"{facts.name} reports no interface {name}",
                "the lab's interface is not assigned (or named otherwise) on the router",
                f"assign {name} (device, identifier or description {name!r}) on {facts.name}",
                read=read, interfaces=[i.device for i in facts.interfaces]))
            continue
        where: dict[str, JsonValue] = {"read": read, "device": got.device,
                                       "identifier": got.identifier}
        if got.status != "up":
            out.append(_finding(
                subject, f"{name} ({got.device}) is {got.status}",
                "a router interface that is down cuts every path through it",
                f"bring {name} up on {facts.name} and check its link", status=got.status,
                **where))
        if want.ip not in got.addresses:
            out.append(_finding(
                subject, f"{name} ({got.device}) lacks {want.ip}",
                "the interface address differs from the lab: hosts on that network use "
                f"{want.ip.ip} as their gateway", f"set {want.ip} on {name}",
                addresses=[str(a) for a in got.addresses], expected=str(want.ip), **where))
        if got.mtu != want.mtu:
            vxlan = (f"; {name} is on VXLAN underlay {want.network}, which needs at least "
                     f"{VXLAN_MIN_MTU}" if want.network in underlays else "")
            out.append(_finding(
                subject, f"{name} ({got.device}) has MTU {got.mtu}, the lab says {want.mtu}",
                f"an interface MTU below the lab's caps every path through it{vxlan}",
                f"set the MTU of {name} to {want.mtu} on {facts.name} (Interfaces > "
                f"{got.description or name} > MTU) and on the far end of its link",
                mtu=got.mtu, expected=want.mtu, **where))
    return out


def check_forwarding(facts: RouterFacts) -> list[Finding]:
    """IPv4 forwarding is on (a router that does not forward joins no underlays)."""
    if facts.forwarding is not False:
        return []
    return [_finding(facts.name, f"{facts.name} does not forward IPv4",
                     "IPv4 forwarding is off: nothing crosses the router",
                     "enable IP forwarding (OPNsense: System > Settings > Tunables, "
                     "net.inet.ip.forwarding=1; Linux: net.ipv4.ip_forward=1)",
                     read=facts.read("forwarding"), forwarding=False)]


def check_routes(lab: Lab, facts: RouterFacts) -> list[Finding]:
    """The routes between the VXLAN underlays (each underlay's network connected on the lab's
    interface) and the lab's static routes are in the router's table and up."""
    router = lab.routers[facts.name]
    read = facts.read("routes")
    table = [{"destination": r.destination, "gateway": r.gateway, "flags": r.flags,
              "interface": r.interface} for r in facts.routes]
    underlays = vtep_networks(lab)
    out: list[Finding] = []
    for name, iface in router.interfaces.items():
        if iface.network not in underlays:
            continue
        got = facts.interface(name)
        device = got.device if got is not None else name
        network = iface.ip.network
        if not any(r.network == network and r.up and r.interface == device
                   for r in facts.routes):
            out.append(_finding(
                f"{facts.name}/{name}",
                f"{facts.name} has no route to underlay {iface.network} ({network}) on {name}",
                "without the connected route, VTEPs on this underlay cannot reach the others",
                f"check {name}'s address and link on {facts.name}", read=read,
                expected={"destination": str(network), "interface": device}, routes=table))
    for route in router.routes:
        if not any(r.network == route.destination and r.next_hop == route.gateway and r.up
                   for r in facts.routes):
            out.append(_finding(
                facts.name, f"{facts.name} has no route to {route.destination} via "
                f"{route.gateway}", "a static route the lab gives the router is missing: "
                f"traffic to {route.destination} takes the default route or is dropped",
                f"add the route {route.destination} via {route.gateway} (System > Routes)",
                read=read, expected={"destination": str(route.destination),
                                     "gateway": str(route.gateway)}, routes=table))
    return out


def gateways_down(lab: Lab, facts: RouterFacts) -> list[str]:
    """What is wrong with the router's gateways, one line each: a gateway its monitor calls
    anything but online, and a static route of the lab whose next hop is no gateway."""
    gateways: tuple[GatewayFacts, ...] = facts.gateways or ()
    read = facts.read("gateways")
    out = [f"gateway {g.name} ({g.address}) is {g.status_translated or g.status} "
           f"(loss {g.loss}, delay {g.delay}, monitor {g.monitor}; {read})"
           for g in gateways if not g.online]
    known = {g.address for g in gateways}
    out += [f"static route {r.destination} goes via {r.gateway}, which is no gateway of "
            f"{facts.name} (System > Gateways; {read})"
            for r in lab.routers[facts.name].routes if str(r.gateway) not in known]
    return out


def _nat_matches(facts: RouterFacts, want: NatRule, rule: NatRuleFacts) -> bool:
    iface = facts.interface(want.out_interface)
    same_interface = (iface.known_as(rule.interface) if iface is not None
                      else rule.interface.casefold() == want.out_interface.casefold())
    try:
        same_source = IPv4Network(rule.source, strict=False) == want.source
    except ValueError:
        same_source = False
    return rule.enabled and same_interface and same_source


def missing_nat(lab: Lab, facts: RouterFacts) -> list[NatRule]:
    """The lab's NAT rules with no enabled rule on the router for that source and interface."""
    rules = facts.nat or ()
    return [n for n in lab.routers[facts.name].nat
            if not any(_nat_matches(facts, n, r) for r in rules)]
