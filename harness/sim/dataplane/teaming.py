"""The simulated ESXi host's NIC teaming: one controller process per host namespace.

This kernel has no bonding driver, and ESXi's teaming is per port group anyway, so a port group
is a Linux bridge whose uplinks are its VLAN links, and this controller decides which single
uplink forwards, the way ESXi's failover order does:

- failure detection `link_status`: an uplink is healthy while its vmnic has carrier. A switch
  port that silently drops everything (F11) keeps carrier, so traffic is black-holed;
- `beacon_probing`: every uplink sends a broadcast beacon (ethertype 0x8922, as ESXi does) each
  interval and must hear the others' beacons through the physical network. With three or more
  uplinks the silent one is the one nobody hears; with two, neither hears the other and the
  controller cannot tell which failed (ESXi's reason to require three);
- the forwarding uplink is the first healthy active one, else the first healthy standby; with
  failback off it stays on a healthy uplink after a better one recovers;
- the others are blocked in nftables' bridge *prerouting* (before MAC learning) and forward
  hooks; after a change the bridge's learned MACs are flushed and, with notify switches on, a
  RARP per MAC behind the port group goes out of the new uplink (also once at start, as ESXi
  announces a port when it connects).

The same process relays the host's probe-VM ports (trunks and pinned uplinks, `relay.py`): it is
the host's vSwitch in userspace, one process per host.

Runs as `ip netns exec NS python -m harness.sim.dataplane.teaming CONFIG STATUS` (stdlib only,
so it starts fast); writes its state to STATUS as JSON whenever it changes. A lab's controllers
are started together with `python -m harness.sim.dataplane.teaming --fork MANIFEST` (`fork_all`):
one interpreter imports this module once and forks one controller per host namespace, each in its
own session, network namespace and mount namespace (with its own /sys, as `ip netns exec` gives),
so 32 hosts cost one interpreter start instead of 32 and share its pages copy-on-write.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from harness.probes import bpf
from harness.sim.dataplane.kernelrelay import KernelRelay
from harness.sim.dataplane.relay import Relay

ETH_P_ALL = 0x0003
BEACON_TYPE = 0x8922
RARP_TYPE = 0x8035
NFT_TABLE = "lh_team"
BROADCAST = b"\xff" * 6
NETLINK_ROUTE, RTMGRP_LINK = 0, 1
BEACON_HOST_AT = 18  # frame offset of the sender's host id (after the 4-byte magic)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def rarp_frame(mac: str) -> bytes:
    """A reverse-ARP request announcing `mac`, as ESXi's notify-switches sends."""
    m = mac_bytes(mac)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 3, m, b"\0" * 4, m, b"\0" * 4)
    return BROADCAST + m + struct.pack("!H", RARP_TYPE) + arp + b"\0" * 18


@dataclass
class Uplink:
    vmnic: str
    link: str
    mac: bytes
    sock: socket.socket
    carrier: bool = True
    heard: dict[int, float] = field(default_factory=dict)  # uplink index -> last time heard
    heard_by_others: float = 0.0


@dataclass
class Team:
    index: int
    port_group: str
    bridge: str
    active_count: int
    failure_detection: str
    notify_switches: bool
    failback: bool
    macs: list[str]
    uplinks: list[Uplink]
    forwarding: int | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)


