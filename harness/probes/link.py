"""An agent's access to its namespace's interfaces: policy-checked, cached L2 sockets, ARP.

Every frame a probe sends leaves through `LinkContext.send`, which checks the interface against
the policy, and every IP destination is resolved through `LinkContext.route`, which checks the
destination and the next hop; that is where the safety policy is enforced.

Sockets are raw AF_PACKET sockets bound with ETH_P_ALL: a socket opened for one protocol
(ETH_P_ARP) on a bridge port receives nothing, because the bridge consumes the frame before
protocol handlers run, while ETH_P_ALL taps see it. NICs and veths with VLAN receive offload
strip the 802.1Q tag into the socket's auxiliary data (PACKET_AUXDATA); `read_ready` puts it
back, so every frame a probe reads (and every pcap) is the frame as it was on the wire. One
socket per interface is kept open for the agent's lifetime, which makes a probe cost about a
millisecond instead of the tens scapy's `srp1` spends opening and tearing down sockets.
"""

from __future__ import annotations

import errno
import ipaddress
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import frames, netlink
from .errors import InterfaceError, NoRoute
from .policy import Policy

T = TypeVar("T")
RCVBUF = 4 << 20
DRAIN_LIMIT = 100_000
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
_AUXDATA = struct.Struct("=IIIHHHH")  # struct tpacket_auxdata
_AUX_SPACE = socket.CMSG_SPACE(_AUXDATA.size)


@dataclass(frozen=True)
class InterfaceInfo:
    """One interface of the agent's namespace as the kernel reports it."""

    name: str
    index: int
    mac: str
    mtu: int
    up: bool
    carrier: bool
    ipv4: list[str]
    kind: str
    allowed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "mac": self.mac, "mtu": self.mtu,
                "up": self.up, "carrier": self.carrier, "ipv4": list(self.ipv4),
                "kind": self.kind, "allowed": self.allowed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InterfaceInfo:
        return cls(str(d["name"]), int(d["index"]), str(d["mac"]), int(d["mtu"]), bool(d["up"]),
                   bool(d["carrier"]), [str(a) for a in d["ipv4"]], str(d["kind"]),
                   bool(d["allowed"]))


@dataclass(frozen=True)
class ArpResult:
    """Whether `target` answered ARP on `iface`, and with which MAC."""

    iface: str
    target: str
    answered: bool
    mac: str | None
    rtt_ms: float | None
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return {"iface": self.iface, "target": self.target, "answered": self.answered,
                "mac": self.mac, "rtt_ms": self.rtt_ms, "requests": self.requests}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArpResult:
        return cls(str(d["iface"]), str(d["target"]), bool(d["answered"]), d.get("mac"),
                   d.get("rtt_ms"), int(d["requests"]))


@dataclass
class _Tap:
    ifindex: int
    sock: socket.socket


@dataclass(frozen=True)
class Received:
    iface: str
    frame: bytes
    pkttype: int
    at: float


