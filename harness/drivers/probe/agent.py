"""The probe agent: answers typed JSON requests with probe results, one agent per namespace.

Protocol (one JSON object per line, both directions):

    request   {"id": 7, "op": "echo", "args": {"dst": "198.18.4.22"}}
    success   {"id": 7, "ok": true, "result": {...}}
    failure   {"id": 7, "ok": false, "error": {"type": "PolicyError", "message": "...",
                                               "detail": {...}}}

Ops: `ping`, `interfaces`, `scapy_routes`, `capture_start`, `capture_stop`, `arp`, `echo`,
`path_mtu`, `neighbours`, `beacon`, `send_frames`, `egress_path`, `overlay_ping`,
`trunk_echo`, `trunk_path_mtu` (from a probe VM's trunk NIC, see `harness.probes.trunk`),
`batch`, `shutdown`.

The safety policy (allowed interface globs, allowed destination prefixes) is fixed at start;
requests outside it fail with type "PolicyError". Requests are served one at a time per agent
(probes share the cached sockets and scapy's global state); captures run in the background.
`batch` runs several probes at once: `{"op": "batch", "args": {"requests": [{"op": "trunk_echo",
"args": {...}}, ...], "parallel": 8}}` answers `{"results": [{"ok": true, "result": {...}} or
{"ok": false, "error": {...}}, ...]}` in request order. Each probe of a batch runs in its own
thread with its own sockets (every AF_PACKET socket gets its own copy of every frame) and picks
its frames by its own ICMP identifier, so probes of one batch never take each other's answers;
a host probes all its peers in the time of the slowest one.

This module runs on probe hosts that have only python3 and scapy (`remote.py` copies it there
with `harness/probes/`, in the same package layout), so it imports only the standard library,
scapy and `harness.probes`.
Run standalone as `python3 -m harness.drivers.probe.agent --stdio --allow-prefix P ...`.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from harness.probes import beacon as beacon_probe
from harness.probes import capture as capture_probe
from harness.probes import cdp_lldp, echo, evidence, flood, frames, mtu, path, trunk, vxlan
from harness.probes.errors import BadRequest, ProbeFailure
from harness.probes.link import LinkContext, open_tap, unique
from harness.probes.policy import Policy

PROTOCOL_VERSION = 1
MAX_CAPTURES = 32
MAX_LINE = 1 << 20
MAX_BATCH = 512
MAX_PARALLEL = 32
BATCH_OPS = frozenset({"arp", "echo", "path_mtu", "beacon", "egress_path", "overlay_ping",
                       "trunk_echo", "trunk_path_mtu"})
_MISSING: Any = object()


@dataclass(frozen=True)
class AgentInfo:
    """Who answered a `ping`: enough to prove which namespace and which code is running."""

    name: str
    pid: int
    netns_inode: int
    protocol: int
    agent_path: str
    scapy_version: str
    allow_ifaces: list[str]
    allow_prefixes: list[str]
    uptime_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "netns_inode": self.netns_inode,
                "protocol": self.protocol, "agent_path": self.agent_path,
                "scapy_version": self.scapy_version, "allow_ifaces": list(self.allow_ifaces),
                "allow_prefixes": list(self.allow_prefixes), "uptime_s": self.uptime_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentInfo:
        return cls(str(d["name"]), int(d["pid"]), int(d["netns_inode"]), int(d["protocol"]),
                   str(d["agent_path"]), str(d["scapy_version"]),
                   [str(x) for x in d["allow_ifaces"]], [str(x) for x in d["allow_prefixes"]],
                   float(d["uptime_s"]))


class Args:
    """Typed access to one request's arguments.

    A missing required argument reads as None and is reported by `finish()`, after unknown
    keys, so a misspelt argument is named as such ("dstt; did you mean dst?") rather than as
    the missing one. Handlers therefore call `finish()` before using any value.
    """

    def __init__(self, op: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise BadRequest(f"args of {op} must be an object", op=op)
        self.op, self.raw = op, raw
        self.used: set[str] = set()
        self.missing: list[str] = []

    def _get(self, key: str, default: Any, kinds: tuple[type, ...], what: str) -> Any:
        self.used.add(key)
        if key not in self.raw or self.raw[key] is None:
            if default is _MISSING:
                self.missing.append(key)
                return None
            return default
        value = self.raw[key]
        if isinstance(value, bool) and bool not in kinds:
            value = None  # bool is an int subclass; never accept True as a count
        if not isinstance(value, kinds):
            raise BadRequest(f"argument {key!r} must be {what}, got {self.raw[key]!r}",
                             op=self.op, arg=key)
        return value

    def text(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, (str,), "a string")

    def integer(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, (int,), "an integer")

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default, (int, float), "a number")
        return float(value) if value is not None else None

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, (bool,), "true or false")

    def texts(self, key: str) -> list[str]:
        value = self._get(key, [], (list,), "a list of strings")
        if not all(isinstance(v, str) for v in value):
            raise BadRequest(f"argument {key!r} must be a list of strings", op=self.op, arg=key)
        return list(value)

    def finish(self) -> None:
        allowed = ", ".join(sorted(self.used)) or "none"
        for key in sorted(set(self.raw) - self.used):
            close = difflib.get_close_matches(key, self.used, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BadRequest(f"unknown argument {key!r} for {self.op}{hint} (allowed: {allowed})",
                             op=self.op, arg=key)
        if self.missing:
            raise BadRequest(f"missing argument {self.missing[0]!r} for {self.op} "
                             f"(allowed: {allowed})", op=self.op, arg=self.missing[0])


Handler = Callable[[Args], dict[str, Any]]


class Agent:
    """Dispatches requests to the probes; holds the namespace's sockets and running captures."""

    def __init__(self, policy: Policy, name: str = "") -> None:
        self.policy = policy
        self.name = name or os.uname().nodename
        self._ctx = LinkContext(policy)
        self._local = threading.local()
        self.started = time.monotonic()
        self.stopping = False
        self._lock = threading.Lock()
        self._captures: dict[str, capture_probe.Capture] = {}
        self._capture_ids = itertools.count(1)
        self._ops: dict[str, Handler] = {
            "ping": self._ping, "interfaces": self._interfaces,
            "scapy_routes": self._scapy_routes, "capture_start": self._capture_start,
            "capture_stop": self._capture_stop, "arp": self._arp, "echo": self._echo,
            "path_mtu": self._path_mtu, "neighbours": self._neighbours, "beacon": self._beacon,
            "send_frames": self._send_frames, "egress_path": self._egress_path,
            "overlay_ping": self._overlay_ping, "trunk_echo": self._trunk_echo,
            "trunk_path_mtu": self._trunk_path_mtu, "batch": self._batch,
            "shutdown": self._shutdown,
        }

    @property
    def ctx(self) -> LinkContext:
        """The sockets of the calling thread's probe: a batch's own, else the agent's."""
        ctx: LinkContext | None = getattr(self._local, "ctx", None)
        return ctx if ctx is not None else self._ctx

    # -- protocol ----------------------------------------------------------------------------
    def handle(self, line: bytes) -> bytes:
        """One request line in, one response line out; never raises."""
        req_id: Any = None
        try:
            try:
                request = json.loads(line)
            except ValueError as exc:
                raise BadRequest(f"request is not JSON: {exc}") from None
            if not isinstance(request, dict):
                raise BadRequest("request must be a JSON object")
            req_id = request.get("id")
            op = request.get("op")
            with self._lock:
                response = {"id": req_id, **self._answer(op, request.get("args", {}))}
        except ProbeFailure as exc:
            response = {"id": req_id, **_error(exc)}
        return json.dumps(response, separators=(",", ":")).encode() + b"\n"

    def _answer(self, op: Any, raw_args: Any, allowed: frozenset[str] | None = None
                ) -> dict[str, Any]:
        """`{"ok": true, "result": ...}` or `{"ok": false, "error": ...}` for one op."""
        try:
            handler = self._ops.get(op) if isinstance(op, str) else None
            if handler is None or (allowed is not None and op not in allowed):
                known = sorted(allowed if allowed is not None else self._ops)
                raise BadRequest(f"unknown op {op!r}{' in a batch' if allowed else ''}; "
                                 f"known: {', '.join(known)}", op=str(op))
            return {"ok": True, "result": handler(Args(str(op), raw_args))}
        except ProbeFailure as exc:
            return _error(exc)
        except Exception as exc:  # a bug must answer the request, not kill the agent
            traceback.print_exc(file=sys.stderr)
            return {"ok": False, "error": {
                "type": "AgentError", "message": f"{type(exc).__name__}: {exc}", "detail": {}}}

    def serve(self, rfile: IO[bytes], wfile: IO[bytes]) -> None:
        """Answer requests from `rfile` until EOF or a `shutdown` request."""
        while not self.stopping:
            line = rfile.readline(MAX_LINE)
            if not line:
                return
            if not line.strip():
                continue
            wfile.write(self.handle(line))
            wfile.flush()

    def close(self) -> None:
        for capture in list(self._captures.values()):
            capture.stop()
        self._captures.clear()
        self._ctx.close()

    # -- housekeeping ops ----------------------------------------------------------------------
    def info(self) -> AgentInfo:
        import scapy

        return AgentInfo(self.name, os.getpid(), os.stat("/proc/thread-self/ns/net").st_ino,
                         PROTOCOL_VERSION, os.path.abspath(__file__), scapy.VERSION,
                         list(self.policy.allow_ifaces),
                         [str(p) for p in self.policy.allow_prefixes],
                         round(time.monotonic() - self.started, 3))

    def _ping(self, a: Args) -> dict[str, Any]:
        a.finish()
        return self.info().to_dict()

    def _interfaces(self, a: Args) -> dict[str, Any]:
        a.finish()
        return {"interfaces": [i.to_dict() for i in self.ctx.interfaces()]}

    def _scapy_routes(self, a: Args) -> dict[str, Any]:
        """scapy's own routing table, to prove it was resynced inside this namespace."""
        a.finish()
        import socket
        import struct

        from scapy.config import conf

        routes = []
        for net, mask, gw, iface, src, metric in conf.route.routes:
            prefixlen = bin(mask).count("1")
            routes.append({"network": f"{socket.inet_ntoa(struct.pack('!I', net))}/{prefixlen}",
                           "gateway": gw, "iface": str(iface), "src": src, "metric": metric})
        return {"routes": routes}

    def _capture_start(self, a: Args) -> dict[str, Any]:
        ifaces = unique(a.texts("ifaces"))
        mac, src = a.text("dst_mac", None), a.text("src_mac", None)
        fields = (a.integer("ethertype", None), a.integer("ip_proto", None),
                  a.text("ip_dst", None), a.text("direction", "in"))
        pcap_path = a.text("pcap_path", None)
        max_frames = a.integer("max_frames", 10_000)
        keep = a.integer("keep", 0)
        a.finish()
        if not 0 <= keep <= evidence.MAX_FRAMES:
            raise BadRequest(f"keep {keep} is not 0-{evidence.MAX_FRAMES}", keep=keep)
        flt = capture_probe.CaptureFilter(
            flood.normalise_mac(mac) if mac else None, flood.normalise_mac(src) if src else None,
            *fields)
        if not ifaces:
            raise BadRequest("capture_start needs at least one interface")
        if pcap_path is not None and not os.path.isabs(pcap_path):
            raise BadRequest(f"pcap_path {pcap_path!r} must be absolute", pcap_path=pcap_path)
        if len(self._captures) >= MAX_CAPTURES:
            raise BadRequest(f"{MAX_CAPTURES} captures are already running; stop one first")
        for iface in ifaces:
            self.policy.check_iface(iface)
        socks = {}
        try:
            for iface in ifaces:
                socks[iface] = open_tap(iface)
        except ProbeFailure:
            for sock in socks.values():
                sock.close()
            raise
        capture_id = f"cap-{next(self._capture_ids)}"
        capture = capture_probe.Capture(capture_id, socks, flt, pcap_path, max_frames,
                                        log=evidence.FrameLog(keep))
        capture.start()
        self._captures[capture_id] = capture
        return {"capture_id": capture_id}

    def _capture_stop(self, a: Args) -> dict[str, Any]:
        capture_id = a.text("capture_id")
        a.finish()
        capture = self._captures.pop(capture_id, None)
        if capture is None:
            raise BadRequest(f"no running capture {capture_id!r}; running: "
                             f"{', '.join(self._captures) or 'none'}", capture_id=capture_id)
        return capture.stop().to_dict()

    def _batch(self, a: Args) -> dict[str, Any]:
        raw = a._get("requests", _MISSING, (list,), "a list of {op, args} objects")
        parallel = a.integer("parallel", 8)
        a.finish()
        if not 1 <= len(raw) <= MAX_BATCH:
            raise BadRequest(f"a batch holds 1-{MAX_BATCH} requests, got {len(raw)}")
        if not 1 <= parallel <= MAX_PARALLEL:
            raise BadRequest(f"parallel {parallel} is not 1-{MAX_PARALLEL}", parallel=parallel)
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not isinstance(item.get("op"), str):
                raise BadRequest(f"requests[{i}] must be an object with an op", index=i)

        def one(item: dict[str, Any]) -> dict[str, Any]:
            self._local.ctx = LinkContext(self.policy, one_identity=True)
            try:
                return self._answer(item["op"], item.get("args", {}), BATCH_OPS)
            finally:
                self._local.ctx.close()
                self._local.ctx = None

        with ThreadPoolExecutor(max_workers=min(parallel, len(raw)),
                                thread_name_prefix="probe") as pool:
            return {"results": list(pool.map(one, raw))}

    def _shutdown(self, a: Args) -> dict[str, Any]:
        a.finish()
        self.stopping = True
        return {"stopping": True}

    # -- probes ------------------------------------------------------------------------------
    def _arp(self, a: Args) -> dict[str, Any]:
        iface, target = a.text("iface"), a.text("target")
        timeout = a.number("timeout", 0.3)
        a.finish()
        return self.ctx.resolve(iface, target, timeout=timeout).to_dict()

    def _echo(self, a: Args) -> dict[str, Any]:
        dst = a.text("dst")
        kw = {"size": a.integer("size", 64), "timeout": a.number("timeout", 1.0),
              "ttl": a.integer("ttl", 64), "iface": a.text("iface", None)}
        a.finish()
        return echo.echo(self.ctx, dst, **kw).to_dict()

    def _path_mtu(self, a: Args) -> dict[str, Any]:
        dst = a.text("dst")
        kw = {"hi": a.integer("hi", None), "lo": a.integer("lo", 1200),
              "timeout": a.number("timeout", 0.5),
              "search_timeout": a.number("search_timeout", 0.15),
              "max_hops": a.integer("max_hops", 16), "trace": a.text("trace", "auto"),
              "iface": a.text("iface", None)}
        a.finish()
        return mtu.path_mtu(self.ctx, dst, **kw).to_dict()

    def _neighbours(self, a: Args) -> dict[str, Any]:
        ifaces = a.texts("ifaces")
        timeout, expect = a.number("timeout", 3.0), a.text("expect", "any")
        a.finish()
        return cdp_lldp.listen(self.ctx, ifaces, timeout=timeout, expect=expect).to_dict()

    def _beacon(self, a: Args) -> dict[str, Any]:
        iface, target = a.text("iface"), a.text("target")
        timeout = a.number("timeout", 0.3)
        a.finish()
        return beacon_probe.beacon(self.ctx, iface, target, timeout=timeout).to_dict()

    def _send_frames(self, a: Args) -> dict[str, Any]:
        iface, dst_mac, count = a.text("iface"), a.text("dst_mac"), a.integer("count")
        payload_hex = a.text("payload_hex", None)
        try:
            payload = bytes.fromhex(payload_hex) if payload_hex else flood.DEFAULT_PAYLOAD
        except ValueError:
            raise BadRequest("send_frames: payload_hex is not hex", arg="payload_hex") from None
        kw = {"ethertype": a.integer("ethertype", flood.DEFAULT_ETHERTYPE), "payload": payload,
              "src_mac": a.text("src_mac", None), "ip_dst": a.text("ip_dst", None),
              "udp_port": a.integer("udp_port", None), "interval": a.number("interval", 0.0),
              "vlan": a.integer("vlan", None)}
        a.finish()
        return flood.send_frames(self.ctx, iface, dst_mac, count, **kw).to_dict()

    def _egress_path(self, a: Args) -> dict[str, Any]:
        dst = a.text("dst")
        candidates, timeout = a.text("candidates", "vmk*"), a.number("timeout", 0.5)
        a.finish()
        return path.egress(self.ctx, dst, candidates=candidates, timeout=timeout).to_dict()

    def _overlay_ping(self, a: Args) -> dict[str, Any]:
        dst = a.text("dst")
        kw = {"count": a.integer("count", 5), "interval": a.number("interval", 0.02),
              "window": a.number("window", 0.5), "size": a.integer("size", 64),
              "iface": a.text("iface", None)}
        a.finish()
        return vxlan.overlay_ping(self.ctx, dst, **kw).to_dict()


    def _trunk_identity(self, a: Args) -> dict[str, Any]:
        """The arguments every trunk op shares: where it sends from and what it watches."""
        return {"iface": a.text("iface"), "vlan": a.integer("vlan", None), "src": a.text("src"),
                "dst": a.text("dst"), "gateway": a.text("gateway", None),
                "mac": a.text("mac", None), "watch": a.texts("watch")}

    def _trunk_echo(self, a: Args) -> dict[str, Any]:
        kw = self._trunk_identity(a)
        kw.update(size=a.integer("size", 64), dont_fragment=a.flag("dont_fragment", True),
                  count=a.integer("count", 3), interval=a.number("interval", 0.02),
                  timeout=a.number("timeout", 1.0), window=a.number("window", 0.2),
                  next_hop_mac=a.text("next_hop_mac", None))
        a.finish()
        return trunk.trunk_echo(self.ctx, **kw).to_dict()

    def _trunk_path_mtu(self, a: Args) -> dict[str, Any]:
        kw = self._trunk_identity(a)
        kw.update(hi=a.integer("hi", None), lo=a.integer("lo", 1200),
                  timeout=a.number("timeout", 0.5),
                  search_timeout=a.number("search_timeout", 0.15),
                  max_hops=a.integer("max_hops", 16), trace=a.text("trace", "auto"),
                  next_hop_mac=a.text("next_hop_mac", None))
        a.finish()
        return trunk.trunk_path_mtu(self.ctx, **kw).to_dict()


