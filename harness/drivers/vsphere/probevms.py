"""Probe VMs in vCenter: what exists, and the changes `labharness probes deploy|remove` make.

A probe VM sits on one ESXi host with a management NIC and one NIC per probe port group:
a trunk on each virtual switch (VLAN 4095 on a standard vSwitch, a VLAN trunk range 0-4094 on
a distributed switch) and one port group pinned to each uplink (explicit failover order, that
uplink active, nothing standby), all with promiscuous mode, forged transmits and MAC changes
allowed. This module reads what vCenter has (one PropertyCollector call) into typed records and
makes each change, waiting for it: a port group added on a host, a DV port group added to a
switch, a VM cloned onto a host, NICs added to or removed from a VM, a VM powered off and
destroyed. Which changes to make, and remembering them, is `harness.procedures.probevms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.drivers.vsphere import devices, mapping
from harness.drivers.vsphere.collector import read_one, read_raw
from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import VsphereError, VsphereNotFoundError
from harness.drivers.vsphere.operations import (
    PolicyPatch,
    patch_dvs_setting,
    patch_standard_policy,
    wait_task,
)
from harness.drivers.vsphere.vmomi import vim
from harness.facts.vsphere import PolicyFacts, PortGroupFacts, ProxySwitchFacts, VswitchFacts

TRUNK_VLAN = 4095  # a standard port group's "all VLANs" (virtual guest tagging)
TRUNK_RANGE = (0, 4094)  # a DV port group's trunk range carrying every VLAN
MAX_NICS = 10  # network adapters a VM can have
TASK_TIMEOUT = 600.0  # a clone copies disks: minutes on a real datastore

DVS = vim.dvs.VmwareDistributedVirtualSwitch

# ---------------------------------------------------------------------------------------------
# what vCenter has


@dataclass(frozen=True)
class VmNic:
    """A VM's network adapter: its device key, MAC and the port group it is on."""

    key: int
    mac: str | None
    network: str | None  # port group or DV port group name


@dataclass(frozen=True)
class ProbeHost:
    """An ESXi host with what probe port groups and probe VMs depend on."""

    name: str
    moref: str
    network_system: str | None
    compute: str | None  # its ComputeResource/cluster, whose resource pool a clone goes to
    connected: bool
    vswitches: Mapping[str, VswitchFacts]
    port_groups: Mapping[str, PortGroupFacts]
    proxy_switches: tuple[ProxySwitchFacts, ...]
    datastores: tuple[str, ...]  # morefs
    networks: tuple[str, ...]  # morefs of the networks its VMs can use


@dataclass(frozen=True)
class ProbeDvs:
    """A distributed switch: its uuid (NIC backings name it) and uplink port names, and its
    managed-object class as vCenter typed it (VmwareDistributedVirtualSwitch for VMware's own,
    a third-party switch's otherwise): a reference is sent with the type vCenter gave it."""

    name: str
    moref: str
    uuid: str
    uplinks: tuple[str, ...]
    vim_type: Any


@dataclass(frozen=True)
class ProbeDvPortGroup:
    """A DV port group: its VLAN ranges (one VLAN is a range of one) and its own policy."""

    name: str
    moref: str
    key: str
    dvs: str | None  # moref of its switch
    vlans: tuple[tuple[int, int], ...]
    policy: PolicyFacts
    uplink: bool  # the switch's own uplink port group


@dataclass(frozen=True)
class ProbeNetwork:
    """A network a VM NIC can be on: a standard port group's Network or a DV port group."""

    name: str
    moref: str
    distributed: bool


@dataclass(frozen=True)
class ProbeVm:
    """A VM or template and its NICs."""

    name: str
    moref: str
    host: str | None  # host name
    template: bool
    powered_on: bool
    nics: tuple[VmNic, ...]
    datastores: tuple[str, ...]  # morefs


@dataclass(frozen=True)
class ProbeDatastore:
    name: str
    moref: str
    free_bytes: int
    accessible: bool


