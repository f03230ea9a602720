"""The simulated hosts' own logs, written where lh-vcsim's DiagnosticManager serves them from.

Each host gets vmksummary.log, hostd.log and vmkernel.log in one directory, in the formats
ESXi 8.0 writes (see harness.facts.esxlog for the sources): the boot the host's
runtime.bootTime reports and the hourly heartbeats since, and for a host a scenario rebooted
(F06), the life before that boot and the entries the reboot left, as a DCUI reboot leaves them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

LOG_FILES = ("vmksummary", "hostd", "vmkernel")


@dataclass(frozen=True)
class Reboot:
    """A reboot from the host's console (DCUI) the sim stages: the host booted at `booted`
    after one asked for at `requested`."""

    requested: datetime
    booted: datetime


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _uptime(delta: timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 86400}d{s % 86400 // 3600}h{s % 3600 // 60}m{s % 60}s"


def _life(booted: datetime, until: datetime, pid: int) -> tuple[list[str], list[str], list[str]]:
    """One boot of a host and its hourly heartbeats up to `until` (at most a day's worth:
    the sim's hosts have been up for months)."""
    summary = [f"{_ts(booted + timedelta(seconds=70))} bootstop[{pid}]: Host has booted"]
    hostd = [f"{_ts(booted + timedelta(seconds=48))} In(166) Hostd[{pid + 1}]: "
             "[Originator@6876 sub=Default] Supported VMs 1024",
             f"{_ts(booted + timedelta(seconds=71))} In(166) Hostd[{pid + 1}]: "
             "[Originator@6876 sub=Vimsvc.ha-eventmgr] Event 1 : Host has booted."]
    kernel = [f"{_ts(booted + timedelta(seconds=2))} cpu0:1)Boot Successful"]
    hour = booted.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hour = max(hour, until.replace(minute=0, second=0, microsecond=0) - timedelta(hours=24))
    while hour < until:
        summary.append(f"{_ts(hour)} heartbeat[{pid + 7}]: up {_uptime(hour - booted)}, 0 VMs; "
                       f"[[{pid + 1} hostd 48212kB] [{pid + 9} vpxa 21344kB]] []")
        hour += timedelta(hours=1)
    return summary, hostd, kernel


def write_host_logs(directory: Path, booted: datetime, now: datetime,
                    reboot: tuple[datetime, Reboot] | None = None) -> None:
    """Write one host's logs into `directory` (replacing earlier ones).

    Args:
        booted: the boot runtime.bootTime reports.
        reboot: (the boot before, the DCUI reboot that ended it) for a host a scenario rebooted.
    """
    directory.mkdir(parents=True, exist_ok=True)
    summary: list[str] = []
    hostd: list[str] = []
    kernel: list[str] = []
    if reboot is not None:
        before, r = reboot
        s, h, k = _life(before, r.requested, 2097152)
        t = r.requested
        h += [f"{_ts(t)} In(166) Hostd[2097153]: [Originator@6876 sub=Vimsvc.ha-eventmgr] "
              "Event 4711 : The host is being rebooted through the Direct Console User "
              "Interface (DCUI).",
              f"{_ts(t + timedelta(seconds=1))} In(166) Hostd[2097153]: [Originator@6876 "
              "sub=Hostsvc] Shutdown/reboot requested"]
        s.append(f"{_ts(t + timedelta(seconds=2))} bootstop[2100001]: Host is rebooting")
        summary, hostd, kernel = s, h, k
    s, h, k = _life(booted, now, 2098000)
    for name, lines in (("vmksummary", summary + s), ("hostd", hostd + h),
                        ("vmkernel", kernel + k)):
        (directory / f"{name}.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
