"""Build a lab's vSphere configuration in a vCenter through pyVmomi, as a nested-lab build does.

The simulated vCenter starts with bare ESXi hosts (vSwitch0, Management Network, vmk0, a local
datastore); `provision` then makes the calls a user's build script makes: standard switches and
port groups, distributed switches with their port groups and host members (pnic backing),
VMkernel NICs and their services, NTP, ntpd and its firewall rule, advanced options, and VMs
with MACs and extraConfig. It builds the lab it is given, so a scenario's realised lab comes out
exactly as realised, plus the scenario's `VsphereFaults` (what the lab model cannot say).
Where the lab leaves a choice to vSphere, it follows the data plane so the two agree: a vmknic
without a MAC gets the one the data plane gives it, and an NSX segment gets the DV port group
("virtualwire") NSX for vSphere would create on the DVS carrying its transport zone's VTEPs.

Fast by construction: the inventory is read with one PropertyCollector call, tasks of one kind
are started together and awaited with one filter, and nothing is read per property. The report
counts every SOAP call and times each stage.

Provisioning is not repeatable: it marks the vCenter (`labharness.provisioned`) and refuses a
marked one, because silently reconciling a vCenter someone (or a scenario) changed would hide
exactly what the harness exists to find. Start a fresh simulator instead (~0.1 s).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from harness.facts.vsphere import (
    NETSTACK_OF_STACK,
    NIC_TYPE_OF_SERVICE,
    NTP_RULESET,
    NTP_SERVICE,
    ROLLBACK_OPTION,
)
from harness.lab.model import DistributedSwitch, Lab, Security, Teaming, VmkNic
from harness.lab.views import security_view
from harness.sim.dataplane.plan import stable_mac as dataplane_mac
from harness.sim.errors import SimError
from harness.sim.scenarios import Scenario, VsphereFaults, realised_lab
from harness.sim.scenarios import vsphere_faults as scenario_faults
from harness.sim.vcenter.launcher import spec_from_lab
from harness.sim.vcenter.spec import VcsimSpec

# pyVmomi's stubs type data-object constructors as untyped: treat its namespaces as Any here.
vim: Any = _vim
vmodl: Any = _vmodl

PROVISIONED_KEY = "labharness.provisioned"
TASK_TIMEOUT_S = 120.0

# Policy values when neither the port group nor its switch sets one (vSphere's defaults; the
# same as harness.checks.intent, which the round-trip tests compare against).
_D = vim.dvs.VmwareDistributedVirtualSwitch
VIEW_TYPES = [vim.HostSystem, vim.Datacenter, vim.ClusterComputeResource, vim.Datastore,
              vim.DistributedVirtualSwitch, vim.dvs.DistributedVirtualPortgroup, vim.Network,
              vim.VirtualMachine]


# ---------------------------------------------------------------------------------------------
# results and errors


@dataclass
class StageReport:
    """One stage of the build: how long it took and how many SOAP calls it made."""

    name: str
    seconds: float
    calls: int


@dataclass
class ProvisionReport:
    """What provisioning did: stages with timings and call counts, what it built, and notes."""

    lab: str
    stages: list[StageReport] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)  # SOAP method -> count
    built: dict[str, list[str]] = field(default_factory=dict)  # kind -> lab element names
    notes: list[str] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_s(self) -> float:
        return sum(s.seconds for s in self.stages)

    def add(self, kind: str, element: str) -> None:
        self.built.setdefault(kind, []).append(element)

    def summary(self) -> str:
        """One line per stage, then the totals: for logs and the benchmark's output."""
        lines = [f"{s.name:<22} {s.seconds * 1000:8.1f} ms {s.calls:5d} calls"
                 for s in self.stages]
        lines.append(f"{'total':<22} {self.total_s * 1000:8.1f} ms {self.total_calls:5d} calls")
        return "\n".join(lines)


class ProvisionError(SimError):
    """A lab element could not be built; names the element, the vSphere call and the fault.

    `report` holds what was done before the failure (stages, calls, built elements).
    """

    def __init__(self, element: str, action: str, detail: str,
                 report: ProvisionReport | None = None) -> None:
        self.element = element
        self.action = action
        self.detail = detail
        self.report = report
        super().__init__(f"{element}: {action}: {detail}")