def open_tap(iface: str) -> socket.socket:
    """A non-blocking ETH_P_ALL socket that sees every frame in and out of `iface` only.

    Created with protocol 0 and bound with ETH_P_ALL, because a socket created with ETH_P_ALL
    receives from every interface until bind() narrows it.
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        sock.bind((iface, frames.ETH_P_ALL))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise InterfaceError(f"cannot open {iface}: {exc.strerror}", iface=iface,
                             errno=exc.errno) from None
    return sock


def _with_tag(data: bytes, ancillary: list[tuple[int, int, bytes]]) -> bytes:
    """The frame with the 802.1Q tag the NIC stripped into auxdata put back in place."""
    for level, kind, payload in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= _AUXDATA.size:
            status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(payload)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else frames.ETH_P_8021Q
                return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


def read_ready(sock: socket.socket, limit: int = DRAIN_LIMIT) -> list[tuple[bytes, int]]:
    """Everything queued on a non-blocking packet socket, as (frame, pkttype), VLAN tags in
    place."""
    got: list[tuple[bytes, int]] = []
    while len(got) < limit:
        try:
            data, ancillary, _flags, addr = sock.recvmsg(65535, _AUX_SPACE)
            data = _with_tag(data, ancillary)
        except (BlockingIOError, InterruptedError):
            break
        except OSError as exc:
            if exc.errno in (errno.ENETDOWN, errno.ENXIO):
                break
            raise
        got.append((data, addr[2]))
    return got


@dataclass
class LinkContext:
    """Policy-checked interfaces, routes and L2 sockets of the agent's namespace."""

    policy: Policy
    _taps: dict[str, _Tap] = field(default_factory=dict)
    # a probe of a batch owns this context: its sockets may drop whatever is not about its
    # own address in the kernel (`harness.probes.bpf`)
    one_identity: bool = False

    # -- facts -------------------------------------------------------------------------------
    def interfaces(self) -> list[InterfaceInfo]:
        addrs: dict[int, list[str]] = {}
        for a in netlink.addresses():
            addrs.setdefault(a.index, []).append(f"{a.address}/{a.prefixlen}")
        return [InterfaceInfo(link.name, link.index, link.mac, link.mtu, link.up, link.carrier,
                              addrs.get(link.index, []), link.kind,
                              self.policy.iface_allowed(link.name))
                for link in netlink.links()]

    def interface(self, name: str) -> InterfaceInfo:
        link = self._link(name)
        return InterfaceInfo(link.name, link.index, link.mac, link.mtu, link.up, link.carrier,
                             [f"{a.address}/{a.prefixlen}" for a in netlink.addresses()
                              if a.index == link.index], link.kind,
                             self.policy.iface_allowed(link.name))

    @staticmethod
    def _link(name: str) -> netlink.Link:
        try:
            return netlink.link(name)
        except OSError:
            raise InterfaceError(f"no interface {name!r} in this namespace",
                                 iface=name) from None

    def source_for(self, iface: str, target: str) -> str:
        """The address of `iface` in `target`'s subnet, else its first address, else 0.0.0.0."""
        info = self.interface(iface)
        ip = ipaddress.IPv4Address(target)
        for cidr in info.ipv4:
            if ip in ipaddress.IPv4Interface(cidr).network:
                return cidr.split("/")[0]
        return info.ipv4[0].split("/")[0] if info.ipv4 else "0.0.0.0"

    def route(self, dst: str, iface: str | None = None) -> netlink.Route:
        """The kernel's route to `dst` (through `iface` when given, like `vmkping -I`),
        refused unless destination, interface and next hop are all inside the policy."""
        self.policy.check_dst(dst)
        if iface is not None:
            self.policy.check_iface(iface)
        src = None
        if iface is not None:  # vmkping -I sources from the vmknic's own address
            addresses = self.interface(iface).ipv4
            src = addresses[0].split("/")[0] if addresses else None
        try:
            route = netlink.route_get(dst, iface, src)
        except OSError as exc:
            via = f" via {iface}" if iface else ""
            raise NoRoute(f"no route to {dst}{via}: {exc.strerror}", dst=dst,
                          iface=iface) from None
        if route.local:
            raise NoRoute(f"{dst} is an address of this namespace, not a destination", dst=dst)
        self.policy.check_iface(route.iface)
        if route.gateway:
            self.policy.check_dst(route.gateway, "next hop")
        return route

    # -- sockets -----------------------------------------------------------------------------
    def tap(self, iface: str) -> socket.socket:
        """The cached socket of `iface`, reopened if the interface was recreated meanwhile."""
        self.policy.check_iface(iface)
        try:
            index = socket.if_nametoindex(iface)
        except OSError:
            raise InterfaceError(f"no interface {iface!r} in this namespace", iface=iface) from None
        cached = self._taps.get(iface)
        if cached is not None and cached.ifindex == index:
            return cached.sock
        if cached is not None:
            cached.sock.close()
        sock = open_tap(iface)
        self._taps[iface] = _Tap(index, sock)
        return sock

    def mac(self, iface: str) -> str:
        return self._link(iface).mac

    def drain(self, iface: str) -> None:
        """Drop what queued on the cached socket since the last probe (LLDP, floods, ...)."""
        read_ready(self.tap(iface))

    def send(self, iface: str, frame: bytes) -> None:
        try:
            self.tap(iface).send(frame)
        except OSError as exc:
            raise InterfaceError(f"cannot send on {iface}: {exc.strerror}", iface=iface,
                                 errno=exc.errno) from None

    def wait(self, socks: dict[str, socket.socket], deadline: float,
             match: Callable[[Received], T | None]) -> tuple[T, Received] | None:
        """Read frames from `socks` until `match` accepts one or `deadline` passes.

        Frames the agent itself sent (PACKET_OUTGOING) are offered too; `match` decides.
        """
        by_fd = {s.fileno(): (name, s) for name, s in socks.items()}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select(list(by_fd), [], [], remaining)
            now = time.monotonic()
            for fd in ready:
                name, sock = by_fd[fd]
                for data, pkttype in read_ready(sock):
                    got = Received(name, data, pkttype, now)
                    verdict = match(got)
                    if verdict is not None:
                        return verdict, got

    def collect(self, socks: dict[str, socket.socket], deadline: float,
                keep: Callable[[Received], bool], done: Callable[[], bool] = lambda: False,
                ) -> list[Received]:
        """Every frame `keep` accepts until `deadline`, or earlier once `done()` says so."""
        kept: list[Received] = []
        by_fd = {s.fileno(): (name, s) for name, s in socks.items()}
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select(list(by_fd), [], [], remaining)
            now = time.monotonic()
            for fd in ready:
                name, sock = by_fd[fd]
                for data, pkttype in read_ready(sock):
                    got = Received(name, data, pkttype, now)
                    if keep(got):
                        kept.append(got)
        return kept

    # -- ARP ---------------------------------------------------------------------------------
    def resolve(self, iface: str, target: str, *, timeout: float = 0.3, attempts: int = 2,
                psrc: str | None = None) -> ArpResult:
        """ARP for `target` on `iface` and wait for its answer there; never falls back to a
        broadcast destination when nobody answers (the caller gets `answered=False`)."""
        self.policy.check_iface(iface)
        self.policy.check_dst(target, "ARP target")
        mac = self.mac(iface)
        source = psrc if psrc is not None else self.source_for(iface, target)
        request = frames.arp_request(mac, source, target)
        sock = self.tap(iface)

        def is_answer(r: Received) -> str | None:
            if r.pkttype == frames.PACKET_OUTGOING:
                return None
            arp = frames.parse_arp(r.frame)
            if arp is not None and arp.op == 2 and arp.sender_ip == target:
                return arp.sender_mac
            return None

        for attempt in range(1, attempts + 1):
            self.drain(iface)
            start = time.monotonic()
            self.send(iface, request)
            found = self.wait({iface: sock}, start + timeout, is_answer)
            if found is not None:
                answer, got = found
                return ArpResult(iface, target, True, answer,
                                 round((got.at - start) * 1000, 3), attempt)
        return ArpResult(iface, target, False, None, None, attempts)

    def close(self) -> None:
        for tap in self._taps.values():
            tap.sock.close()
        self._taps.clear()


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
