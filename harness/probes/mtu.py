"""Path MTU with DF: which size gets through, and which hop is the bottleneck.

Strategy, cheapest first:
1. one echo at the high size (the egress interface's MTU unless `hi` is given); an echo reply
   means the path is clean;
2. an ICMP frag-needed names the next-hop MTU: probe once at that size to confirm (and follow a
   second, smaller frag-needed if another hop further on is narrower); then a TTL trace (all TTLs
   sent at once) tells which hop sent the frag-needed. Two or three size probes;
3. nothing comes back (frag-needed black-holed by a firewall): binary search between `lo` and
   `hi` with short timeouts. About log2(hi - lo) + 2 probes, and no hop can be named.

A missing answer is loss until proven otherwise: a size that gets nothing back is sent again
before it counts as too big, and the result says how many probes were sent and lost.

Every probe is an ICMP echo with DF sent through an AF_PACKET socket to the ARP-resolved next
hop, so the kernel's cached PMTU for the destination (which the frag-needed also updates) can
neither block nor fragment it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from . import frames
from .echo import new_ident
from .errors import BadRequest, NoArpReply, Unreachable
from .evidence import Frame, frames_from_wire, frames_to_wire
from .link import LinkContext, Received

METHODS = ("clean", "frag-needed", "search")
TRACE_MODES = ("auto", "always", "never")
TRACE_SEQ_BASE = 0x8000
T = TypeVar("T")


@dataclass(frozen=True)
class Hop:
    """One router on the path: its TTL distance, the address it answered from, its MTU if known."""

    ttl: int | None
    address: str | None
    mtu: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ttl": self.ttl, "address": self.address, "mtu": self.mtu}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Hop:
        return cls(d.get("ttl"), d.get("address"), d.get("mtu"))


@dataclass(frozen=True)
class SizeProbe:
    """One DF probe: its IP size and what came back (reply, frag-needed, timeout)."""

    size: int
    outcome: str
    reported_mtu: int | None = None
    answered_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "outcome": self.outcome, "reported_mtu": self.reported_mtu,
                "answered_by": self.answered_by}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SizeProbe:
        return cls(int(d["size"]), str(d["outcome"]), d.get("reported_mtu"), d.get("answered_by"))


@dataclass(frozen=True)
class PathMtuResult:
    """The largest IP packet that crosses the path with DF set, and who limits it."""

    dst: str
    src_iface: str
    path_mtu: int
    limiting_hop: Hop | None
    size_probes: int
    trace: list[Hop]
    icmp_answered: bool
    method: str
    probes: list[SizeProbe] = field(default_factory=list)
    elapsed_ms: float = 0.0
    frames: Sequence[Frame] = field(default_factory=list)  # evidence (probes from a trunk)

    def to_dict(self) -> dict[str, Any]:
        return {"dst": self.dst, "src_iface": self.src_iface, "path_mtu": self.path_mtu,
                "limiting_hop": self.limiting_hop.to_dict() if self.limiting_hop else None,
                "size_probes": self.size_probes, "trace": [h.to_dict() for h in self.trace],
                "icmp_answered": self.icmp_answered, "method": self.method,
                "probes": [p.to_dict() for p in self.probes], "elapsed_ms": self.elapsed_ms,
                "frames": frames_to_wire(self.frames)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PathMtuResult:
        hop = d.get("limiting_hop")
        return cls(str(d["dst"]), str(d["src_iface"]), int(d["path_mtu"]),
                   Hop.from_dict(hop) if hop else None, int(d["size_probes"]),
                   [Hop.from_dict(h) for h in d["trace"]], bool(d["icmp_answered"]),
                   str(d["method"]), [SizeProbe.from_dict(p) for p in d.get("probes", [])],
                   float(d.get("elapsed_ms", 0.0)), frames_from_wire(d.get("frames")))


class Path(Protocol):
    """Where size probes go: one egress (a namespace interface, or a VLAN of a trunk), its
    source identity and next-hop MAC. `match` sees incoming frames only, untagged."""

    iface: str
    src_mac: str
    src: str

    def drain(self) -> None: ...

    def send(self, frame: bytes) -> None: ...

    def wait(self, deadline: float, match: Callable[[Received, bytes], T | None]
             ) -> tuple[T, Received] | None: ...

    def collect(self, deadline: float, keep: Callable[[Received, bytes], bool],
                done: Callable[[], bool]) -> list[Received]: ...


@dataclass
class KernelPath:
    """The namespace's own route out of one interface (kernel-configured addresses)."""

    ctx: LinkContext
    iface: str
    src_mac: str
    src: str

    def drain(self) -> None:
        self.ctx.drain(self.iface)

    def send(self, frame: bytes) -> None:
        self.ctx.send(self.iface, frame)

    def wait(self, deadline: float, match: Callable[[Received, bytes], T | None]
             ) -> tuple[T, Received] | None:
        return self.ctx.wait({self.iface: self.ctx.tap(self.iface)}, deadline,
                             lambda r: None if r.pkttype == frames.PACKET_OUTGOING
                             else match(r, r.frame))

    def collect(self, deadline: float, keep: Callable[[Received, bytes], bool],
                done: Callable[[], bool]) -> list[Received]:
        return self.ctx.collect({self.iface: self.ctx.tap(self.iface)}, deadline,
                                lambda r: r.pkttype != frames.PACKET_OUTGOING
                                and keep(r, r.frame), done)


