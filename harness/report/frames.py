"""One line per frame of a pcap a run attached: what a reader of the HTML report sees without
opening Wireshark.

The pcaps are the probes' own (harness.probes.evidence.pcap_bytes: classic libpcap, Ethernet,
802.1Q tags kept, frames cut to their first 256 bytes), so the decoder reads Ethernet, 802.1Q,
ARP, IPv4 and ICMP headers and stops there; anything else is named by its EtherType or IP
protocol. Standard library only, and it never raises on a short or odd file: it says so.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

_ICMP = {0: "echo reply", 3: "unreachable", 8: "echo request", 11: "time exceeded"}
_IP_PROTO = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE"}
_ETHERTYPE = {0x0800: "IPv4", 0x0806: "ARP", 0x86DD: "IPv6", 0x88CC: "LLDP", 0x8809: "LACP"}


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def decode_frame(data: bytes, length: int) -> str:
    """`src > dst vlan 20 IPv4 198.18.20.11 > 198.18.20.12 ICMP echo request id 1 seq 3`."""
    if len(data) < 14:
        return f"{length} bytes (truncated header)"
    dst, src = _mac(data[0:6]), _mac(data[6:12])
    (etype,) = struct.unpack("!H", data[12:14])
    off = 14
    parts = [f"{src} > {dst}"]
    while etype in (0x8100, 0x88A8) and len(data) >= off + 4:
        tci, etype = struct.unpack("!HH", data[off:off + 4])
        parts.append(f"vlan {tci & 0x0FFF}")
        off += 4
    if etype < 0x0600:  # 802.3 length: CDP, STP, LLC
        if data[off + 3:off + 6] == b"\x00\x00\x0c" and data[off + 6:off + 8] == b"\x20\x00":
            parts.append("CDP")
        else:
            parts.append("802.3/LLC")
    elif etype == 0x0806 and len(data) >= off + 28:
        (op,) = struct.unpack("!H", data[off + 6:off + 8])
        spa, tpa = _ip(data[off + 14:off + 18]), _ip(data[off + 24:off + 28])
        parts.append(f"ARP who-has {tpa} tell {spa}" if op == 1 else
                     f"ARP reply {spa} is-at {_mac(data[off + 8:off + 14])}")
    elif etype == 0x0800 and len(data) >= off + 20:
        ihl = (data[off] & 0x0F) * 4
        proto = data[off + 9]
        src_ip, dst_ip = _ip(data[off + 12:off + 16]), _ip(data[off + 16:off + 20])
        (flags_frag,) = struct.unpack("!H", data[off + 6:off + 8])
        df = " DF" if flags_frag & 0x4000 else ""
        parts.append(f"IPv4 {src_ip} > {dst_ip}{df} {_IP_PROTO.get(proto, f'proto {proto}')}")
        icmp = off + ihl
        if proto == 1 and len(data) >= icmp + 8:
            kind, code = data[icmp], data[icmp + 1]
            ident, seq = struct.unpack("!HH", data[icmp + 4:icmp + 8])
            parts.append(_ICMP.get(kind, f"type {kind} code {code}")
                         + (f" id {ident} seq {seq}" if kind in (0, 8) else f" code {code}"))
    else:
        parts.append(_ETHERTYPE.get(etype, f"ethertype 0x{etype:04x}"))
    parts.append(f"len {length}")
    return " ".join(parts)


def pcap_summary(blob: bytes, limit: int = 64) -> list[str]:
    """One line per frame (time, decoded headers), at most `limit` lines, and a line that
    says how many more there were or what was wrong with the file."""
    if len(blob) < 24:
        return ["not a pcap file (shorter than its header)"]
    magic = struct.unpack("<I", blob[:4])[0]
    if magic == 0xA1B2C3D4:
        endian = "<"
    elif magic == 0xD4C3B2A1:
        endian = ">"
    else:
        return [f"not a classic pcap file (magic 0x{magic:08x})"]
    (linktype,) = struct.unpack(endian + "I", blob[20:24])
    lines: list[str] = []
    off, n = 24, 0
    while off + 16 <= len(blob):
        sec, usec, caplen, wirelen = struct.unpack(endian + "IIII", blob[off:off + 16])
        data = blob[off + 16:off + 16 + caplen]
        off += 16 + caplen
        n += 1
        if len(lines) < limit:
            at = datetime.fromtimestamp(sec + usec / 1e6, UTC).strftime("%H:%M:%S.%f")[:-3]
            text = decode_frame(data, wirelen) if linktype == 1 else f"{wirelen} bytes"
            lines.append(f"{at} {text}")
    if n > limit:
        lines.append(f"... {n - limit} more frame(s)")
    if off != len(blob):
        lines.append("(the file ends inside a frame)")
    return lines
