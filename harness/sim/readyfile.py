"""Start a simulator process that announces itself with a ready file, and end it by its PID.

The simulated vCenter and the iLO emulator both write a one-line JSON file once they serve; the
caller waits for it (or for the process to die, with the tail of its log) and later ends the
process with SIGTERM, then SIGKILL, by the PID it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

LOG_TAIL_LINES = 40


class ReadyTimeout(Exception):
    """The process did not write its ready file in time (it has been ended)."""


class ExitedEarly(Exception):
    """The process exited before writing its ready file; `returncode` says how."""

    def __init__(self, returncode: int) -> None:
        self.returncode = returncode
        super().__init__(f"exited with {returncode} before serving")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def write_spec(path: Path, spec: Any) -> None:
    """Write a simulator's spec as JSON, readable by root only (it holds credentials), never
    through a file someone else made in its place."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)


async def announce_and_wait(ready_file: Path, info: Mapping[str, Any]) -> None:
    """In the simulator: write the one-line ready file atomically (pid plus `info`), then
    wait for SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **info}) + "\n", encoding="utf-8")
    tmp.replace(ready_file)
    await stop.wait()


def start_and_wait(argv: Sequence[str], ready_file: Path, log_file: Path, timeout: float, *,
                   env: Mapping[str, str] | None = None, netns: str | None = None
                   ) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start `argv` (inside `netns` if given) and return it with its parsed ready file.

    Raises:
        ExitedEarly, ReadyTimeout: see the log file for why.
    """
    ready_file.unlink(missing_ok=True)
    full = list(argv)
    if netns is not None:
        # `ip netns exec` execs the command after setns, so the PID stays the simulator's.
        full = ["ip", "netns", "exec", netns, *full]
    with log_file.open("wb") as log:
        # in a namespace it is a sim daemon: its own session, so it outlives `sim up`
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=dict(env) if env is not None else None,
                                start_new_session=netns is not None)
    deadline = time.monotonic() + timeout
    try:
        while not ready_file.exists():
            if proc.poll() is not None:
                raise ExitedEarly(proc.returncode)
            if time.monotonic() > deadline:
                raise ReadyTimeout(f"not ready within {timeout:.0f} s")
            time.sleep(0.02)
        return proc, json.loads(ready_file.read_text(encoding="utf-8"))
    except BaseException:
        # not ready (or Ctrl-C while waiting): nobody else knows this PID yet, so end it here
        end(proc, 5.0)
        raise


def end(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM by PID, SIGKILL after `timeout`, and reap."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


class ProcessHandle:
    """What a started simulator offers once it serves: stop by PID, running, `with`.

    Subclasses are dataclasses with a `_proc` field (the Popen that `start_and_wait` returned).
    """

    _proc: subprocess.Popen[bytes]

    def stop(self, timeout: float = 10.0) -> None:
        """End the process by its PID (SIGTERM, then SIGKILL after `timeout`) and reap it."""
        end(self._proc, timeout)

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