def _fault_text(fault: vmodl.MethodFault) -> str:
    name = getattr(fault, "_wsdlName", type(fault).__name__)
    parts = [str(name)]
    msg = getattr(fault, "msg", None)
    if msg:
        parts.append(str(msg))
    for attr in ("invalidProperty", "name"):
        value = getattr(fault, attr, None)
        if value:
            parts.append(f"{attr}={value}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# what the simulator needs from scenarios


@dataclass(frozen=True)
class VcenterBuild:
    """Everything needed to stand up a lab's simulated vCenter under some scenarios."""

    lab: Lab                    # the realised lab: what to provision
    spec: VcsimSpec             # the simulator spec (versions, builds, clock offsets)
    faults: VsphereFaults       # what provisioning applies beyond the realised lab


def vcenter_build(lab: Lab, scenarios: Sequence[Scenario] = ()) -> VcenterBuild:
    """The realised lab, simulator spec and vSphere faults for a lab under scenarios.

    Raises:
        ScenarioError: a scenario does not fit this lab.
        VcsimSpecError: the lab has no vCenter.
    """
    chosen = list(scenarios)
    realised = realised_lab(lab, chosen)
    faults = scenario_faults(lab, chosen)
    return VcenterBuild(realised, spec_from_lab(realised, clock_offsets=faults.clock_offsets),
                        faults)


# ---------------------------------------------------------------------------------------------
# policies: lab -> vSphere data objects


@dataclass(frozen=True)
class _Team:
    load_balancing: str
    active: list[str]
    standby: list[str]
    beacon: bool
    notify: bool
    failback: bool


def _switch_team(team: Teaming, uplinks: list[str]) -> _Team:
    """A switch's effective teaming: its own settings, else vSphere's defaults."""
    standby = list(team.standby or [])
    active = list(team.active) if team.active is not None else [
        u for u in uplinks if u not in standby]
    return _Team(team.load_balancing or "loadbalance_srcid", active, standby,
                 team.failure_detection == "beacon_probing",
                 team.notify_switches if team.notify_switches is not None else True,
                 team.failback if team.failback is not None else True)


def _pg_order(pg: Teaming, uplinks: list[str]) -> tuple[list[str], list[str]] | None:
    """A port group's own active/standby order, or None when it inherits the switch's."""
    if pg.active is None and pg.standby is None:
        return None
    standby = list(pg.standby or [])
    active = list(pg.active) if pg.active is not None else [u for u in uplinks
                                                            if u not in standby]
    return active, standby


def _switch_security(kind: str, sec: Security) -> tuple[bool, bool, bool]:
    """A switch's security: what the lab sets, else vSphere's default for that switch kind
    (the same defaults the intent view uses)."""
    view = security_view(kind, sec, Security())
    return (view.allow_promiscuous, view.mac_changes, view.forged_transmits)


def _standard_switch_spec(mtu: int, uplinks: list[str], team: _Team,
                          security: tuple[bool, bool, bool]) -> Any:
    bridge = None
    if uplinks:
        bridge = vim.host.VirtualSwitch.BondBridge(
            nicDevice=list(uplinks), beacon=vim.host.VirtualSwitch.BeaconConfig(interval=1),
            linkDiscoveryProtocolConfig=vim.host.LinkDiscoveryProtocolConfig(
                protocol="cdp", operation="listen"))
    policy = vim.host.NetworkPolicy(
        security=vim.host.NetworkPolicy.SecurityPolicy(
            allowPromiscuous=security[0], macChanges=security[1], forgedTransmits=security[2]),
        nicTeaming=vim.host.NetworkPolicy.NicTeamingPolicy(
            policy=team.load_balancing, reversePolicy=True, notifySwitches=team.notify,
            rollingOrder=not team.failback,
            failureCriteria=vim.host.NetworkPolicy.NicFailureCriteria(
                checkSpeed="minimum", speed=10, checkDuplex=False, fullDuplex=False,
                checkErrorPercent=False, percentage=0, checkBeacon=team.beacon),
            nicOrder=vim.host.NetworkPolicy.NicOrderPolicy(
                activeNic=team.active, standbyNic=team.standby)),
        offloadPolicy=vim.host.NetOffloadCapabilities(
            csumOffload=True, tcpSegmentation=True, zeroCopyXmit=True),
        shapingPolicy=vim.host.NetworkPolicy.TrafficShapingPolicy(enabled=False))
    return vim.host.VirtualSwitch.Specification(numPorts=128, mtu=mtu, bridge=bridge,
                                                policy=policy)


def _standard_pg_policy(pg_team: Teaming, pg_sec: Security, uplinks: list[str]) -> Any:
    """Only what the port group overrides; everything else inherits from its vSwitch."""
    policy = vim.host.NetworkPolicy()
    if any(v is not None for v in (pg_sec.allow_promiscuous, pg_sec.mac_changes,
                                   pg_sec.forged_transmits)):
        policy.security = vim.host.NetworkPolicy.SecurityPolicy(
            allowPromiscuous=pg_sec.allow_promiscuous, macChanges=pg_sec.mac_changes,
            forgedTransmits=pg_sec.forged_transmits)
    order = _pg_order(pg_team, uplinks)
    if order is not None or any(v is not None for v in (
            pg_team.load_balancing, pg_team.failure_detection, pg_team.notify_switches,
            pg_team.failback)):
        team = vim.host.NetworkPolicy.NicTeamingPolicy(
            policy=pg_team.load_balancing, notifySwitches=pg_team.notify_switches,
            rollingOrder=None if pg_team.failback is None else not pg_team.failback)
        if pg_team.failure_detection is not None:
            team.failureCriteria = vim.host.NetworkPolicy.NicFailureCriteria(
                checkBeacon=pg_team.failure_detection == "beacon_probing")
        if order is not None:
            team.nicOrder = vim.host.NetworkPolicy.NicOrderPolicy(activeNic=order[0],
                                                                  standbyNic=order[1])
        policy.nicTeaming = team
    return policy


def _bool(value: bool, inherited: bool) -> Any:
    return vim.BoolPolicy(value=value, inherited=inherited)


def _dvs_setting(vlan: int, team: _Team, security: tuple[bool, bool, bool],
                 inherited: Mapping[str, bool] | None = None) -> Any:
    """A complete DVS port setting; `inherited` flags what a port group takes from its DVS."""
    inh = dict.fromkeys(("vlan", "lb", "notify", "failback", "beacon", "order", "promiscuous",
                         "mac_changes", "forged"), False)
    inh.update(inherited or {})
    return _D.VmwarePortConfigPolicy(
        vlan=_D.VlanIdSpec(vlanId=vlan, inherited=inh["vlan"]),
        securityPolicy=_D.SecurityPolicy(
            inherited=inh["promiscuous"] and inh["mac_changes"] and inh["forged"],
            allowPromiscuous=_bool(security[0], inh["promiscuous"]),
            macChanges=_bool(security[1], inh["mac_changes"]),
            forgedTransmits=_bool(security[2], inh["forged"])),
        uplinkTeamingPolicy=_D.UplinkPortTeamingPolicy(
            inherited=all(inh[k] for k in ("lb", "notify", "failback", "beacon", "order")),
            policy=vim.StringPolicy(value=team.load_balancing, inherited=inh["lb"]),
            reversePolicy=_bool(True, True),
            notifySwitches=_bool(team.notify, inh["notify"]),
            rollingOrder=_bool(not team.failback, inh["failback"]),
            failureCriteria=_D.FailureCriteria(
                inherited=inh["beacon"], checkBeacon=_bool(team.beacon, inh["beacon"])),
            uplinkPortOrder=_D.UplinkPortOrderPolicy(
                inherited=inh["order"], activeUplinkPort=team.active,
                standbyUplinkPort=team.standby)))


def _dvpg_setting(dvs: DistributedSwitch, vlan: int, pg_team: Teaming,
                  pg_sec: Security) -> Any:
    """A DV port group's effective setting: its overrides, the rest inherited from the DVS."""
    switch = _switch_team(dvs.teaming, dvs.uplinks)
    order = _pg_order(pg_team, dvs.uplinks)
    team = _Team(
        pg_team.load_balancing or switch.load_balancing,
        order[0] if order else switch.active, order[1] if order else switch.standby,
        (pg_team.failure_detection == "beacon_probing") if pg_team.failure_detection
        else switch.beacon,
        pg_team.notify_switches if pg_team.notify_switches is not None else switch.notify,
        pg_team.failback if pg_team.failback is not None else switch.failback)
    sw_sec = _switch_security("distributed", dvs.security)
    security = (
        pg_sec.allow_promiscuous if pg_sec.allow_promiscuous is not None else sw_sec[0],
        pg_sec.mac_changes if pg_sec.mac_changes is not None else sw_sec[1],
        pg_sec.forged_transmits if pg_sec.forged_transmits is not None else sw_sec[2])
    inherited = {
        "lb": pg_team.load_balancing is None, "notify": pg_team.notify_switches is None,
        "failback": pg_team.failback is None, "beacon": pg_team.failure_detection is None,
        "order": order is None, "promiscuous": pg_sec.allow_promiscuous is None,
        "mac_changes": pg_sec.mac_changes is None, "forged": pg_sec.forged_transmits is None,
    }
    return _dvs_setting(vlan, team, security, inherited)


def _vmknic_spec(host: str, device: str, vmk: VmkNic) -> Any:
    # Without a MAC in the lab, use the data plane's for this vmknic: vCenter and the wire agree.
    return vim.host.VirtualNic.Specification(
        ip=vim.host.IpConfig(dhcp=False, ipAddress=str(vmk.ip.ip),
                             subnetMask=str(vmk.ip.netmask)),
        mac=vmk.mac or dataplane_mac(host, device), mtu=vmk.mtu,
        netStackInstanceKey=NETSTACK_OF_STACK[vmk.tcpip_stack])


def _option_value(value: str | int | float | bool) -> str:
    """extraConfig values are text in a .vmx; booleans the way VMware writes them."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def segment_port_group(dvs_moid: str, index: int, vni: int, segment: str) -> str:
    """The DV port group NSX for vSphere creates for a logical switch (a "virtualwire")."""
    return f"vxw-dvs-{dvs_moid.removeprefix('dvs-')}-virtualwire-{index}-sid-{vni}-{segment}"


# ---------------------------------------------------------------------------------------------
# the session: counted calls, one-filter task waits, one-call reads


class _Session:
    """Counts every SOAP call the build makes and turns faults into ProvisionErrors."""

    def __init__(self, si: Any, report: ProvisionReport) -> None:
        self.si = si
        self.content = si.RetrieveContent()
        self.report = report
        self.stub = si._stub
        self._invoke = self.stub.InvokeMethod
        self._access = self.stub.InvokeAccessor
        self.view: Any = None
        self.collector: Any = None

    def __enter__(self) -> _Session:
        calls = self.report.calls

        def invoke(mo: Any, info: Any, args: Any) -> Any:
            calls[info.name] += 1
            return self._invoke(mo, info, args)

        def access(mo: Any, info: Any) -> Any:
            calls[f"get {info.name}"] += 1
            return self._access(mo, info)

        self.stub.InvokeMethod = invoke
        self.stub.InvokeAccessor = access
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.collector is not None:
                self.collector.Destroy()
            if self.view is not None:
                self.view.Destroy()
        except vmodl.MethodFault:
            pass  # the session may be gone; nothing of ours is left behind on the server
        finally:
            self.stub.InvokeMethod = self._invoke
            self.stub.InvokeAccessor = self._access

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        before = self.report.total_calls
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.report.stages.append(StageReport(name, time.perf_counter() - t0,
                                                  self.report.total_calls - before))

    def call(self, element: str, action: str, method: Callable[..., Any], *args: Any,
             **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except vmodl.MethodFault as fault:
            raise ProvisionError(element, action, _fault_text(fault), self.report) from None

    def read(self, props: Mapping[Any, Sequence[str]], extra: Sequence[Any] = ()
             ) -> list[tuple[Any, dict[str, Any]]]:
        """One RetrievePropertiesEx over the inventory view and `extra` objects (plus
        continuation pages when the server pages)."""
        pc = vmodl.query.PropertyCollector
        if self.view is None:
            # one live view for the whole build: entities created later show up in it
            self.view = self.content.viewManager.CreateContainerView(
                self.content.rootFolder, VIEW_TYPES, True)
        spec = pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=self.view, skip=True, selectSet=[pc.TraversalSpec(
                name="view", type=vim.view.ContainerView, path="view", skip=False)]),
                *(pc.ObjectSpec(obj=o) for o in extra)],
            propSet=[pc.PropertySpec(type=t, pathSet=list(paths)) for t, paths in props.items()])
        collector = self.content.propertyCollector
        result = collector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        out: list[tuple[Any, dict[str, Any]]] = []
        while result is not None:
            out += [(o.obj, {p.name: p.val for p in o.propSet}) for o in result.objects]
            if not result.token:
                break
            result = collector.ContinueRetrievePropertiesEx(result.token)
        return out

    def tasks(self, action: str, started: Sequence[tuple[str, Callable[[], Any]]]) -> list[Any]:
        """Start every task, then wait for all with one filter; results in order.

        Raises:
            ProvisionError: naming the first element whose task failed (or timed out).
        """
        if not started:
            return []
        tasks = [(element, self.call(element, action, start)) for element, start in started]
        pc = vmodl.query.PropertyCollector
        if self.collector is None:
            # a collector of our own: waiting on it cannot disturb the caller's filters
            self.collector = self.content.propertyCollector.CreatePropertyCollector()
        flt = self.collector.CreateFilter(pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=t) for _, t in tasks],
            propSet=[pc.PropertySpec(type=vim.Task, pathSet=["info.state", "info.error",
                                                             "info.result"])]), False)
        state: dict[str, dict[str, Any]] = {str(t): {} for _, t in tasks}
        pending = set(state)
        version = ""
        deadline = time.monotonic() + TASK_TIMEOUT_S
        try:
            while pending:
                left = deadline - time.monotonic()
                update = None
                if left > 0:
                    update = self.collector.WaitForUpdatesEx(
                        version, pc.WaitOptions(maxWaitSeconds=max(1, int(left))))
                if update is None:
                    names = [e for e, t in tasks if str(t) in pending]
                    raise ProvisionError(", ".join(names), action,
                                         f"no result within {TASK_TIMEOUT_S:.0f} s", self.report)
                version = update.version
                for fs in update.filterSet:
                    for obj in fs.objectSet:
                        for change in obj.changeSet:
                            state[str(obj.obj)][change.name] = change.val
                for key in list(pending):
                    if state[key].get("info.state") in ("success", "error"):
                        pending.discard(key)
        finally:
            flt.Destroy()
        for element, task in tasks:
            info = state[str(task)]
            if info.get("info.state") == "error":
                fault = info.get("info.error")
                detail = _fault_text(fault) if fault is not None else "failed"
                raise ProvisionError(element, action, detail, self.report)
        return [state[str(t)].get("info.result") for _, t in tasks]


# ---------------------------------------------------------------------------------------------
# the inventory as found


@dataclass
class _Host:
    name: str
    ref: Any
    props: dict[str, Any]

    def manager(self, name: str) -> Any:
        return self.props[f"configManager.{name}"]

    @property
    def vswitches(self) -> dict[str, Any]:
        return {s.name: s for s in self.props.get("config.network.vswitch") or []}

    @property
    def portgroups(self) -> dict[str, Any]:
        return {p.spec.name: p for p in self.props.get("config.network.portgroup") or []}

    @property
    def vnics(self) -> dict[str, Any]:
        return {v.device: v for v in self.props.get("config.network.vnic") or []}

    @property
    def selected(self) -> set[tuple[str, str]]:
        """(nic type, vmk) pairs selected now."""
        out = set()
        for nc in self.props.get("config.virtualNicManagerInfo.netConfig") or []:
            for key in nc.selectedVnic or []:
                out.add((nc.nicType, key.rsplit("-", 1)[-1]))
        return out

    @property
    def services(self) -> dict[str, tuple[bool, str]]:
        return {s.key: (bool(s.running), str(s.policy))
                for s in self.props.get("config.service.service") or []}



HOST_PATHS = (
    "name", "parent", "datastore", "configManager.networkSystem",
    "configManager.dateTimeSystem", "configManager.serviceSystem",
    "configManager.firewallSystem", "configManager.advancedOption",
    "configManager.virtualNicManager", "config.network.vswitch", "config.network.portgroup",
    "config.network.vnic", "config.virtualNicManagerInfo.netConfig", "config.service.service",
)
# Not read, on purpose: config.network.pnic and config.firewall.ruleset are most of a host's
# bytes (1,000 hosts: seconds of parsing). The simulator's vmnics come from the same lab, a
# wrong vmnic still fails with the element named, and enabling a ruleset twice is harmless.


@dataclass
class _Inventory:
    hosts: dict[str, _Host]
    datacenter: dict[str, Any] | None
    clusters: dict[str, dict[str, Any]]  # name -> props (resourcePool)
    datastores: dict[Any, str]           # ref -> name
    dvs: dict[str, Any]                  # name -> ref
    vms: set[str]
    settings: dict[str, Any]


def _read_inventory(s: _Session, datacenter: str) -> _Inventory:
    found = s.read({
        vim.HostSystem: HOST_PATHS,
        vim.Datacenter: ("name", "vmFolder", "networkFolder"),
        vim.ClusterComputeResource: ("name", "resourcePool"),
        vim.Datastore: ("name",),
        vim.DistributedVirtualSwitch: ("name",),
        vim.VirtualMachine: ("name",),
        vim.Network: ("name",),
        vim.option.OptionManager: ("setting",),
    }, extra=[s.content.setting])
    inv = _Inventory({}, None, {}, {}, {}, set(), {})
    for obj, props in found:
        if isinstance(obj, vim.HostSystem):
            inv.hosts[props["name"]] = _Host(props["name"], obj, props)
        elif isinstance(obj, vim.Datacenter) and props.get("name") == datacenter:
            inv.datacenter = props
        elif isinstance(obj, vim.ClusterComputeResource):
            inv.clusters[props["name"]] = props
        elif isinstance(obj, vim.Datastore):
            inv.datastores[obj] = props["name"]
        elif isinstance(obj, vim.DistributedVirtualSwitch):
            inv.dvs[props["name"]] = obj
        elif isinstance(obj, vim.VirtualMachine):
            inv.vms.add(props["name"])
        elif isinstance(obj, vim.option.OptionManager):
            inv.settings = {o.key: o.value for o in props.get("setting") or []}
    return inv


# ---------------------------------------------------------------------------------------------
# the plan: where each port group lives, checked before anything changes


@dataclass
class _Plan:
    lab: Lab
    inv: _Inventory
    faults: VsphereFaults
    # host -> port group -> ("standard", switch) | ("distributed", dvs)
    port_groups: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    segments: dict[str, tuple[str, str]] = field(default_factory=dict)  # segment -> (dvs, dvpg)
    problems: list[str] = field(default_factory=list)

    def where(self, host: str, port_group: str) -> tuple[str, str] | None:
        if port_group in self.port_groups.get(host, {}):
            return self.port_groups[host][port_group]
        if port_group in self.segments:
            dvs = self.segments[port_group][0]
            if host in self.lab.distributed_switches[dvs].hosts:
                return "distributed", dvs
        return None


def _segment_dvs(lab: Lab) -> dict[str, str]:
    """NSX segment -> the DVS backing its transport zone (the one carrying the zone's VTEPs)."""
    out: dict[str, str] = {}
    if lab.nsx is None:
        return out
    for seg_name, seg in lab.nsx.segments.items():
        zone = lab.nsx.transport_zones.get(seg.transport_zone)
        if zone is None:
            continue
        for dname, dvs in lab.distributed_switches.items():
            vteps = [v for h in zone.hosts if h in lab.hosts
                     for v in lab.hosts[h].vmknics.values() if "vxlan" in v.services]
            if all(h in dvs.hosts for h in zone.hosts) and (
                    not vteps or any(v.port_group in dvs.port_groups for v in vteps)):
                out[seg_name] = dname
                break
    return out


def _plan(lab: Lab, inv: _Inventory, faults: VsphereFaults) -> _Plan:
    plan = _Plan(lab, inv, faults)
    add = plan.problems.append
    vc = lab.vcenter
    if vc is None:
        add(f"lab {lab.name!r} has no `vcenter`: there is nothing to provision")
        return plan
    if PROVISIONED_KEY in inv.settings:
        add(f"this vCenter was provisioned before ({PROVISIONED_KEY} = "
            f"{inv.settings[PROVISIONED_KEY]!r}); provisioning is not repeatable: start a fresh "
            "simulator")
        return plan  # everything else would only repeat it
    if inv.datacenter is None:
        add(f"vCenter has no datacenter {vc.datacenter!r} (vcenter.datacenter)")
    if vc.cluster not in inv.clusters:
        add(f"vCenter has no cluster {vc.cluster!r}; clusters: {sorted(inv.clusters)}")
    for hname, host in lab.hosts.items():
        found = inv.hosts.get(hname)
        if found is None:
            add(f"hosts.{hname}: vCenter has no host {hname!r}; hosts: {sorted(inv.hosts)}")
            continue
        pgs = plan.port_groups.setdefault(hname, {})
        for sname, sw in host.standard_switches.items():
            for pname in sw.port_groups:
                pgs[pname] = ("standard", sname)
        for unknown in sorted(set(faults.services_off.get(hname, ())) - set(found.services)):
            add(f"scenario: {hname} has no service {unknown!r}; services: "
                f"{sorted(found.services)}")
    for dname, dvs in lab.distributed_switches.items():
        if dname in inv.dvs:
            add(f"distributed_switches.{dname}: vCenter already has a switch of that name")
        for hname in dvs.hosts:
            if hname not in inv.hosts:
                continue
            for pname in dvs.port_groups:
                plan.port_groups.setdefault(hname, {})[pname] = ("distributed", dname)
    seg_dvs = _segment_dvs(lab)
    if lab.nsx is not None:
        for seg_name in lab.nsx.segments:
            if seg_name not in seg_dvs:
                add(f"nsx.segments.{seg_name}: no distributed switch spans its transport zone's "
                    "hosts (NSX for vSphere backs every segment with a DV port group)")
            else:
                plan.segments[seg_name] = (seg_dvs[seg_name], "")
    for hname, host in lab.hosts.items():
        found = inv.hosts.get(hname)
        if found is None:
            continue
        existing = set(found.vnics)
        for vname, vmk in sorted(host.vmknics.items(), key=lambda kv: int(kv[0][3:])):
            where = f"hosts.{hname}.vmknics.{vname}"
            if plan.where(hname, vmk.port_group) is None:
                add(f"{where}: {hname} has no port group {vmk.port_group!r}")
            if vname in existing:
                stack = found.vnics[vname].spec.netStackInstanceKey or "defaultTcpipStack"
                if stack != NETSTACK_OF_STACK[vmk.tcpip_stack]:
                    add(f"{where}: {vname} exists on TCP/IP stack {stack}; the lab wants "
                        f"{NETSTACK_OF_STACK[vmk.tcpip_stack]}, which only re-creating it can "
                        "change")
                continue
            free = next(n for n in range(len(existing) + 1) if f"vmk{n}" not in existing)
            if f"vmk{free}" != vname:
                add(f"{where}: the vSphere API names a new VMkernel NIC after the lowest free "
                    f"number (vmk{free} here); number the lab's vmknics without gaps")
            existing.add(vname)
    host_datastores = {h: [inv.datastores.get(d) for d in found.props.get("datastore") or []]
                       for h, found in inv.hosts.items()}
    for vname, vm in lab.vms.items():
        if vname in inv.vms:
            add(f"vms.{vname}: vCenter already has a VM of that name")
        if vm.host not in inv.hosts:
            continue
        if not any(host_datastores.get(vm.host) or ()):
            add(f"vms.{vname}: host {vm.host} has no datastore to create the VM on")
        for label, nic in vm.nics.items():
            if plan.where(vm.host, nic.port_group) is None:
                add(f"vms.{vname}.nics.{label}: {vm.host} has no port group or segment "
                    f"{nic.port_group!r}")
    return plan


# ---------------------------------------------------------------------------------------------
# the build


def provision(si: Any, lab: Lab, *, vsphere_faults: VsphereFaults | None = None
              ) -> ProvisionReport:
    """Build `lab`'s vSphere configuration in the vCenter behind `si`.

    Args:
        si: a connected pyVmomi ServiceInstance (its stub is wrapped to count calls while this
            runs: do not share it with other threads meanwhile).
        lab: the lab to build; for scenarios, the realised lab (`vcenter_build`).
        vsphere_faults: scenario faults beyond the realised lab (services left off, extra
            steps); clock offsets are the simulator spec's business.

    Raises:
        ProvisionError: the lab does not fit this vCenter (every problem listed, nothing
            changed), the vCenter was provisioned already, or a vSphere call failed (the element,
            the call and the fault; the report of what was done so far is attached).
    """
    faults = vsphere_faults or VsphereFaults()
    report = ProvisionReport(lab.name)
    with _Session(si, report) as s:
        vc = lab.vcenter
        with s.stage("read inventory"):
            inv = _read_inventory(s, vc.datacenter if vc else "")
            plan = _plan(lab, inv, faults)
        if plan.problems or vc is None or inv.datacenter is None:
            raise ProvisionError(f"lab {lab.name}", "check against the vCenter",
                                 "\n  " + "\n  ".join(plan.problems), report)
        with s.stage("vCenter settings"):
            s.call("vCenter", f"UpdateOptions {PROVISIONED_KEY}, {ROLLBACK_OPTION}",
                   s.content.setting.UpdateOptions, changedValue=[
                       vim.option.OptionValue(key=PROVISIONED_KEY, value=f"lab {lab.name}"),
                       vim.option.OptionValue(key=ROLLBACK_OPTION,
                                              value=str(vc.network_rollback).lower())])
        with s.stage("standard switches"):
            for hname in lab.hosts:
                _standard_switches(s, plan, hname)
        with s.stage("NTP, services, options"):
            for hname in lab.hosts:
                _host_settings(s, plan, hname)
        dvs_info: dict[str, _DvsInfo] = {}
        with s.stage("distributed switches"):
            if lab.distributed_switches:
                dvs_info = _distributed_switches(s, plan)
        with s.stage("VMkernel NICs"):
            for hname in lab.hosts:
                _vmknics(s, plan, hname, dvs_info)
        with s.stage("VMkernel NIC services"):
            for hname in lab.hosts:
                _nic_types(s, plan, hname)
        with s.stage("cleanup"):
            for hname in lab.hosts:
                _cleanup(s, plan, hname)
        with s.stage("VMs"):
            _vms(s, plan, dvs_info)
        if faults.after_provision:
            with s.stage("scenario steps"):
                for step in faults.after_provision:
                    try:
                        step(si, lab)
                    except vmodl.MethodFault as fault:
                        raise ProvisionError("scenario", getattr(step, "__name__", "step"),
                                             _fault_text(fault), report) from None
    return report


def _standard_switches(s: _Session, plan: _Plan, hname: str) -> None:
    host = plan.lab.hosts[hname]
    found = plan.inv.hosts[hname]
    ns = found.manager("networkSystem")
    vswitches = found.vswitches
    portgroups = found.portgroups
    # switches that exist first: updating them can free vmnics a new switch needs
    for sname, sw in sorted(host.standard_switches.items(), key=lambda kv: kv[0] not in vswitches):
        team = _switch_team(sw.teaming, sw.uplinks)
        spec = _standard_switch_spec(sw.mtu, sw.uplinks, team,
                                     _switch_security("standard", sw.security))
        element = f"{hname}/{sname}"
        if sname in vswitches:
            s.call(element, "UpdateVirtualSwitch", ns.UpdateVirtualSwitch,
                   vswitchName=sname, spec=spec)
        else:
            s.call(element, "AddVirtualSwitch", ns.AddVirtualSwitch, vswitchName=sname,
                   spec=spec)
        s.report.add("standard switches", element)
        for pname, pg in sw.port_groups.items():
            pspec = vim.host.PortGroup.Specification(
                name=pname, vlanId=pg.vlan, vswitchName=sname,
                policy=_standard_pg_policy(pg.teaming, pg.security, sw.uplinks))
            element = f"{hname}/{pname}"
            if pname in portgroups:
                s.call(element, "UpdatePortGroup", ns.UpdatePortGroup, pgName=pname,
                       portgrp=pspec)
            else:
                s.call(element, "AddPortGroup", ns.AddPortGroup, portgrp=pspec)
            s.report.add("port groups", element)


def _host_settings(s: _Session, plan: _Plan, hname: str) -> None:
    lab = plan.lab
    host = lab.hosts[hname]
    found = plan.inv.hosts[hname]
    servers = host.ntp_servers if host.ntp_servers is not None else lab.ntp.servers
    s.call(hname, "UpdateDateTimeConfig (NTP servers)",
           found.manager("dateTimeSystem").UpdateDateTimeConfig,
           config=vim.host.DateTimeConfig(ntpConfig=vim.host.NtpConfig(server=list(servers))))
    s.call(hname, f"EnableRuleset {NTP_RULESET}",
           found.manager("firewallSystem").EnableRuleset, id=NTP_RULESET)
    off = set(plan.faults.services_off.get(hname, ()))
    services = found.services
    ss = found.manager("serviceSystem")
    for key in sorted({NTP_SERVICE} | off):
        running, policy = services.get(key, (False, "off"))
        want_on = key not in off
        want_policy = "on" if want_on else "off"
        if policy != want_policy:
            s.call(f"{hname}/{key}", f"UpdateServicePolicy {want_policy}",
                   ss.UpdateServicePolicy, id=key, policy=want_policy)
        if running != want_on:
            s.call(f"{hname}/{key}", "StartService" if want_on else "StopService",
                   ss.StartService if want_on else ss.StopService, id=key)
    if host.advanced_options:
        s.call(hname, "UpdateOptions (advanced options)",
               found.manager("advancedOption").UpdateOptions, changedValue=[
                   vim.option.OptionValue(key=k, value=v)
                   for k, v in host.advanced_options.items()])
    s.report.add("hosts", hname)


@dataclass
class _DvsInfo:
    ref: Any
    uuid: str
    port_groups: dict[str, str]  # name -> key


def _distributed_switches(s: _Session, plan: _Plan) -> dict[str, _DvsInfo]:
    lab = plan.lab
    inv = plan.inv
    assert inv.datacenter is not None  # checked by provision()
    folder = inv.datacenter["networkFolder"]
    creates = []
    for dname, dvs in lab.distributed_switches.items():
        config = _D.ConfigSpec(
            name=dname, maxMtu=dvs.mtu,
            uplinkPortPolicy=vim.DistributedVirtualSwitch.NameArrayUplinkPortPolicy(
                uplinkPortName=list(dvs.uplinks)),
            linkDiscoveryProtocolConfig=vim.host.LinkDiscoveryProtocolConfig(
                protocol="cdp" if dvs.discovery == "none" else dvs.discovery,
                operation="none" if dvs.discovery == "none" else "listen"),
            defaultPortConfig=_dvs_setting(
                0, _switch_team(dvs.teaming, dvs.uplinks),
                _switch_security("distributed", dvs.security)))
        create = vim.DistributedVirtualSwitch.CreateSpec(configSpec=config)
        if dvs.version:
            create.productInfo = vim.dvs.ProductSpec(version=dvs.version)
        creates.append((dname, lambda c=create: folder.CreateDVS_Task(c)))
    refs = dict(zip(lab.distributed_switches, s.tasks("CreateDVS_Task", creates), strict=True))

    # port groups, with NSX segments' virtualwires on the DVS that backs their zone
    seg_index = {name: i for i, name in enumerate(lab.nsx.segments, start=1)} if lab.nsx else {}
    adds = []
    for dname, dvs in lab.distributed_switches.items():
        specs = [vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
            name=pname, type="earlyBinding", numPorts=8, autoExpand=True,
            defaultPortConfig=_dvpg_setting(dvs, pg.vlan, pg.teaming, pg.security))
            for pname, pg in dvs.port_groups.items()]
        for seg_name, (seg_dvs, _) in list(plan.segments.items()):
            if seg_dvs != dname or lab.nsx is None:
                continue
            wire = segment_port_group(refs[dname]._moId, seg_index[seg_name],
                                      lab.nsx.segments[seg_name].vni, seg_name)
            plan.segments[seg_name] = (dname, wire)
            specs.append(vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
                name=wire, type="earlyBinding", numPorts=8, autoExpand=True,
                defaultPortConfig=_dvpg_setting(dvs, 0, Teaming(), Security())))
        adds.append((dname, lambda r=refs[dname], sp=specs: r.AddDVPortgroup_Task(sp)))
    s.tasks("AddDVPortgroup_Task", adds)

    info = _read_dvs(s, refs)
    members = []
    for dname, dvs in lab.distributed_switches.items():
        d = info[dname]
        hosts = [vim.dvs.HostMember.ConfigSpec(
            operation="add", host=inv.hosts[h].ref,
            # in uplink order: vCenter gives the n-th pnic the n-th free uplink port
            backing=vim.dvs.HostMember.PnicBacking(pnicSpec=[
                vim.dvs.HostMember.PnicSpec(pnicDevice=m.uplinks[u])
                for u in dvs.uplinks if u in m.uplinks]))
            for h, m in dvs.hosts.items()]
        spec = _D.ConfigSpec(configVersion=d.props.get("config.configVersion"), host=hosts)
        members.append((dname, lambda r=d.ref, sp=spec: r.ReconfigureDvs_Task(sp)))
    s.tasks("ReconfigureDvs_Task (add hosts)", members)
    _check_members(s, plan, info)
    for dname, dvs in lab.distributed_switches.items():
        s.report.add("distributed switches", dname)
        for h in dvs.hosts:
            s.report.add("distributed switch members", f"{dname}/{h}")
        for pname in info[dname].port_groups:
            s.report.add("distributed port groups", f"{dname}/{pname}")
    return {d: _DvsInfo(i.ref, i.uuid, i.port_groups) for d, i in info.items()}


