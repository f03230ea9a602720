"""Listen for CDP and LLDP on uplinks: what the physical switch says is at the other end.

ESXi shows exactly this per vmnic ("Cisco Discovery Protocol" / "Link Layer Discovery Protocol"
in the uplink's details), and a cabling check compares it with the lab. Frames are read through
ETH_P_ALL sockets (which also see frames on bridge ports and blocked standby uplinks) and
dissected with scapy's CDP and LLDP contrib layers only when the destination MAC says they are
discovery frames. The probe returns as soon as every interface has what `expect` asks for, so
a healthy lab answers in about one advertisement interval; an interface that stays silent
costs the whole timeout, which is the evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import frames
from .errors import BadRequest
from .link import LinkContext, Received, open_tap, unique

CDP_MAC = "01:00:0c:cc:cc:cc"
LLDP_MACS = ("01:80:c2:00:00:0e", "01:80:c2:00:00:03", "01:80:c2:00:00:00")
LLDP_ETHERTYPE = 0x88CC
EXPECT = ("any", "cdp", "lldp", "both", "none")


@dataclass(frozen=True)
class Neighbour:
    """One neighbour heard on an interface."""

    protocol: str  # "cdp" or "lldp"
    device_id: str
    port_id: str
    platform: str | None
    software: str | None
    addresses: list[str]
    port_description: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "device_id": self.device_id, "port_id": self.port_id,
                "platform": self.platform, "software": self.software,
                "addresses": list(self.addresses), "port_description": self.port_description}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Neighbour:
        return cls(str(d["protocol"]), str(d["device_id"]), str(d["port_id"]), d.get("platform"),
                   d.get("software"), [str(a) for a in d.get("addresses", [])],
                   d.get("port_description"))


@dataclass(frozen=True)
class NeighbourReport:
    """Neighbours per interface; an interface where nothing was heard has an empty list."""

    neighbours: dict[str, list[Neighbour]]
    expect: str
    complete: bool
    elapsed_ms: float

    def on(self, iface: str, protocol: str | None = None) -> list[Neighbour]:
        return [n for n in self.neighbours.get(iface, [])
                if protocol is None or n.protocol == protocol]

    def to_dict(self) -> dict[str, Any]:
        return {"neighbours": {k: [n.to_dict() for n in v] for k, v in self.neighbours.items()},
                "expect": self.expect, "complete": self.complete, "elapsed_ms": self.elapsed_ms}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeighbourReport:
        return cls({str(k): [Neighbour.from_dict(n) for n in v]
                    for k, v in d["neighbours"].items()},
                   str(d["expect"]), bool(d["complete"]), float(d["elapsed_ms"]))


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\0")
    return str(value)


def parse_cdp(frame: bytes) -> Neighbour | None:
    from scapy.contrib.cdp import (
        CDPAddrRecordIPv4,
        CDPMsgAddr,
        CDPMsgDeviceID,
        CDPMsgPlatform,
        CDPMsgPortID,
        CDPMsgSoftwareVersion,
        CDPv2_HDR,
    )
    from scapy.layers.l2 import Ether

    pkt = Ether(frame)
    if not pkt.haslayer(CDPv2_HDR) or not pkt.haslayer(CDPMsgDeviceID):
        return None
    addresses: list[str] = []
    if pkt.haslayer(CDPMsgAddr):
        addresses = [r.addr for r in pkt[CDPMsgAddr].addr if isinstance(r, CDPAddrRecordIPv4)]
    return Neighbour(
        "cdp", _text(pkt[CDPMsgDeviceID].val),
        _text(pkt[CDPMsgPortID].iface) if pkt.haslayer(CDPMsgPortID) else "",
        _text(pkt[CDPMsgPlatform].val) if pkt.haslayer(CDPMsgPlatform) else None,
        _text(pkt[CDPMsgSoftwareVersion].val) if pkt.haslayer(CDPMsgSoftwareVersion) else None,
        addresses)


def parse_lldp(frame: bytes) -> Neighbour | None:
    from scapy.contrib.lldp import (
        LLDPDUChassisID,
        LLDPDUManagementAddress,
        LLDPDUPortDescription,
        LLDPDUPortID,
        LLDPDUSystemDescription,
        LLDPDUSystemName,
    )
    from scapy.layers.l2 import Ether

    pkt = Ether(frame)
    if not pkt.haslayer(LLDPDUChassisID):
        return None
    name = _text(pkt[LLDPDUSystemName].system_name) if pkt.haslayer(LLDPDUSystemName) else None
    device = name or _text(pkt[LLDPDUChassisID].id)
    port = _text(pkt[LLDPDUPortID].id) if pkt.haslayer(LLDPDUPortID) else ""
    descr = (_text(pkt[LLDPDUPortDescription].description)
             if pkt.haslayer(LLDPDUPortDescription) else None)
    software = (_text(pkt[LLDPDUSystemDescription].description)
                if pkt.haslayer(LLDPDUSystemDescription) else None)
    addresses = []
    layer = pkt.getlayer(LLDPDUManagementAddress)
    while layer is not None:
        raw = layer.management_address
        if layer.management_address_subtype == 1 and isinstance(raw, bytes) and len(raw) == 4:
            addresses.append(".".join(str(b) for b in raw))
        layer = layer.payload.getlayer(LLDPDUManagementAddress)
    return Neighbour("lldp", device, port, None, software, addresses, descr)


def classify(frame: bytes) -> Neighbour | None:
    """Parse a CDP or LLDP frame; anything else (or a malformed one) is None."""
    dst = frames.mac_text(frame[0:6])
    try:
        if dst == CDP_MAC:
            return parse_cdp(frame)
        if dst in LLDP_MACS and frames.ethertype(frame) == LLDP_ETHERTYPE:
            return parse_lldp(frame)
    except Exception:  # a malformed advertisement is noise, not a probe failure
        return None
    return None


def _satisfied(found: dict[str, dict[tuple[str, str, str], Neighbour]], expect: str) -> bool:
    if expect == "none":
        return False
    for heard in found.values():
        protocols = {n.protocol for n in heard.values()}
        wanted = {"any": bool(protocols), "cdp": "cdp" in protocols, "lldp": "lldp" in protocols,
                  "both": {"cdp", "lldp"} <= protocols}[expect]
        if not wanted:
            return False
    return True


def listen(ctx: LinkContext, ifaces: list[str], *, timeout: float = 3.0,
           expect: str = "any") -> NeighbourReport:
    """Collect CDP/LLDP neighbours on `ifaces` for up to `timeout` seconds.

    Args:
        expect: when to stop early: "any" (every interface heard something), "cdp", "lldp",
            "both" (each protocol on every interface), "none" (always listen the full timeout).
    """
    if expect not in EXPECT:
        raise BadRequest(f"expect {expect!r} is not one of {', '.join(EXPECT)}", expect=expect)
    if not ifaces:
        raise BadRequest("neighbours needs at least one interface")
    names = unique(ifaces)
    for name in names:
        ctx.policy.check_iface(name)
    start = time.monotonic()
    socks = {name: open_tap(name) for name in names}
    found: dict[str, dict[tuple[str, str, str], Neighbour]] = {name: {} for name in names}

    def keep(r: Received) -> bool:
        if r.pkttype == frames.PACKET_OUTGOING:
            return False
        n = classify(r.frame)
        if n is not None:
            # latest advertisement wins: a switch that changes its hostname shows the new one
            found[r.iface][(n.protocol, n.device_id, n.port_id)] = n
        return False

    try:
        ctx.collect(socks, start + timeout, keep, lambda: _satisfied(found, expect))
    finally:
        for sock in socks.values():
            sock.close()
    return NeighbourReport({k: list(v.values()) for k, v in found.items()}, expect,
                           _satisfied(found, expect) if expect != "none" else True,
                           round((time.monotonic() - start) * 1000, 3))
