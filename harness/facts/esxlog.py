"""An ESXi host's own logs as read through vCenter, and why the host last rebooted (F06).

The logs come from `DiagnosticManager.BrowseDiagnosticLog` (keys `vmksummary`, `hostd`,
`vmkernel`); this module only parses the lines, it never fetches. What the lines mean follows
VMware's KB 317245 ("Determining why an ESXi host was powered off or restarted") and KB 2004566
(the vmksummary format):

- vmksummary: `bootstop[pid]: Host is rebooting` / `Host is halting` / `Host is powering off`
  before a `Host has booted` is a user-initiated stop (CLI, UI, DCUI, IPMI); `bootstop: ... core
  dump` after a boot is a PSOD's dump found; a boot with no stop entry since the last hourly
  `heartbeat` is a stop ESXi never saw (power loss, hardware);
- vmkernel: `@BlueScreen: <why>` is the PSOD itself (in the dump's log and, on some builds, the
  persistent vmkernel log); `VMKAcpi: ... Power button pressed` is an out-of-band (iLO/iDRAC)
  graceful shutdown;
- hostd says who asked: the DCUI's own event (`esx.audit.dcui.host.reboot`, "The host is being
  rebooted through the Direct Console User Interface (DCUI)."), a reboot task over the API
  (`vim.HostSystem.reboot`, with `user=vpxuser` when vCenter sent it), or esxcli/the shell
  (`esxcli system shutdown reboot`, `esx.audit.hostd.host.reboot.reason`).

ESXi 6.x/7.0 write `<ts> info hostd[pid] [Originator@6876 sub=...] text`, 7.0 U2+ and 8.x
`<ts> In(166) Hostd[pid]: [Originator@6876 sub=...] text`; vmksummary lines on 5.x-6.x have
`bootstop:` and on 7.x/8.x `bootstop[pid]:`. Only the leading ISO time and the text matter here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

LOG_KEYS = ("vmksummary", "hostd", "vmkernel")
"""The logs the reboot reason is read from, in the order they are consulted."""

RebootKind = Literal["dcui", "shell", "api", "vcenter", "user", "oob", "psod", "power-loss"]

REASONS: dict[RebootKind, str] = {
    "dcui": "rebooted from the DCUI (the host's console)",
    "shell": "rebooted from the ESXi Shell or esxcli (`esxcli system shutdown reboot`)",
    "vcenter": "rebooted through vCenter (a RebootHost task, e.g. the vSphere Client or "
               "PowerCLI Restart-VMHost)",
    "api": "rebooted through the host's own API (a RebootHost task sent to the host directly)",
    "user": "a user-initiated reboot (hostd does not say whether from the DCUI, the shell or "
            "the API)",
    "oob": "shut down from out-of-band management (ACPI power button: iLO/iDRAC/IPMI)",
    "psod": "crashed with a purple diagnostic screen (PSOD) and restarted",
    "power-loss": "lost power or reset in hardware: it booted with no shutdown entry before "
                  "it (ESXi never saw the stop)",
}
"""What each kind of reboot means, in an engineer's words."""

# the leading time of every ESXi log line (`2025-09-18T04:25:00.360Z`, older lines without ms)
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:?\d\d)?\s")
_BOOTED = re.compile(r"\bHost has booted\b")
_STOPPING = re.compile(r"\bbootstop(?:\[\d+\])?:\s*Host is (rebooting|halting|powering off)")
_HEARTBEAT = re.compile(r"\bheartbeat(?:\[\d+\])?:\s*up\b")
_COREDUMP = re.compile(r"\bbootstop(?:\[\d+\])?:.*\bcore\s*dump|vmkernel-zdump", re.I)
_BLUESCREEN = re.compile(r"@BlueScreen:\s*(.*)")
_ACPI_POWER = re.compile(r"VMKAcpi:.*Power button pressed")
_DCUI = re.compile(r"esx\.audit\.dcui\.host\.(reboot|shutdown)|rebooted through the Direct "
                   r"Console User Interface|\bDCUI\b.*\breboot", re.I)
_SHELL = re.compile(r"esxcli system shutdown reboot|esx\.audit\.hostd\.host\.reboot\.reason|"
                    r"\bshell\[\d+\]:.*\breboot\b", re.I)
_API_TASK = re.compile(r"vim\.HostSystem\.(reboot|shutdown)|RebootHost_Task|ShutdownHost_Task")
_TASK_USER = re.compile(r"\buser=([^\]\s]+)")
_HOSTD_REQUEST = re.compile(r"Shutdown/reboot requested", re.I)


@dataclass(frozen=True)
class HostLog:
    """One segment of one host log, as BrowseDiagnosticLog returned it.

    Attributes:
        line_start, line_end: the segment's first and last line numbers in the log (1-based).
    """

    key: str
    line_start: int
    line_end: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class HostLogs:
    """What a host's logs held when read, and which logs it could not give.

    Attributes:
        missing: log key -> why it could not be read (not offered by the host, a fault).
    """

    host: str
    logs: Mapping[str, HostLog] = field(default_factory=dict)
    missing: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LogLine:
    """A log line with its time and where it is (`vmksummary:1234`)."""

    at: datetime
    key: str
    number: int
    text: str

    @property
    def cited(self) -> str:
        return f"{self.key}:{self.number}: {self.text}"