@dataclass(frozen=True)
class VcenterObjects:
    """What a probe deployment needs to know about one vCenter, read in one call."""

    endpoint: str
    instance_uuid: str | None
    hosts: Mapping[str, ProbeHost]
    dvs: Mapping[str, ProbeDvs]
    dv_port_groups: Mapping[str, ProbeDvPortGroup]
    networks: tuple[ProbeNetwork, ...]
    vms: tuple[ProbeVm, ...]
    datastores: Mapping[str, ProbeDatastore]  # by moref
    datacenters: Mapping[str, str]  # name -> vmFolder moref
    resource_pools: Mapping[str, str]  # compute resource moref -> its root resource pool

    def vms_named(self, name: str) -> list[ProbeVm]:
        return [vm for vm in self.vms if vm.name == name]

    def vm_by_moref(self, moref: str) -> ProbeVm | None:
        return next((vm for vm in self.vms if vm.moref == moref), None)

    def networks_named(self, name: str) -> list[ProbeNetwork]:
        return [n for n in self.networks if n.name == name]


_READ: dict[Any, tuple[str, ...]] = {
    vim.HostSystem: ("name", "parent", "configManager.networkSystem", "config.network.vswitch",
                     "config.network.portgroup", "config.network.proxySwitch", "datastore",
                     "network", "runtime.connectionState"),
    vim.DistributedVirtualSwitch: ("name", "uuid", "config.uplinkPortPolicy"),
    vim.dvs.DistributedVirtualPortgroup: ("name", "key", "config.distributedVirtualSwitch",
                                          "config.defaultPortConfig", "tag"),
    vim.Network: ("name",),
    vim.VirtualMachine: ("name", "runtime.host", "runtime.powerState", "config.template",
                         "config.hardware.device", "datastore"),
    vim.Datastore: ("name", "summary.freeSpace", "summary.accessible"),
    vim.Datacenter: ("name", "vmFolder"),
    vim.ComputeResource: ("resourcePool",),
}


def _moid(value: Any) -> str | None:
    return str(value._moId) if value is not None else None


def vlan_ranges(setting: Any) -> tuple[tuple[int, int], ...]:
    """The VLANs a DVS port setting carries: (start, end) ranges; () for none or a PVLAN."""
    vlan = getattr(setting, "vlan", None) if setting is not None else None
    value = getattr(vlan, "vlanId", None)
    if isinstance(value, int):
        return ((value, value),)
    if isinstance(value, list | tuple) or (value is not None and hasattr(value, "__iter__")):
        return tuple((int(r.start), int(r.end)) for r in value)
    return ()


def vm_nics(devices_: Any, dvpg_names: Mapping[str, str]) -> tuple[VmNic, ...]:
    """A VM's NICs in device order, with the port group each one is on by name."""
    out = []
    for key, mac, _type, kind, ref in sorted(mapping.vm_nics(devices_)):
        network = dvpg_names.get(ref, ref) if kind == "dvpg" else (ref or None)
        out.append(VmNic(key, mac, network))
    return tuple(out)


