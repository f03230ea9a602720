"""Per-uplink reachability: does a target answer through this one uplink?

ESXi's link-status-only failure detection keeps using an uplink whose switch port silently
drops everything while the link stays up. The probe here is what beacon probing and
`arp_ip_target` do: an ARP probe (sender IP 0.0.0.0, the uplink's own MAC, broadcast) sent out of
exactly one interface, counted as success only if the reply comes back on that same interface.
The 0.0.0.0 sender teaches neither the target's ARP cache nor confuses the switch about the
host's IP, and the uplink's own MAC means the reply is switched back to this uplink.

The frame is written straight to the device through AF_PACKET, so it leaves even through a
bridge port the bridge keeps blocked (a standby uplink), and the reply is read with ETH_P_ALL,
which sees frames the bridge then drops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import frames
from .errors import InterfaceError
from .link import LinkContext, Received


@dataclass(frozen=True)
class BeaconResult:
    """Whether `target` answered an ARP probe sent out of `iface`, on `iface`."""

    iface: str
    target: str
    reachable: bool
    rtt_ms: float | None
    answered_by: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"iface": self.iface, "target": self.target, "reachable": self.reachable,
                "rtt_ms": self.rtt_ms, "answered_by": self.answered_by, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BeaconResult:
        return cls(str(d["iface"]), str(d["target"]), bool(d["reachable"]), d.get("rtt_ms"),
                   d.get("answered_by"), d.get("error"))


def beacon(ctx: LinkContext, iface: str, target: str, *, timeout: float = 0.3) -> BeaconResult:
    ctx.policy.check_iface(iface)
    ctx.policy.check_dst(target, "beacon target")
    info = ctx.interface(iface)
    if not info.up:
        # an admin-down uplink is simply not a path; say why instead of failing the request
        return BeaconResult(iface, target, False, None, None, "interface is administratively down")
    mac = info.mac
    probe = frames.arp_request(mac, "0.0.0.0", target)

    def is_reply(r: Received) -> str | None:
        if r.pkttype == frames.PACKET_OUTGOING:
            return None
        arp = frames.parse_arp(r.frame)
        if arp and arp.op == 2 and arp.sender_ip == target and arp.target_mac == mac:
            return arp.sender_mac
        return None

    try:
        ctx.drain(iface)
        start = time.monotonic()
        ctx.send(iface, probe)
    except InterfaceError as exc:
        return BeaconResult(iface, target, False, None, None, exc.message)
    found = ctx.wait({iface: ctx.tap(iface)}, start + timeout, is_reply)
    if found is None:
        return BeaconResult(iface, target, False, None, None)
    answered_by, got = found
    return BeaconResult(iface, target, True, round((got.at - start) * 1000, 3), answered_by)
