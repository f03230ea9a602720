"""Harness side of the probe driver: start agents, call them, get typed results back.

    with AgentPool.start(["lh-sim-esx01"], "/run/labharness/probe", ["198.18.0.0/15"],
                         ["vmk*", "vmnic*"]) as pool:
        result = pool.agent("lh-sim-esx01").path_mtu("198.18.20.2")   # PathMtuResult

A persistent agent answers a probe in about 1-25 ms; a fresh `ip netns exec python` per probe
spends 0.5-1.5 s importing scapy first (`bench/probe_roundtrip.py` measures both).

Errors: `PolicyError` (refused by the agent's safety policy), `AgentUnavailable` (not running,
connection lost), `ProbeTimeout`, and `ProbeError` for everything else, each carrying the
namespace, the op and the agent's structured detail.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import harness
from harness.probes.beacon import BeaconResult
from harness.probes.capture import CaptureResult
from harness.probes.cdp_lldp import NeighbourReport
from harness.probes.echo import EchoResult
from harness.probes.flood import DEFAULT_ETHERTYPE, SendResult
from harness.probes.link import ArpResult, InterfaceInfo
from harness.probes.mtu import PathMtuResult
from harness.probes.path import EgressResult
from harness.probes.trunk import ARP_BUDGET_S, TrunkEcho
from harness.probes.vxlan import OverlayPingResult

from .agent import AgentInfo
from .errors import AgentUnavailable, PolicyError, ProbeError, ProbeTimeout
from .transport import Transport, TransportClosed, TransportTimeout, UnixSocketTransport

__all__ = ["AgentClient", "AgentPool", "AgentUnavailable", "BatchCall", "PolicyError",
           "ProbeError", "ProbeTimeout", "ScapyRoute"]

DEFAULT_TIMEOUT = 10.0
MARGIN = 3.0  # on top of a probe's own timeouts: scheduling, ARP, JSON


@dataclass(frozen=True)
class ScapyRoute:
    """One entry of scapy's route cache inside the agent (not the kernel's table)."""

    network: str
    gateway: str
    iface: str
    src: str
    metric: int

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScapyRoute:
        return cls(str(d["network"]), str(d["gateway"]), str(d["iface"]), str(d["src"]),
                   int(d["metric"]))


@dataclass(frozen=True)
class BatchCall:
    """One probe of a batch: its op, arguments and how long it may take by its own timeouts."""

    op: str
    args: dict[str, Any]
    expected: float

    @classmethod
    def trunk_echo(cls, iface: str, vlan: int | None, src: str, dst: str, *,
                   gateway: str | None = None, mac: str | None = None, size: int = 64,
                   dont_fragment: bool = True, count: int = 3, interval: float = 0.02,
                   timeout: float = 1.0, window: float = 0.2, watch: Sequence[str] = (),
                   next_hop_mac: str | None = None) -> BatchCall:
        return cls("trunk_echo", {
            "iface": iface, "vlan": vlan, "src": src, "dst": dst, "gateway": gateway,
            "mac": mac, "size": size, "dont_fragment": dont_fragment, "count": count,
            "interval": interval, "timeout": timeout, "window": window, "watch": list(watch),
            "next_hop_mac": next_hop_mac}, ARP_BUDGET_S + count * interval + timeout + window)

    @classmethod
    def trunk_path_mtu(cls, iface: str, vlan: int | None, src: str, dst: str, *,
                       gateway: str | None = None, mac: str | None = None,
                       hi: int | None = None, lo: int = 1200, timeout: float = 0.5,
                       search_timeout: float = 0.15, max_hops: int = 16, trace: str = "auto",
                       watch: Sequence[str] = (), next_hop_mac: str | None = None) -> BatchCall:
        # the budget: ARP, the first size and the search, then up to three confirmations
        # (each a size with three full waits and another search; `harness.probes.mtu`)
        return cls("trunk_path_mtu", {
            "iface": iface, "vlan": vlan, "src": src, "dst": dst, "gateway": gateway,
            "mac": mac, "hi": hi, "lo": lo, "timeout": timeout,
            "search_timeout": search_timeout, "max_hops": max_hops, "trace": trace,
            "watch": list(watch), "next_hop_mac": next_hop_mac},
            ARP_BUDGET_S + 21 * timeout + 90 * search_timeout)

    @classmethod
    def overlay_ping(cls, dst: str, *, count: int = 5, interval: float = 0.02,
                     window: float = 0.5, size: int = 64) -> BatchCall:
        return cls("overlay_ping", {"dst": dst, "count": count, "interval": interval,
                                    "window": window, "size": size},
                   3 * 0.3 + count * interval + window)


class AgentClient:
    """One agent, one connection, requests in turn (a lock serialises concurrent callers)."""

    def __init__(self, namespace: str, connect: Callable[[], Transport], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.namespace = namespace
        self.timeout = timeout
        self._connect_fn = connect
        self._transport: Transport | None = None
        self._lock = threading.Lock()
        self._next_id = 0

    def __repr__(self) -> str:
        return f"AgentClient({self.namespace!r})"

    def _transport_or_connect(self, op: str) -> Transport:
        if self._transport is None:
            try:
                self._transport = self._connect_fn()
            except TransportClosed as exc:
                raise AgentUnavailable(str(exc), namespace=self.namespace, op=op) from None
        return self._transport

    def call(self, op: str, /, *, call_timeout: float | None = None,
             **args: Any) -> dict[str, Any]:
        """Send one request and return its `result` object.

        `call_timeout` bounds the whole round trip (default: the client's); `args` are the op's
        own arguments, several of which are called `timeout` too.

        Raises:
            PolicyError, ProbeError: the agent answered with an error.
            ProbeTimeout: no answer within `call_timeout`.
            AgentUnavailable: the agent is not reachable or went away.
        """
        limit = self.timeout if call_timeout is None else call_timeout
        with self._lock:
            transport = self._transport_or_connect(op)
            self._next_id += 1
            req_id = self._next_id
            line = json.dumps({"id": req_id, "op": op, "args": args},
                              separators=(",", ":")).encode() + b"\n"
            deadline = time.monotonic() + limit
            try:
                transport.send_line(line)
                while True:
                    raw = transport.read_line(deadline)
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        raise ProbeError(f"agent sent a line that is not JSON: {raw[:200]!r}",
                                         namespace=self.namespace, op=op,
                                         error_type="ProtocolError") from None
                    # an answer to an earlier request that timed out arrives late: skip it
                    if isinstance(msg, dict) and msg.get("id") == req_id:
                        break
            except TransportTimeout:
                raise ProbeTimeout(f"no answer within {limit:.1f}s", namespace=self.namespace,
                                   op=op, timeout=limit) from None
            except TransportClosed as exc:
                self._drop()
                raise AgentUnavailable(str(exc), namespace=self.namespace, op=op) from None
        if msg.get("ok") is True and isinstance(msg.get("result"), dict):
            result: dict[str, Any] = msg["result"]
            return result
        error: dict[str, Any] = msg["error"] if isinstance(msg.get("error"), dict) else {}
        kind = str(error.get("type", "ProtocolError"))
        cls = PolicyError if kind == "PolicyError" else ProbeError
        raise cls(str(error.get("message", "malformed answer")), namespace=self.namespace, op=op,
                  error_type=kind, detail=error.get("detail") or {})

    def _drop(self) -> None:
        if self._transport is not None:
            try:
                self._transport.close()
            except OSError:
                pass
            self._transport = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- housekeeping --------------------------------------------------------------------------
    def ping(self, *, timeout: float | None = None) -> AgentInfo:
        return AgentInfo.from_dict(self.call("ping", call_timeout=timeout))

    def interfaces(self) -> list[InterfaceInfo]:
        return [InterfaceInfo.from_dict(d) for d in self.call("interfaces")["interfaces"]]

    def scapy_routes(self) -> list[ScapyRoute]:
        return [ScapyRoute.from_dict(d) for d in self.call("scapy_routes")["routes"]]

    def capture_start(self, ifaces: Sequence[str], *, dst_mac: str | None = None,
                      src_mac: str | None = None, ethertype: int | None = None,
                      ip_proto: int | None = None, ip_dst: str | None = None,
                      direction: str = "in", pcap_path: str | None = None,
                      max_frames: int = 10_000, keep: int = 0) -> str:
        """Start counting matching frames on `ifaces` in the background; returns the capture id.
        `keep`: return the first `keep` matching frames (cut to a snap length) in the result,
        the evidence a test attaches whatever machine the agent runs on."""
        return str(self.call("capture_start", ifaces=list(ifaces), dst_mac=dst_mac,
                             src_mac=src_mac, ethertype=ethertype, ip_proto=ip_proto,
                             ip_dst=ip_dst, direction=direction, pcap_path=pcap_path,
                             max_frames=max_frames, keep=keep)["capture_id"])

    def capture_stop(self, capture_id: str) -> CaptureResult:
        return CaptureResult.from_dict(self.call("capture_stop", capture_id=capture_id))

    def shutdown(self) -> None:
        """Stop this agent (its process exits); other agents of a pool keep running."""
        try:
            self.call("shutdown")
        finally:
            self.close()

    # -- probes --------------------------------------------------------------------------------
    def arp(self, iface: str, target: str, *, timeout: float = 0.3) -> ArpResult:
        return ArpResult.from_dict(self._probe("arp", 2 * timeout, iface=iface, target=target,
                                               timeout=timeout))

    def echo(self, dst: str, *, size: int = 64, timeout: float = 1.0, ttl: int = 64,
             iface: str | None = None) -> EchoResult:
        """One ARP-resolved echo (out of `iface` when given, like `vmkping -I`)."""
        return EchoResult.from_dict(self._probe("echo", timeout + 1, dst=dst, size=size,
                                                timeout=timeout, ttl=ttl, iface=iface))

    def path_mtu(self, dst: str, *, hi: int | None = None, lo: int = 1200,
                 timeout: float = 0.5, search_timeout: float = 0.15, max_hops: int = 16,
                 trace: str = "auto", iface: str | None = None) -> PathMtuResult:
        """Largest DF packet to `dst`, and the hop that limits it (see `harness.probes.mtu`)."""
        budget = 15 * timeout + 80 * search_timeout  # with the confirmations (harness.probes.mtu)
        return PathMtuResult.from_dict(self._probe(
            "path_mtu", budget, dst=dst, hi=hi, lo=lo, timeout=timeout,
            search_timeout=search_timeout, max_hops=max_hops, trace=trace, iface=iface))

    def neighbours(self, ifaces: Sequence[str], *, timeout: float = 3.0,
                   expect: str = "any") -> NeighbourReport:
        return NeighbourReport.from_dict(self._probe("neighbours", timeout, ifaces=list(ifaces),
                                                     timeout=timeout, expect=expect))

    def beacon(self, iface: str, target: str, *, timeout: float = 0.3) -> BeaconResult:
        return BeaconResult.from_dict(self._probe("beacon", timeout, iface=iface, target=target,
                                                  timeout=timeout))

    def send_frames(self, iface: str, dst_mac: str, count: int, *,
                    ethertype: int = DEFAULT_ETHERTYPE, payload: bytes | None = None,
                    src_mac: str | None = None, ip_dst: str | None = None,
                    udp_port: int | None = None, interval: float = 0.0,
                    vlan: int | None = None) -> SendResult:
        return SendResult.from_dict(self._probe(
            "send_frames", count * interval, iface=iface, dst_mac=dst_mac, count=count,
            ethertype=ethertype, payload_hex=payload.hex() if payload else None,
            src_mac=src_mac, ip_dst=ip_dst, udp_port=udp_port, interval=interval, vlan=vlan))

    def egress_path(self, dst: str, *, candidates: str = "vmk*",
                    timeout: float = 0.5) -> EgressResult:
        return EgressResult.from_dict(self._probe("egress_path", timeout, dst=dst,
                                                  candidates=candidates, timeout=timeout))

    def overlay_ping(self, dst: str, *, count: int = 5, interval: float = 0.02,
                     window: float = 0.5, size: int = 64,
                     iface: str | None = None) -> OverlayPingResult:
        return OverlayPingResult.from_dict(self._probe(
            "overlay_ping", count * interval + window, dst=dst, count=count, interval=interval,
            window=window, size=size, iface=iface))

    # -- from a probe VM's trunk NIC (harness.probes.trunk) -----------------------------------
    def trunk_echo(self, iface: str, vlan: int | None, src: str, dst: str,
                   **kw: Any) -> TrunkEcho:
        """Echoes from identity `src` (ADDRESS/PREFIX) on `vlan` of trunk `iface`, watching
        `watch` too (see `harness.probes.trunk.trunk_echo`; keywords as `BatchCall.trunk_echo`)."""
        call = BatchCall.trunk_echo(iface, vlan, src, dst, **kw)
        return TrunkEcho.from_dict(self.run(call))

    def trunk_path_mtu(self, iface: str, vlan: int | None, src: str, dst: str,
                       **kw: Any) -> PathMtuResult:
        """Largest DF packet from a trunk identity to `dst`, and the hop that limits it
        (keywords as `BatchCall.trunk_path_mtu`)."""
        call = BatchCall.trunk_path_mtu(iface, vlan, src, dst, **kw)
        return PathMtuResult.from_dict(self.run(call))

    def run(self, call: BatchCall) -> dict[str, Any]:
        """One probe on its own (its deadline from its own timeouts)."""
        return self._probe(call.op, call.expected, **call.args)

    def batch(self, calls: Sequence[BatchCall], *, parallel: int = 8
              ) -> list[dict[str, Any] | ProbeError]:
        """Run `calls` in the agent at once (`parallel` at a time); each call's result, or the
        error it ended with, in order. The deadline covers the waves the batch needs."""
        if not calls:
            return []
        waves = -(-len(calls) // max(1, parallel))
        budget = waves * max(c.expected for c in calls) + MARGIN
        answer = self.call("batch", call_timeout=max(self.timeout, budget + MARGIN),
                           requests=[{"op": c.op, "args": c.args} for c in calls],
                           parallel=parallel)
        out: list[dict[str, Any] | ProbeError] = []
        for call, got in zip(calls, answer["results"], strict=True):
            if got.get("ok") is True and isinstance(got.get("result"), dict):
                out.append(got["result"])
                continue
            error = got.get("error") if isinstance(got.get("error"), dict) else {}
            kind = str(error.get("type", "ProtocolError"))
            cls = PolicyError if kind == "PolicyError" else ProbeError
            out.append(cls(str(error.get("message", "malformed answer")),
                           namespace=self.namespace, op=call.op, error_type=kind,
                           detail=error.get("detail") or {}))
        return out

    def _probe(self, op: str, expected: float, **args: Any) -> dict[str, Any]:
        """Call with a deadline derived from the probe's own timeouts, never shorter than the
        client's default."""
        return self.call(op, call_timeout=max(self.timeout, expected + MARGIN), **args)


def _package_root() -> str:
    """The directory holding the `harness` package, for the host subprocess's PYTHONPATH."""
    return str(Path(harness.__file__).resolve().parent.parent)


class AgentPool:
    """A `host.py` process with one agent per namespace, and a client for each."""

    def __init__(self, proc: subprocess.Popen[bytes], socket_dir: str, sockets: dict[str, str],
                 agent_pids: dict[str, int], log_path: str, timeout: float) -> None:
        self.proc = proc
        self.socket_dir = socket_dir
        self.sockets = sockets
        self.agent_pids = agent_pids
        self.log_path = log_path
        self.timeout = timeout
        self._clients: dict[str, AgentClient] = {}

    @property
    def host_pid(self) -> int:
        return self.proc.pid

    @property
    def namespaces(self) -> list[str]:
        return list(self.sockets)

    @classmethod
    def start(cls, namespaces: Iterable[str], socket_dir: str | os.PathLike[str],
              allow_prefixes: Iterable[str], allow_ifaces: Iterable[str] = ("*",), *,
              python: str | None = None, timeout: float = 30.0,
              call_timeout: float = DEFAULT_TIMEOUT, log_path: str | None = None,
              start_nice: int = 0) -> AgentPool:
        """Spawn `python -m harness.drivers.probe.host` and wait until every agent is ready
        (`start_nice`: the start runs at that niceness, the agents serve at ours).

        Raises:
            AgentUnavailable: the host did not report ready within `timeout` (the message
                carries the tail of its log).
        """
        names = list(dict.fromkeys(namespaces))
        directory = os.fspath(socket_dir)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        log = log_path or os.path.join(directory, "host.log")
        argv = [python or sys.executable, "-m", "harness.drivers.probe.host",
                "--socket-dir", directory, "--start-nice", str(start_nice)]
        for prefix in allow_prefixes:
            argv += ["--allow-prefix", prefix]
        for glob in allow_ifaces:
            argv += ["--allow-iface", glob]
        for ns in names:
            argv += ["--netns", ns]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_package_root(),
                                                          env.get("PYTHONPATH")]))
        label = ",".join(names)
        with open(log, "ab") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, env=env, start_new_session=False)
        try:
            ready = _read_ready(proc, timeout)
        except AgentUnavailable as exc:
            _stop(proc, 5.0)
            raise AgentUnavailable(f"{exc.message}{_log_tail(log)}", namespace=label) from None
        if not ready.get("ready"):
            _stop(proc, 5.0)
            raise AgentUnavailable(f"probe host failed: {ready.get('error')}{_log_tail(log)}",
                                   namespace=label)
        return cls(proc, directory, {str(k): str(v) for k, v in ready["sockets"].items()},
                   {str(k): int(v) for k, v in ready["agents"].items()}, log, call_timeout)

    def agent(self, namespace: str) -> AgentClient:
        """The client of `namespace`'s agent (connected on first use)."""
        if namespace not in self.sockets:
            raise AgentUnavailable(f"no agent for this namespace; pool has: "
                                   f"{', '.join(self.sockets)}", namespace=namespace)
        client = self._clients.get(namespace)
        if client is None:
            path = self.sockets[namespace]
            client = AgentClient(namespace, lambda: UnixSocketTransport(path),
                                 timeout=self.timeout)
            self._clients[namespace] = client
        return client

    def close(self, timeout: float = 5.0) -> None:
        """Disconnect, SIGTERM the host by PID (it takes its agents down), wait for it."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        _stop(self.proc, timeout)

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _read_ready(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    if proc.stdout is None:
        raise AgentUnavailable("probe host has no stdout pipe", namespace="")
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AgentUnavailable(f"probe host not ready after {timeout:.0f}s", namespace="")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AgentUnavailable(f"probe host exited (rc={proc.wait()}) before ready",
                                   namespace="")
        buffer += chunk
    try:
        ready_line: dict[str, Any] = json.loads(buffer.split(b"\n", 1)[0])
    except ValueError:
        raise AgentUnavailable(f"probe host printed {buffer[:200]!r}, not its ready line",
                               namespace="") from None
    return ready_line


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.splitlines()[-lines:])
    return f"\n--- {path} (tail) ---\n{tail}" if tail else ""
