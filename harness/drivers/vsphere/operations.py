"""Remediations that change a lab through vCenter; the driver only calls them when allowed.

Each one makes the change, then waits (tasks and property changes, bounded by a timeout) until
vCenter reports the new state, and returns that state as facts: a change is only done when it
is seen. Nothing here retries: a write that failed half-way is reported, not repeated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from harness.drivers.vsphere import mapping
from harness.drivers.vsphere.collector import read_one, wait_all, wait_until
from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import (
    VsphereHostUnreachableError,
    VsphereInvalidRequestError,
    VsphereNotFoundError,
    VsphereTaskError,
    VsphereTimeoutError,
)
from harness.drivers.vsphere.vmomi import vim, vmodl
from harness.facts.vsphere import (
    NTP_RULESET,
    NTP_SERVICE,
    HostManagers,
    PolicyFacts,
    VmknicFacts,
)

PC = vmodl.query.PropertyCollector


@dataclass(frozen=True)
class PolicyPatch:
    """Port group policy fields to set; None leaves a field as it is.

    `active`/`standby` are vmnics on a standard switch and uplink names on a DVS; they are one
    setting (the failover order), so giving either sets both (the other one empty).
    """

    allow_promiscuous: bool | None = None
    mac_changes: bool | None = None
    forged_transmits: bool | None = None
    load_balancing: str | None = None
    active: tuple[str, ...] | None = None
    standby: tuple[str, ...] | None = None
    failure_detection: Literal["link_status", "beacon_probing"] | None = None
    notify_switches: bool | None = None
    failback: bool | None = None

    def satisfied_by(self, policy: PolicyFacts) -> bool:
        """Whether an effective policy already has every field this patch sets."""
        s, t = policy.security, policy.teaming
        wanted: list[tuple[object, object]] = [
            (self.allow_promiscuous, s.allow_promiscuous), (self.mac_changes, s.mac_changes),
            (self.forged_transmits, s.forged_transmits),
            (self.load_balancing, t.load_balancing), (self.notify_switches, t.notify_switches),
            (self.failback, t.failback)]
        if self.failure_detection is not None:
            wanted.append((self.failure_detection == "beacon_probing", bool(t.check_beacon)))
        if self.active is not None or self.standby is not None:
            wanted += [(tuple(self.active or ()), tuple(t.active or ())),
                       (tuple(self.standby or ()), tuple(t.standby or ()))]
        return all(want is None or want == have for want, have in wanted)


@dataclass(frozen=True)
class NtpState:
    """A host's time service as read back after a change."""

    host: str
    servers: tuple[str, ...]
    ntpd_running: bool
    ntpd_policy: str
    firewall_enabled: bool


# ---------------------------------------------------------------------------------------------
# tasks


@dataclass(frozen=True)
class TaskOutcome:
    """How one vCenter task ended: `result` on success, `fault` (its vSphere fault) on error."""

    task: str  # managed-object id
    succeeded: bool
    result: Any = None
    fault: Any = None

    @property
    def fault_text(self) -> str:
        """`ResourceInUse: the resource is in use` (fault type and message)."""
        return _fault_words(self.fault) if self.fault is not None else "failed"


def _fault_words(fault: Any) -> str:
    name = getattr(fault, "_wsdlName", None) or type(fault).__name__
    message = getattr(fault, "msg", None)
    return f"{name}: {message}" if message else str(name)


def wait_tasks(conn: VsphereConnection, tasks: Sequence[Any], timeout: float,
               step: str) -> list[TaskOutcome]:
    """Wait for several vCenter tasks at once (one filter); their outcomes in order.

    Raises:
        VsphereTimeoutError: some task was not finished after `timeout` seconds.
    """
    if not tasks:
        return []

    def finished(values: Mapping[str, dict[str, Any]]) -> bool:
        return all(v.get("info.state") in ("success", "error") for v in values.values())

    try:
        state = wait_all(conn, tasks, ["info.state", "info.error", "info.result"], finished,
                         timeout, step)
    except VsphereTimeoutError:
        raise VsphereTimeoutError(conn.endpoint, step, f"task(s) "
                                  f"{', '.join(str(t._moId) for t in tasks)} not finished after "
                                  f"{timeout:.0f} s") from None
    return [TaskOutcome(key, state[key].get("info.state") == "success",
                        state[key].get("info.result"), state[key].get("info.error"))
            for key in (str(t._moId) for t in tasks)]


