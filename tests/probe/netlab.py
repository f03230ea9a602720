"""A tiny namespace builder for the probe tests: everything it creates it removes, by name.

Safety rules it enforces: every namespace is `lh-tp-<name>` (or the prefix given), every
command runs inside one of those namespaces (`ip -n`, `ip netns exec`), never in the root
namespace, and every process it starts is stopped by PID before its namespace is deleted.
Addresses are the tests' business; they use 198.18.0.0/15 only.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

import pytest

from harness.sim.dataplane import build as dp_build

NAME = re.compile(r"^lh-t[a-z0-9]*-[a-z0-9-]+$")


class NetLabError(Exception):
    def __init__(self, argv: Sequence[str], rc: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} failed (rc={rc}): {stderr.strip()}")
        self.argv, self.rc, self.stderr = list(argv), rc, stderr


def _run(argv: Sequence[str], stdin: str | None = None, check: bool = True,
         timeout: float = 20) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise NetLabError(argv, result.returncode, result.stderr)
    return result


def existing_netns() -> list[str]:
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_supported() -> str | None:
    """None if this process can create namespaces, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    probe = f"lh-tp-probe{os.getpid()}"
    result = _run(["ip", "netns", "add", probe], check=False)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip()}"
    _run(["ip", "netns", "del", probe], check=False)
    return None


@contextmanager
def fixture_netlab(prefix: str, needed_by: str) -> Iterator[NetLab]:
    """A NetLab for a fixture: skips (`needed_by` needs network namespaces) where this process
    cannot make them; afterwards everything made is removed, and what could not be fails."""
    reason = netns_supported()
    if reason is not None:
        pytest.skip(f"{needed_by} need network namespaces: {reason}")
    lab = NetLab(prefix)
    try:
        yield lab
    finally:
        problems = lab.close()
        if problems:
            pytest.fail(f"{needed_by}: teardown left things behind: " + "; ".join(problems))


class NetLab:
    """Namespaces and processes created by one test session."""

    def __init__(self, prefix: str = "lh-tp-") -> None:
        self.prefix = prefix
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def ns(self, short: str) -> str:
        name = f"{self.prefix}{short}"
        if not NAME.match(name):
            raise ValueError(f"{name!r} is not a test namespace name")
        return name

    def add(self, short: str) -> str:
        """Create `lh-tp-<short>` (removing a leftover of a crashed run with that exact name),
        bring lo up and turn IPv6 off (router solicitations and MLD would be background noise
        in frame counts)."""
        name = self.ns(short)
        if name in existing_netns():
            _run(["ip", "netns", "del", name], check=False)
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self.ip(name, "link set lo up")
        self.sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1")
        self.sysctl(name, "net.ipv6.conf.default.disable_ipv6", "1")
        return name

    def ip(self, ns: str, *commands: str) -> None:
        """Run `ip` commands inside `ns` in one batch."""
        self._own(ns)
        _run(["ip", "-n", ns, "-batch", "-"], stdin="\n".join(commands) + "\n")

    def veth(self, ns_a: str, name_a: str, ns_b: str, name_b: str, mtu: int | None = None) -> None:
        """A veth pair created inside `ns_a` with its peer moved straight into `ns_b`."""
        self._own(ns_a)
        self._own(ns_b)
        mtu_arg = f" mtu {mtu}" if mtu else ""
        self.ip(ns_a, f"link add {name_a}{mtu_arg} type veth peer name {name_b}{mtu_arg} "
                      f"netns {ns_b}", f"link set {name_a} up")
        self.ip(ns_b, f"link set {name_b} up")
        # until the kernel's link watch has run on both ends (up to a second; later while it
        # tears down other namespaces) the first frames may be lost, a bridge port's above all
        self.wait_operational(ns_a, ns_b, only=(name_a, name_b))

    def wait_operational(self, *namespaces: str, timeout: float = 10.0,
                         only: Collection[str] | None = None) -> None:
        """Wait until every veth and bridge with carrier in `namespaces` (those named in
        `only`, if given) carries frames: until the kernel's link watch has run, what is sent
        through a new link is dropped (see `netlink.Link.activating`), and that run is late
        while other namespaces are torn down.

        Raises:
            NetnsError: still not, after `timeout` seconds.
        """
        for ns in namespaces:
            self._own(ns)
        dp_build.wait_operational(namespaces, timeout=timeout, only=only)

    def sysctl(self, ns: str, key: str, value: str) -> None:
        self.exec(ns, "sysctl", "-qw", f"{key}={value}")

    def nft(self, ns: str, script: str) -> None:
        self._own(ns)
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], stdin=script)

    @contextmanager
    def fault(self, ns: str, script: str, undo: str) -> Iterator[None]:
        """Apply an nft fault in `ns` for the block; `undo` (one nft command such as
        `delete table netdev lh_tp_silent`) always runs afterwards."""
        self.nft(ns, script)
        try:
            yield
        finally:
            self.nft(ns, undo + "\n")

    def exec(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self._own(ns)
        return _run(["ip", "netns", "exec", ns, *argv], check=check)

    def spawn(self, ns: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start a daemon inside `ns`; `ip netns exec` execs it, so the PID is the daemon's."""
        self._own(ns)
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", ns, *argv], **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def delete(self, ns: str) -> None:
        """Delete one of our namespaces now, by its exact name."""
        self._own(ns)
        self.namespaces.remove(ns)
        _run(["ip", "netns", "del", ns])

    def pids_in(self, ns: str) -> list[int]:
        out = _run(["ip", "netns", "pids", ns], check=False).stdout
        return [int(p) for p in out.split()]

    def close(self) -> list[str]:
        """Stop our processes, then delete our namespaces; returns problems, not raising, so
        a fixture's teardown always gets through the whole list."""
        problems = []
        for proc in list(reversed(self.procs)):
            self.stop(proc)
        for ns in reversed(self.namespaces):
            # processes we started indirectly (an sshd session's agent) end with their
            # parents; wait briefly so the namespace is not kept alive by a straggler
            deadline = time.monotonic() + 3
            while self.pids_in(ns) and time.monotonic() < deadline:
                time.sleep(0.05)
            left = self.pids_in(ns)
            if left:
                problems.append(f"{ns}: processes still inside: {left}")
            result = _run(["ip", "netns", "del", ns], check=False)
            if result.returncode != 0:
                problems.append(f"ip netns del {ns}: {result.stderr.strip()}")
        self.namespaces.clear()
        return problems

    def _own(self, ns: str) -> None:
        if ns not in self.namespaces:
            raise ValueError(f"{ns} was not created by this NetLab; refusing to touch it")