@dataclass
class _DvsRead:
    ref: Any
    uuid: str
    props: dict[str, Any]
    port_groups: dict[str, str]


def _read_dvs(s: _Session, refs: Mapping[str, Any]) -> dict[str, _DvsRead]:
    found = s.read({
        vim.DistributedVirtualSwitch: ("name", "uuid", "config.configVersion"),
        vim.dvs.DistributedVirtualPortgroup: ("name", "key", "config.distributedVirtualSwitch"),
    })
    by_ref = {str(ref): name for name, ref in refs.items()}
    out: dict[str, _DvsRead] = {}
    for obj, props in found:
        if isinstance(obj, vim.DistributedVirtualSwitch) and str(obj) in by_ref:
            out[by_ref[str(obj)]] = _DvsRead(obj, props["uuid"], props, {})
    for obj, props in found:
        if isinstance(obj, vim.dvs.DistributedVirtualPortgroup):
            owner = by_ref.get(str(props.get("config.distributedVirtualSwitch")))
            if owner is not None:
                out[owner].port_groups[props["name"]] = props["key"]
    return out


def _check_members(s: _Session, plan: _Plan, info: Mapping[str, _DvsRead]) -> None:
    """Every member host shows the DVS as a proxy switch with the lab's vmnic per uplink."""
    lab = plan.lab
    found = {props["name"]: props.get("config.network.proxySwitch") or []
             for obj, props in s.read({vim.HostSystem: ("name", "config.network.proxySwitch")})
             if isinstance(obj, vim.HostSystem)}
    for dname, dvs in lab.distributed_switches.items():
        uuid = info[dname].uuid
        for hname, member in dvs.hosts.items():
            proxy = next((p for p in found.get(hname, []) if p.dvsUuid == uuid), None)
            element = f"{dname}/{hname}"
            if proxy is None:
                raise ProvisionError(
                    element, "ReconfigureDvs_Task (add host with pnic backing)",
                    f"the vCenter accepted {hname} as a member but the host shows no proxy "
                    f"switch for {dname} (host.config.network.proxySwitch): this vCenter "
                    "ignores DVS pnic backing (the stock simulator does; lh-vcsim needs dvs.go)",
                    s.report)
            name_of = {kv.key: kv.value for kv in proxy.uplinkPort or []}
            backing = proxy.spec.backing
            got = {name_of.get(p.uplinkPortKey, p.uplinkPortKey): p.pnicDevice
                   for p in (getattr(backing, "pnicSpec", None) or [])}
            if got != dict(member.uplinks):
                raise ProvisionError(
                    element, "ReconfigureDvs_Task (add host with pnic backing)",
                    f"uplinks came out as {got}, the lab wants {dict(member.uplinks)}",
                    s.report)