def wait_task(conn: VsphereConnection, task: Any, timeout: float, step: str) -> Any:
    """Wait for a vCenter task; its result, or VsphereTaskError with the task's fault.

    Raises:
        VsphereTimeoutError: the task was not finished after `timeout` seconds.
        VsphereTaskError: the task ended in error.
    """
    (outcome,) = wait_tasks(conn, [task], timeout, step)
    if not outcome.succeeded:
        fault = outcome.fault
        reason = str(getattr(fault, "msg", "") or type(fault).__name__)
        raise VsphereTaskError(conn.endpoint, step, reason, type(fault).__name__)
    return outcome.result


# ---------------------------------------------------------------------------------------------
# NTP


def set_ntp(conn: VsphereConnection, host: str, host_moref: str, managers: HostManagers,
            servers: Sequence[str], timeout: float) -> NtpState:
    """Set the NTP servers, turn the NTP client firewall rule on, set ntpd's policy to on and
    (re)start it so it uses the new servers; wait until vCenter shows all of it."""
    if not servers:
        raise VsphereInvalidRequestError(conn.endpoint, f"{host}: set NTP",
                                         "give at least one NTP server")
    if not (managers.date_time_system and managers.service_system and managers.firewall_system):
        raise VsphereNotFoundError(conn.endpoint, f"{host}: set NTP",
                                   "the host has no dateTimeSystem, serviceSystem or "
                                   "firewallSystem (is it connected?)")
    dts = vim.host.DateTimeSystem(managers.date_time_system, conn.stub)
    fw = vim.host.FirewallSystem(managers.firewall_system, conn.stub)
    ss = vim.host.ServiceSystem(managers.service_system, conn.stub)
    config = vim.host.DateTimeConfig(ntpConfig=vim.host.NtpConfig(server=list(servers)))
    conn.call(f"{host}: UpdateDateTimeConfig", lambda: dts.UpdateDateTimeConfig(config=config))
    conn.call(f"{host}: EnableRuleset {NTP_RULESET}", lambda: fw.EnableRuleset(id=NTP_RULESET))
    conn.call(f"{host}: UpdateServicePolicy {NTP_SERVICE}",
              lambda: ss.UpdateServicePolicy(id=NTP_SERVICE, policy="on"))
    conn.call(f"{host}: RestartService {NTP_SERVICE}", lambda: ss.RestartService(id=NTP_SERVICE))

    def state(values: dict[str, Any]) -> NtpState:
        svc = mapping.services(values.get("config.service.service")).get(NTP_SERVICE)
        rules = mapping.rulesets(values.get("config.firewall.ruleset"))
        return NtpState(host, tuple(values.get("config.dateTimeInfo.ntpConfig.server") or ()),
                        bool(svc and svc.running), svc.policy if svc else "",
                        rules.get(NTP_RULESET, False))

    def done(values: dict[str, Any]) -> bool:
        s = state(values)
        return (s.servers == tuple(servers) and s.ntpd_running and s.ntpd_policy == "on"
                and s.firewall_enabled)

    values = wait_until(conn, vim.HostSystem(host_moref, conn.stub),
                        ["config.dateTimeInfo.ntpConfig.server", "config.service.service",
                         "config.firewall.ruleset"], done, timeout, f"{host}: verify NTP")
    return state(values)


# ---------------------------------------------------------------------------------------------
# port group policy