class Controller:
    def __init__(self, config: dict[str, Any], status_path: str) -> None:
        self.interval = config.get("interval_ms", 100) / 1000
        self.host_id = os.getpid() & 0xFFFF
        self.status_path = status_path
        self.started = time.monotonic()
        self.seq = 0
        self.teams: list[Team] = []
        for i, t in enumerate(config["teams"]):
            uplinks = []
            for u in t["uplinks"]:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                # its own beacons are all it reads: every host's flood every uplink, and at
                # 32 hosts reading them all was most of the lab's CPU
                bpf.attach(sock, bpf.ethertype_and_halfword(BEACON_TYPE, BEACON_HOST_AT,
                                                            self.host_id))
                sock.bind((u["link"], 0))
                sock.setblocking(False)
                uplinks.append(Uplink(u["vmnic"], u["link"], mac_bytes(self._mac(u["link"])),
                                      sock))
            self.teams.append(Team(i, t["port_group"], t["bridge"], t["active_count"],
                                   t["failure_detection"], t["notify_switches"], t["failback"],
                                   list(t["macs"]), uplinks))
        self.by_fd = {u.sock.fileno(): (t, j) for t in self.teams for j, u in enumerate(t.uplinks)}
        self.relays = [open_relay(r["port"], [(int(v), str(link)) for v, link in r["vlans"]])
                       for r in config.get("relays", [])]
        self.relay_fds = {fd: relay for relay in self.relays for fd in relay.fds}
        # carrier changes arrive as link events instead of being polled every interval: at 32
        # hosts the polling alone (two /sys reads per uplink per team, ten times a second) kept
        # a third of a core busy on an idle lab
        self.link_events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.link_events.bind((0, RTMGRP_LINK))
        self.link_events.setblocking(False)
        self.links_changed = True
        self.running = True

    @staticmethod
    def _mac(ifname: str) -> str:
        with open(f"/sys/class/net/{ifname}/address", encoding="ascii") as f:
            return f.read().strip()

    @staticmethod
    def _carrier(ifname: str) -> bool:
        # read every interval for every uplink of every host: a bare read, not a text file
        # object (at 32 hosts the file objects were most of the controllers' idle CPU)
        try:
            fd = os.open(f"/sys/class/net/{ifname}/carrier", os.O_RDONLY)
        except OSError:
            return False
        try:
            return os.read(fd, 8).startswith(b"1")
        except OSError:  # admin-down reads as EINVAL: no carrier
            return False
        finally:
            os.close(fd)

    # -- health ------------------------------------------------------------------------------
    def healthy(self, team: Team, j: int, now: float) -> bool:
        up = team.uplinks[j]
        if not up.carrier:
            return False
        if team.failure_detection != "beacon_probing" or len(team.uplinks) < 2:
            return True
        window = 3 * self.interval + 0.05
        if now - self.started < window:
            return True  # no beacon round has completed yet
        hears = any(now - t < window for t in up.heard.values())
        is_heard = now - up.heard_by_others < window
        return hears or is_heard

    def choose(self, team: Team, now: float) -> int | None:
        health = [self.healthy(team, j, now) for j in range(len(team.uplinks))]
        if not any(health):
            # Nothing is provably good. With carrier somewhere this is beacon probing on too few
            # uplinks (or every uplink silent): keep what we have, as ESXi cannot decide either.
            has_carrier = [u.carrier for u in team.uplinks]
            current: int | None = team.forwarding
            if current is not None and has_carrier[current]:
                return current
            return next((j for j, c in enumerate(has_carrier) if c), None)
        current = team.forwarding
        if not team.failback and current is not None and health[current]:
            return current
        # uplinks are in failover order: the active ones, then the standby ones
        return health.index(True)

    # -- actions -----------------------------------------------------------------------------
    def apply(self, changed: list[Team], announce: bool) -> None:
        blocked = sorted(u.link for t in self.teams for j, u in enumerate(t.uplinks)
                         if j != t.forwarding)
        elements = ", ".join(f'"{b}"' for b in blocked)
        script = f"flush set bridge {NFT_TABLE} blocked\n"
        if elements:
            script += f"add element bridge {NFT_TABLE} blocked {{ {elements} }}\n"
        subprocess.run(["nft", "-f", "-"], input=script, text=True, check=False,
                       capture_output=True)
        # one ip for every changed team (at start that is all of them): -force goes on past a
        # bridge that fails, as separate calls did
        flushes = "".join(f"link set dev {team.bridge} type bridge fdb_flush\n"
                          for team in changed)
        subprocess.run(["ip", "-force", "-batch", "-"], input=flushes, text=True, check=False,
                       capture_output=True)
        for team in changed:
            if announce and team.notify_switches and team.forwarding is not None:
                sock = team.uplinks[team.forwarding].sock
                for mac in team.macs:
                    with contextlib.suppress(OSError):
                        sock.send(rarp_frame(mac))
        self.write_status()

    def write_status(self) -> None:
        now = time.monotonic()
        state = {
            "pid": os.getpid(),
            "teams": {
                t.port_group: {
                    "bridge": t.bridge,
                    "failure_detection": t.failure_detection,
                    "forwarding": t.uplinks[t.forwarding].vmnic if t.forwarding is not None
                    else None,
                    "forwarding_link": t.uplinks[t.forwarding].link
                    if t.forwarding is not None else None,
                    "uplinks": [{"vmnic": u.vmnic, "link": u.link, "carrier": u.carrier,
                                 "healthy": self.healthy(t, j, now)}
                                for j, u in enumerate(t.uplinks)],
                    "changes": t.changes[-20:],
                }
                for t in self.teams
            },
            "relays": {r.port: {"vlans": sorted(r.links), "relayed": r.relayed,
                                "kernel": r.kernel} for r in self.relays},
        }
        tmp = self.status_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, self.status_path)

    def beacon(self, team: Team, j: int) -> bytes:
        up = team.uplinks[j]
        payload = struct.pack("!4sHHHI", b"LHBC", self.host_id, team.index, j, self.seq)
        return BROADCAST + up.mac + struct.pack("!H", BEACON_TYPE) + payload.ljust(46, b"\0")

    def receive(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        fds = [*self.by_fd, *self.relay_fds, self.link_events.fileno()]
        while self.running:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                ready, _, _ = select.select(fds, [], [], left)
            except InterruptedError:
                continue
            now = time.monotonic()
            for fd in ready:
                if fd == self.link_events.fileno():
                    self._drain_link_events()
                    continue
                if fd in self.relay_fds:
                    self.relay_fds[fd].handle(fd)
                    continue
                team, j = self.by_fd[fd]
                sock = team.uplinks[j].sock
                while True:
                    try:
                        frame, addr = sock.recvfrom(2048)
                    except (BlockingIOError, InterruptedError):
                        break
                    if addr[2] == socket.PACKET_OUTGOING or len(frame) < 26:
                        continue
                    if struct.unpack("!H", frame[12:14])[0] != BEACON_TYPE:
                        continue
                    magic, host, t_idx, src, _seq = struct.unpack("!4sHHHI", frame[14:28])
                    if magic != b"LHBC" or host != self.host_id or t_idx != team.index:
                        continue
                    if src != j and src < len(team.uplinks):
                        team.uplinks[j].heard[src] = now
                        team.uplinks[src].heard_by_others = now

    def _drain_link_events(self) -> None:
        """Something about a link changed (or the kernel dropped events: ENOBUFS): the carriers
        are read again before the next decision."""
        self.links_changed = True
        while True:
            try:
                self.link_events.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    return  # not a queue overflow: nothing more to read now
                # ENOBUFS: events were lost, which the flag above covers; read on

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> None:
        first = True
        last_status = 0.0
        while self.running:
            now = time.monotonic()
            if self.links_changed:  # read after the event: a later one sets it again
                self.links_changed = False
                for team in self.teams:
                    for up in team.uplinks:
                        up.carrier = self._carrier(up.vmnic) and self._carrier(up.link)
            changed = []
            for team in self.teams:
                pick = self.choose(team, now)
                if pick != team.forwarding or first:
                    if pick != team.forwarding:
                        team.changes.append({
                            "at": time.time(),
                            "from": team.uplinks[team.forwarding].vmnic
                            if team.forwarding is not None else None,
                            "to": team.uplinks[pick].vmnic if pick is not None else None,
                        })
                    team.forwarding = pick
                    changed.append(team)
            if changed:
                self.apply(changed, announce=True)
            elif now - last_status > 1.0:
                self.write_status()
                last_status = now
            first = False
            self.seq += 1
            for team in self.teams:
                if team.failure_detection == "beacon_probing" and len(team.uplinks) > 1:
                    for j, up in enumerate(team.uplinks):
                        with contextlib.suppress(OSError):
                            up.sock.send(self.beacon(team, j))
            self.receive(self.interval)

    def stop(self, *_: Any) -> None:
        self.running = False

    def close(self) -> None:
        """The relays end with the controller, as a host's vSwitch does (a kernel relay would
        otherwise outlive it)."""
        for relay in self.relays:
            relay.close()


def open_relay(port: str, vlans: list[tuple[int, str]]) -> Relay | KernelRelay:
    """A probe port's relay: in the kernel where it can, else in this process (the status
    file's `kernel` says which, the log why)."""
    try:
        return KernelRelay(port, vlans)
    except OSError as e:
        print(f"relaying {port} in userspace: the kernel cannot ({e})", file=sys.stderr,
              flush=True)
        return Relay(port, vlans)


def serve(config_path: str, status_path: str) -> None:
    """Run one controller until SIGTERM or SIGINT (in the namespace the process is in)."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    controller = Controller(config, status_path)
    signal.signal(signal.SIGTERM, controller.stop)
    signal.signal(signal.SIGINT, controller.stop)
    try:
        controller.run()
    finally:
        controller.close()


CLONE_NEWNET, CLONE_NEWNS = 0x40000000, 0x00020000
MS_REC, MS_SLAVE, MNT_DETACH = 0x4000, 0x80000, 2


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter(ns: str) -> None:
    """What `ip netns exec NS` does before it execs: join the network namespace, then a
    private mount namespace with a fresh sysfs, so /sys/class/net lists this namespace's
    interfaces (carrier and MAC are read there) and the mount stays out of everyone else's."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        _check(libc.setns(fd, CLONE_NEWNET), f"setns into {ns}")
    finally:
        os.close(fd)
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "mount --make-rslave /")
    libc.umount2(b"/sys", MNT_DETACH)  # nothing mounted there is fine too
    _check(libc.mount(ns.encode(), b"/sys", b"sysfs", 0, None), "mount sysfs on /sys")


