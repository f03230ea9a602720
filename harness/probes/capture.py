"""Background capture on a set of interfaces: count matching frames, optionally keep a pcap.

The sockets are bound before `start()` returns, so every frame that reaches an interface after
`capture_start` answered is counted, whatever the thread is doing; the thread only drains them.
Counting happens on raw bytes (MAC, ethertype, IP protocol and destination) because a flood
test may see thousands of frames; scapy is used only to write the pcap evidence.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import frames
from .errors import BadRequest
from .evidence import Frame, FrameLog, frames_from_wire, frames_to_wire
from .link import read_ready

DIRECTIONS = ("in", "out", "any")


@dataclass(frozen=True)
class CaptureFilter:
    """Which frames count; every field left None matches anything."""

    dst_mac: str | None = None
    src_mac: str | None = None
    ethertype: int | None = None
    ip_proto: int | None = None
    ip_dst: str | None = None
    direction: str = "in"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise BadRequest(f"direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}",
                             direction=self.direction)

    def matches(self, frame: bytes, pkttype: int) -> bool:
        outgoing = pkttype == frames.PACKET_OUTGOING
        if (self.direction == "in" and outgoing) or (self.direction == "out" and not outgoing):
            return False
        if self.dst_mac is not None and frames.mac_text(frame[0:6]) != self.dst_mac:
            return False
        if self.src_mac is not None and frames.mac_text(frame[6:12]) != self.src_mac:
            return False
        if self.ethertype is not None and frames.ethertype(frame) != self.ethertype:
            return False
        if self.ip_proto is not None or self.ip_dst is not None:
            ip = frames.parse_ipv4(frame)
            if ip is None:
                return False
            if self.ip_proto is not None and ip.proto != self.ip_proto:
                return False
            if self.ip_dst is not None and ip.dst != self.ip_dst:
                return False
        return True


@dataclass(frozen=True)
class CaptureResult:
    """Frames that matched, per interface, while the capture ran."""

    capture_id: str
    counts: dict[str, int]
    duration_ms: float
    pcap_path: str | None
    frames_written: int
    frames: Sequence[Frame] = field(default_factory=list)  # the first `keep` matching frames

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {"capture_id": self.capture_id, "counts": dict(self.counts),
                "duration_ms": self.duration_ms, "pcap_path": self.pcap_path,
                "frames_written": self.frames_written, "frames": frames_to_wire(self.frames)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaptureResult:
        return cls(str(d["capture_id"]), {str(k): int(v) for k, v in d["counts"].items()},
                   float(d["duration_ms"]), d.get("pcap_path"), int(d["frames_written"]),
                   frames_from_wire(d.get("frames")))


@dataclass
class Capture:
    """One running capture; `stop()` returns its result and closes its sockets."""

    capture_id: str
    socks: dict[str, socket.socket]
    flt: CaptureFilter
    pcap_path: str | None = None
    max_frames: int = 10_000
    log: FrameLog = field(default_factory=lambda: FrameLog(0))
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[tuple[float, bytes]] = field(default_factory=list)
    _started: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _wake_r: int = -1
    _wake_w: int = -1

    def start(self) -> None:
        self.counts = {name: 0 for name in self.socks}
        self._wake_r, self._wake_w = os.pipe()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.capture_id}",
                                        daemon=True)
        self._thread.start()

    def _take(self, name: str, sock: socket.socket) -> None:
        for data, pkttype in read_ready(sock):
            if self.flt.matches(data, pkttype):
                self.counts[name] += 1
                if self.pcap_path is not None and len(self.kept) < self.max_frames:
                    self.kept.append((time.time(), data))
                self.log.add(name, data, sent=pkttype == frames.PACKET_OUTGOING)

    def _run(self) -> None:
        by_fd = {s.fileno(): (name, s) for name, s in self.socks.items()}
        watch = [*by_fd, self._wake_r]
        while not self._stop.is_set():
            ready, _, _ = select.select(watch, [], [], 1.0)
            for fd in ready:
                if fd in by_fd:
                    self._take(*by_fd[fd])

    def stop(self) -> CaptureResult:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for name, sock in self.socks.items():
            self._take(name, sock)  # whatever arrived between the last wake-up and now
            sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        duration = (time.monotonic() - self._started) * 1000
        written = 0
        if self.pcap_path is not None:
            written = write_pcap(self.pcap_path, self.kept)
        return CaptureResult(self.capture_id, dict(self.counts), round(duration, 3),
                             self.pcap_path, written, list(self.log.frames))


def write_pcap(path: str, kept: list[tuple[float, bytes]]) -> int:
    """Write the kept frames with their arrival times; the evidence a test attaches."""
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    packets = []
    for at, data in kept:
        pkt = Ether(data)
        pkt.time = at
        packets.append(pkt)
    wrpcap(path, packets, linktype=1)
    return len(packets)