def patch_standard_policy(policy: Any, patch: PolicyPatch) -> Any:
    """A standard port group's `vim.host.NetworkPolicy` (None: a new, empty one) with the
    patch's fields set as overrides; the fields it leaves None keep inheriting."""
    policy = policy or vim.host.NetworkPolicy()
    sec = policy.security or vim.host.NetworkPolicy.SecurityPolicy()
    for name, value in (("allowPromiscuous", patch.allow_promiscuous),
                        ("macChanges", patch.mac_changes),
                        ("forgedTransmits", patch.forged_transmits)):
        if value is not None:
            setattr(sec, name, value)
    policy.security = sec
    team = policy.nicTeaming or vim.host.NetworkPolicy.NicTeamingPolicy()
    if patch.load_balancing is not None:
        team.policy = patch.load_balancing
    if patch.notify_switches is not None:
        team.notifySwitches = patch.notify_switches
    if patch.failback is not None:
        team.rollingOrder = not patch.failback
    if patch.failure_detection is not None:
        team.failureCriteria = team.failureCriteria or vim.host.NetworkPolicy.NicFailureCriteria()
        team.failureCriteria.checkBeacon = patch.failure_detection == "beacon_probing"
    if patch.active is not None or patch.standby is not None:
        team.nicOrder = vim.host.NetworkPolicy.NicOrderPolicy(
            activeNic=list(patch.active or ()), standbyNic=list(patch.standby or ()))
    policy.nicTeaming = team
    return policy


def _bool_policy(value: bool) -> Any:
    return vim.BoolPolicy(inherited=False, value=value)


def patch_dvs_setting(setting: Any, patch: PolicyPatch) -> Any:
    """A DVS port setting (`VmwarePortConfigPolicy`; None: a new one) with the patch's
    security and teaming fields set, not inherited."""
    dvs = vim.dvs.VmwareDistributedVirtualSwitch
    setting = setting or dvs.VmwarePortConfigPolicy()
    sec = setting.securityPolicy or dvs.SecurityPolicy(inherited=False)
    for name, value in (("allowPromiscuous", patch.allow_promiscuous),
                        ("macChanges", patch.mac_changes),
                        ("forgedTransmits", patch.forged_transmits)):
        if value is not None:
            setattr(sec, name, _bool_policy(value))
            sec.inherited = False
    setting.securityPolicy = sec
    team = setting.uplinkTeamingPolicy or dvs.UplinkPortTeamingPolicy(inherited=False)
    if patch.load_balancing is not None:
        team.policy = vim.StringPolicy(inherited=False, value=patch.load_balancing)
    if patch.notify_switches is not None:
        team.notifySwitches = _bool_policy(patch.notify_switches)
    if patch.failback is not None:
        team.rollingOrder = _bool_policy(not patch.failback)
    if patch.failure_detection is not None:
        team.failureCriteria = team.failureCriteria or dvs.FailureCriteria(inherited=False)
        team.failureCriteria.checkBeacon = _bool_policy(
            patch.failure_detection == "beacon_probing")
    if patch.active is not None or patch.standby is not None:
        team.uplinkPortOrder = dvs.UplinkPortOrderPolicy(
            inherited=False, activeUplinkPort=list(patch.active or ()),
            standbyUplinkPort=list(patch.standby or ()))
    team.inherited = False
    setting.uplinkTeamingPolicy = team
    return setting


def fix_standard_port_group(conn: VsphereConnection, host: str, host_moref: str,
                            managers: HostManagers, port_group: str, patch: PolicyPatch,
                            timeout: float) -> PolicyFacts | None:
    """Patch a standard port group's policy overrides on one host and wait for ESXi's computed
    policy to show it; None when the host has no standard port group of that name."""
    host_obj = vim.HostSystem(host_moref, conn.stub)
    current = read_one(conn, host_obj, ["config.network.portgroup"], f"{host}: read port groups")
    pg = next((p for p in current.get("config.network.portgroup") or ()
               if p.spec.name == port_group), None)
    if pg is None:
        return None
    spec = pg.spec
    spec.policy = patch_standard_policy(spec.policy, patch)
    ns = vim.host.NetworkSystem(managers.network_system, conn.stub)
    conn.call(f"{host}: UpdatePortGroup {port_group}",
              lambda: ns.UpdatePortGroup(pgName=port_group, portgrp=spec))

    def computed(values: dict[str, Any]) -> PolicyFacts | None:
        pgs = mapping.port_groups(values.get("config.network.portgroup"))
        return pgs[port_group].computed if port_group in pgs else None

    def done(values: dict[str, Any]) -> bool:
        policy = computed(values)
        return policy is not None and patch.satisfied_by(policy)

    values = wait_until(conn, host_obj, ["config.network.portgroup"], done, timeout,
                        f"{host}: verify {port_group}")
    return computed(values)


