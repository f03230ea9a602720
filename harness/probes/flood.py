"""Unknown-unicast flooding: which receivers see frames sent to one MAC.

Windows NLB in unicast mode depends on the switch flooding frames for the cluster MAC to every
port; once the switch learns that MAC on one port (a node emitted a frame with it as source),
only that node receives the traffic (F09). The sender side (`send_frames`) runs in an agent;
the receivers count with `capture_start`/`capture_stop` in theirs; `measure_flood` is the
harness-side orchestration, typed against the small protocols below so that this module still
imports nothing from the harness.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import frames
from .capture import CaptureResult
from .errors import BadRequest
from .evidence import Frame
from .link import LinkContext

DEFAULT_ETHERTYPE = 0x88B5  # IEEE 802 local experimental: nothing on the path consumes it
DEFAULT_PAYLOAD = b"labharness flood probe"


@dataclass(frozen=True)
class SendResult:
    """What `send_frames` put on the wire."""

    iface: str
    dst_mac: str
    src_mac: str
    sent: int
    elapsed_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"iface": self.iface, "dst_mac": self.dst_mac, "src_mac": self.src_mac,
                "sent": self.sent, "elapsed_ms": self.elapsed_ms}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SendResult:
        return cls(str(d["iface"]), str(d["dst_mac"]), str(d["src_mac"]), int(d["sent"]),
                   float(d["elapsed_ms"]))


@dataclass(frozen=True)
class FloodResult:
    """Frames sent to `mac` and how many each receiver saw."""

    mac: str
    sent: int
    received: dict[str, int]
    # the first frames each receiver caught (evidence for the report, not in to_dict)
    frames: dict[str, Sequence[Frame]] = field(default_factory=dict)

    @property
    def reached(self) -> list[str]:
        """Receivers that saw every frame."""
        return sorted(name for name, n in self.received.items() if n >= self.sent)

    def to_dict(self) -> dict[str, Any]:
        return {"mac": self.mac, "sent": self.sent, "received": dict(self.received)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FloodResult:
        return cls(str(d["mac"]), int(d["sent"]),
                   {str(k): int(v) for k, v in d["received"].items()})


def normalise_mac(mac: str) -> str:
    raw = frames.mac_bytes(mac) if mac else b""
    if len(raw) != 6:
        raise BadRequest(f"{mac!r} is not a MAC address", mac=mac)
    return frames.mac_text(raw)


def send_frames(ctx: LinkContext, iface: str, dst_mac: str, count: int, *,
                ethertype: int = DEFAULT_ETHERTYPE, payload: bytes = DEFAULT_PAYLOAD,
                src_mac: str | None = None, ip_dst: str | None = None,
                udp_port: int | None = None, interval: float = 0.0,
                vlan: int | None = None) -> SendResult:
    """Send `count` frames to `dst_mac` out of `iface` (tagged for `vlan` on a trunk).

    Args:
        ethertype: for raw L2 frames (the default); ignored when `udp_port` is given.
        src_mac: defaults to the interface's MAC; give the cluster MAC to make a bridge learn it
            (with ethertype 0x8035 this sends RARP announcements, as notify-switches does).
        ip_dst, udp_port: send IPv4/UDP datagrams to `ip_dst` instead (policy-checked).
    """
    ctx.policy.check_iface(iface)
    if not 1 <= count <= 100_000:
        raise BadRequest(f"count={count} must be between 1 and 100000", count=count)
    dst = normalise_mac(dst_mac)
    src = normalise_mac(src_mac) if src_mac else ctx.mac(iface)
    if udp_port is not None:
        if ip_dst is None:
            raise BadRequest("udp_port needs ip_dst", udp_port=udp_port)
        ctx.policy.check_dst(ip_dst)
        frame = frames.udp_frame(src, dst, ctx.source_for(iface, ip_dst), ip_dst, udp_port,
                                 payload)
    elif ethertype == frames.ETH_P_RARP:
        frame = frames.rarp_announce(src)
    else:
        frame = frames.ether_frame(src, dst, ethertype, payload)
    frame = frames.tagged(frame, vlan)
    start = time.monotonic()
    for i in range(count):
        ctx.send(iface, frame)
        if interval and i + 1 < count:
            time.sleep(interval)
    return SendResult(iface, dst, src, count, round((time.monotonic() - start) * 1000, 3))


class FloodSender(Protocol):
    def send_frames(self, iface: str, dst_mac: str, count: int, *,
                    vlan: int | None = None) -> SendResult: ...


class FloodReceiver(Protocol):
    def capture_start(self, ifaces: list[str], *, dst_mac: str | None = None,
                      keep: int = 0) -> str: ...

    def capture_stop(self, capture_id: str) -> CaptureResult: ...


def measure_flood(sender_agent: FloodSender, sender_iface: str,
                  receivers: Mapping[str, tuple[FloodReceiver, str]], mac: str, count: int, *,
                  settle: float = 0.1, vlan: int | None = None, keep: int = 8) -> FloodResult:
    """Count, on each receiver, the frames `sender_agent` sends to `mac`.

    Captures are armed on every receiver before the first frame leaves and always stopped,
    even when the send fails, so no capture outlives the measurement.
    """
    mac = normalise_mac(mac)
    started: dict[str, tuple[FloodReceiver, str]] = {}
    received: dict[str, int] = {}
    caught: dict[str, Sequence[Frame]] = {}
    try:
        for name, (agent, iface) in receivers.items():
            started[name] = (agent, agent.capture_start([iface], dst_mac=mac, keep=keep))
        sent = sender_agent.send_frames(sender_iface, mac, count, vlan=vlan).sent
        time.sleep(settle)  # frames still in flight through the bridge
    finally:
        failure: Exception | None = None
        for name, (agent, capture_id) in started.items():
            try:
                result = agent.capture_stop(capture_id)
                received[name], caught[name] = result.total, result.frames
            except Exception as exc:  # stop the other captures first, then report this one
                failure = failure or exc
        if failure is not None:
            raise failure
    return FloodResult(mac, sent, received, caught)
