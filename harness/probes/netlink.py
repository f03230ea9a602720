"""Ask the kernel of the current network namespace about links, addresses and routes.

An agent that entered its namespace with setns(2) still sees the root namespace's /sys (sysfs
is per mount namespace, not per network namespace), and scapy's route cache is a snapshot; a
netlink socket is bound to the namespace of the thread that opens it and always answers with
the kernel's current state, including the kernel's own route choice (`ip route get`). Only the
handful of attributes the probes need are decoded.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

NETLINK_ROUTE = 0
RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 18, 22, 26
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE, IFLA_LINKINFO = 1, 3, 4, 16, 18
IFLA_CARRIER_CHANGES = 35
IFLA_INFO_KIND = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC = 1, 2, 4, 5, 7
RTN_UNICAST, RTN_LOCAL = 1, 2
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
OPER_UP = 6
# RFC 2863 operational states, as IFLA_OPERSTATE numbers them (linux/if.h)
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_NLMSG = struct.Struct("=LHHLL")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_seq = count(1)


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str
    mtu: int
    up: bool
    carrier: bool
    kind: str
    operstate: str = "unknown"
    carrier_changes: int = 0

    @property
    def activating(self) -> bool:
        """A veth or bridge with carrier that the kernel has not made operational yet.

        A link that came up without carrier (a veth opened before its peer) gets its
        transmit queue attached only in the kernel's link watch, after the carrier comes on
        (deferred, and held back while other namespaces are being torn down), and a bridge
        port forwards only once that step made its link operationally up; until then frames
        are lost, though the link reads as up with carrier. The step sets the operational
        state last, to "up". A state still "unknown" after carrier changes means the step is
        pending; one whose carrier never changed (a bridge without ports) was ready when it
        came up.
        """
        if not (self.up and self.carrier and self.kind in ("veth", "bridge")):
            return False
        if self.operstate == "unknown":
            return self.carrier_changes > 0
        return self.operstate != "up"


@dataclass(frozen=True)
class Address:
    index: int
    address: str
    prefixlen: int


@dataclass(frozen=True)
class Route:
    """The kernel's answer to `ip route get DST`."""

    dst: str
    iface: str
    ifindex: int
    src: str | None
    gateway: str | None
    local: bool


def format_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _attrs(buf: bytes, offset: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while offset + 4 <= len(buf):
        length, kind = struct.unpack_from("=HH", buf, offset)
        if length < 4:
            break
        found[kind & 0x3FFF] = buf[offset + 4: offset + length]
        offset += (length + 3) & ~3
    return found


def _rta(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * ((-length) % 4)


def _request(msg_type: int, flags: int, payload: bytes) -> Iterator[tuple[int, bytes]]:
    """Send one request and yield (type, body) of each answer until DONE (dumps) or the first."""
    seq = next(_seq) & 0xFFFFFFFF
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.send(_NLMSG.pack(_NLMSG.size + len(payload), msg_type, flags | NLM_F_REQUEST, seq, 0)
                  + payload)
        dump = bool(flags & NLM_F_DUMP)
        while True:
            data = sock.recv(1 << 18)
            offset = 0
            while offset + _NLMSG.size <= len(data):
                length, kind, _flags, rseq, _pid = _NLMSG.unpack_from(data, offset)
                body = data[offset + _NLMSG.size: offset + length]
                offset += (length + 3) & ~3
                if rseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return
                yield kind, body
                if not dump:
                    return


def links() -> list[Link]:
    """Every interface of the namespace with MAC, MTU, admin state and carrier."""
    payload = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return [_link(body) for _kind, body in _request(RTM_GETLINK, NLM_F_DUMP, payload)]


def link(name: str) -> Link:
    """One interface by name (one request, not a dump of them all).

    Raises:
        OSError: no such interface in this namespace.
    """
    payload = _IFINFO.pack(socket.AF_UNSPEC, 0, socket.if_nametoindex(name), 0, 0)
    for _kind, body in _request(RTM_GETLINK, 0, payload):
        return _link(body)
    raise OSError(errno.ENODEV, f"no interface {name}")


def _link(body: bytes) -> Link:
    _family, _type, index, flags, _change = _IFINFO.unpack_from(body)
    attrs = _attrs(body, _IFINFO.size)
    name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
    mtu = struct.unpack("=I", attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else 0
    oper = attrs.get(IFLA_OPERSTATE, b"\0")[0]
    kind = ""
    if IFLA_LINKINFO in attrs:
        kind = _attrs(attrs[IFLA_LINKINFO], 0).get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode()
    # carrier: IFF_LOWER_UP, which is what /sys/class/net/X/carrier reports; operstate
    # alone is "unknown" for loopback and some virtual devices.
    carrier = bool(flags & IFF_LOWER_UP) or oper == OPER_UP
    changes = struct.unpack("=I", attrs[IFLA_CARRIER_CHANGES])[0] \
        if IFLA_CARRIER_CHANGES in attrs else 0
    return Link(index, name, format_mac(attrs.get(IFLA_ADDRESS, b"")), mtu,
                bool(flags & IFF_UP), carrier, kind,
                OPERSTATES[oper] if oper < len(OPERSTATES) else str(oper), changes)


def addresses() -> list[Address]:
    """Every IPv4 address of the namespace."""
    found = []
    payload = _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)
    for _kind, body in _request(RTM_GETADDR, NLM_F_DUMP, payload):
        _family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(body)
        attrs = _attrs(body, _IFADDR.size)
        raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
        if raw and len(raw) == 4:
            found.append(Address(index, socket.inet_ntoa(raw), prefixlen))
    return found


def route_get(dst: str, oif: str | None = None, src: str | None = None) -> Route:
    """The kernel's route for `dst`: egress interface, preferred source, gateway.

    With `oif` this is `ip route get DST oif OIF`: the route through that interface, and when
    the table has none the kernel treats `dst` as on-link there, which is what `vmkping -I`
    does on ESXi.

    Raises:
        OSError: ENETUNREACH/EHOSTUNREACH when there is no route, ENODEV for an unknown oif.
    """
    # With `src` the lookup is made as for a packet from that address, so source-based rules
    # apply: that is how a vmknic on another TCP/IP stack (its own table) picks its routes.
    payload = (_RTMSG.pack(socket.AF_INET, 32, 32 if src else 0, 0, 0, 0, 0, 0, 0)
               + _rta(RTA_DST, socket.inet_aton(dst)))
    if src is not None:
        payload += _rta(RTA_SRC, socket.inet_aton(src))
    if oif is not None:
        payload += _rta(RTA_OIF, struct.pack("=I", socket.if_nametoindex(oif)))
    for _kind, body in _request(RTM_GETROUTE, 0, payload):
        rtm_type = _RTMSG.unpack_from(body)[7]
        attrs = _attrs(body, _RTMSG.size)
        ifindex = struct.unpack("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0
        src = socket.inet_ntoa(attrs[RTA_PREFSRC]) if RTA_PREFSRC in attrs else None
        gateway = socket.inet_ntoa(attrs[RTA_GATEWAY]) if RTA_GATEWAY in attrs else None
        iface = socket.if_indextoname(ifindex) if ifindex else ""
        if rtm_type not in (RTN_UNICAST, RTN_LOCAL):
            raise OSError(errno.ENETUNREACH, f"route type {rtm_type} for {dst}")
        return Route(dst, iface, ifindex, src, gateway, rtm_type == RTN_LOCAL)
    raise OSError(errno.ENETUNREACH, f"no route answer for {dst}")
