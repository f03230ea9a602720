"""The frames a probe verdict rests on, carried back to the harness and written as a pcap.

A probe keeps the frames that concern its question (what it sent, and what arrived about its
address), each cut to `SNAPLEN` bytes (enough for the 802.1Q tag, IP and ICMP headers and the
start of the payload) and at most `MAX_FRAMES` of them, so the evidence crosses the agent's
JSON channel from a probe VM as easily as from a namespace. The harness writes them as a
classic libpcap file (Ethernet link type; tagged frames keep their tag) and attaches it to the
test's report: the verdict cites its frames whatever the transport.

Standard library only: this module runs on probe VMs too.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

SNAPLEN = 256
MAX_FRAMES = 128
LINKTYPE_ETHERNET = 1
_PCAP_MAGIC = 0xA1B2C3D4


@dataclass(frozen=True)
class Frame:
    """One frame as seen on `iface` at `at` (Unix time): `data` is its first SNAPLEN bytes,
    `length` its length on the wire; `sent` when the probe sent it."""

    at: float
    iface: str
    data: bytes
    length: int
    sent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "iface": self.iface, "data": self.data.hex(),
                "length": self.length, "sent": self.sent}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Frame:
        return cls(float(d["at"]), str(d["iface"]), bytes.fromhex(str(d["data"])),
                   int(d["length"]), bool(d.get("sent", False)))


class FrameLog:
    """Frames kept for evidence: the first `limit` ones, each cut to SNAPLEN bytes."""

    def __init__(self, limit: int = MAX_FRAMES) -> None:
        self.limit = limit
        self.frames: list[Frame] = []
        self.dropped = 0

    def add(self, iface: str, data: bytes, *, sent: bool = False,
            at: float | None = None) -> None:
        if len(self.frames) >= self.limit:
            self.dropped += 1
            return
        self.frames.append(Frame(time.time() if at is None else at, iface, bytes(data[:SNAPLEN]),
                                 len(data), sent))


class WireFrames(Sequence[Frame]):
    """Frames as a probe reported them, decoded on first use. A 32-host lab's path batches
    bring back about 4,000 results with their frames, and only a failing verdict cites them:
    decoding them all on arrival took 3 s of the harness's busiest thread."""

    __slots__ = ("_frames", "_wire")

    def __init__(self, wire: Iterable[dict[str, Any]]) -> None:
        self._wire = list(wire)
        self._frames: list[Frame] | None = None

    def _decoded(self) -> list[Frame]:
        if self._frames is None:
            self._frames = [Frame.from_dict(d) for d in self._wire]
        return self._frames

    @overload
    def __getitem__(self, index: int) -> Frame: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Frame]: ...
    def __getitem__(self, index: int | slice) -> Frame | Sequence[Frame]:
        return self._decoded()[index]

    def __len__(self) -> int:
        return len(self._wire)

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._decoded())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (WireFrames, list, tuple)):
            return self._decoded() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which do not hash

    def __repr__(self) -> str:
        return f"WireFrames({self._decoded()!r})"

    def wire(self) -> list[dict[str, Any]]:
        return self._wire


def frames_to_wire(frames: Iterable[Frame]) -> list[dict[str, Any]]:
    if isinstance(frames, WireFrames):
        return frames.wire()
    return [f.to_dict() for f in frames]


def frames_from_wire(items: Iterable[dict[str, Any]] | None) -> Sequence[Frame]:
    return WireFrames(items or [])


def pcap_bytes(frames: Iterable[Frame]) -> bytes:
    """A libpcap file (microsecond timestamps, Ethernet) of the frames, in arrival order."""
    out = [struct.pack("<IHHiIII", _PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)]
    for f in sorted(frames, key=lambda f: f.at):
        seconds = int(f.at)
        micros = min(999_999, round((f.at - seconds) * 1_000_000))
        out.append(struct.pack("<IIII", seconds, micros, len(f.data), f.length))
        out.append(f.data)
    return b"".join(out)