def read_objects(conn: VsphereConnection) -> VcenterObjects:
    """Hosts, switches, port groups, networks, VMs, datastores, datacenters and resource
    pools, in one RetrievePropertiesEx (plus its continuation pages)."""
    found = read_raw(conn, _READ, step="read vCenter for probe VMs")
    hosts: dict[str, ProbeHost] = {}
    dvs: dict[str, ProbeDvs] = {}
    dvpgs: dict[str, ProbeDvPortGroup] = {}
    networks: list[ProbeNetwork] = []
    raw_vms: list[tuple[str, dict[str, Any]]] = []
    datastores: dict[str, ProbeDatastore] = {}
    datacenters: dict[str, str] = {}
    pools: dict[str, str] = {}
    for obj, p in found:
        moref = str(obj._moId)
        if isinstance(obj, vim.HostSystem):
            hosts[str(p["name"])] = ProbeHost(
                name=str(p["name"]), moref=moref,
                network_system=_moid(p.get("configManager.networkSystem")),
                compute=_moid(p.get("parent")),
                connected=p.get("runtime.connectionState") == "connected",
                vswitches=mapping.vswitches(p.get("config.network.vswitch")),
                port_groups=mapping.port_groups(p.get("config.network.portgroup")),
                proxy_switches=mapping.proxy_switches(p.get("config.network.proxySwitch")),
                datastores=tuple(str(d._moId) for d in p.get("datastore") or ()),
                networks=tuple(str(n._moId) for n in p.get("network") or ()))
        elif isinstance(obj, vim.DistributedVirtualSwitch):
            policy = p.get("config.uplinkPortPolicy")
            dvs[str(p["name"])] = ProbeDvs(
                str(p["name"]), moref, str(p.get("uuid", "")),
                tuple(str(u) for u in getattr(policy, "uplinkPortName", None) or ()), type(obj))
        elif isinstance(obj, vim.dvs.DistributedVirtualPortgroup):
            setting = p.get("config.defaultPortConfig")
            tags = {str(t.key) for t in p.get("tag") or ()}
            pg = ProbeDvPortGroup(
                name=str(p["name"]), moref=moref, key=str(p.get("key", moref)),
                dvs=_moid(p.get("config.distributedVirtualSwitch")),
                vlans=vlan_ranges(setting), policy=mapping.dvs_policy(setting),
                uplink=mapping.UPLINK_PG_TAG in tags)
            dvpgs[pg.name] = pg
            networks.append(ProbeNetwork(pg.name, moref, True))
        elif isinstance(obj, vim.Network):
            networks.append(ProbeNetwork(str(p["name"]), moref, False))
        elif isinstance(obj, vim.VirtualMachine):
            raw_vms.append((moref, p))
        elif isinstance(obj, vim.Datastore):
            datastores[moref] = ProbeDatastore(str(p["name"]), moref,
                                               int(p.get("summary.freeSpace") or 0),
                                               bool(p.get("summary.accessible", True)))
        elif isinstance(obj, vim.Datacenter):
            datacenters[str(p["name"])] = str(p["vmFolder"]._moId)
        elif isinstance(obj, vim.ComputeResource) and p.get("resourcePool") is not None:
            pools[moref] = str(p["resourcePool"]._moId)
    host_names = {h.moref: h.name for h in hosts.values()}
    dvpg_names = {pg.key: pg.name for pg in dvpgs.values()}
    vms = tuple(ProbeVm(
        name=str(p["name"]), moref=moref,
        host=host_names.get(str(p["runtime.host"]._moId)) if p.get("runtime.host") else None,
        template=bool(p.get("config.template")),
        powered_on=p.get("runtime.powerState") == "poweredOn",
        nics=vm_nics(p.get("config.hardware.device"), dvpg_names),
        datastores=tuple(str(d._moId) for d in p.get("datastore") or ()))
        for moref, p in raw_vms)
    about = conn.content.about
    return VcenterObjects(
        endpoint=conn.endpoint,
        instance_uuid=str(about.instanceUuid) if about.instanceUuid else None,
        hosts=hosts, dvs=dvs, dv_port_groups=dvpgs, networks=tuple(networks), vms=vms,
        datastores=datastores, datacenters=datacenters, resource_pools=pools)


# ---------------------------------------------------------------------------------------------
# what a probe port group is


def probe_patch(uplink: str | None) -> PolicyPatch:
    """The policy of a probe port group: every frame in and out as the probe wants it
    (promiscuous, forged transmits, MAC changes), and for a pinned one the explicit failover
    order with `uplink` (a vmnic, or a DVS uplink name) alone active."""
    if uplink is None:
        return PolicyPatch(allow_promiscuous=True, mac_changes=True, forged_transmits=True)
    return PolicyPatch(allow_promiscuous=True, mac_changes=True, forged_transmits=True,
                       load_balancing="failover_explicit", active=(uplink,), standby=())


