"""Byte transports that carry the agent's JSON lines: unix socket, subprocess pipe.

The client speaks the same protocol over each (and over an SSH channel, in `remote`), so the
only thing a transport does is move lines with a deadline and say when the other end is gone.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from typing import Protocol


class TransportClosed(Exception):
    """The agent's end is gone (EOF, connection refused or reset)."""


class TransportTimeout(Exception):
    """No complete line arrived before the deadline."""


class Transport(Protocol):
    """What `AgentClient` needs from a connection to one agent."""

    def send_line(self, data: bytes) -> None: ...

    def read_line(self, deadline: float) -> bytes: ...

    def close(self) -> None: ...


class LineReader:
    """Splits a byte stream into lines, reading through `recv` only when no line is buffered."""

    def __init__(self) -> None:
        self.buffer = b""

    def take(self) -> bytes | None:
        cut = self.buffer.find(b"\n")
        if cut < 0:
            return None
        line, self.buffer = self.buffer[:cut + 1], self.buffer[cut + 1:]
        return line


def _wait_readable(fd: int, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TransportTimeout()
    ready, _, _ = select.select([fd], [], [], remaining)
    if not ready:
        raise TransportTimeout()


class UnixSocketTransport:
    """A stream connection to `DIR/NS.sock` of a forked agent."""

    def __init__(self, path: str, connect_timeout: float = 5.0) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(connect_timeout)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise TransportClosed(f"cannot connect to {path}: {exc.strerror or exc}") from None
        self.sock.setblocking(False)
        self.lines = LineReader()

    def send_line(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(data)
        except OSError as exc:
            raise TransportClosed(f"agent connection lost: {exc.strerror or exc}") from None
        finally:
            self.sock.setblocking(False)

    def read_line(self, deadline: float) -> bytes:
        while True:
            line = self.lines.take()
            if line is not None:
                return line
            _wait_readable(self.sock.fileno(), deadline)
            try:
                chunk = self.sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise TransportClosed(f"agent connection lost: {exc.strerror or exc}") from None
            if not chunk:
                raise TransportClosed("the agent closed the connection")
            self.lines.buffer += chunk

    def close(self) -> None:
        self.sock.close()


class PipeTransport:
    """An agent started as a subprocess (`agent --stdio`), spoken to over its stdin/stdout.

    Used for an agent run through `ip netns exec` or any local wrapper; the SSH transport is the
    same idea over a channel.
    """

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None,
                 cwd: str | None = None, stderr_path: str | None = None) -> None:
        self.stderr_path = stderr_path
        err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, env=env, cwd=cwd)
        finally:
            if stderr_path:
                err.close()  # type: ignore[union-attr]
        if self.proc.stdin is None or self.proc.stdout is None:  # Popen with PIPE sets both
            raise TransportClosed("agent process has no stdio pipes")
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.lines = LineReader()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send_line(self, data: bytes) -> None:
        try:
            self.stdin.write(data)
            self.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise TransportClosed(f"agent process exited (rc={self.proc.poll()}): {exc}") from None

    def read_line(self, deadline: float) -> bytes:
        fd = self.stdout.fileno()
        while True:
            line = self.lines.take()
            if line is not None:
                return line
            _wait_readable(fd, deadline)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise TransportClosed(f"agent process exited (rc={self.proc.poll()})")
            self.lines.buffer += chunk

    def close(self, timeout: float = 5.0) -> None:
        """Close stdin (the agent exits on EOF), then wait; kill by PID if it does not."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()
