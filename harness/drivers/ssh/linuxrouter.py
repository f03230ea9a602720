"""Read a Linux router over SSH (testinfra) into `RouterFacts`: iproute2's JSON for links,
addresses and routes, the forwarding sysctl, and nftables' masquerade rules.

The same parsers serve the simulated OPNsense, whose API answers are built from its Linux
namespace's kernel state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Interface
from typing import Any

from harness.facts.router import NatRuleFacts, RouteFacts, RouterFacts, RouterInterfaceFacts

COMMANDS = {"interfaces": "ip -j addr show", "routes": "ip -j route show table main",
            "forwarding": "cat /proc/sys/net/ipv4/ip_forward", "nat": "nft -j list ruleset"}


def masquerades(ruleset: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(source prefix or `any`, out interface) of every masquerade rule in `nft -j list
    ruleset`'s items (`ip saddr P oifname "X" masquerade`)."""
    out: list[tuple[str, str]] = []
    for item in ruleset:
        rule = item.get("rule")
        if not isinstance(rule, Mapping):
            continue
        exprs = rule.get("expr", [])
        if not any(isinstance(e, Mapping) and "masquerade" in e for e in exprs):
            continue
        source, oif = "any", ""
        for e in exprs:
            match = e.get("match") if isinstance(e, Mapping) else None
            if not isinstance(match, Mapping):
                continue
            left, right = match.get("left", {}), match.get("right")
            if left == {"payload": {"protocol": "ip", "field": "saddr"}}:
                prefix = right.get("prefix") if isinstance(right, Mapping) else None
                source = (f"{prefix['addr']}/{prefix['len']}" if isinstance(prefix, Mapping)
                          else str(right))
            elif left == {"meta": {"key": "oifname"}} and isinstance(right, str):
                oif = right
        out.append((source, oif))
    return out


def link_status(flags: Sequence[str]) -> str:
    """`down` when administratively down, `no carrier` when up without a link, else `up`."""
    if "UP" not in flags:
        return "down"
    return "up" if "LOWER_UP" in flags else "no carrier"


def parse_interfaces(addr_doc: Sequence[Mapping[str, Any]]) -> tuple[RouterInterfaceFacts, ...]:
    """`ip -j addr show` -> interfaces (the loopback left out: no lab interface is one)."""
    out: list[RouterInterfaceFacts] = []
    for link in addr_doc:
        if link.get("link_type") == "loopback":
            continue
        out.append(RouterInterfaceFacts(
            device=str(link["ifname"]), status=link_status(link.get("flags", [])),
            mtu=int(link["mtu"]) if "mtu" in link else None,
            addresses=tuple(IPv4Interface(f"{a['local']}/{a['prefixlen']}")
                            for a in link.get("addr_info", []) if a.get("family") == "inet"),
            mac=link.get("address")))
    return tuple(out)


def bsd_routes(route_doc: Sequence[Mapping[str, Any]],
               links: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(destination, gateway, flags, device) of each unicast route of `ip -j route show`, in
    BSD's words as netstat -rn prints them: `link#N` (N the device's index) for a connected
    network, `U` up, `G` via a gateway, `S` static, `H` a host route."""
    index = {str(link["ifname"]): link.get("ifindex", 0) for link in links}
    out: list[tuple[str, str, str, str]] = []
    for r in route_doc:
        if r.get("type", "unicast") != "unicast" or "dev" not in r:
            continue
        dev, dst = str(r["dev"]), str(r["dst"])
        if "gateway" in r:
            flags = "UGS" if r.get("protocol", "boot") in ("boot", "static") else "UG1"
            gateway = str(r["gateway"])
        else:
            flags, gateway = "U", f"link#{index.get(dev, 0)}"
        if dst != "default" and (dst.endswith("/32") or "/" not in dst):
            flags += "H"
        out.append((dst, gateway, flags, dev))
    return out


def parse_routes(route_doc: Sequence[Mapping[str, Any]],
                 addr_doc: Sequence[Mapping[str, Any]]) -> tuple[RouteFacts, ...]:
    """`ip -j route show table main` -> routes (with `ip -j addr show` for device indexes
    and MTUs)."""
    mtu = {str(link["ifname"]): link.get("mtu") for link in addr_doc}
    return tuple(RouteFacts(destination=dst, gateway=gateway, flags=flags, interface=dev,
                            mtu=mtu.get(dev))
                 for dst, gateway, flags, dev in bsd_routes(route_doc, addr_doc))


def read_linux_router(host: Any, name: str) -> RouterFacts:
    """Read a Linux router through a testinfra Host (commands run over the verified SSH
    connection; a failing command raises testinfra's error with its output)."""
    addr_doc = json.loads(host.check_output(COMMANDS["interfaces"]))
    route_doc = json.loads(host.check_output(COMMANDS["routes"]))
    forwarding = host.check_output(COMMANDS["forwarding"]).strip()
    ruleset = json.loads(host.check_output(COMMANDS["nat"]) or "{}").get("nftables", [])
    nat = tuple(NatRuleFacts(interface=oif, source=source, target="masquerade")
                for source, oif in masquerades(ruleset))
    return RouterFacts(
        name=name, kind="linux", source=f"ssh {name}", interfaces=parse_interfaces(addr_doc),
        routes=parse_routes(route_doc, addr_doc), forwarding=forwarding == "1", nat=nat,
        reads={what: f"ssh {name}: {cmd}" for what, cmd in COMMANDS.items()})
