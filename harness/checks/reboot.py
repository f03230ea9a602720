"""F06: a host that rebooted since the last run, with when and why from its own logs.

In the field a host rebooted and the cause (someone at the DCUI) was only found by grepping an
exported log bundle. Here the boot time vCenter reports (runtime.bootTime) is compared with the
one the last run of the same lab read, and for a host that booted since, the reason is read from
the host's vmksummary, hostd and vmkernel logs (harness.facts.esxlog). Pure: the caller passes
the boot times and the logs it read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from harness.checks.finding import Finding
from harness.facts import JsonValue
from harness.facts.esxlog import HostLogs, RebootKind, RebootReason, reboot_reason

CHECK = "reboot-cause"

# runtime.bootTime is stable to the second across reads; more than this is a new boot
SAME_BOOT = timedelta(seconds=60)

FIXES: dict[RebootKind, str] = {
    "dcui": "find who was at the console (the iLO/iDRAC remote console or in the room) and "
            "why; restrict DCUI access (lockdown mode, DCUI.Access) if reboots need a change "
            "ticket",
    "shell": "find who had the ESXi Shell/SSH open (shell.log, auth.log) and why; keep SSH "
             "and the shell off outside maintenance",
    "vcenter": "read vCenter's events and tasks for the host (who ran Reboot) and tie it to a "
               "change",
    "api": "find which tool or user called RebootHost on the host directly (hostd.log opID, "
           "user) and why",
    "user": "read shell.log, hostd.log and vCenter's tasks around the time to find who asked",
    "oob": "read the BMC's event log (iLO IML/IEL, iDRAC Lifecycle log) for who pressed the "
           "virtual power button",
    "psod": "collect the core dump (/var/core/vmkernel-zdump.*, `esxcfg-dumppart`), read the "
            "@BlueScreen backtrace and open a case with VMware or the hardware vendor",
    "power-loss": "read the BMC's event log (iLO IML, power supplies, temperature) and the "
                  "rack's PDU/UPS logs for the time of the boot",
}


def rebooted(booted: datetime | None, previous: datetime | None) -> bool:
    """The host booted since the previous reading (a later boot time; an earlier one is no
    reboot: that reading was of another realisation of the lab, or the host's clock was reset).
    """
    return booted is not None and previous is not None and booted - previous > SAME_BOOT


def _at(when: datetime | None) -> str:
    return "an unknown time" if when is None else f"{when:%Y-%m-%d %H:%M:%S} UTC"


def check_reboot(host: str, booted: datetime | None, previous: datetime | None,
                 logs: HostLogs | None) -> list[Finding]:
    """A finding when `host` booted since the previous run: when, and why from its logs.

    Args:
        booted: runtime.bootTime now.
        previous: the boot time the last run of this lab read (None: no earlier reading, so
            nothing to compare with).
        logs: the host's logs (None when they were not read).
    """
    if booted is None or previous is None or not rebooted(booted, previous):
        return []
    reason = reboot_reason(logs, booted, previous) if logs is not None else None
    evidence: dict[str, JsonValue] = {
        "boot_time_previous_run": previous.isoformat(timespec="seconds"),
        "boot_time_now": booted.isoformat(timespec="seconds")}
    missing = dict(logs.missing) if logs is not None else {}
    if missing:
        evidence["logs_missing"] = missing
    if reason is None:
        read = sorted(logs.logs) if logs is not None else []
        why = (f"its logs ({', '.join(read)}) hold no boot entry near that time"
               if read else "its logs could not be read")
        return [Finding(
            id="F06", severity="error", subject=host, check=CHECK, source="observed",
            message=f"{host} rebooted since the last run: it booted at {_at(booted)} (the last "
                    f"run saw it booted at {_at(previous)}); the reason is unknown: {why}",
            cause="an unexplained reboot: the logs that would say why are gone (rotated, or "
                  "the host keeps them on a ramdisk without a persistent scratch location)",
            fix="configure persistent logging (Syslog.global.logDir on a datastore, or a "
                "remote syslog) so the next reboot can be explained; read the BMC's event log "
                "for this one",
            evidence=evidence)]
    return [_finding(host, booted, previous, reason, evidence)]


def _finding(host: str, booted: datetime, previous: datetime, reason: RebootReason,
             evidence: dict[str, JsonValue]) -> Finding:
    when = reason.stopped_at or reason.booted_at or booted
    evidence.update({"reason": reason.kind, "rebooted_at": when.isoformat(timespec="seconds"),
                     "log_lines": list(reason.evidence)})
    said = "DCUI" if reason.kind == "dcui" else reason.kind
    return Finding(
        id="F06", severity="error", subject=host, check=CHECK, source="observed",
        message=f"{host} rebooted at {_at(when)} ({said}): {reason.text}; it booted at "
                f"{_at(booted)}, after the last run saw it booted at {_at(previous)}",
        cause=f"{reason.text}, between the last run and this one, as the host's own logs say",
        fix=FIXES[reason.kind], evidence=evidence)
