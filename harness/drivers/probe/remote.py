"""The probe agent on a real lab's Linux probe host, over SSH.

The harness connects with paramiko (host key verified against known_hosts unless explicitly
turned off), copies the agent and the probe modules to a fresh temporary directory with SFTP,
in the same package layout (so the remote needs python3 and scapy, not labharness), and runs

    cd TMP && exec [sudo -n] PYTHON -B -m harness.drivers.probe.agent --stdio --allow-prefix ...

speaking the same JSON lines over the channel's stdin/stdout. `-B` keeps root from writing
`__pycache__` into a directory the SSH user must delete afterwards; stderr goes to
TMP/agent.log, which start-up failures quote. Closing sends `shutdown`, closes the channel (the
agent also exits on EOF) and removes the directory.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import paramiko

from .client import AgentClient
from .errors import AgentUnavailable, ProbeError
from .transport import LineReader, TransportClosed, TransportTimeout

REMOTE_DIR_PATTERN = re.compile(r"^/tmp/labharness-probe\.[A-Za-z0-9]+$")
_HARNESS = Path(__file__).resolve().parents[2]


def staged_sources() -> dict[str, bytes]:
    """Files the remote needs, by path relative to the directory the agent runs in.

    Package `__init__` files above the agent are replaced by empty ones: the real ones may
    import harness code the remote does not have.
    """
    files: dict[str, bytes] = {
        "harness/__init__.py": b'"""Probe agent subset of labharness (copied by remote.py)."""\n',
        "harness/errors.py": (_HARNESS / "errors.py").read_bytes(),
        "harness/drivers/__init__.py": b"",
        "harness/drivers/probe/__init__.py": b"",
        "harness/drivers/probe/agent.py": (_HARNESS / "drivers/probe/agent.py").read_bytes(),
    }
    for path in sorted((_HARNESS / "probes").glob("*.py")):
        files[f"harness/probes/{path.name}"] = path.read_bytes()
    return files


def stage_locally(directory: Path) -> Path:
    """Write `staged_sources()` under `directory` (tests run the agent from such a copy)."""
    for rel, data in staged_sources().items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return directory


@dataclass(frozen=True)
class SshTarget:
    """How to reach a probe host. The password is used for login only, never logged.

    Attributes:
        known_hosts: file to verify the host key against; None uses ~/.ssh/known_hosts.
        verify_host_key: False accepts an unknown key (say so in the inventory, explicitly).
        sudo: run the agent through `sudo -n`; None means "unless logging in as root".
    """

    host: str
    username: str
    port: int = 22
    password: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    verify_host_key: bool = True
    python: str = "python3"
    sudo: bool | None = None
    connect_timeout: float = 10.0

    @property
    def label(self) -> str:
        return f"ssh://{self.username}@{self.host}:{self.port}"


class ChannelTransport:
    """JSON lines over an SSH exec channel."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self.lines = LineReader()

    def send_line(self, data: bytes) -> None:
        try:
            self.channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TransportClosed(f"SSH channel closed: {exc}") from None

    def read_line(self, deadline: float) -> bytes:
        while True:
            line = self.lines.take()
            if line is not None:
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout()
            self.channel.settimeout(remaining)
            try:
                chunk = self.channel.recv(1 << 16)
            except TimeoutError:
                raise TransportTimeout() from None
            except (OSError, paramiko.SSHException) as exc:
                raise TransportClosed(f"SSH channel closed: {exc}") from None
            if not chunk:
                status = self.channel.exit_status if self.channel.exit_status_ready() else None
                raise TransportClosed(f"remote agent exited (status {status})")
            self.lines.buffer += chunk

    def close(self) -> None:
        self.channel.close()