@dataclass
class _Prober:
    """Sends DF echoes of a given size along one resolved path and classifies the answer."""

    path: Path
    dst_mac: str
    dst: str
    ident: int = field(default_factory=new_ident)
    seq: int = 0
    log: list[SizeProbe] = field(default_factory=list)

    def probe(self, size: int, timeout: float, tries: int = 1) -> SizeProbe:
        """One DF echo of `size`; a timeout is tried again (`tries` in all) before it counts,
        so a lost frame is not read as a limit."""
        outcome = SizeProbe(size, "timeout")
        for _ in range(max(1, tries)):
            outcome = self._once(size, timeout)
            if outcome.outcome != "timeout":
                break
        return outcome

    def _once(self, size: int, timeout: float) -> SizeProbe:
        self.seq += 1
        seq = self.seq
        frame = frames.icmp_echo(self.path.src_mac, self.dst_mac, self.path.src, self.dst,
                                 self.ident, seq, size=size)

        def classify(r: Received, frame: bytes) -> SizeProbe | None:
            ip = frames.parse_ipv4(frame)
            icmp = frames.parse_icmp(ip) if ip is not None else None
            if ip is None or icmp is None or (icmp.ident, icmp.seq) != (self.ident, seq):
                return None
            if icmp.type == frames.ICMP_ECHO_REPLY and ip.src == self.dst:
                return SizeProbe(size, "reply", None, ip.src)
            if (icmp.type, icmp.code) == (frames.ICMP_DEST_UNREACH, frames.ICMP_FRAG_NEEDED):
                return SizeProbe(size, "frag-needed", icmp.next_hop_mtu or None, ip.src)
            return None

        self.path.drain()
        start = time.monotonic()
        self.path.send(frame)
        found = self.path.wait(start + timeout, classify)
        outcome = found[0] if found is not None else SizeProbe(size, "timeout")
        self.log.append(outcome)
        return outcome

    def trace(self, max_hops: int, timeout: float) -> list[Hop]:
        """Send TTL 1..max_hops at once and map each time-exceeded back to its TTL.

        Parallel sends cost one round trip instead of max_hops; each router still sees a single
        expiring probe, well inside Linux's ICMP rate limit burst.
        """
        hops: dict[int, str] = {}
        reached: list[int] = []

        def keep(r: Received, frame: bytes) -> bool:
            ip = frames.parse_ipv4(frame)
            icmp = frames.parse_icmp(ip) if ip is not None else None
            if ip is None or icmp is None or icmp.ident != self.ident:
                return False
            ttl = icmp.seq - TRACE_SEQ_BASE
            if not 1 <= ttl <= max_hops:
                return False
            if icmp.type == frames.ICMP_TIME_EXCEEDED:
                hops[ttl] = ip.src
            elif icmp.type == frames.ICMP_ECHO_REPLY and ip.src == self.dst:
                hops[ttl] = ip.src
                reached.append(ttl)
            return False

        def done() -> bool:
            return bool(reached) and all(t in hops for t in range(1, min(reached) + 1))

        self.path.drain()
        for ttl in range(1, max_hops + 1):
            self.path.send(frames.icmp_echo(
                self.path.src_mac, self.dst_mac, self.path.src, self.dst, self.ident,
                TRACE_SEQ_BASE + ttl, size=64, ttl=ttl))
        self.path.collect(time.monotonic() + timeout, keep, done)
        last = min(reached) if reached else max(hops, default=0)
        return [Hop(t, hops.get(t)) for t in range(1, last + 1)]


def path_mtu(ctx: LinkContext, dst: str, *, hi: int | None = None, lo: int = 1200,
             timeout: float = 0.5, search_timeout: float = 0.15, max_hops: int = 16,
             trace: str = "auto", iface: str | None = None) -> PathMtuResult:
    """Measure the path MTU to `dst` along the namespace's own route (see the module docstring
    for the strategy).

    Args:
        iface: send out of this interface with its address as source (`vmkping -I vmk1`),
            instead of wherever the routing table would send `dst`.

    Raises:
        NoArpReply: the next hop does not answer ARP.
        Unreachable: not even a `lo`-sized probe is answered.
    """
    started = time.monotonic()
    route = ctx.route(dst, iface)
    next_hop = route.gateway or dst
    arp = ctx.resolve(route.iface, next_hop)
    if not arp.answered or arp.mac is None:
        raise NoArpReply(f"no ARP reply from next hop {next_hop} on {route.iface}",
                         iface=route.iface, next_hop=next_hop)
    path = KernelPath(ctx, route.iface, ctx.mac(route.iface),
                      route.src or ctx.source_for(route.iface, next_hop))
    return measure(ctx, path, arp.mac, dst, hi=hi, lo=lo, timeout=timeout,
                   search_timeout=search_timeout, max_hops=max_hops, trace=trace,
                   started=started)


