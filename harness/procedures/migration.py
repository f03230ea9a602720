"""F01: move a management VMkernel NIC to another port group without losing the host.

In the field, moving the management vmk and its uplinks from a standard to a distributed switch
hung and vCenter lost the host; only a reboot helped. The procedure here does what the
workaround learned the hard way:

1. check first (nothing changes when a check fails): vCenter's network rollback is on, the
   host is connected, the target port group carries the vmk's VLAN and has an active or
   standby uplink on this host whose switch port carries that VLAN;
2. move one thing (the vmk), then verify management before going on: vCenter still reports
   the host connected and, when a reachability probe is given, the vmk's address answers;
3. on loss, move it back, and say so; if vCenter has lost the host, say how to recover at the
   console, because nothing can be undone through vCenter any more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from harness.checks.finding import Finding
from harness.checks.vsphere import check_management_paths, management_uplinks
from harness.drivers.vsphere import VsphereDriver, VsphereError
from harness.drivers.vsphere.errors import VsphereHostUnreachableError
from harness.facts.vsphere import DvPortFacts, Snapshot, VmknicFacts
from harness.lab.model import Lab
from harness.lab.views import uplink_carriage

Outcome = Literal["moved", "refused", "rolled back", "host lost"]
Reachable = Callable[[str], bool]  # vmk address -> answers?


@dataclass
class MigrationReport:
    """What the procedure checked and did, step by step."""

    host: str
    device: str
    source: str
    target: str
    outcome: Outcome = "refused"
    findings: list[Finding] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"{self.host}/{self.device}: {self.source} -> {self.target}: {self.outcome}"]
        lines += [f"  {s}" for s in self.steps]
        lines += [f.text() for f in self.findings]
        return "\n".join(lines)


def _target_problems(lab: Lab, snapshot: Snapshot, host: str, vmk: VmknicFacts,
                     target: str) -> tuple[list[str], int | None]:
    """Why the target cannot carry this vmk's management traffic on this host."""
    facts = snapshot.hosts[host]
    _, vlan = management_uplinks(snapshot, facts, vmk)
    carried = uplink_carriage(lab).get(host, {})
    if target in facts.port_groups:
        probe = VmknicFacts(vmk.device, target, None, vmk.ip, vmk.dhcp, vmk.mac, vmk.mtu,
                            vmk.netstack, vmk.services)
    else:
        dvpg = next((p for p in snapshot.dv_port_groups.values() if p.name == target), None)
        dvs = next((d for d in snapshot.dvs.values() if dvpg and d.name == dvpg.dvs), None)
        if dvpg is None or dvs is None:
            return [f"no port group {target!r} on {host} and no DV port group of that name"], vlan
        probe = VmknicFacts(vmk.device, None, DvPortFacts(dvs.uuid, dvpg.key, None), vmk.ip,
                            vmk.dhcp, vmk.mac, vmk.mtu, vmk.netstack, vmk.services)
    uplinks, target_vlan = management_uplinks(snapshot, facts, probe)
    problems = []
    if target_vlan != vlan:
        problems.append(f"{target} is on VLAN {target_vlan}, {vmk.device} needs VLAN {vlan}")
    working = [u for u in uplinks if vlan is not None and vlan in carried.get(u, [])]
    if not working:
        problems.append(f"{target} has no active or standby uplink on {host} whose switch port "
                        f"carries VLAN {vlan} (uplinks there: {uplinks or 'none'})")
    return problems, vlan


def _port_group_name(snapshot: Snapshot, vmk: VmknicFacts) -> str:
    if vmk.port_group is not None:
        return vmk.port_group
    key = vmk.dvs_port.portgroup_key if vmk.dvs_port else None
    return next((p.name for p in snapshot.dv_port_groups.values() if p.key == key), "?")