def fix_dv_port_group(conn: VsphereConnection, dvpg_moref: str, port_group: str,
                      patch: PolicyPatch, timeout: float) -> PolicyFacts:
    """Patch a DV port group's default port policy with a complete spec (a partial spec would
    reset the fields it leaves out) and wait for the reconfigure task."""
    pg = vim.dvs.DistributedVirtualPortgroup(dvpg_moref, conn.stub)
    step = f"ReconfigureDVPortgroup {port_group}"
    cfg = read_one(conn, pg, ["config"], f"read {port_group}").get("config")
    if cfg is None:
        raise VsphereNotFoundError(conn.endpoint, step, f"DV port group {port_group} has no "
                                   "config (deleted meanwhile?)")
    spec = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        configVersion=cfg.configVersion, name=cfg.name, type=cfg.type, numPorts=cfg.numPorts,
        description=cfg.description, policy=cfg.policy, autoExpand=cfg.autoExpand,
        portNameFormat=cfg.portNameFormat,
        defaultPortConfig=patch_dvs_setting(cfg.defaultPortConfig, patch))
    task = conn.call(step, lambda: pg.ReconfigureDVPortgroup_Task(spec=spec))
    wait_task(conn, task, timeout, step)
    after = read_one(conn, pg, ["config.defaultPortConfig"], f"verify {port_group}")
    policy = mapping.dvs_policy(after.get("config.defaultPortConfig"))
    if not patch.satisfied_by(policy):
        raise VsphereTaskError(conn.endpoint, step, f"the task succeeded but {port_group} "
                               f"reports {policy}")
    return policy


# ---------------------------------------------------------------------------------------------
# vmknic migration


@dataclass(frozen=True)
class MigrationTarget:
    """Where a vmknic goes: a standard port group by name, or a DV port group."""

    port_group: str
    switch_uuid: str | None = None  # set for a DV port group
    portgroup_key: str | None = None


def migrate_vmknic(conn: VsphereConnection, host: str, host_moref: str,
                   managers: HostManagers, device: str, target: MigrationTarget,
                   timeout: float) -> VmknicFacts:
    """Move a vmknic to another port group and wait until vCenter shows it there, with the
    host still connected.

    Raises:
        VsphereHostUnreachableError: the host dropped from vCenter after the move (the move cut
            its management path; F01).
        VsphereTimeoutError: the vmknic was not seen on the target in time.
    """
    ns = vim.host.NetworkSystem(managers.network_system, conn.stub)
    spec = vim.host.VirtualNic.Specification()
    if target.switch_uuid:
        spec.distributedVirtualPort = vim.dvs.PortConnection(
            switchUuid=target.switch_uuid, portgroupKey=target.portgroup_key)
    else:
        spec.portgroup = target.port_group
    step = f"{host}: UpdateVirtualNic {device} -> {target.port_group}"
    conn.call(step, lambda: ns.UpdateVirtualNic(device=device, nic=spec))

    def vmk(values: dict[str, Any]) -> VmknicFacts | None:
        services = mapping.vnic_services(values.get("config.virtualNicManagerInfo.netConfig"))
        for key, facts in mapping.vnics(values.get("config.network.vnic")):
            if facts.device == device:
                return replace(facts, services=services.get(key, ()))
        return None

    def on_target(values: dict[str, Any]) -> bool:
        if values.get("runtime.connectionState") not in (None, "connected"):
            return True  # settled: the host is gone, report that below
        v = vmk(values)
        if v is None:
            return False
        if target.switch_uuid:
            return v.dvs_port is not None and v.dvs_port.portgroup_key == target.portgroup_key
        return v.port_group == target.port_group

    values = wait_until(conn, vim.HostSystem(host_moref, conn.stub),
                        ["config.network.vnic", "config.virtualNicManagerInfo.netConfig",
                         "runtime.connectionState"], on_target, timeout,
                        f"{host}: verify {device} on {target.port_group}")
    state = values.get("runtime.connectionState")
    if state != "connected":
        raise VsphereHostUnreachableError(conn.endpoint, step, f"{host} is {state} after moving "
                                          f"{device} to {target.port_group}")
    moved = vmk(values)
    if moved is None:  # pragma: no cover - on_target only returns True with the vmknic present
        raise VsphereNotFoundError(conn.endpoint, step, f"{device} disappeared from {host}")
    return moved