def standard_port_group_spec(name: str, vswitch: str, uplink: str | None) -> Any:
    """A probe port group on a standard vSwitch: VLAN 4095 (every VLAN, tagged to the VM)."""
    return vim.host.PortGroup.Specification(
        name=name, vlanId=TRUNK_VLAN, vswitchName=vswitch,
        policy=patch_standard_policy(None, probe_patch(uplink)))


def dv_port_group_spec(name: str, uplink: str | None, ports: int) -> Any:
    """A probe DV port group: VLAN trunk 0-4094, early binding, `ports` ports (auto-expand)."""
    setting = patch_dvs_setting(None, probe_patch(uplink))
    setting.vlan = DVS.TrunkVlanSpec(inherited=False, vlanId=[
        vim.NumericRange(start=TRUNK_RANGE[0], end=TRUNK_RANGE[1])])
    return vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        name=name, type="earlyBinding", numPorts=ports, autoExpand=True,
        description="labharness probe port group (labharness probes deploy)",
        defaultPortConfig=setting)


# ---------------------------------------------------------------------------------------------
# changes


def add_port_group(conn: VsphereConnection, host: ProbeHost, spec: Any) -> None:
    """Add a standard port group to a host (ESXi applies it synchronously)."""
    ns = _network_system(conn, host, "AddPortGroup")
    conn.call(f"{host.name}: AddPortGroup {spec.name}", lambda: ns.AddPortGroup(portgrp=spec))


def remove_port_group(conn: VsphereConnection, host: ProbeHost, name: str) -> bool:
    """Remove a standard port group from a host; False when it was not there."""
    ns = _network_system(conn, host, "RemovePortGroup")
    try:
        conn.call(f"{host.name}: RemovePortGroup {name}", lambda: ns.RemovePortGroup(pgName=name))
    except VsphereNotFoundError:
        return False
    return True


def _network_system(conn: VsphereConnection, host: ProbeHost, what: str) -> Any:
    if host.network_system is None:
        raise VsphereNotFoundError(conn.endpoint, f"{host.name}: {what}",
                                   "the host has no networkSystem (is it connected?)")
    return vim.host.NetworkSystem(host.network_system, conn.stub)


def add_dv_port_group(conn: VsphereConnection, dvs: ProbeDvs, spec: Any,
                      timeout: float = TASK_TIMEOUT) -> tuple[str, str]:
    """Add a DV port group to a switch; its (moref, key) as vCenter then lists it."""
    switch = dvs.vim_type(dvs.moref, conn.stub)
    step = f"{dvs.name}: AddDVPortgroup {spec.name}"
    task = conn.call(step, lambda: switch.AddDVPortgroup_Task(spec=[spec]))
    wait_task(conn, task, timeout, step)
    for obj, p in read_raw(conn, {vim.dvs.DistributedVirtualPortgroup: (
            "name", "key", "config.distributedVirtualSwitch")}, step=f"{step}: read back"):
        if p.get("name") == spec.name and _moid(p.get("config.distributedVirtualSwitch")) \
                == dvs.moref:
            return str(obj._moId), str(p.get("key", obj._moId))
    # not a refusal: the port group may exist under a moment's delay, so the journal keeps it
    raise VsphereError(conn.endpoint, step, f"the task succeeded but {dvs.name} lists no port "
                       f"group {spec.name}")


def destroy_dv_port_group(conn: VsphereConnection, moref: str, name: str,
                          timeout: float = TASK_TIMEOUT) -> bool:
    """Destroy a DV port group; False when it no longer exists."""
    pg = vim.dvs.DistributedVirtualPortgroup(moref, conn.stub)
    step = f"Destroy DV port group {name}"
    try:
        task = conn.call(step, pg.Destroy_Task)
    except VsphereNotFoundError:
        return False
    wait_task(conn, task, timeout, step)
    return True