def _vmknics(s: _Session, plan: _Plan, hname: str, dvs_info: Mapping[str, _DvsInfo]) -> None:
    host = plan.lab.hosts[hname]
    found = plan.inv.hosts[hname]
    ns = found.manager("networkSystem")
    for vname, vmk in sorted(host.vmknics.items(), key=lambda kv: int(kv[0][3:])):
        where = plan.where(hname, vmk.port_group)
        assert where is not None  # checked by _plan
        spec = _vmknic_spec(hname, vname, vmk)
        portgroup = vmk.port_group
        if where[0] == "distributed":
            d = dvs_info[where[1]]
            spec.distributedVirtualPort = vim.dvs.PortConnection(
                switchUuid=d.uuid, portgroupKey=d.port_groups[vmk.port_group])
            portgroup = ""
        element = f"{hname}/{vname}"
        if vname in found.vnics:
            spec.portgroup = portgroup or None
            s.call(element, f"UpdateVirtualNic (port group {vmk.port_group})",
                   ns.UpdateVirtualNic, device=vname, nic=spec)
        else:
            device = s.call(element, f"AddVirtualNic (port group {vmk.port_group})",
                            ns.AddVirtualNic, portgroup=portgroup, nic=spec)
            if device != vname:
                raise ProvisionError(element, "AddVirtualNic",
                                     f"the host named the new VMkernel NIC {device}", s.report)
        s.report.add("vmknics", element)


