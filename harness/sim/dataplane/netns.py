"""Enter network namespaces from this process, and run commands in them.

`ip netns exec` costs a fork, a mount namespace and a /sys remount per call; for sysctls and
nftables we enter the namespace with setns(2) on the calling thread instead (Python 3.11 has no
os.setns). Children started inside the `entered` block inherit the namespace.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from harness.sim.errors import SimError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(SimError):
    """A namespace operation or a command run in a namespace failed."""

    def __init__(self, message: str, *, ns: str = "", argv: Sequence[str] = (),
                 rc: int | None = None, stderr: str = "") -> None:
        self.ns, self.argv, self.rc, self.stderr = ns, list(argv), rc, stderr
        detail = f" (rc={rc}): {stderr.strip()}" if rc is not None else ""
        super().__init__(f"{message}{detail}")


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)}")


@contextmanager
def entered(ns: str) -> Iterator[None]:
    """Run the block (on this thread) inside network namespace `ns`; an empty name is root."""
    if not ns:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        except FileNotFoundError:
            raise NetnsError(f"no network namespace {ns}", ns=ns) from None
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def write_sysctls(ns: str, values: Sequence[tuple[str, str]]) -> None:
    """Set sysctls of namespace `ns` (net.* sysctls are per namespace)."""
    with entered(ns):
        for key, value in values:
            path = "/proc/sys/" + key.replace(".", "/")
            try:
                with open(path, "w", encoding="ascii") as f:
                    f.write(value)
            except OSError as exc:
                raise NetnsError(f"{ns}: cannot set {key}={value}: {exc.strerror}", ns=ns) from None


def run(argv: Sequence[str], *, ns: str = "", stdin: str | None = None,
        check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a command inside `ns` (root namespace if empty) and return its output.

    Raises:
        NetnsError: the command failed (with argv, rc and stderr) and `check` is set.
    """
    with entered(ns):
        result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                                timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(argv[:3])} failed in {ns or 'root namespace'}", ns=ns,
                         argv=argv, rc=result.returncode, stderr=result.stderr)
    return result


def list_netns() -> list[str]:
    """Names of the network namespaces in /run/netns."""
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []
