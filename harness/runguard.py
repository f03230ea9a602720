"""SIGINT and SIGTERM during a run: end within seconds, clean up, say so, whatever is blocked.

The first signal raises KeyboardInterrupt in the main thread, so pytest stops between tests,
runs its fixture teardowns and writes its reports. That is not enough on its own: the main
thread may be waiting for worker threads that are blocked in a socket read (a vCenter that
stopped answering), and a Python signal handler cannot interrupt another thread. So the first
signal also arms a watchdog: if the run has not finished `grace_s` later, the watchdog runs the
cleanup itself (tear the simulated lab down, write the reports marked interrupted) and ends the
process with 128 + the signal number. A second signal goes there at once.

Cleanup runs once, whichever path gets there first.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType

GRACE_S = 10.0  # well inside the 15 s a CI runner waits between SIGTERM and SIGKILL
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunGuard:
    """`with RunGuard(cleanup) as guard:` around a run; `guard.signum` is the signal that ended
    it (None when none did). `cleanup(signum)` is called at most once: by `guard.cleanup()` on
    the normal path, or by the watchdog."""

    def __init__(self, cleanup: Callable[[int | None], None], *,
                 grace_s: float = GRACE_S) -> None:
        self._cleanup = cleanup
        self.grace_s = grace_s
        self.signum: int | None = None
        self._once = threading.Lock()
        self._cleaned = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> RunGuard:
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum

    def cleanup(self) -> None:
        """Run the cleanup unless the watchdog already did (or is doing it now)."""
        with self._once:
            if self._cleaned:
                return
            self._cleaned = True
            self._cleanup(self.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: no more waiting
            self._hard_exit()
        self.signum = signum
        watchdog = threading.Timer(self.grace_s, self._hard_exit)
        watchdog.daemon = True
        watchdog.start()
        raise KeyboardInterrupt

    def _hard_exit(self) -> None:
        code = self.exit_code or 128 + signal.SIGTERM
        try:
            self.cleanup()
        except BaseException as exc:  # the process ends now whatever happens
            sys.stderr.write(f"labharness: cleanup after signal failed: {exc}\n")
        finally:
            sys.stderr.flush()
            os._exit(code)