def _nic_types(s: _Session, plan: _Plan, hname: str) -> None:
    host = plan.lab.hosts[hname]
    found = plan.inv.hosts[hname]
    want = {(NIC_TYPE_OF_SERVICE[svc], vname) for vname, vmk in host.vmknics.items()
            for svc in vmk.services if svc in NIC_TYPE_OF_SERVICE}
    iscsi = [v for v, vmk in host.vmknics.items() if "iscsi" in vmk.services]
    if iscsi:
        s.report.notes.append(f"{hname} {', '.join(iscsi)}: iSCSI is no VMkernel NIC type; port "
                              "binding to a software iSCSI adapter is not built")
    have = found.selected
    vnm = found.manager("virtualNicManager")
    for nic_type, vname in sorted(have - want):
        if vname in host.vmknics:
            s.call(f"{hname}/{vname}", f"DeselectVnicForNicType {nic_type}",
                   vnm.DeselectVnicForNicType, nicType=nic_type, device=vname)
    for nic_type, vname in sorted(want - have):
        s.call(f"{hname}/{vname}", f"SelectVnicForNicType {nic_type}",
               vnm.SelectVnicForNicType, nicType=nic_type, device=vname)


def _cleanup(s: _Session, plan: _Plan, hname: str) -> None:
    """Remove what ESXi's install made and the lab does not have (the "VM Network")."""
    host = plan.lab.hosts[hname]
    found = plan.inv.hosts[hname]
    wanted = {p for sw in host.standard_switches.values() for p in sw.port_groups}
    used = {v.port_group for v in host.vmknics.values()}
    kept = {v.portgroup for d, v in found.vnics.items() if d not in host.vmknics}
    ns = found.manager("networkSystem")
    for pname in found.portgroups:
        if pname in wanted:
            continue
        if pname in used or pname in kept:
            s.report.notes.append(f"{hname}/{pname}: not in the lab but a vmknic uses it; kept")
            continue
        s.call(f"{hname}/{pname}", "RemovePortGroup", ns.RemovePortGroup, pgName=pname)