def _where_now(driver: VsphereDriver, report: MigrationReport, what: str) -> MigrationReport:
    """After an unclear failure, report where vCenter says the vmk is now."""
    try:
        snapshot = driver.snapshot()
    except VsphereError as exc:
        report.outcome = "host lost"
        report.steps.append(f"{what}, and vCenter cannot be read ({exc.reason}): check "
                            f"{report.host} at its console")
        return report
    facts = snapshot.hosts.get(report.host)
    vmk = facts.vmknics.get(report.device) if facts else None
    if facts is None or facts.connection_state != "connected" or vmk is None:
        report.outcome = "host lost"
        report.steps.append(f"{what}; vCenter now reports {report.host} "
                            f"{facts.connection_state if facts else 'missing'}: recover at the "
                            "console (DCUI > Network Restore Options), then reconnect it")
        return report
    where = _port_group_name(snapshot, vmk)
    report.outcome = "moved" if where == report.target else "rolled back"  # "moved": unverified
    report.steps.append(f"{what}; vCenter reports {report.device} on {where}")
    return report


def migrate_management_vmk(driver: VsphereDriver, lab: Lab, host: str, device: str,
                           target: str, *, reachable: Reachable | None = None,
                           allow_disruptive: bool | None = None) -> MigrationReport:
    """Move one management vmk to `target` (a standard or DV port group), guarded as above.

    Raises:
        DisruptiveOperationRefused: without allow_disruptive (before anything is read).
    """
    driver.guard(f"{host}: migrate {device} to {target}", allow_disruptive)
    snapshot = driver.snapshot()
    facts = snapshot.hosts.get(host)
    vmk = facts.vmknics.get(device) if facts else None
    source = _port_group_name(snapshot, vmk) if vmk else "?"
    report = MigrationReport(host, device, source, target)
    if facts is None or vmk is None:
        report.steps.append(f"refused: vCenter reports no {host}/{device}")
        return report
    # 1. checks
    rollback = driver.network_rollback()
    report.findings = [f for f in check_management_paths(lab, snapshot, rollback)
                       if f.subject in ("vcenter", host) and f.severity == "error"]
    problems, _ = _target_problems(lab, snapshot, host, vmk, target)
    if report.findings or problems:
        report.steps += [f"refused: {p}" for p in problems]
        report.steps += [f"refused: {f.message}" for f in report.findings]
        return report
    report.steps.append("checks passed: network rollback "
                        + ("on" if rollback else "not reported by vCenter (assumed on)")
                        + ", host connected, target carries the VLAN on a working uplink")
    # 2. one move, then verify
    address = str(vmk.ip.ip) if vmk.ip is not None else None
    try:
        driver.migrate_vmknic(host, device, target, allow_disruptive=True)
    except VsphereHostUnreachableError as exc:
        report.outcome = "host lost"
        report.steps.append(f"moved, and vCenter lost the host: {exc.reason}; recover at the "
                            "console (DCUI > Network Restore Options), then reconnect it")
        return report
    except VsphereError as exc:
        if (exc.fault or "").rsplit(".", 1)[-1] == "NetworkDisruptedAndConfigRolledBack":
            report.outcome = "rolled back"
            report.steps.append(f"vCenter undid the move ({exc.fault}); {device} stays on "
                                f"{source}")
            return report
        # anything else (a timeout, a dropped connection): do not guess, look; if it did land
        # on the target, management is verified below like after any move
        _where_now(driver, report, f"the move failed ({exc.reason})")
        if report.outcome != "moved":
            return report
    else:
        report.steps.append(f"moved {device} to {target}; vCenter still reports {host} "
                            "connected")
    if reachable is None or address is None or reachable(address):
        report.outcome = "moved"
        if reachable is not None and address is not None:
            report.steps.append(f"{address} answers on {target}")
        return report
    # 3. lost on the wire: move it back
    report.steps.append(f"{address} does not answer on {target}: moving it back")
    try:
        driver.migrate_vmknic(host, device, source, allow_disruptive=True)
    except VsphereError as exc:
        report.outcome = "host lost"
        report.steps.append(f"moving it back failed ({exc.reason}): recover at the console")
        return report
    report.outcome = "rolled back"
    report.steps.append(f"{device} is back on {source}" + (
        f" and {address} answers" if reachable(address) else f"; {address} still silent"))
    return report
