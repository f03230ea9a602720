"""Probes from a trunk: a probe VM's NIC on a port group that carries every lab VLAN tagged.

A probe VM has no VLAN interfaces and no lab addresses in its kernel. For each request the
harness gives it an identity on one VLAN (its MAC and an address in the network it probes);
the probe resolves the next hop with its own ARP, tags every frame it sends, and answers ARP
for that address while it listens. It watches every trunk it has (one per virtual switch of
its host), so it can say on which VLAN each answer came back and from which MAC: a reply meant
for the vMotion network that comes back from vmk0 on the management VLAN is F12, seen on the
wire.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import bpf, frames, mtu
from .echo import new_ident
from .errors import BadRequest, NoArpReply
from .evidence import Frame, FrameLog, frames_from_wire, frames_to_wire
from .link import ArpResult, LinkContext, Received, unique

T = TypeVar("T")
ARP_WAIT_S, ARP_TRIES = 0.3, 3  # 0.3 + 0.6 + 1.2 s at most (`TrunkLink.resolve`)
ARP_BUDGET_S = sum(ARP_WAIT_S * 2 ** i for i in range(ARP_TRIES))


@dataclass(frozen=True)
class Seen:
    """A frame about the probe's address: what it was, where it arrived, who sent it.

    `kind`: echo-reply, arp-request (someone looking for the probe's address), frag-needed,
    time-exceeded, unreachable (other ICMP errors about the probe's echoes).
    """

    kind: str
    iface: str
    vlan: int | None
    src_mac: str
    src_ip: str
    at_ms: float
    seq: int | None = None
    mtu: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "iface": self.iface, "vlan": self.vlan,
                "src_mac": self.src_mac, "src_ip": self.src_ip, "at_ms": self.at_ms,
                "seq": self.seq, "mtu": self.mtu}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seen:
        return cls(str(d["kind"]), str(d["iface"]), d.get("vlan"), str(d["src_mac"]),
                   str(d["src_ip"]), float(d["at_ms"]), d.get("seq"), d.get("mtu"))


class TrunkLink:
    """One identity (trunk NIC, VLAN, MAC, address) and the trunks to watch while it probes.

    Every frame read passes `_observe` first: ARP for the identity's address is answered on
    the VLAN it was asked on (and noted, with where it arrived), and ICMP for it is noted.
    """

    def __init__(self, ctx: LinkContext, iface: str, vlan: int | None,
                 address: ipaddress.IPv4Interface, mac: str | None = None,
                 watch: Sequence[str] = ()) -> None:
        for name in (iface, *watch):
            ctx.policy.check_iface(name)
        ctx.policy.check_dst(str(address.ip), "probe address")
        if vlan is not None and not 0 <= vlan <= 4094:
            raise BadRequest(f"vlan {vlan} is not 0-4094", vlan=vlan)
        self.ctx, self.iface, self.vlan, self.address = ctx, iface, vlan, address
        self.mac = mac or ctx.mac(iface)
        self.ifaces = unique([iface, *watch])
        self.macs = {name: (self.mac if name == iface else ctx.mac(name)) for name in self.ifaces}
        # the identity's sockets, opened once: a probe reads them dozens of times
        self._socks = {name: ctx.tap(name) for name in self.ifaces}
        if ctx.one_identity:  # only frames about our address reach Python
            for sock in self._socks.values():
                bpf.attach(sock, bpf.about_address(str(address.ip)))
        self.seen: list[Seen] = []
        self.log = FrameLog()  # the frames the verdict rests on (sent, and about our address)
        self.idents: set[int] = set()  # of the ICMP echoes this identity sent
        self.start = time.monotonic()

    @property
    def ip(self) -> str:
        return str(self.address.ip)

    def socks(self) -> dict[str, Any]:
        return self._socks

    def drain(self) -> None:
        for name in self.ifaces:
            self.ctx.drain(name)

    def send(self, frame: bytes, *, iface: str | None = None, vlan: int | None = -1) -> None:
        """Send an untagged frame, tagged for the identity's VLAN (or `vlan`) on `iface`."""
        out = frames.tagged(frame, self.vlan if vlan == -1 else vlan)
        ip = frames.parse_ipv4(frame)
        icmp = frames.parse_icmp(ip) if ip is not None else None
        if icmp is not None and icmp.type == frames.ICMP_ECHO:
            self.idents.add(icmp.ident)
        self.log.add(iface or self.iface, out, sent=True)
        self.ctx.send(iface or self.iface, out)

    def _about_us(self, arp: frames.ArpView | None, ip: frames.Ipv4View | None) -> bool:
        """A frame about this identity that is not another probe's: ARP for its address, and
        IP to it except ICMP that carries an identifier it never sent (the replies to other
        probes of the same address that run at the same time, in a batch)."""
        if arp is not None:
            return self.ip in (arp.target_ip, arp.sender_ip)
        if ip is None or ip.dst != self.ip:
            return False
        icmp = frames.parse_icmp(ip)
        return icmp is None or icmp.ident < 0 or icmp.ident in self.idents

    def _note(self, kind: str, r: Received, vlan: int | None, src_mac: str, src_ip: str,
              seq: int | None = None, mtu: int | None = None) -> None:
        self.seen.append(Seen(kind, r.iface, vlan, src_mac, src_ip,
                              round((r.at - self.start) * 1000, 3), seq, mtu))

    def _observe(self, r: Received) -> tuple[int | None, bytes] | None:
        """The untagged frame and its VLAN, after answering or noting what concerns us; None
        for frames the probe itself sent."""
        if r.pkttype == frames.PACKET_OUTGOING:
            return None
        vlan, frame = frames.untag(r.frame)
        arp = frames.parse_arp(frame)
        ip = frames.parse_ipv4(frame) if arp is None else None
        if self._about_us(arp, ip):
            self.log.add(r.iface, r.frame, at=time.time() - (time.monotonic() - r.at))
        if arp is not None and arp.op == 1 and arp.target_ip == self.ip:
            self._note("arp-request", r, vlan, arp.sender_mac, arp.sender_ip)
            # only the identity's own VLAN is ours to answer on; elsewhere it is evidence
            if r.iface == self.iface and vlan == self.vlan:
                self.send(frames.arp_reply(self.mac, self.ip, arp.sender_mac, arp.sender_ip))
        return vlan, frame

    def wait(self, deadline: float, match: Callable[[Received, int | None, bytes], T | None]
             ) -> tuple[T, Received] | None:
        """Observe frames on every watched trunk until `match` accepts one or time runs out."""
        def seen(r: Received) -> T | None:
            got = self._observe(r)
            return None if got is None else match(r, got[0], got[1])
        return self.ctx.wait(self.socks(), deadline, seen)

    def collect(self, deadline: float, keep: Callable[[Received, int | None, bytes], bool],
                done: Callable[[], bool] = lambda: False) -> list[Received]:
        def kept(r: Received) -> bool:
            got = self._observe(r)
            return got is not None and keep(r, got[0], got[1])
        return self.ctx.collect(self.socks(), deadline, kept, done)

    def settle(self, seconds: float) -> None:
        """Keep answering and noting for a moment (late replies, duplicates)."""
        self.collect(time.monotonic() + seconds, lambda *_: False)

    def resolve(self, target: str, *, timeout: float = ARP_WAIT_S, attempts: int = ARP_TRIES
                ) -> ArpResult:
        """ARP for `target` on the identity's VLAN; the answer must come back on it. Each try
        waits twice as long as the one before: on a loaded path a late answer is still an
        answer, and a next hop that is there answers the first try in milliseconds."""
        self.ctx.policy.check_dst(target, "ARP target")
        request = frames.arp_request(self.mac, self.ip, target)

        def answer(r: Received, vlan: int | None, frame: bytes) -> str | None:
            arp = frames.parse_arp(frame)
            if arp is not None and arp.op == 2 and arp.sender_ip == target \
                    and r.iface == self.iface and vlan == self.vlan:
                return arp.sender_mac
            return None

        for attempt in range(1, attempts + 1):
            start = time.monotonic()
            self.send(request)
            found = self.wait(start + timeout * 2 ** (attempt - 1), answer)
            if found is not None:
                return ArpResult(self.iface, target, True, found[0],
                                 round((found[1].at - start) * 1000, 3), attempt)
        return ArpResult(self.iface, target, False, None, None, attempts)


def next_hop_for(address: ipaddress.IPv4Interface, dst: str, gateway: str | None) -> str:
    """`dst` itself when it is on the identity's subnet, else the gateway (required)."""
    if ipaddress.IPv4Address(dst) in address.network:
        return dst
    if gateway is None:
        raise BadRequest(f"{dst} is outside {address.network} and no gateway was given",
                         dst=dst, src=str(address))
    if ipaddress.IPv4Address(gateway) not in address.network:
        raise BadRequest(f"gateway {gateway} is outside {address.network}", gateway=gateway)
    return gateway


def _identity(ctx: LinkContext, iface: str, vlan: int | None, src: str, dst: str,
              gateway: str | None, mac: str | None, watch: Sequence[str]
              ) -> tuple[TrunkLink, str]:
    """The probe's identity for one request, drained, and the next hop towards `dst`."""
    address = ipaddress.IPv4Interface(src)
    ctx.policy.check_dst(dst)
    link = TrunkLink(ctx, iface, vlan, address, mac, watch)
    next_hop = next_hop_for(address, dst, gateway)
    link.drain()
    return link, next_hop


@dataclass(frozen=True)
class TrunkEcho:
    """Echoes from a trunk identity: what answered, how often, and every frame about the
    probe's address seen on any watched trunk (with its VLAN and sender MAC).

    `replies`: echo sequence -> replies received on the identity's own NIC and VLAN;
    `seen` includes replies and ARP requests that arrived elsewhere (another trunk or VLAN).
    """

    iface: str
    vlan: int | None
    src: str
    dst: str
    next_hop: str
    arp_answered: bool
    next_hop_mac: str | None
    sent: int
    size: int
    dont_fragment: bool
    replies: dict[int, int] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    elapsed_ms: float = 0.0
    frames: Sequence[Frame] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return sum(1 for n in self.replies.values() if n > 0)

    @property
    def duplicates(self) -> int:
        return sum(max(0, n - 1) for n in self.replies.values())

    def to_dict(self) -> dict[str, Any]:
        return {"iface": self.iface, "vlan": self.vlan, "src": self.src, "dst": self.dst,
                "next_hop": self.next_hop, "arp_answered": self.arp_answered,
                "next_hop_mac": self.next_hop_mac, "sent": self.sent, "size": self.size,
                "dont_fragment": self.dont_fragment,
                "replies": {str(k): v for k, v in self.replies.items()},
                "seen": [s.to_dict() for s in self.seen], "elapsed_ms": self.elapsed_ms,
                "frames": frames_to_wire(self.frames)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrunkEcho:
        return cls(str(d["iface"]), d.get("vlan"), str(d["src"]), str(d["dst"]),
                   str(d["next_hop"]), bool(d["arp_answered"]), d.get("next_hop_mac"),
                   int(d["sent"]), int(d["size"]), bool(d["dont_fragment"]),
                   {int(k): int(v) for k, v in d["replies"].items()},
                   [Seen.from_dict(s) for s in d["seen"]], float(d.get("elapsed_ms", 0.0)),
                   frames_from_wire(d.get("frames")))


def trunk_echo(ctx: LinkContext, iface: str, vlan: int | None, src: str, dst: str, *,
               gateway: str | None = None, mac: str | None = None, size: int = 64,
               dont_fragment: bool = True, count: int = 3, interval: float = 0.02,
               timeout: float = 1.0, window: float = 0.2, watch: Sequence[str] = (),
               next_hop_mac: str | None = None) -> TrunkEcho:
    """Echoes to `dst` from the identity `src` (ADDRESS/PREFIX) on `vlan` of trunk `iface`.

    Waits until every echo is answered plus `window` (for duplicates), or `timeout` after the
    last one. When the next hop does not answer ARP nothing else is sent (the result says so).
    `next_hop_mac` skips ARP (a drill resolves before it breaks the path, then measures).
    """
    started = time.monotonic()
    link, next_hop = _identity(ctx, iface, vlan, src, dst, gateway, mac, watch)
    arp = (link.resolve(next_hop) if next_hop_mac is None
           else ArpResult(iface, next_hop, True, next_hop_mac, None, 0))

    def result(sent: int, replies: dict[int, int]) -> TrunkEcho:
        return TrunkEcho(iface, vlan, src, dst, next_hop, arp.answered, arp.mac, sent, size,
                         dont_fragment, replies, list(link.seen),
                         round((time.monotonic() - started) * 1000, 3), list(link.log.frames))

    if not arp.answered or arp.mac is None:
        link.settle(min(window, timeout))
        return result(0, {})
    ident = new_ident()
    replies = {seq: 0 for seq in range(1, count + 1)}

    def keep(r: Received, vlan_: int | None, frame: bytes) -> bool:
        ip = frames.parse_ipv4(frame)
        icmp = frames.parse_icmp(ip) if ip is not None and ip.dst == link.ip else None
        if ip is None or icmp is None or icmp.ident != ident:
            return False
        src_mac = frames.mac_text(frame[6:12])
        if icmp.type == frames.ICMP_ECHO_REPLY and icmp.seq in replies:
            link._note("echo-reply", r, vlan_, src_mac, ip.src, icmp.seq)
            if r.iface == iface and vlan_ == vlan and ip.src == dst:
                replies[icmp.seq] += 1
        elif icmp.type == frames.ICMP_DEST_UNREACH:
            kind = "frag-needed" if icmp.code == frames.ICMP_FRAG_NEEDED else "unreachable"
            link._note(kind, r, vlan_, src_mac, ip.src, icmp.seq, icmp.next_hop_mtu or None)
        elif icmp.type == frames.ICMP_TIME_EXCEEDED:
            link._note("time-exceeded", r, vlan_, src_mac, ip.src, icmp.seq)
        return False

    for seq in range(1, count + 1):
        link.send(frames.icmp_echo(link.mac, arp.mac, link.ip, dst, ident, seq, size=size,
                                   dont_fragment=dont_fragment))
        link.collect(time.monotonic() + interval, keep)
    deadline = time.monotonic() + timeout
    # until every echo is answered (woken by frames, not by a timer), then `window` more for
    # duplicates, never past the deadline
    link.collect(deadline, keep, done=lambda: all(replies.values()))
    if all(replies.values()):
        link.collect(min(deadline, time.monotonic() + window), keep)
    return result(count, replies)


class _TrunkPath:
    """A trunk identity as the path-MTU search's `Path`: only frames on its own NIC and VLAN
    count as answers (frames elsewhere are still answered or noted by the link)."""

    def __init__(self, link: TrunkLink) -> None:
        self.link = link
        self.iface, self.src_mac, self.src = link.iface, link.mac, link.ip

    def drain(self) -> None:
        self.link.drain()

    def send(self, frame: bytes) -> None:
        self.link.send(frame)

    def _ours(self, r: Received, vlan: int | None) -> bool:
        return r.iface == self.iface and vlan == self.link.vlan

    def wait(self, deadline: float, match: Callable[[Received, bytes], T | None]
             ) -> tuple[T, Received] | None:
        return self.link.wait(deadline, lambda r, vlan, frame: match(r, frame)
                              if self._ours(r, vlan) else None)

    def collect(self, deadline: float, keep: Callable[[Received, bytes], bool],
                done: Callable[[], bool]) -> list[Received]:
        return self.link.collect(deadline, lambda r, vlan, frame: self._ours(r, vlan)
                                 and keep(r, frame), done)


def trunk_path_mtu(ctx: LinkContext, iface: str, vlan: int | None, src: str, dst: str, *,
                   gateway: str | None = None, mac: str | None = None, hi: int | None = None,
                   lo: int = 1200, timeout: float = 0.5, search_timeout: float = 0.15,
                   max_hops: int = 16, trace: str = "auto", watch: Sequence[str] = (),
                   next_hop_mac: str | None = None) -> mtu.PathMtuResult:
    """The path MTU from a trunk identity to `dst` (the search of `harness.probes.mtu`).
    `next_hop_mac` skips ARP: the next hop's MAC as this identity's echo on the same path
    resolved it moments before (as a host's ARP cache would have it).

    Raises:
        NoArpReply: the next hop does not answer ARP on the VLAN (three tries).
        Unreachable: not even a `lo`-sized probe is answered.
    """
    started = time.monotonic()
    link, next_hop = _identity(ctx, iface, vlan, src, dst, gateway, mac, watch)
    arp = (link.resolve(next_hop) if next_hop_mac is None
           else ArpResult(iface, next_hop, True, next_hop_mac, None, 0))
    if not arp.answered or arp.mac is None:
        raise NoArpReply(f"no ARP reply from next hop {next_hop} on {iface} VLAN {vlan} "
                         f"({arp.requests} requests)", iface=iface, next_hop=next_hop, vlan=vlan)
    result = mtu.measure(ctx, _TrunkPath(link), arp.mac, dst, hi=hi, lo=lo, timeout=timeout,
                         search_timeout=search_timeout, max_hops=max_hops, trace=trace,
                         started=started)
    return dataclasses.replace(result, frames=list(link.log.frames))
