"""Build a lab's vSphere configuration in a vCenter through the vSphere API, as a nested-lab
build does.

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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim as _vim

from harness.drivers.vsphere import devices
from harness.drivers.vsphere.connection import VsphereConnection
from harness.facts.vsphere import (
    NIC_TYPE_OF_SERVICE,
    NTP_RULESET,
    NTP_SERVICE,
    ROLLBACK_OPTION,
)
from harness.lab.model import Lab, Security, Teaming
from harness.sim.scenarios import VsphereFaults
from harness.sim.vcenter.provision.inventory import PROVISIONED_KEY, Plan, plan_lab, read_inventory
from harness.sim.vcenter.provision.policy import (
    DVS,
    dvpg_setting,
    dvs_setting,
    option_value,
    segment_port_group,
    standard_pg_policy,
    standard_switch_spec,
    switch_security,
    switch_team,
    vmknic_spec,
)
from harness.sim.vcenter.provision.report import ProvisionError, ProvisionReport
from harness.sim.vcenter.provision.session import Session

vim: Any = _vim


def provision(conn: VsphereConnection, lab: Lab, *,
              vsphere_faults: VsphereFaults | None = None) -> ProvisionReport:
    """Build `lab`'s vSphere configuration in the vCenter behind `conn`.

    Args:
        conn: an open driver connection (its TLS, timeouts, request counting and error
            translation are the ones every other vSphere call of the harness uses).
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
    with Session(conn, report) as s:
        vc = lab.vcenter
        with s.stage("read inventory"):
            inv = read_inventory(s, vc.datacenter if vc else "")
            plan = plan_lab(lab, inv, faults)
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
            si = vim.ServiceInstance("ServiceInstance", conn.stub)
            with s.stage("scenario steps"):
                for step in faults.after_provision:
                    s.call("scenario", getattr(step, "__name__", "step"), step, si, lab)
    return report


def _standard_switches(s: Session, plan: Plan, hname: str) -> None:
    host = plan.lab.hosts[hname]
    found = plan.inv.hosts[hname]
    ns = found.manager("networkSystem")
    vswitches = found.vswitches
    portgroups = found.portgroups
    # switches that exist first: updating them can free vmnics a new switch needs
    for sname, sw in sorted(host.standard_switches.items(), key=lambda kv: kv[0] not in vswitches):
        team = switch_team(sw.teaming, sw.uplinks)
        spec = standard_switch_spec(sw.mtu, sw.uplinks, team,
                                     switch_security("standard", sw.security))
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
                policy=standard_pg_policy(pg.teaming, pg.security, sw.uplinks))
            element = f"{hname}/{pname}"
            if pname in portgroups:
                s.call(element, "UpdatePortGroup", ns.UpdatePortGroup, pgName=pname,
                       portgrp=pspec)
            else:
                s.call(element, "AddPortGroup", ns.AddPortGroup, portgrp=pspec)
            s.report.add("port groups", element)


def _host_settings(s: Session, plan: Plan, hname: str) -> None:
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


def _distributed_switches(s: Session, plan: Plan) -> dict[str, _DvsInfo]:
    lab = plan.lab
    inv = plan.inv
    assert inv.datacenter is not None  # checked by provision()
    folder = inv.datacenter["networkFolder"]
    creates = []
    for dname, dvs in lab.distributed_switches.items():
        config = DVS.ConfigSpec(
            name=dname, maxMtu=dvs.mtu,
            uplinkPortPolicy=vim.DistributedVirtualSwitch.NameArrayUplinkPortPolicy(
                uplinkPortName=list(dvs.uplinks)),
            linkDiscoveryProtocolConfig=vim.host.LinkDiscoveryProtocolConfig(
                protocol="cdp" if dvs.discovery == "none" else dvs.discovery,
                operation="none" if dvs.discovery == "none" else "listen"),
            defaultPortConfig=dvs_setting(
                0, switch_team(dvs.teaming, dvs.uplinks),
                switch_security("distributed", dvs.security)))
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
            defaultPortConfig=dvpg_setting(dvs, pg.vlan, pg.teaming, pg.security))
            for pname, pg in dvs.port_groups.items()]
        for seg_name, (seg_dvs, _) in list(plan.segments.items()):
            if seg_dvs != dname or lab.nsx is None:
                continue
            wire = segment_port_group(refs[dname]._moId, seg_index[seg_name],
                                      lab.nsx.segments[seg_name].vni, seg_name)
            plan.segments[seg_name] = (dname, wire)
            specs.append(vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
                name=wire, type="earlyBinding", numPorts=8, autoExpand=True,
                defaultPortConfig=dvpg_setting(dvs, 0, Teaming(), Security())))
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
        spec = DVS.ConfigSpec(configVersion=d.props.get("config.configVersion"), host=hosts)
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


def _read_dvs(s: Session, refs: Mapping[str, Any]) -> dict[str, _DvsRead]:
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


def _check_members(s: Session, plan: Plan, info: Mapping[str, _DvsRead]) -> None:
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


def _vmknics(s: Session, plan: Plan, hname: str, dvs_info: Mapping[str, _DvsInfo]) -> None:
    host = plan.lab.hosts[hname]
    found = plan.inv.hosts[hname]
    ns = found.manager("networkSystem")
    for vname, vmk in sorted(host.vmknics.items(), key=lambda kv: int(kv[0][3:])):
        where = plan.where(hname, vmk.port_group)
        assert where is not None  # checked by _plan
        spec = vmknic_spec(hname, vname, vmk)
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


def _nic_types(s: Session, plan: Plan, hname: str) -> None:
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


def _cleanup(s: Session, plan: Plan, hname: str) -> None:
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


def _vms(s: Session, plan: Plan, dvs_info: Mapping[str, _DvsInfo]) -> None:
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
        cards = []
        labels = sorted(vm.nics, key=lambda n: (len(n), n))  # ethernet0, ethernet1, ...
        for i, label in enumerate(labels):
            nic = vm.nics[label]
            where = plan.where(vm.host, nic.port_group)
            assert where is not None  # checked by _plan
            if where[0] == "distributed":
                d = dvs_info[where[1]]
                pg = plan.segments[nic.port_group][1] if nic.port_group in plan.segments \
                    else nic.port_group
                backing = devices.distributed_backing(d.uuid, d.port_groups[pg])
            else:
                if nic.port_group not in networks:
                    raise ProvisionError(f"{vname}/{label}", "CreateVM_Task",
                                         f"vCenter has no network {nic.port_group!r}", s.report)
                backing = devices.standard_backing(nic.port_group, networks[nic.port_group])
            cards.append(devices.add(devices.vmxnet3(
                -100 - i, backing, connected=False, mac=nic.mac,
                address_type=nic.address_type)))
        config = vim.vm.ConfigSpec(
            name=vname, guestId="otherGuest64", numCPUs=1, memoryMB=64,
            files=vim.vm.FileInfo(vmPathName=f"[{datastore}]"), deviceChange=cards,
            extraConfig=[vim.option.OptionValue(key=k, value=option_value(v))
                         for k, v in vm.extra_config.items()])
        creates.append((vname, lambda c=config, h=found.ref: folder.CreateVM_Task(
            config=c, pool=pool, host=h)))
    s.tasks("CreateVM_Task", creates)
    for vname in lab.vms:
        s.report.add("VMs", vname)