def _vms(s: _Session, plan: _Plan, dvs_info: Mapping[str, _DvsInfo]) -> None:
    lab = plan.lab
    inv = plan.inv
    if not lab.vms:
        return
    assert inv.datacenter is not None
    assert lab.vcenter is not None
    networks = {props["name"]: obj for obj, props in s.read({vim.Network: ("name",)})
                if type(obj) is vim.Network}
    pool = inv.clusters[lab.vcenter.cluster]["resourcePool"]
    folder = inv.datacenter["vmFolder"]
    creates = []
    for vname, vm in lab.vms.items():
        found = inv.hosts[vm.host]
        datastore = next(inv.datastores[d] for d in found.props["datastore"]
                         if d in inv.datastores)
        devices = []
        labels = sorted(vm.nics, key=lambda n: (len(n), n))  # ethernet0, ethernet1, ...
        for i, label in enumerate(labels):
            nic = vm.nics[label]
            where = plan.where(vm.host, nic.port_group)
            assert where is not None  # checked by _plan
            card = vim.vm.device.VirtualVmxnet3(
                key=-100 - i, addressType=nic.address_type,
                connectable=vim.vm.device.VirtualDevice.ConnectInfo(
                    startConnected=True, allowGuestControl=True, connected=False))
            if nic.mac is not None and nic.address_type != "generated":
                card.macAddress = nic.mac
            if where[0] == "distributed":
                d = dvs_info[where[1]]
                pg = plan.segments[nic.port_group][1] if nic.port_group in plan.segments \
                    else nic.port_group
                card.backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                    port=vim.dvs.PortConnection(switchUuid=d.uuid,
                                                portgroupKey=d.port_groups[pg]))
            else:
                if nic.port_group not in networks:
                    raise ProvisionError(f"{vname}/{label}", "CreateVM_Task",
                                         f"vCenter has no network {nic.port_group!r}", s.report)
                card.backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(
                    deviceName=nic.port_group, network=networks[nic.port_group])
            devices.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=card))
        config = vim.vm.ConfigSpec(
            name=vname, guestId="otherGuest64", numCPUs=1, memoryMB=64,
            files=vim.vm.FileInfo(vmPathName=f"[{datastore}]"), deviceChange=devices,
            extraConfig=[vim.option.OptionValue(key=k, value=_option_value(v))
                         for k, v in vm.extra_config.items()])
        creates.append((vname, lambda c=config, h=found.ref: folder.CreateVM_Task(
            config=c, pool=pool, host=h)))
    s.tasks("CreateVM_Task", creates)
    for vname in lab.vms:
        s.report.add("VMs", vname)
