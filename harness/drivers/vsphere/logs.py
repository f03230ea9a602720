"""A host's logs through vCenter's DiagnosticManager, as `govc logs -host H -log KEY` reads them.

vCenter keys logs per host: `QueryDescriptions(host)` lists what the host offers (`hostd`,
`vmkernel`, `vmksummary`, ...) and `BrowseDiagnosticLog(host, key, start, lines)` returns a
segment, `lineStart`/`lineEnd` being its first and last line (1-based). Without `host` vCenter
answers with its own logs, so the host is always passed. A start past the end returns no lines
and the log's last line as `lineEnd`: that is how the tail is found, then read in pages (vCenter
returns at most 500 lines a call, a host 1,000).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import VsphereError
from harness.drivers.vsphere.vmomi import vim
from harness.facts.esxlog import HostLog, HostLogs

PAGE = 500  # vCenter's own limit per BrowseDiagnosticLog
TAIL_LINES = 2000  # enough for days of vmksummary and the hostd lines around a reboot
LAST_LINE = 2**31 - 1  # a start past any log's end: the answer's lineEnd is the last line


def read_host_logs(conn: VsphereConnection, host: str, moref: str, keys: Sequence[str],
                   tail: int = TAIL_LINES) -> HostLogs:
    """The last `tail` lines of each of `keys` on one host; a key the host does not offer, or
    whose read fails with a fault, is in `missing` with the reason (never raised).

    Raises:
        VsphereError: QueryDescriptions itself failed (the host or vCenter cannot list logs).
    """
    manager = conn.content.diagnosticManager
    if manager is None:
        return HostLogs(host, {}, {k: "this vCenter has no DiagnosticManager" for k in keys})
    host_mo = vim.HostSystem(moref, conn.stub)
    offered = {d.key for d in conn.call(f"{host}: QueryDescriptions",
                                        lambda: manager.QueryDescriptions(host=host_mo)) or []}
    logs: dict[str, HostLog] = {}
    missing: dict[str, str] = {}
    for key in keys:
        if key not in offered:
            missing[key] = (f"the host offers no {key!r} log (it offers "
                            f"{', '.join(sorted(offered)) or 'none'})")
            continue
        try:
            logs[key] = _tail(conn, manager, host, host_mo, key, tail)
        except VsphereError as exc:
            missing[key] = str(exc)
    return HostLogs(host, logs, missing)


def _browse(conn: VsphereConnection, manager: Any, host: str, host_mo: Any, key: str,
            start: int, lines: int) -> Any:
    return conn.call(f"{host}: BrowseDiagnosticLog {key} from line {start}",
                     lambda: manager.BrowseDiagnosticLog(host=host_mo, key=key, start=start,
                                                         lines=lines))


def _tail(conn: VsphereConnection, manager: Any, host: str, host_mo: Any, key: str,
          tail: int) -> HostLog:
    end = int(_browse(conn, manager, host, host_mo, key, LAST_LINE, 1).lineEnd)
    first = max(1, end - tail + 1)
    text: list[str] = []
    start = first
    while start <= end:
        seg = _browse(conn, manager, host, host_mo, key, start, min(PAGE, end - start + 1))
        got = list(seg.lineText or [])
        if not got:
            break  # the log was rotated under us: keep what was read
        text.extend(got)
        start = int(seg.lineStart) + len(got)
    return HostLog(key, first, first + len(text) - 1, tuple(text))
