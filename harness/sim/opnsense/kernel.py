"""The router namespace's kernel state, read at request time: links, addresses, routes,
neighbours, IPv4 forwarding and the nftables ruleset.

Every API answer is built from one of these snapshots, so whatever the data plane really does
(an MTU a scenario lowered, a link that went down, a route someone deleted) is what the API
says. Reads run `ip -j` and `nft -j` inside the namespace (or in the process's own namespace
when it already runs there, as in the sim).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.sim.dataplane import netns


@dataclass(frozen=True)
class KernelState:
    """Raw `ip -j` documents and sysctls, as iproute2 and the kernel give them."""

    links: list[dict[str, Any]]  # ip -j -s -d link show
    addresses: list[dict[str, Any]]  # ip -j addr show
    routes: list[dict[str, Any]]  # ip -j route show table main
    neighbours: list[dict[str, Any]]  # ip -j neigh show
    forwarding: str  # /proc/sys/net/ipv4/ip_forward
    ruleset: list[dict[str, Any]]  # nft -j list ruleset: its "nftables" items

    def link(self, ifname: str) -> dict[str, Any] | None:
        return next((lk for lk in self.links if lk.get("ifname") == ifname), None)

    def ipv4(self, ifname: str) -> list[tuple[str, int]]:
        """(address, prefix length) of an interface, primary first (as the kernel lists)."""
        for entry in self.addresses:
            if entry.get("ifname") == ifname:
                return [(str(a["local"]), int(a["prefixlen"])) for a in entry.get("addr_info", [])
                        if a.get("family") == "inet"]
        return []


def _json(argv: list[str], ns: str) -> Any:
    out = netns.run(argv, ns=ns, timeout=10).stdout
    return json.loads(out) if out.strip() else []


def read_state(ns: str = "") -> KernelState:
    """Read the state of namespace `ns` ("" for the one this process runs in).

    Raises:
        NetnsError: a command failed (the namespace is gone, a tool is missing).
    """
    with netns.entered(ns), open("/proc/sys/net/ipv4/ip_forward", encoding="ascii") as f:
        forwarding = f.read().strip()
    ruleset = _json(["nft", "-j", "list", "ruleset"], ns)
    return KernelState(
        links=_json(["ip", "-j", "-s", "-d", "link", "show"], ns),
        addresses=_json(["ip", "-j", "addr", "show"], ns),
        routes=_json(["ip", "-j", "route", "show", "table", "main"], ns),
        neighbours=_json(["ip", "-j", "neigh", "show"], ns),
        forwarding=forwarding,
        ruleset=list(ruleset.get("nftables", [])) if isinstance(ruleset, dict) else [])

