"""The struct-packed probe frames are byte for byte what scapy builds from the same fields."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from harness.probes import frames

MAC_A, MAC_B = "02:00:00:00:00:0a", "00:50:56:3f:12:ab"


def _scapy_echo(src_mac: str, dst_mac: str, src: str, dst: str, ident: int, seq: int,
                size: int, ttl: int, df: bool) -> bytes:
    pad = max(0, size - 28)
    pkt = (Ether(dst=dst_mac, src=src_mac) / IP(src=src, dst=dst, ttl=ttl, flags="DF" if df else 0,
                                                id=(ident ^ seq) & 0xFFFF)
           / ICMP(type=8, id=ident, seq=seq) / Raw(b"\0" * pad))
    raw = bytes(pkt)
    return raw + b"\0" * (60 - len(raw)) if len(raw) < 60 else raw


@pytest.mark.parametrize(("size", "ttl", "df", "ident", "seq"), [
    (64, 64, True, 0x1234, 1), (28, 1, False, 0xFFFF, 0xFFFF), (29, 16, True, 7, 3),
    (1500, 64, True, 0xBEEF, 0x8001), (1600, 64, False, 1, 2), (9000, 255, True, 0xABCD, 42)])
def test_icmp_echo_matches_scapy(size: int, ttl: int, df: bool, ident: int, seq: int) -> None:
    ours = frames.icmp_echo(MAC_A, MAC_B, "198.18.20.250", "198.18.20.12", ident, seq,
                            size=size, ttl=ttl, dont_fragment=df)
    assert ours == _scapy_echo(MAC_A, MAC_B, "198.18.20.250", "198.18.20.12", ident, seq, size,
                               ttl, df)
    ip = frames.parse_ipv4(ours)
    assert ip is not None and ip.total_length == max(size, 28)


@pytest.mark.parametrize("psrc", ["198.18.30.250", "0.0.0.0"])
def test_arp_request_matches_scapy(psrc: str) -> None:
    want = bytes(Ether(dst=frames.BROADCAST, src=MAC_A)
                 / ARP(op=1, hwsrc=MAC_A, psrc=psrc, hwdst=frames.ZERO_MAC, pdst="198.18.30.11"))
    assert frames.arp_request(MAC_A, psrc, "198.18.30.11") == want + b"\0" * (60 - len(want))


def test_arp_reply_matches_scapy() -> None:
    want = bytes(Ether(dst=MAC_B, src=MAC_A)
                 / ARP(op=2, hwsrc=MAC_A, psrc="198.18.30.250", hwdst=MAC_B, pdst="198.18.30.11"))
    assert frames.arp_reply(MAC_A, "198.18.30.250", MAC_B, "198.18.30.11") == (
        want + b"\0" * (60 - len(want)))