def _child(job: dict[str, str], ready_w: int) -> None:
    """Body of one forked controller; never returns."""
    code = 0
    try:
        os.setsid()  # its own session: `sim down` ends it with killpg, like a spawned daemon
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        enter(job["ns"])
        os.write(ready_w, b"\n")
        os.close(ready_w)
        gc.unfreeze()
        serve(job["config"], job["status"])
    except BaseException as exc:  # the log says why; the parent sees EOF without a line
        print(f"teaming controller for {job['ns']}: {exc}", file=sys.stderr)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().strip().splitlines()
    except OSError:
        return "exited"
    return lines[-1] if lines else "exited"


def fork_all(manifest_path: str) -> int:
    """Fork one controller per entry of MANIFEST (a JSON list of {ns, config, status, log}),
    wait until each has entered its namespace, print `{"pids": {NS: PID}}` and exit; the
    controllers keep running (init reaps them). A controller that cannot enter its namespace
    fails the whole start, with the reason from its log."""
    with open(manifest_path, encoding="utf-8") as f:
        jobs: list[dict[str, str]] = json.load(f)
    gc.collect()
    gc.freeze()  # the children share this interpreter's pages; the collector must not touch them
    pids: dict[str, int] = {}
    failed: list[str] = []
    pending: dict[int, tuple[str, str]] = {}
    for job in jobs:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            for fd in (ready_r, *pending):  # the other children's pipes are not its business
                os.close(fd)
            _child(job, ready_w)
        os.close(ready_w)
        pids[job["ns"]] = pid
        pending[ready_r] = (job["ns"], job["log"])
    for fd, (ns, log) in pending.items():
        ok = os.read(fd, 1) == b"\n"  # EOF: the child exited before entering its namespace
        os.close(fd)
        if not ok:
            failed.append(f"{ns}: {_last_line(log)} (log {log})")
    if failed:
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        print("; ".join(failed), file=sys.stderr)
        return 1
    print(json.dumps({"pids": pids}), flush=True)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--fork":
        return fork_all(argv[1])
    if len(argv) != 2:
        print("usage: python -m harness.sim.dataplane.teaming CONFIG.json STATUS.json\n"
              "       python -m harness.sim.dataplane.teaming --fork MANIFEST.json",
              file=sys.stderr)
        return 2
    serve(argv[0], argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