def _error(exc: ProbeFailure) -> dict[str, Any]:
    return {"ok": False, "error": {"type": exc.wire_type, "message": exc.message,
                                   "detail": exc.detail}}


def policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow-prefix", action="append", default=[], metavar="CIDR",
                        help="destination IPv4 prefix probes may target (repeatable, required)")
    parser.add_argument("--allow-iface", action="append", default=[], metavar="GLOB",
                        help="interface-name glob probes may use (repeatable; default: all)")


def policy_from(ns: argparse.Namespace) -> Policy:
    return Policy.build(ns.allow_iface or ["*"], ns.allow_prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.drivers.probe.agent",
                                     description="Probe agent speaking JSON lines on stdio.")
    parser.add_argument("--stdio", action="store_true", required=True,
                        help="serve one session on stdin/stdout (the SSH transport)")
    parser.add_argument("--name", default="", help="name reported by ping")
    policy_arguments(parser)
    ns = parser.parse_args(argv)
    try:
        policy = policy_from(ns)
    except ProbeFailure as exc:
        parser.error(exc.message)
    # Keep the protocol stream private: anything printed later (scapy warnings, a stray print)
    # goes to stderr instead of corrupting the JSON lines.
    proto_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    frames.preload()
    agent = Agent(policy, ns.name)
    try:
        agent.serve(sys.stdin.buffer, proto_out)
    finally:
        agent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
