"""Run one probe agent per network namespace, forked from a parent that imported scapy once.

    python -m harness.drivers.probe.host --socket-dir DIR --allow-prefix 198.18.0.0/15 \
        [--allow-iface GLOB ...] --netns NS [--netns NS ...]

Importing scapy takes about a second; forking a process that already has it takes tens of
milliseconds, so a lab of thirty namespaces gets its agents in about a second instead of thirty.

Each child enters its namespace with setns(2) (ctypes; Python 3.11 has no os.setns) and then
rebuilds scapy's interface and route caches, which would otherwise still describe the root
namespace (its default gateway, its interfaces): a probe sent in that state could leave through
the machine's real NIC. The listening AF_UNIX socket `DIR/NS.sock` is created by the parent
before forking: path-bound unix sockets live in the filesystem, not in a network namespace, so it
makes no difference to reachability, and the parent then knows every socket exists before it
reports ready. Every thread a child starts after setns inherits the namespace, and so does
every socket those threads open.

The parent prints one line, `{"ready": true, "sockets": {NS: PATH}, "agents": {NS: PID},
"pid": PID}`, once every child has entered its namespace, and stays in the foreground. On
SIGTERM, SIGINT or EOF on stdin it terminates its children, reaps them and removes the sockets.
Children also die with the parent (PR_SET_PDEATHSIG), so even a SIGKILLed parent leaves no agent
running.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import signal
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass

from harness.probes import frames
from harness.probes.errors import ProbeFailure
from harness.probes.policy import Policy

from .agent import Agent, policy_arguments, policy_from

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
UNIX_PATH_MAX = 107
READY_TIMEOUT = 30.0
TERM_GRACE = 2.0


@dataclass
class Child:
    netns: str
    pid: int
    socket_path: str
    ready_fd: int


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    """Move the calling thread into network namespace `name` (the process's only thread here)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def resync_scapy() -> None:
    """Forget the root namespace's interfaces and routes that scapy cached at import."""
    from scapy.config import conf

    conf.ifaces.reload()
    conf.route.resync()
    try:
        conf.route6.resync()
    except Exception:  # IPv6 may be disabled in lab namespaces; the probes are IPv4-only
        pass
    # scapy's default interface is the root's (eth0); a namespace's loopback is harmless
    conf.iface = conf.ifaces.dev_from_name("lo")


def _serve_connection(agent: Agent, conn: socket.socket) -> None:
    with conn, conn.makefile("rb") as rfile, conn.makefile("wb") as wfile:
        try:
            agent.serve(rfile, wfile)
        except OSError:
            pass  # the client went away mid-write; nothing to answer
    if agent.stopping:
        agent.close()
        os._exit(0)


def _child_main(netns: str, listener: socket.socket, policy: Policy, ready_w: int) -> None:
    """Body of one forked agent; never returns."""
    code = 0
    try:
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent already died before prctl took effect
            os._exit(1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        # stray prints must not reach the parent's stdout, which carries the ready line
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        enter_netns(netns)
        resync_scapy()
        agent = Agent(policy, netns)
        os.write(ready_w, (json.dumps({"ok": True}) + "\n").encode())
        os.close(ready_w)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_connection, args=(agent, conn), daemon=True).start()
    except BaseException as exc:
        code = 1
        try:
            os.write(ready_w, (json.dumps({"ok": False, "error": f"{netns}: {exc}"}) + "\n")
                     .encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _listen(path: str) -> socket.socket:
    if len(path.encode()) > UNIX_PATH_MAX:
        raise OSError(f"socket path too long for AF_UNIX ({len(path)} > {UNIX_PATH_MAX}): {path}")
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)  # left by a crashed run; the directory is ours
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)  # whoever can connect can send frames as root
    sock.listen(16)
    return sock


