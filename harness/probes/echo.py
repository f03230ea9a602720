"""Basic reachability: one ARP-resolved ICMP echo along the namespace's own route.

This is the probe the others build on, and the one whose round trip `bench/probe_roundtrip.py`
times: route lookup, explicit ARP on the egress interface, one echo with an explicit Ether
header. When ARP fails the result says so and nothing else is sent: scapy's `sr1` would instead
broadcast the IP packet, and a host that owns the address on another VLAN answers it, turning a
broken path into a false success.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from . import frames
from .link import LinkContext, Received


@dataclass(frozen=True)
class EchoResult:
    """One echo: the route it took, whether ARP and the echo were answered."""

    dst: str
    iface: str
    src: str
    next_hop: str
    arp_answered: bool
    next_hop_mac: str | None
    replied: bool
    rtt_ms: float | None
    reply_ttl: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"dst": self.dst, "iface": self.iface, "src": self.src, "next_hop": self.next_hop,
                "arp_answered": self.arp_answered, "next_hop_mac": self.next_hop_mac,
                "replied": self.replied, "rtt_ms": self.rtt_ms, "reply_ttl": self.reply_ttl}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EchoResult:
        return cls(str(d["dst"]), str(d["iface"]), str(d["src"]), str(d["next_hop"]),
                   bool(d["arp_answered"]), d.get("next_hop_mac"), bool(d["replied"]),
                   d.get("rtt_ms"), d.get("reply_ttl"))


def new_ident() -> int:
    """A random ICMP identifier, so concurrent agents never take each other's replies."""
    return random.getrandbits(16)


def echo(ctx: LinkContext, dst: str, *, size: int = 64, timeout: float = 1.0,
         ttl: int = 64, iface: str | None = None) -> EchoResult:
    """One echo to `dst` along the namespace's route (out of `iface` when given)."""
    route = ctx.route(dst, iface)
    next_hop = route.gateway or dst
    src = route.src or ctx.source_for(route.iface, next_hop)
    arp = ctx.resolve(route.iface, next_hop, timeout=min(timeout, 0.3))
    if not arp.answered or arp.mac is None:
        return EchoResult(dst, route.iface, src, next_hop, False, None, False, None, None)
    ident, seq = new_ident(), 1
    frame = frames.icmp_echo(ctx.mac(route.iface), arp.mac, src, dst, ident, seq, size=size,
                             ttl=ttl)

    def is_reply(r: Received) -> int | None:
        ip = frames.parse_ipv4(r.frame)
        if ip is None or ip.src != dst or r.pkttype == frames.PACKET_OUTGOING:
            return None
        icmp = frames.parse_icmp(ip)
        if icmp and icmp.type == frames.ICMP_ECHO_REPLY and (icmp.ident, icmp.seq) == (ident, seq):
            return ip.ttl
        return None

    sock = ctx.tap(route.iface)
    ctx.drain(route.iface)
    start = time.monotonic()
    ctx.send(route.iface, frame)
    found = ctx.wait({route.iface: sock}, start + timeout, is_reply)
    if found is None:
        return EchoResult(dst, route.iface, src, next_hop, True, arp.mac, False, None, None)
    reply_ttl, got = found
    return EchoResult(dst, route.iface, src, next_hop, True, arp.mac, True,
                      round((got.at - start) * 1000, 3), reply_ttl)