def measure(ctx: LinkContext, path: Path, dst_mac: str, dst: str, *, hi: int | None,
            lo: int, timeout: float, search_timeout: float, max_hops: int, trace: str,
            started: float | None = None) -> PathMtuResult:
    """The path-MTU search along a resolved path (`dst_mac` is the next hop's MAC).

    Raises:
        BadRequest: `hi` above the egress interface's MTU, `lo` outside 28..hi, bad `trace`.
        Unreachable: not even a `lo`-sized probe is answered.
    """
    if trace not in TRACE_MODES:
        raise BadRequest(f"trace {trace!r} is not one of {', '.join(TRACE_MODES)}", trace=trace)
    started = time.monotonic() if started is None else started
    if_mtu = ctx.interface(path.iface).mtu
    high = hi if hi is not None else if_mtu
    if high > if_mtu:
        raise BadRequest(f"hi={high} exceeds the MTU of egress interface {path.iface} "
                         f"({if_mtu})", hi=high, iface=path.iface)
    if not 28 <= lo <= high:
        raise BadRequest(f"lo={lo} must be between 28 and hi={high}", lo=lo, hi=high)
    prober = _Prober(path, dst_mac, dst)

    first = prober.probe(high, timeout, tries=3)
    limiter: SizeProbe | None = None
    icmp_answered = first.outcome != "timeout"
    if first.outcome == "reply":
        method, mtu = "clean", high
    else:
        method, mtu = "search", 0
        current = first
        # follow frag-needed hints: each one names a smaller MTU further along the path
        while current.outcome == "frag-needed" and current.reported_mtu is not None \
                and lo <= current.reported_mtu < current.size:
            limiter = current
            current = prober.probe(current.reported_mtu, timeout, tries=3)
            if current.outcome == "reply":
                method, mtu = "frag-needed", current.size
                break
        if method == "search":
            upper = current.size if current.outcome != "reply" else high
            mtu = _confirm(prober, _search(prober, lo, upper, search_timeout), upper, high,
                           timeout, search_timeout)

    hops: list[Hop] = []
    if trace == "always" or (trace == "auto" and limiter is not None):
        hops = prober.trace(max_hops, timeout)
    limiting: Hop | None = None
    if limiter is not None and method == "frag-needed":
        ttl = next((h.ttl for h in hops if h.address == limiter.answered_by), None)
        limiting = Hop(ttl, limiter.answered_by, limiter.reported_mtu)
        hops = [Hop(h.ttl, h.address, limiting.mtu if h.ttl == ttl else None) for h in hops]
    return PathMtuResult(dst, path.iface, mtu, limiting, len(prober.log), hops, icmp_answered,
                         method, list(prober.log), round((time.monotonic() - started) * 1000, 3))


CONFIRM_ROUNDS = 3


def _confirm(prober: _Prober, good: int, failing: int, high: int, timeout: float,
             search_timeout: float) -> int:
    """A limit no ICMP named is a limit only if the size just above it fails again, with the
    first probe's patience (`timeout`, three tries): the search's short waits read a reply
    delayed on a loaded path as too big. When that size does pass, the search goes on above
    it (a size once thought failing that passes leaves only `high` as the ceiling)."""
    for _ in range(CONFIRM_ROUNDS):
        if good >= high or prober.probe(good + 1, timeout, tries=3).outcome != "reply":
            return good
        good += 1
        if good >= failing:
            failing = high + 1
        good = _bisect(prober, good, failing, search_timeout)
    return good


def _search(prober: _Prober, lo: int, failing: int, timeout: float) -> int:
    """Largest size in [lo, failing) that gets an echo reply; `failing` is known not to."""
    if prober.probe(lo, timeout, tries=3).outcome != "reply":
        raise Unreachable(f"{prober.dst} answered no DF probe, not even at {lo} bytes (3 "
                          "tries)", dst=prober.dst, lo=lo)
    return _bisect(prober, lo, failing, timeout)


def _bisect(prober: _Prober, good: int, bad: int, timeout: float) -> int:
    """Largest size in [good, bad) that gets an echo reply: `good` does, `bad` does not."""
    hint: int | None = None
    while bad - good > 1:
        mid = hint if hint is not None and good < hint < bad else (good + bad) // 2
        got = prober.probe(mid, timeout, tries=2)
        if got.outcome == "reply":
            good = mid
            if mid == hint:
                bad = min(bad, mid + 1)  # the frag-needed said nothing larger passes that hop
        else:
            bad = mid
        # a frag-needed that does get through mid-search names the answer: try it next
        hint = got.reported_mtu if got.outcome == "frag-needed" else None
    return good
