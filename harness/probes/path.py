"""Egress path: which vmknic traffic to a destination really leaves by, and what answers.

The F12 case: vmk0 (management) and vmk1 (vMotion) in one subnet. The host routes the whole
subnet out of one of them, so vMotion traffic leaves on the management VLAN where the peer's
vMotion address does not answer ARP (ESXi-like strict ARP). The probe reports the kernel's route
(interface and source), resolves ARP explicitly on that interface, sends one echo with an explicit
Ether header, and meanwhile watches every candidate interface, so the result says where the
ARP request and the echo actually left, whether and from which MAC ARP was answered, and on
which interface the reply came back.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from . import frames
from .echo import new_ident
from .errors import InterfaceError
from .link import LinkContext, Received, open_tap, read_ready


@dataclass(frozen=True)
class EgressResult:
    """Where traffic to `dst` left and came back (see the module docstring)."""

    dst: str
    route_iface: str
    route_src: str
    arp_answered: bool
    answered_by_mac: str | None
    echo_replied: bool
    frames_out: dict[str, int]
    reply_iface: str | None
    rtt_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dst": self.dst, "route_iface": self.route_iface, "route_src": self.route_src,
                "arp_answered": self.arp_answered, "answered_by_mac": self.answered_by_mac,
                "echo_replied": self.echo_replied, "frames_out": dict(self.frames_out),
                "reply_iface": self.reply_iface, "rtt_ms": self.rtt_ms}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EgressResult:
        return cls(str(d["dst"]), str(d["route_iface"]), str(d["route_src"]),
                   bool(d["arp_answered"]), d.get("answered_by_mac"), bool(d["echo_replied"]),
                   {str(k): int(v) for k, v in d["frames_out"].items()}, d.get("reply_iface"),
                   d.get("rtt_ms"))


def _is_probe_out(frame: bytes, dst: str, next_hop: str) -> bool:
    """An ARP request for the next hop or an IPv4 packet to `dst`: the probe's own traffic."""
    arp = frames.parse_arp(frame)
    if arp is not None:
        return arp.op == 1 and arp.target_ip in (dst, next_hop)
    ip = frames.parse_ipv4(frame)
    return ip is not None and ip.dst == dst


def egress(ctx: LinkContext, dst: str, *, candidates: str = "vmk*",
           timeout: float = 0.5) -> EgressResult:
    """Trace the egress of traffic to `dst` over the interfaces matching `candidates`.

    Candidates the policy does not allow are left out (a glob names no interface); the route's
    own interface must be allowed.
    """
    route = ctx.route(dst)
    src = route.src or ctx.source_for(route.iface, dst)
    names = [i.name for i in ctx.interfaces()
             if i.up and fnmatchcase(i.name, candidates) and ctx.policy.iface_allowed(i.name)]
    if route.iface not in names:
        names.append(route.iface)
    taps: dict[str, socket.socket] = {}
    out = {name: 0 for name in names}
    reply: list[Received] = []
    ident = new_ident()
    next_hop = route.gateway or dst

    def observe(r: Received) -> bool | None:
        """Count the probe's own frames leaving; accept the echo reply coming back."""
        if r.pkttype == frames.PACKET_OUTGOING:
            if _is_probe_out(r.frame, dst, next_hop):
                out[r.iface] += 1
            return None
        ip = frames.parse_ipv4(r.frame)
        icmp = frames.parse_icmp(ip) if ip is not None and ip.src == dst else None
        if icmp is not None and icmp.type == frames.ICMP_ECHO_REPLY \
                and (icmp.ident, icmp.seq) == (ident, 1):
            reply.append(r)
            return True
        return None

    try:
        for name in names:
            try:
                taps[name] = open_tap(name)
            except InterfaceError:
                continue  # gone or down since listed: it carries nothing either way
        arp = ctx.resolve(route.iface, next_hop, timeout=min(timeout, 0.3))
        start = time.monotonic()
        if arp.answered and arp.mac is not None:
            ctx.send(route.iface, frames.icmp_echo(ctx.mac(route.iface), arp.mac, src, dst,
                                                   ident, 1))
            ctx.wait(taps, start + timeout, observe)
        # frames still queued on the taps (the ARP requests, stragglers) count too
        time.sleep(0.005)
        for name, sock in taps.items():
            for data, pkttype in read_ready(sock):
                observe(Received(name, data, pkttype, time.monotonic()))
    finally:
        for sock in taps.values():
            sock.close()
    got = reply[0] if reply else None
    return EgressResult(dst, route.iface, src, arp.answered, arp.mac, got is not None, out,
                        got.iface if got else None,
                        round((got.at - start) * 1000, 3) if got else None)
