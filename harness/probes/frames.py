"""Build probe frames, and recognise answers with plain byte parsing.

The frames every path probe sends (ARP requests and replies, ICMP echoes) are packed with
struct: building one through scapy's layers costs about a millisecond of CPU, and a 32-host lab
sends tens of thousands. Their bytes are tested against scapy's (tests/probe/test_frames.py).
The rest (RARP, UDP, raw Ethernet) are built with scapy.

Frames are always complete Ethernet frames with an explicit source MAC (a bridge silently drops
frames whose source is 00:00:00:00:00:00, which is what scapy leaves when it has no route) and an
explicit destination MAC the caller resolved (never scapy's broadcast fallback). Answers are
matched with struct on the raw bytes: an agent reads every frame on an interface through an
ETH_P_ALL socket, and dissecting each one with scapy would cost more than the probe itself.

scapy is imported inside the builders so that importing the result types costs nothing;
`preload()` imports everything up front (the agent host does this once, before forking).
"""

from __future__ import annotations

import socket
import struct
from typing import NamedTuple

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
PACKET_OUTGOING = 4
BROADCAST = "ff:ff:ff:ff:ff:ff"
ZERO_MAC = "00:00:00:00:00:00"
MIN_FRAME = 60  # without FCS; veth does not pad, real NICs would
ICMP_ECHO_REPLY, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_TIME_EXCEEDED = 0, 3, 8, 11
ICMP_FRAG_NEEDED = 4
IP_HEADER = 20
ICMP_HEADER = 8
_ARP_HEAD = struct.Struct("!HHHBBH6s4s6s4s")  # ethertype, then the ARP packet
_IPV4 = struct.Struct("!BBHHHBBH4s4s")


def preload() -> None:
    """Import every scapy layer the probes use, so the first request does not pay for it."""
    from scapy.contrib import cdp, lldp  # noqa: F401
    from scapy.layers import inet, l2  # noqa: F401
    from scapy.utils import wrpcap  # noqa: F401


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def _pad(frame: bytes) -> bytes:
    return frame + b"\0" * (MIN_FRAME - len(frame)) if len(frame) < MIN_FRAME else frame


def _arp(op: int, dst_mac: str, src_mac: str, psrc: str, hwdst: str, pdst: str) -> bytes:
    return _pad(mac_bytes(dst_mac) + mac_bytes(src_mac) + _ARP_HEAD.pack(
        ETH_P_ARP, 1, ETH_P_IP, 6, 4, op, mac_bytes(src_mac), socket.inet_aton(psrc),
        mac_bytes(hwdst), socket.inet_aton(pdst)))


def arp_request(src_mac: str, psrc: str, pdst: str, dst_mac: str = BROADCAST) -> bytes:
    """ARP who-has `pdst`; with `psrc` 0.0.0.0 it is an RFC 5227 ARP probe, which teaches the
    target nothing (no ARP-cache entry, nothing learned from the sender IP)."""
    return _arp(1, dst_mac, src_mac, psrc, ZERO_MAC, pdst)


def rarp_announce(mac: str) -> bytes:
    """A RARP request from `mac`, as ESXi's notify-switches sends to move a MAC in the fdb."""
    from scapy.layers.l2 import ARP, Ether

    return _pad(bytes(Ether(dst=BROADCAST, src=mac, type=ETH_P_RARP)
                      / ARP(op=3, hwsrc=mac, hwdst=mac, psrc="0.0.0.0", pdst="0.0.0.0")))


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, ident: int, seq: int, *,
              size: int = 64, ttl: int = 64, dont_fragment: bool = True) -> bytes:
    """An ICMP echo request whose IP packet is exactly `size` bytes long."""
    pad = max(0, size - IP_HEADER - ICMP_HEADER)
    icmp = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident & 0xFFFF, seq & 0xFFFF) + b"\0" * pad
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    header = _IPV4.pack(0x45, 0, IP_HEADER + len(icmp), (ident ^ seq) & 0xFFFF,
                        0x4000 if dont_fragment else 0, ttl, socket.IPPROTO_ICMP, 0,
                        socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return _pad(mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ETH_P_IP)
                + header + icmp)


