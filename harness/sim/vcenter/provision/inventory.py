"""Read what a vCenter has and check, before anything changes, that the lab fits it: where each
port group lives (standard switch or DVS), which NSX segment rides on which DVS, and every
problem at once (a missing host, a vmknic numbering vSphere would not produce, a VM that exists).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyVmomi import vim as _vim

from harness.facts.vsphere import NETSTACK_OF_STACK
from harness.lab.model import Lab
from harness.sim.scenarios import VsphereFaults
from harness.sim.vcenter.provision.session import Session

vim: Any = _vim
PROVISIONED_KEY = "labharness.provisioned"


@dataclass
class FoundHost:
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
class Found:
    hosts: dict[str, FoundHost]
    datacenter: dict[str, Any] | None
    clusters: dict[str, dict[str, Any]]  # name -> props (resourcePool)
    datastores: dict[Any, str]           # ref -> name
    dvs: dict[str, Any]                  # name -> ref
    vms: set[str]
    settings: dict[str, Any]


def read_inventory(s: Session, datacenter: str) -> Found:
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
    inv = Found({}, None, {}, {}, {}, set(), {})
    for obj, props in found:
        if isinstance(obj, vim.HostSystem):
            inv.hosts[props["name"]] = FoundHost(props["name"], obj, props)
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


@dataclass
class Plan:
    lab: Lab
    inv: Found
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


def segment_dvs(lab: Lab) -> dict[str, str]:
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


def plan_lab(lab: Lab, inv: Found, faults: VsphereFaults) -> Plan:
    plan = Plan(lab, inv, faults)
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
    seg_dvs = segment_dvs(lab)
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