@dataclass(frozen=True)
class CloneTarget:
    """Where a clone goes: its host, the host's resource pool, a datastore and a VM folder."""

    host: str  # morefs, all of them
    pool: str
    datastore: str
    folder: str


def clone_vm(conn: VsphereConnection, template: str, name: str, target: CloneTarget,
             device_changes: Sequence[Any], *, power_on: bool,
             timeout: float = TASK_TIMEOUT) -> str:
    """Clone a VM or template onto a host with NIC changes; the new VM's moref."""
    source = vim.VirtualMachine(template, conn.stub)
    spec = vim.vm.CloneSpec(
        location=vim.vm.RelocateSpec(host=vim.HostSystem(target.host, conn.stub),
                                     pool=vim.ResourcePool(target.pool, conn.stub),
                                     datastore=vim.Datastore(target.datastore, conn.stub)),
        config=vim.vm.ConfigSpec(deviceChange=list(device_changes)),
        powerOn=power_on, template=False)
    folder = vim.Folder(target.folder, conn.stub)
    step = f"CloneVM {name}"
    task = conn.call(step, lambda: source.CloneVM_Task(folder=folder, name=name, spec=spec))
    result = wait_task(conn, task, timeout, step)
    return str(result._moId)


def vm_devices(conn: VsphereConnection, vm: str, step: str) -> list[Any]:
    """A VM's virtual devices as vCenter reports them (to edit or remove one by key)."""
    values = read_one(conn, vim.VirtualMachine(vm, conn.stub), ["config.hardware.device"], step)
    return list(values.get("config.hardware.device") or ())


def reconfigure_nics(conn: VsphereConnection, vm: str, name: str,
                     device_changes: Sequence[Any], timeout: float = TASK_TIMEOUT) -> None:
    """Apply NIC adds/edits/removes to a VM in one ReconfigVM task."""
    obj = vim.VirtualMachine(vm, conn.stub)
    step = f"ReconfigVM {name}"
    spec = vim.vm.ConfigSpec(deviceChange=list(device_changes))
    task = conn.call(step, lambda: obj.ReconfigVM_Task(spec=spec))
    wait_task(conn, task, timeout, step)


def nic_keys(devices_: Sequence[Any]) -> set[int]:
    return {int(d.key) for d in devices_ if isinstance(d, vim.vm.device.VirtualEthernetCard)}


def destroy_vm(conn: VsphereConnection, vm: str, name: str,
               timeout: float = TASK_TIMEOUT) -> bool:
    """Power a VM off (if on) and destroy it with its disks; False when it no longer exists."""
    obj = vim.VirtualMachine(vm, conn.stub)
    try:
        state = read_one(conn, obj, ["runtime.powerState"], f"{name}: read power state")
    except VsphereNotFoundError:
        return False
    if not state:
        return False
    if state.get("runtime.powerState") == "poweredOn":
        step = f"PowerOffVM {name}"
        wait_task(conn, conn.call(step, obj.PowerOffVM_Task), timeout, step)
    step = f"Destroy VM {name}"
    wait_task(conn, conn.call(step, obj.Destroy_Task), timeout, step)
    return True


def nic_backing(conn: VsphereConnection, objects: VcenterObjects, network: str) -> Any:
    """The backing that puts a NIC on `network` (a port group or DV port group name)."""
    dvpg = objects.dv_port_groups.get(network)
    if dvpg is not None:
        dvs = next((d for d in objects.dvs.values() if d.moref == dvpg.dvs), None)
        if dvs is None:
            raise VsphereNotFoundError(conn.endpoint, f"NIC on {network}",
                                       f"the switch of DV port group {network} is not found")
        return devices.distributed_backing(dvs.uuid, dvpg.key)
    standard = [n for n in objects.networks_named(network) if not n.distributed]
    if not standard:
        raise VsphereNotFoundError(conn.endpoint, f"NIC on {network}",
                                   f"vCenter has no network {network!r}")
    return devices.standard_backing(network, vim.Network(standard[0].moref, conn.stub))