@dataclass(frozen=True)
class RebootReason:
    """Why a host rebooted, as its own logs tell it.

    Attributes:
        stopped_at: when the stop began (the `bootstop` entry, the PSOD, the DCUI request);
            None when ESXi logged no stop (power loss).
        booted_at: the `Host has booted` entry that matches the boot time vCenter reports.
        evidence: the log lines the reason rests on, cited `key:line: text`.
    """

    kind: RebootKind
    stopped_at: datetime | None
    booted_at: datetime | None
    by: str | None = None  # the user hostd names for an API task
    evidence: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        said = REASONS[self.kind]
        return f"{said} (by {self.by})" if self.by else said


def line_time(text: str) -> datetime | None:
    """The time an ESXi log line starts with (UTC), or None for a continuation line."""
    m = _TS.match(text)
    if m is None:
        return None
    stamp, zone = m.group(1), m.group(2) or "Z"
    try:
        when = datetime.fromisoformat(stamp + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return when.astimezone(UTC)


def timed_lines(log: HostLog) -> list[LogLine]:
    """The log's lines that carry a time, numbered as in the log."""
    out = []
    for i, text in enumerate(log.lines):
        at = line_time(text)
        if at is not None:
            out.append(LogLine(at, log.key, log.line_start + i, text.rstrip()))
    return out


# how far the `Host has booted` entry may lie from runtime.bootTime: hostd comes up (and
# vmksummary is written) a minute or two after the kernel starts
BOOT_MATCH = timedelta(minutes=15)


def reboot_reason(logs: HostLogs, booted: datetime, since: datetime | None = None
                  ) -> RebootReason | None:
    """Why the host booted at `booted` (runtime.bootTime), from its logs; None when the logs
    hold no boot entry near that time (rotated away, or not these logs).

    Args:
        since: the boot before it (the previous run's boot time): entries before it belong to an
            earlier life of the host and are not read.
    """
    summary = timed_lines(logs.logs["vmksummary"]) if "vmksummary" in logs.logs else []
    boots = [ln for ln in summary if _BOOTED.search(ln.text)
             and abs(ln.at - booted) <= BOOT_MATCH]
    if not boots:
        return None
    boot = min(boots, key=lambda ln: abs(ln.at - booted))
    floor = since if since is not None else datetime.min.replace(tzinfo=UTC)
    # this life of the host: from the boot (or heartbeat) before this one up to this boot
    before = [ln for ln in summary if floor < ln.at <= boot.at and ln.number < boot.number]
    earlier_boots = [ln for ln in before if _BOOTED.search(ln.text)]
    if earlier_boots:
        before = [ln for ln in before if ln.number > earlier_boots[-1].number]
    after = [ln for ln in summary if ln.number > boot.number and ln.at <= boot.at + BOOT_MATCH]
    kernel = timed_lines(logs.logs["vmkernel"]) if "vmkernel" in logs.logs else []
    hostd = timed_lines(logs.logs["hostd"]) if "hostd" in logs.logs else []
    window_start = before[0].at if before else floor
    in_window = [ln for ln in (*kernel, *hostd) if window_start <= ln.at <= boot.at]

    stops = [ln for ln in before if _STOPPING.search(ln.text)]
    screens = [ln for ln in (*kernel, *after, *before) if _BLUESCREEN.search(ln.text)
               and window_start <= ln.at <= boot.at + BOOT_MATCH]
    dumps = [ln for ln in after if _COREDUMP.search(ln.text)]
    if screens or (dumps and not stops):
        cited = [*screens[:1], *dumps[:1], boot]
        return RebootReason("psod", screens[0].at if screens else None, boot.at,
                            evidence=tuple(ln.cited for ln in cited))
    if stops:
        stop = stops[-1]
        kind, by, why = _who(in_window, stop.at)
        return RebootReason(kind, (why or stop).at, boot.at, by,
                            tuple(ln.cited for ln in (*([why] if why else []), stop, boot)))
    acpi = [ln for ln in in_window if _ACPI_POWER.search(ln.text)]
    if acpi:
        return RebootReason("oob", acpi[-1].at, boot.at,
                            evidence=(acpi[-1].cited, boot.cited))
    last = before[-1] if before else None
    return RebootReason("power-loss", None, boot.at,
                        evidence=tuple(ln.cited for ln in ((last, boot) if last else (boot,))))


# a request a minute or so before the stop belongs to it (hostd asks, then the host stops)
REQUEST_WINDOW = timedelta(minutes=30)


def _who(lines: Iterable[LogLine], stop: datetime
         ) -> tuple[RebootKind, str | None, LogLine | None]:
    """Who asked for the stop at `stop`: the DCUI, the shell/esxcli, or an API task (vCenter's
    `vpxuser` or another user); the line that says so."""
    near = [ln for ln in lines if stop - REQUEST_WINDOW <= ln.at <= stop]
    for ln in reversed(near):
        if _DCUI.search(ln.text):
            return "dcui", None, ln
    for ln in reversed(near):
        if _SHELL.search(ln.text):
            return "shell", None, ln
    for ln in reversed(near):
        if _API_TASK.search(ln.text):
            m = _TASK_USER.search(ln.text)
            user = m.group(1) if m else None
            if user is not None and user.startswith("vpxuser"):
                return "vcenter", None, ln
            return "api", user, ln
    for ln in reversed(near):
        if _HOSTD_REQUEST.search(ln.text):
            return "user", None, ln
    return "user", None, None
