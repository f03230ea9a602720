"""Faults injected into `labharness run` while it runs, against the simulated lab.

Each test breaks one thing the way it breaks in the field (a black-holed management address, a
killed or frozen simulator, a full report disk, a signal from CI) and asserts what the user
sees: the exit code, a bound on the wall time, what the affected tests show, no traceback, and
that nothing is left behind. Timeouts are set short in the inventory (that is what the
`timeouts:` section is for), so the bounds stay small.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from harness.sim import lifecycle
from harness.sim.dataplane import kernel, names, netns
from tests.conftest import ROOT

needs_sim = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

LAB = "sim"
MGMT_NS = names.netns(LAB, "mgmt")  # where vCenter and the iLOs listen
VCENTER = "198.19.255.10"
LOGIN_BYTES = 24 * 1024  # what vCenter sends up to and including the login (TLS included)
BMC1 = "198.19.255.21"

# short timeouts for fault runs: the bounds below are multiples of these
SHORT_TIMEOUTS = {"vsphere": {"connect": 3, "read": 5}, "redfish": {"connect": 3, "read": 4},
                  "ssh": {"connect": 3, "read": 5}, "probe": {"connect": 5, "read": 10},
                  "logout": 2}


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


@dataclass
class Finished:
    code: int
    wall_s: float
    out: str
    report: Path

    @property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report / "summary.json").read_text())
        return data

    def outcomes(self, layer: str) -> set[str]:
        return {r["outcome"] for r in self.summary["results"] if r["layer"] == layer}


def start(report: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`labharness run` in the background (its own process group, so a test can signal it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "--report-dir", str(report), *args],
        cwd=ROOT, env=env or cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)


def finish(proc: subprocess.Popen[str], report: Path, started: float,
           timeout: float = 300) -> Finished:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"the run did not end within {timeout} s:\n{out[-3000:]}") from None
    assert "Traceback" not in out, out
    return Finished(proc.returncode, time.monotonic() - started, out, report)


def run(report: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 300) -> Finished:
    started = time.monotonic()
    return finish(start(report, *args, env=env), report, started, timeout)


@contextmanager
def sim_up() -> Iterator[None]:
    """The simulated lab, up for the test and down afterwards (nothing left)."""
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "sim", "up"], cwd=ROOT,
                          env=cli_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    try:
        yield
    finally:
        lifecycle.down(LAB)
        assert lifecycle.leftovers(LAB) == []


def real_inventory(tmp_path: Path, **timeouts: Any) -> Path:
    """`labharness sim inventory` for the running sim, with short timeouts."""
    path = tmp_path / "sim-as-real.yaml"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "sim", "inventory", "--output",
                           str(path)], cwd=ROOT, env=cli_env(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yaml = YAML()
    data = yaml.load(path)
    data["timeouts"] = {**SHORT_TIMEOUTS, **timeouts}
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    return path


@contextmanager
def black_hole(address: str, port: int = 443, *, after_bytes: int | None = None,
               table: str = "lh_fault") -> Iterator[None]:
    """Drop every packet to and from address:port where the server listens, connections
    already open included (no RST, no ICMP: a black hole, as a dead route or firewall makes).

    `after_bytes`: let the server send that many bytes first (TLS, version negotiation and the
    login fit in 24 KiB; vCenter's first inventory read does not), so the path dies after
    login at a point that does not depend on timing."""
    quota = f"quota over {after_bytes} bytes " if after_bytes is not None else ""
    rules = (f"table inet {table} {{\n"
             f"  chain input {{ type filter hook input priority -300; "
             + ("" if after_bytes is not None else
                f"ip daddr {address} tcp dport {port} drop; ") + "}\n"
             f"  chain output {{ type filter hook output priority -300; "
             f"ip saddr {address} tcp sport {port} {quota}drop; }}\n}}\n")
    netns.run(["nft", "-f", "-"], ns=MGMT_NS, stdin=rules)
    try:
        yield
    finally:
        if MGMT_NS in netns.list_netns():  # a run that built the lab took it down with it
            netns.run(["nft", "delete", "table", "inet", table], ns=MGMT_NS, check=False)


def wait_for_connection(address: str, port: int = 443, timeout: float = 60) -> None:
    """Until a client holds an established TCP connection to address:port (the run logged in
    or is logging in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = netns.run(["ss", "-Htn", "state", "established", "src", f"{address}:{port}"],
                        ns=MGMT_NS, check=False).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing connected to {address}:{port} within {timeout} s")


def wait_for_sim(owner: int, timeout: float = 120) -> None:
    """Until the lab that run `owner` builds is up (not an earlier lab still standing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lifecycle.load_state(LAB)
        if (state is not None and state.owner is not None and state.owner.pid == owner
                and "up_s" in state.timings):  # written last, when all is up
            return
        time.sleep(0.05)
    raise AssertionError(f"the simulated lab was not up within {timeout} s")


def daemon_pid(name: str) -> int:
    state = lifecycle.load_state(LAB)
    assert state is not None
    return next(d.pid for d in state.daemons if d.name == name)


def unreachable(summary: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(e["kind"], e["name"]): e["reason"] for e in summary["endpoints"]
            if not e["reachable"]}


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_in_netns(root: int, ns: str, cmdline: str) -> int | None:
    """A descendant of `root` inside network namespace `ns` whose command line contains
    `cmdline` (a probe agent: forked, it shows its parent's), if any."""
    try:
        inode = os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != f"net:[{inode}]":
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if cmdline.encode() not in f.read():
                    continue
        except OSError:
            continue
        up: int | None = pid
        while up not in (None, 0, 1):
            up = _parent(up)  # type: ignore[arg-type]
            if up == root:
                return pid
    return None
