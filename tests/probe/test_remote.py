"""The agent over SSH against a real OpenSSH sshd in a test namespace, and over a plain pipe.

The paramiko client runs in the harness process, but its TCP socket is opened inside the client
namespace (by a short-lived thread that setns-es there), so nothing is configured or reached in
the root namespace.
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.drivers.probe.client import AgentClient, AgentUnavailable, PolicyError, ProbeError
from harness.drivers.probe.host import enter_netns
from harness.drivers.probe.remote import RemoteAgent, SshTarget, stage_locally, staged_sources
from harness.drivers.probe.transport import PipeTransport
from tests.probe import topology
from tests.probe.netlab import NetLab
from tests.probe.topology import ALLOW_PREFIX, Lab

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    lab: topology.SshLab
    proc: subprocess.Popen[bytes]
    client_key: Path
    known_hosts: Path
    work: Path


def connect_in_netns(ns: str, host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP connection opened from inside `ns`; the socket keeps that namespace for life."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            enter_netns(ns)  # this thread only; it ends right after
            result["sock"] = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    sock = result["sock"]
    assert isinstance(sock, socket.socket)
    return sock


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(netlab: NetLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"{SSHD} is not installed")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    lab = topology.build_ssh(netlab)
    work = tmp_path_factory.mktemp("sshd")
    _keygen(work / "host_key")
    _keygen(work / "client_key")
    (work / "authorized_keys").write_text((work / "client_key.pub").read_text())
    host_pub = (work / "host_key.pub").read_text().split()
    (work / "known_hosts").write_text(f"{lab.server_addr} {host_pub[0]} {host_pub[1]}\n")
    config = work / "sshd_config"
    config.write_text(f"""\
Port 22
ListenAddress {lab.server_addr}
HostKey {work / "host_key"}
PidFile none
AuthorizedKeysFile {work / "authorized_keys"}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
""")
    log = (work / "sshd.log").open("wb")
    proc = netlab.spawn(lab.server, [SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                        stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 5
        while True:
            if proc.poll() is not None:
                pytest.skip(f"sshd cannot start here: {(work / 'sshd.log').read_text()[-500:]}")
            try:
                connect_in_netns(lab.client, lab.server_addr, 22, timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip("sshd did not listen within 5 s: "
                                + (work / "sshd.log").read_text()[-500:])
                time.sleep(0.05)
        yield Sshd(lab, proc, work / "client_key", work / "known_hosts", work)
    finally:
        netlab.stop(proc)
        log.close()


def _target(s: Sshd, **overrides: object) -> SshTarget:
    settings: dict[str, object] = {
        "host": s.lab.server_addr, "username": "root", "key_file": str(s.client_key),
        "known_hosts": str(s.known_hosts), "python": sys.executable}
    settings.update(overrides)
    return SshTarget(**settings)  # type: ignore[arg-type]


def test_remote_agent_over_sshd_probes_from_the_probe_host(sshd: Sshd, netlab: NetLab) -> None:
    sock = connect_in_netns(sshd.lab.client, sshd.lab.server_addr, 22)
    agent = RemoteAgent.start(_target(sshd), [ALLOW_PREFIX], ["up*"], sock=sock)
    try:
        info = agent.client.ping()
        remote_dir = agent.remote_dir
        # the staged copy runs, not the labharness checkout
        assert info.agent_path == f"{remote_dir}/harness/drivers/probe/agent.py"
        assert info.name == f"ssh://root@{sshd.lab.server_addr}:22"
        assert {i.name for i in agent.client.interfaces()} == {"lo", "up0"}
        echo = agent.client.echo(sshd.lab.client_addr)
        assert echo.replied and echo.iface == "up0"
        with pytest.raises(PolicyError) as err:
            agent.client.arp("lo", sshd.lab.client_addr)
        assert err.value.namespace == info.name
    finally:
        agent.close()

    assert not os.path.exists(remote_dir)  # same filesystem: the probe host is a namespace
    deadline = time.monotonic() + 3
    while netlab.pids_in(sshd.lab.server) != [sshd.proc.pid] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert netlab.pids_in(sshd.lab.server) == [sshd.proc.pid]  # no agent left behind


def test_unknown_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    (tmp_path / "empty_known_hosts").write_text("")
    sock = connect_in_netns(sshd.lab.client, sshd.lab.server_addr, 22)
    with pytest.raises(AgentUnavailable, match="not found in known_hosts"):
        RemoteAgent.start(_target(sshd, known_hosts=str(tmp_path / "empty_known_hosts")),
                          [ALLOW_PREFIX], ["up*"], sock=sock)


def test_remote_agent_requires_an_explicit_interface_policy(sshd: Sshd) -> None:
    with pytest.raises(ProbeError, match="explicit allowed prefixes and interfaces"):
        RemoteAgent.start(_target(sshd), [ALLOW_PREFIX], [])


def test_staged_copy_runs_over_a_pipe_in_a_namespace(lab: Lab, tmp_path: Path) -> None:
    """The same stdio code path without SSH: the staged files alone are enough."""
    stage = stage_locally(tmp_path / "stage")
    transport = PipeTransport(
        ["ip", "netns", "exec", lab.mtu.host, sys.executable, "-B", "-m",
         "harness.drivers.probe.agent", "--stdio", "--allow-prefix", ALLOW_PREFIX,
         "--allow-iface", "up*"], cwd=str(stage), stderr_path=str(tmp_path / "agent.log"))
    client = AgentClient("pipe", lambda: transport)
    try:
        info = client.ping(timeout=30)
        assert info.agent_path == str(stage / "harness/drivers/probe/agent.py")
        assert client.echo(lab.mtu.gateway).replied
    finally:
        client.close()
    assert transport.proc.returncode == 0


def test_agent_and_probes_import_only_stdlib_scapy_and_each_other() -> None:
    allowed_roots = set(sys.stdlib_module_names) | {"scapy", "harness", "__future__"}
    for rel, source in staged_sources().items():
        if not rel.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed_roots, f"{rel} imports {name}"
                if name.startswith("harness"):
                    assert name.startswith(("harness.probes", "harness.errors")), \
                        f"{rel} imports {name}"
