"""F06 on facts: the ESXi log parser (real vmksummary/hostd/vmkernel line formats of 6.x-8.x)
and the reboot check, without any vCenter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.checks.reboot import check_reboot
from harness.errors import OptionError
from harness.facts.esxlog import HostLog, HostLogs, line_time, reboot_reason
from harness.pytest_plugin.previous import load_previous

BEFORE = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
BOOTED = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)

LIFE = ("2026-01-05T06:01:10.000Z bootstop[2097152]: Host has booted",
        "2026-12-05T16:00:00.360Z heartbeat[2097159]: up 334d10h0m0s, 3 VMs; "
        "[[2097153 hostd 48212kB]] []")
NEW_BOOT = ("2026-12-05T17:01:10.000Z Host has booted",
            "2026-12-05T18:00:00.360Z heartbeat[2098007]: up 0d1h0m0s, 0 VMs; [] []")
DCUI_8X = ("2026-12-05T16:57:00.810Z In(166) Hostd[2097153]: [Originator@6876 "
           "sub=Vimsvc.ha-eventmgr] Event 4711 : The host is being rebooted through the Direct "
           "Console User Interface (DCUI).")
STOP = "2026-12-05T16:57:02.100Z bootstop[2100001]: Host is rebooting"


def logs(summary: tuple[str, ...], hostd: tuple[str, ...] = (),
         vmkernel: tuple[str, ...] = (), missing: dict[str, str] | None = None) -> HostLogs:
    got = {k: HostLog(k, 101, 100 + len(v), v)
           for k, v in (("vmksummary", summary), ("hostd", hostd), ("vmkernel", vmkernel)) if v}
    return HostLogs("esx01", got, missing or {})


def test_line_times_of_every_format() -> None:
    assert line_time(STOP) == datetime(2026, 12, 5, 16, 57, 2, 100000, tzinfo=UTC)
    assert line_time("2011-08-30T04:00:01Z heartbeat: up 0d17h24m17s, 0 VMs; [] []") == \
        datetime(2011, 8, 30, 4, 0, 1, tzinfo=UTC)
    assert line_time("   -->    objectId = \"ha-host\",") is None  # a continuation line


def test_dcui_reboot_is_named_with_its_time() -> None:
    found = check_reboot("esx01", BOOTED, BEFORE, logs((*LIFE, STOP, *NEW_BOOT), (DCUI_8X,)))
    [f] = found
    assert f.id == "F06" and f.subject == "esx01" and f.severity == "error"
    assert "DCUI" in f.message and "2026-12-05 16:57:00 UTC" in f.message
    assert f.evidence["reason"] == "dcui"
    assert any("hostd:101" in line for line in f.evidence["log_lines"])  # type: ignore[union-attr]


def test_6x_hostd_format_and_vcenter_task() -> None:
    task = ("2026-12-05T16:56:58.001Z info hostd[2099617] [Originator@6876 "
            "sub=Vimsvc.TaskManager opID=abc-12 user=vpxuser:VSPHERE.LOCAL\\Administrator] "
            "Task Created : haTask-ha-host-vim.HostSystem.reboot-123456")
    reason = reboot_reason(logs((*LIFE, STOP, *NEW_BOOT), (task,)), BOOTED, BEFORE)
    assert reason is not None and reason.kind == "vcenter"
    direct = task.replace("vpxuser:VSPHERE.LOCAL\\Administrator", "root")
    reason = reboot_reason(logs((*LIFE, STOP, *NEW_BOOT), (direct,)), BOOTED, BEFORE)
    assert reason is not None and (reason.kind, reason.by) == ("api", "root")


def test_shell_reboot() -> None:
    shell = ("2026-12-05T16:56:50.000Z In(166) Hostd[2097153]: [Originator@6876 "
             "sub=Solo.VmwareCLI opID=esxcli-1] Dispatch: esxcli system shutdown reboot -r "
             "patching")
    reason = reboot_reason(logs((*LIFE, STOP, *NEW_BOOT), (shell,)), BOOTED, BEFORE)
    assert reason is not None and reason.kind == "shell"


def test_psod_is_told_from_the_bluescreen_and_the_dump() -> None:
    screen = "2026-12-05T16:40:03.603Z cpu3:47209)@BlueScreen: #PF Exception 14 in world 47209"
    dump = ("2026-12-05T17:01:20.000Z bootstop[2098001]: file core dump to "
            "/var/core/vmkernel-zdump.1")
    [f] = check_reboot("esx01", BOOTED, BEFORE, logs((*LIFE, *NEW_BOOT[:1], dump), (),
                                                     (screen,)))
    assert f.evidence["reason"] == "psod" and "PSOD" in f.message
    # the dump alone, with no user stop before the boot, is a PSOD too
    reason = reboot_reason(logs((*LIFE, *NEW_BOOT[:1], dump)), BOOTED, BEFORE)
    assert reason is not None and reason.kind == "psod"


def test_boot_without_a_shutdown_entry_is_a_power_loss() -> None:
    [f] = check_reboot("esx01", BOOTED, BEFORE, logs((*LIFE, *NEW_BOOT)))
    assert f.evidence["reason"] == "power-loss"
    assert f.evidence["rebooted_at"] == "2026-12-05T17:01:10+00:00"  # when it came back


def test_stops_before_the_previous_boot_are_not_read() -> None:
    # an old user reboot long before the previous run's boot does not explain this one
    old = ("2025-12-01T10:00:00.000Z bootstop[1]: Host is rebooting",)
    reason = reboot_reason(logs((*old, *LIFE, *NEW_BOOT)), BOOTED, BEFORE)
    assert reason is not None and reason.kind == "power-loss"


def test_unchanged_or_no_history_gives_nothing() -> None:
    assert check_reboot("esx01", BEFORE, BEFORE, None) == []
    assert check_reboot("esx01", BOOTED, None, None) == []  # no previous run: no finding
    # a boot time earlier than the last run's is another realisation, not a reboot
    assert check_reboot("esx01", BEFORE, BOOTED, None) == []


def test_missing_logs_still_name_the_reboot() -> None:
    got = HostLogs("esx01", {}, {"vmksummary": "the host offers no 'vmksummary' log (it "
                                               "offers hostd)"})
    [f] = check_reboot("esx01", BOOTED, BEFORE, got)
    assert "reason is unknown" in f.message and f.evidence["logs_missing"]


def test_previous_facts_file(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"vsphere": {"vcenter": {"version": "7.0.3"},
                                            "esx01": {"boot_time": "2026-01-05T06:00:00+00:00"}}}))
    assert load_previous(path).boot_times == {"esx01": BEFORE}
    path.write_text("[1]")
    with pytest.raises(OptionError, match=r"not a facts\.json"):
        load_previous(path)
    with pytest.raises(OptionError, match="earlier run"):
        load_previous(tmp_path / "nope.json")
