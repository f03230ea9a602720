"""Gateway monitoring as OPNsense's dpinger does it: one ICMP echo per second to each
gateway's monitor address, loss and latency over the last minute, and the status the
gateways page derives from them (plugins.inc.d/dpinger.inc, dpinger_status).

The echo socket is opened inside the router's namespace, so what it measures is the router's
real path to its gateway.
"""

from __future__ import annotations

import math
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

from harness.sim.dataplane import netns

INTERVAL_S = 1.0
WINDOW_S = 60.0  # dpinger's time_period
LOSS_WAIT_S = 2.0  # an echo unanswered this long is lost (dpinger's loss_interval)
# OPNsense's default alarm thresholds (System > Gateways: latency in ms, loss in %)
LATENCY_LOW, LATENCY_HIGH = 200.0, 500.0
LOSS_LOW, LOSS_HIGH = 10.0, 20.0


@dataclass(frozen=True)
class Report:
    """dpinger's report: average latency and its deviation (ms), loss (%); None before any
    echo has been resolved."""

    delay_ms: float
    stddev_ms: float
    loss_pct: float


def has_data(report: Report | None) -> bool:
    """Whether dpinger has anything to say yet (before, OPNsense shows the gateway down)."""
    return report is not None and not (report.stddev_ms == 0 and report.loss_pct == 0)


def status_of(report: Report | None) -> str:
    """dpinger_status(): `none` (Online), `down`, `delay`, `loss`, `delay+loss`. With no data
    yet (latency deviation and loss both zero) the gateway stays `down`, as on OPNsense."""
    if report is None or not has_data(report):
        return "down"
    if report.delay_ms > LATENCY_HIGH or report.loss_pct > LOSS_HIGH:
        return "down"
    if report.delay_ms > LATENCY_LOW and report.loss_pct > LOSS_LOW:
        return "delay+loss"
    if report.delay_ms > LATENCY_LOW:
        return "delay"
    if report.loss_pct > LOSS_LOW:
        return "loss"
    return "none"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


class Pinger:
    """Echoes to one address from inside a namespace, on a thread, until `stop`."""

    def __init__(self, address: str, ns: str = "") -> None:
        self.address = address
        with netns.entered(ns):  # the socket belongs to the namespace it was made in
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self._ident = os.getpid() & 0xFFFF
        self._lock = threading.Lock()
        # resolved echoes: (sent at, rtt in ms, or None when lost)
        self._samples: deque[tuple[float, float | None]] = deque()
        self._pending: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"dpinger {address}",
                                        daemon=True)

    def start(self) -> Pinger:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)
        self._sock.close()

    def report(self) -> Report | None:
        """Latency and loss over the last minute of resolved echoes."""
        with self._lock:
            rtts = [rtt for _, rtt in self._samples if rtt is not None]
            resolved = len(self._samples)
        if not resolved:
            return None
        loss = 100.0 * (resolved - len(rtts)) / resolved
        if not rtts:
            return Report(0.0, 0.0, loss)
        mean = sum(rtts) / len(rtts)
        stddev = math.sqrt(sum((r - mean) ** 2 for r in rtts) / len(rtts))
        return Report(mean, stddev, loss)

    def _send(self, seq: int) -> None:
        header = struct.pack("!BBHHH", 8, 0, 0, self._ident, seq)
        payload = struct.pack("!d", time.time()) + bytes(48)
        packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), self._ident,
                             seq) + payload
        now = time.monotonic()
        with self._lock:
            self._pending[seq] = now
        try:
            self._sock.sendto(packet, (self.address, 0))
        except OSError:
            pass  # no route, interface down: the echo is lost, as dpinger counts it

    def _resolve(self, now: float) -> None:
        with self._lock:
            for seq, sent in list(self._pending.items()):
                if now - sent > LOSS_WAIT_S:
                    del self._pending[seq]
                    self._samples.append((sent, None))
            while self._samples and now - self._samples[0][0] > WINDOW_S:
                self._samples.popleft()

    def _receive(self, deadline: float) -> None:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self._sock], [], [], left)
            if not ready:
                return
            try:
                data, (src, _) = self._sock.recvfrom(2048)
            except OSError:
                return
            ihl = (data[0] & 0x0F) * 4
            if len(data) < ihl + 8 or src != self.address:
                continue
            kind, _, _, ident, seq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
            if kind != 0 or ident != self._ident:
                continue
            now = time.monotonic()
            with self._lock:
                sent = self._pending.pop(seq, None)
                if sent is not None:
                    self._samples.append((sent, (now - sent) * 1000.0))

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            seq = (seq + 1) & 0xFFFF
            start = time.monotonic()
            self._send(seq)
            self._receive(start + INTERVAL_S)
            self._resolve(time.monotonic())
