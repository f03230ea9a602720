"""Overlay reachability across a VXLAN segment, counting every reply per sequence number.

A plain ping stops listening once it has its answer; this probe keeps collecting for a window
after the last echo, because the overlay fault it exists for (F03: a duplicate entry in a VTEP's
flood-replication list, so BUM and unknown-unicast frames reach the same remote VTEP twice)
shows up only as *extra* replies. Lost echoes and duplicated ones are reported separately.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import frames
from .echo import new_ident
from .errors import BadRequest, NoArpReply
from .link import LinkContext, Received


@dataclass(frozen=True)
class OverlayPingResult:
    """Echoes sent, how many sequence numbers were answered, and how many answers were extra."""

    dst: str
    sent: int
    answered: int
    duplicates: int
    per_seq: dict[int, int]
    lost: int
    iface: str = ""
    rtt_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dst": self.dst, "sent": self.sent, "answered": self.answered,
                "duplicates": self.duplicates,
                "per_seq": {str(k): v for k, v in self.per_seq.items()}, "lost": self.lost,
                "iface": self.iface, "rtt_ms": list(self.rtt_ms)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OverlayPingResult:
        return cls(str(d["dst"]), int(d["sent"]), int(d["answered"]), int(d["duplicates"]),
                   {int(k): int(v) for k, v in d["per_seq"].items()}, int(d["lost"]),
                   str(d.get("iface", "")), [float(x) for x in d.get("rtt_ms", [])])


def overlay_ping(ctx: LinkContext, dst: str, *, count: int = 5, interval: float = 0.02,
                 window: float = 0.5, size: int = 64, iface: str | None = None,
                 ) -> OverlayPingResult:
    """Send `count` echoes to `dst` and collect all replies until `window` after the last.

    Args:
        iface: the overlay interface to send from (default: the namespace's route to `dst`).

    Raises:
        NoArpReply: `dst` (or the next hop) did not answer ARP over the overlay.
    """
    if not 1 <= count <= 1000:
        raise BadRequest(f"count={count} must be between 1 and 1000", count=count)
    route = ctx.route(dst, iface)
    next_hop = route.gateway or dst
    arp = ctx.resolve(route.iface, next_hop)
    if not arp.answered or arp.mac is None:
        raise NoArpReply(f"no ARP reply from {next_hop} on {route.iface}", iface=route.iface,
                         next_hop=next_hop)
    src = route.src or ctx.source_for(route.iface, next_hop)
    mac = ctx.mac(route.iface)
    ident = new_ident()
    per_seq = dict.fromkeys(range(1, count + 1), 0)
    sent_at: dict[int, float] = {}
    rtts: list[float] = []

    def keep(r: Received) -> bool:
        if r.pkttype == frames.PACKET_OUTGOING:
            return False
        ip = frames.parse_ipv4(r.frame)
        icmp = frames.parse_icmp(ip) if ip is not None and ip.src == dst else None
        if icmp is None or icmp.type != frames.ICMP_ECHO_REPLY or icmp.ident != ident \
                or icmp.seq not in per_seq:
            return False
        per_seq[icmp.seq] += 1
        if per_seq[icmp.seq] == 1 and icmp.seq in sent_at:
            rtts.append(round((r.at - sent_at[icmp.seq]) * 1000, 3))
        return True

    sock = {route.iface: ctx.tap(route.iface)}
    ctx.drain(route.iface)
    for seq in range(1, count + 1):
        sent_at[seq] = time.monotonic()
        ctx.send(route.iface, frames.icmp_echo(mac, arp.mac, src, dst, ident, seq, size=size))
        ctx.collect(sock, time.monotonic() + (interval if seq < count else 0), keep)
    ctx.collect(sock, time.monotonic() + window, keep)
    answered = sum(1 for n in per_seq.values() if n)
    duplicates = sum(n - 1 for n in per_seq.values() if n > 1)
    return OverlayPingResult(dst, count, answered, duplicates, per_seq, count - answered,
                             route.iface, rtts)