class RemoteAgent:
    """An agent on a probe host reached over SSH; `.client` is an ordinary `AgentClient`."""

    def __init__(self, target: SshTarget, ssh: paramiko.SSHClient, remote_dir: str,
                 channel: paramiko.Channel, client: AgentClient) -> None:
        self.target, self.ssh, self.remote_dir = target, ssh, remote_dir
        self.channel, self.client = channel, client

    @classmethod
    def start(cls, target: SshTarget, allow_prefixes: Iterable[str], allow_ifaces: Iterable[str],
              *, sock: socket.socket | None = None, start_timeout: float = 30.0,
              call_timeout: float = 10.0) -> RemoteAgent:
        """Connect, stage the agent, start it and wait for its first `ping`.

        Args:
            allow_ifaces: required on real probe hosts: the policy must not include the
                management NIC the SSH session itself uses.
            sock: an already connected socket (a jump host's channel, or one opened inside a
                network namespace); paramiko then skips its own connect.

        Raises:
            AgentUnavailable: SSH refused (host key, authentication, network), staging failed, or
                the agent did not answer (the message quotes the remote agent.log).
        """
        prefixes, ifaces = list(allow_prefixes), list(allow_ifaces)
        if not prefixes or not ifaces:
            raise ProbeError("a remote agent needs explicit allowed prefixes and interfaces",
                             namespace=target.label, error_type="BadRequest")
        ssh = _connect(target, sock)
        remote_dir = ""
        agent: RemoteAgent | None = None
        try:
            remote_dir = _mkdtemp(ssh, target)
            _upload(ssh, remote_dir)
            transport = ssh.get_transport()
            if transport is None:
                raise AgentUnavailable("SSH transport closed", namespace=target.label)
            channel = transport.open_session()
            channel.exec_command(_agent_command(target, remote_dir, prefixes, ifaces))
            client = AgentClient(target.label, lambda: ChannelTransport(channel),
                                 timeout=call_timeout)
            agent = cls(target, ssh, remote_dir, channel, client)
            client.ping(timeout=start_timeout)
            return agent
        except (ProbeError, OSError, paramiko.SSHException) as exc:
            log = _read_remote(ssh, remote_dir + "/agent.log") if remote_dir else ""
            if agent is not None:
                agent.close()
            else:
                _cleanup(ssh, remote_dir)
            message = exc.message if isinstance(exc, ProbeError) else str(exc)
            raise AgentUnavailable(f"remote agent did not start: {message}"
                                   + (f"\n--- agent.log ---\n{log}" if log else ""),
                                   namespace=target.label) from None

    def close(self) -> None:
        """Stop the agent, close the channel, delete the staged files, disconnect."""
        try:
            if not self.channel.closed:
                try:
                    self.client.call("shutdown", call_timeout=5.0)
                except ProbeError:
                    pass  # already gone: the cleanup below still runs
                # the exit status arrives only on an open channel: wait for it, then close
                deadline = time.monotonic() + 5.0
                while not self.channel.exit_status_ready() and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            self.client.close()
            _cleanup(self.ssh, self.remote_dir)

    def __enter__(self) -> RemoteAgent:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _connect(target: SshTarget, sock: socket.socket | None) -> paramiko.SSHClient:
    ssh = paramiko.SSHClient()
    try:
        if target.verify_host_key:
            if target.known_hosts:
                ssh.load_host_keys(target.known_hosts)
            else:
                ssh.load_system_host_keys()
            ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        ssh.connect(target.host, port=target.port, username=target.username,
                    password=target.password, key_filename=target.key_file,
                    timeout=target.connect_timeout, banner_timeout=target.connect_timeout,
                    auth_timeout=target.connect_timeout, look_for_keys=False, allow_agent=False,
                    sock=sock)
    except paramiko.BadHostKeyException as exc:
        ssh.close()
        raise AgentUnavailable(f"host key mismatch for {exc.hostname}: refusing to connect "
                               f"(expected {exc.expected_key.get_name()}, got "
                               f"{exc.key.get_name()})", namespace=target.label) from None
    except paramiko.AuthenticationException:
        ssh.close()
        raise AgentUnavailable("SSH authentication failed", namespace=target.label) from None
    except (OSError, paramiko.SSHException) as exc:
        ssh.close()
        # paramiko's RejectPolicy says "Server '...' not found in known_hosts"
        raise AgentUnavailable(f"SSH connection failed: {exc}", namespace=target.label) from None
    return ssh


def _run(ssh: paramiko.SSHClient, command: str, timeout: float) -> tuple[int, str, str]:
    _stdin, stdout, stderr = ssh.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out, err


def _mkdtemp(ssh: paramiko.SSHClient, target: SshTarget) -> str:
    rc, out, err = _run(ssh, "mktemp -d /tmp/labharness-probe.XXXXXXXX", target.connect_timeout)
    path = out.strip()
    if rc != 0 or not REMOTE_DIR_PATTERN.match(path):
        raise AgentUnavailable(f"cannot create a temporary directory (rc={rc}): {err.strip()}",
                               namespace=target.label)
    return path


def _agent_command(target: SshTarget, remote_dir: str, prefixes: list[str],
                   ifaces: list[str]) -> str:
    sudo = target.sudo if target.sudo is not None else target.username != "root"
    argv = ["sudo", "-n"] if sudo else []
    argv += [target.python, "-B", "-m", "harness.drivers.probe.agent", "--stdio",
             "--name", target.label]
    for prefix in prefixes:
        argv += ["--allow-prefix", prefix]
    for glob in ifaces:
        argv += ["--allow-iface", glob]
    log = shlex.quote(remote_dir + "/agent.log")
    return f"cd {shlex.quote(remote_dir)} && exec {shlex.join(argv)} 2>{log}"


def _upload(ssh: paramiko.SSHClient, remote_dir: str) -> None:
    sftp = ssh.open_sftp()
    try:
        made: set[str] = set()
        for rel, data in staged_sources().items():
            parent = posixpath.dirname(rel)
            parts = parent.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in made:
                    sftp.mkdir(posixpath.join(remote_dir, sub), mode=0o755)
                    made.add(sub)
            with sftp.open(posixpath.join(remote_dir, rel), "wb") as f:
                f.write(data)
    finally:
        sftp.close()


def _read_remote(ssh: paramiko.SSHClient, path: str, limit: int = 4000) -> str:
    try:
        sftp = ssh.open_sftp()
        try:
            with sftp.open(path, "rb") as f:
                data: bytes = f.read()
        finally:
            sftp.close()
    except (OSError, paramiko.SSHException):
        return ""
    return data.decode(errors="replace")[-limit:]


def _cleanup(ssh: paramiko.SSHClient, remote_dir: str) -> None:
    try:
        if remote_dir and REMOTE_DIR_PATTERN.match(remote_dir):
            _run(ssh, f"rm -rf -- {shlex.quote(remote_dir)}", 10.0)
    except (OSError, paramiko.SSHException):
        pass  # the host is unreachable: nothing more to clean from here
    finally:
        ssh.close()