class Host:
    """The parent: forks the agents, reports ready, and takes them all down again."""

    def __init__(self, namespaces: list[str], socket_dir: str, policy: Policy) -> None:
        self.namespaces, self.socket_dir, self.policy = namespaces, socket_dir, policy
        self.children: dict[int, Child] = {}

    def start(self) -> dict[str, object]:
        os.makedirs(self.socket_dir, mode=0o700, exist_ok=True)
        for ns in self.namespaces:
            if "/" in ns or not os.path.exists(f"/run/netns/{ns}"):
                raise OSError(f"no network namespace {ns!r} (looked for /run/netns/{ns})")
        frames.preload()  # scapy and every layer the probes use, once, before forking
        for ns in self.namespaces:
            path = os.path.join(self.socket_dir, f"{ns}.sock")
            listener = _listen(path)
            ready_r, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(ready_r)
                for child in self.children.values():
                    os.close(child.ready_fd)
                _child_main(ns, listener, self.policy, ready_w)
            os.close(ready_w)
            listener.close()
            self.children[pid] = Child(ns, pid, path, ready_r)
        self._await_ready()
        return {"ready": True, "pid": os.getpid(),
                "sockets": {c.netns: c.socket_path for c in self.children.values()},
                "agents": {c.netns: c.pid for c in self.children.values()}}

    def _await_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        pending = {c.ready_fd: c for c in self.children.values()}
        buffers = {fd: b"" for fd in pending}
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = ", ".join(c.netns for c in pending.values())
                raise OSError(f"agents did not become ready in {READY_TIMEOUT:.0f}s: {names}")
            ready, _, _ = select.select(list(pending), [], [], remaining)
            for fd in ready:
                chunk = os.read(fd, 4096)
                buffers[fd] += chunk
                if b"\n" in buffers[fd] or not chunk:
                    child = pending.pop(fd)
                    os.close(fd)
                    status = json.loads(buffers[fd] or b'{"ok": false, "error": "exited"}')
                    if not status.get("ok"):
                        raise OSError(status.get("error") or f"agent for {child.netns} failed")

    def reap(self) -> None:
        """Collect children that exited (a `shutdown` request), so none stays a zombie."""
        while self.children:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:
                print(f"probe host: agent for {child.netns} (pid {pid}) exited", file=sys.stderr)

    def stop(self) -> None:
        """SIGTERM every child by PID, SIGKILL what is left after a grace period, reap all."""
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + TERM_GRACE
        while self.children and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.01)
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.children.pop(pid, None)
        for ns in self.namespaces:
            try:
                os.unlink(os.path.join(self.socket_dir, f"{ns}.sock"))
            except FileNotFoundError:
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.drivers.probe.host",
                                     description="Fork one probe agent per network namespace.")
    parser.add_argument("--socket-dir", required=True, help="directory for NS.sock (mode 0700)")
    parser.add_argument("--netns", action="append", required=True, metavar="NS",
                        help="network namespace to serve (repeatable)")
    parser.add_argument("--start-nice", type=int, default=0, metavar="N",
                        help="start (scapy import, forks) at this niceness, then serve at the "
                             "niceness it was started with (raising it back needs root)")
    policy_arguments(parser)
    ns = parser.parse_args(argv)
    try:
        policy = policy_from(ns)
    except ProbeFailure as exc:
        parser.error(exc.message)

    stop = threading.Event()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    host = Host(list(dict.fromkeys(ns.netns)), ns.socket_dir, policy)
    try:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake the select below
        niceness = os.getpriority(os.PRIO_PROCESS, 0)
        if ns.start_nice:
            os.nice(ns.start_nice)
        try:
            ready = host.start()
            for pid in (os.getpid(), *host.children):
                os.setpriority(os.PRIO_PROCESS, pid, niceness)
        except OSError as exc:
            print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
            return 1
        print(json.dumps(ready), flush=True)
        stdin_fd = sys.stdin.fileno()
        watch = [wake_r, stdin_fd]
        while not stop.is_set():
            readable, _, _ = select.select(watch, [], [], 1.0)
            if wake_r in readable:
                os.read(wake_r, 512)
            if stdin_fd in readable and not os.read(stdin_fd, 4096):
                break  # the harness closed our stdin or died: take everything down
            host.reap()
            if not host.children:
                print("probe host: every agent has exited", file=sys.stderr)
                break
    finally:
        host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