def ether_frame(src_mac: str, dst_mac: str, ethertype: int, payload: bytes) -> bytes:
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    return _pad(bytes(Ether(dst=dst_mac, src=src_mac, type=ethertype) / Raw(payload)))


def udp_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, dport: int,
              payload: bytes, sport: int = 40000) -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    return _pad(bytes(Ether(dst=dst_mac, src=src_mac, type=ETH_P_IP) / IP(src=src_ip, dst=dst_ip)
                      / UDP(sport=sport, dport=dport) / Raw(payload)))


def tagged(frame: bytes, vlan: int | None) -> bytes:
    """The frame with an 802.1Q tag for `vlan` after its MAC addresses (as sent on a trunk);
    untouched for None. VLAN 0 is a priority tag: the frame belongs to the native VLAN."""
    if vlan is None:
        return frame
    return frame[:12] + struct.pack("!HH", ETH_P_8021Q, vlan & 0x0FFF) + frame[12:]


def untag(frame: bytes) -> tuple[int | None, bytes]:
    """(VLAN, the frame without its 802.1Q tag); (None, frame) for an untagged frame."""
    if len(frame) >= 18 and frame[12:14] == b"\x81\x00":
        return int.from_bytes(frame[14:16], "big") & 0x0FFF, frame[:12] + frame[16:]
    return None, frame


def arp_reply(src_mac: str, psrc: str, dst_mac: str, pdst: str) -> bytes:
    """ARP is-at: `psrc` is at `src_mac`, answering `pdst` at `dst_mac`."""
    return _arp(2, dst_mac, src_mac, psrc, dst_mac, pdst)


# -- recognising answers ----------------------------------------------------------------------

class ArpView(NamedTuple):
    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


class Ipv4View(NamedTuple):
    src: str
    dst: str
    proto: int
    ttl: int
    total_length: int
    payload: bytes


class IcmpView(NamedTuple):
    """An ICMP message; for errors, `ident`/`seq`/`inner_dst` come from the quoted echo."""

    type: int
    code: int
    ident: int
    seq: int
    next_hop_mtu: int
    inner_dst: str | None
    inner_length: int


def ethertype(frame: bytes) -> int:
    return int.from_bytes(frame[12:14], "big") if len(frame) >= 14 else -1


def parse_arp(frame: bytes) -> ArpView | None:
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    op = int.from_bytes(frame[20:22], "big")
    return ArpView(op, mac_text(frame[22:28]), socket.inet_ntoa(frame[28:32]),
                   mac_text(frame[32:38]), socket.inet_ntoa(frame[38:42]))


def parse_ipv4(frame: bytes) -> Ipv4View | None:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] >> 4 != 4:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    return Ipv4View(socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]), frame[23],
                    frame[22], total, frame[14 + ihl: 14 + total])


def parse_icmp(ip: Ipv4View) -> IcmpView | None:
    data = ip.payload
    if ip.proto != 1 or len(data) < ICMP_HEADER:
        return None
    kind, code = data[0], data[1]
    if kind in (ICMP_ECHO, ICMP_ECHO_REPLY):
        ident, seq = struct.unpack_from("!HH", data, 4)
        return IcmpView(kind, code, ident, seq, 0, None, ip.total_length)
    if kind in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED):
        mtu = int.from_bytes(data[6:8], "big") if kind == ICMP_DEST_UNREACH else 0
        inner = data[ICMP_HEADER:]
        if len(inner) < IP_HEADER or inner[0] >> 4 != 4:
            return None
        ihl = (inner[0] & 0x0F) * 4
        inner_len = int.from_bytes(inner[2:4], "big")
        inner_dst = socket.inet_ntoa(inner[16:20])
        if inner[9] != 1 or len(inner) < ihl + ICMP_HEADER:
            return IcmpView(kind, code, -1, -1, mtu, inner_dst, inner_len)
        ident, seq = struct.unpack_from("!HH", inner, ihl + 4)
        return IcmpView(kind, code, ident, seq, mtu, inner_dst, inner_len)
    return IcmpView(kind, code, -1, -1, 0, None, ip.total_length)
