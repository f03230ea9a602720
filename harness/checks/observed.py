"""Build the design view from a vCenter snapshot (the observed side).

The view has the shape `view_from_lab` gives the lab file, so the design checks run unchanged on
what vCenter reports and their findings say `source = observed`. Policies resolve as vSphere
does: a standard port group's computedPolicy is ESXi's own answer; a DV port group's unset field
takes the DVS default, then vSphere's default for a DVS. DVS uplinks become vmnics through the
host's proxy switch (its pnic backing).

The lab's intent is kept only where vCenter has no such fact:
- `vmnic_adapter`: which server adapter a vmnic is on (vCenter has PCI ids, the lab has slots);
- `page_sharing`: the intended TPS mode is a design decision, not a setting;
- vmknic `subnet_shared_with` (a design exception), and the `iscsi` service: iSCSI port
  binding lives in the software iSCSI adapter, not in VirtualNicManager's nic types. Both are
  taken only from the lab's vmknic of the same name on the same port group;
- NLB clusters (vCenter does not know NLB) and the VXLAN underlay (routers, physical switches
  and NSX are outside vCenter).

Port groups and VMs named `lh-probe-*` are left out: `labharness probes deploy` builds them
(trunks with promiscuous mode on purpose, port groups pinned to one uplink) as the harness's
own instruments, and judging them as the lab's design would report the tool as the fault.
"""

from __future__ import annotations

from harness.checks.intent import view_from_lab
from harness.checks.view import DesignView, HostView, VCenterView, VmknicView, VmNicView, VmView
from harness.facts.vsphere import (
    DEFAULT_OPTION_KEYS,
    SERVICE_OF_NIC_TYPE,
    STACK_OF_NETSTACK,
    DvPortGroupFacts,
    DvsFacts,
    HostFacts,
    PolicyFacts,
    SecurityFacts,
    Snapshot,
    TeamingFacts,
    is_probe_object,
)
from harness.lab.model import Lab
from harness.lab.views import SECURITY_DEFAULTS, PortGroupView, SecurityView, TeamView


def _security(kind: str, *layers: SecurityFacts) -> SecurityView:
    default = SECURITY_DEFAULTS[kind]

    def pick(name: str) -> bool:
        for layer in layers:
            value = getattr(layer, name)
            if value is not None:
                return bool(value)
        return bool(getattr(default, name))

    return SecurityView(pick("allow_promiscuous"), pick("mac_changes"), pick("forged_transmits"))


def _team(uplinks: tuple[str, ...], to_vmnic: dict[str, str], *layers: TeamingFacts) -> TeamView:
    def pick(name: str, default: object) -> object:
        for layer in layers:
            value = getattr(layer, name)
            if value is not None:
                return value
        return default

    # The failover order is one setting: the first layer that has one decides both lists.
    order = next((t for t in layers if t.active is not None or t.standby is not None), None)
    standby = tuple(order.standby or ()) if order else ()
    active = tuple(order.active or ()) if order and order.active is not None else tuple(
        u for u in uplinks if u not in standby)
    return TeamView(
        load_balancing=str(pick("load_balancing", "loadbalance_srcid")),
        active=tuple(to_vmnic[u] for u in active if u in to_vmnic),
        standby=tuple(to_vmnic[u] for u in standby if u in to_vmnic),
        failure_detection="beacon_probing" if pick("check_beacon", False) else "link_status",
        notify_switches=bool(pick("notify_switches", True)),
        failback=bool(pick("failback", True)),
    )


def _standard_port_groups(host: HostFacts) -> dict[str, PortGroupView]:
    out: dict[str, PortGroupView] = {}
    for pg in host.port_groups.values():
        if is_probe_object(pg.name):
            continue
        vswitch = host.vswitches.get(pg.vswitch)
        uplinks = vswitch.uplinks if vswitch else ()
        out[pg.name] = PortGroupView(
            name=pg.name, switch=pg.vswitch, switch_kind="standard",
            switch_mtu=vswitch.mtu if vswitch else 1500, vlan=pg.vlan,
            security=_security("standard", pg.computed.security),
            teaming=_team(uplinks, {u: u for u in uplinks}, pg.computed.teaming))
    return out


def _member_of(host: HostFacts, dvs: DvsFacts) -> bool:
    return host.name in dvs.members or any(p.dvs_uuid == dvs.uuid for p in host.proxy_switches)


def _dv_port_group(pg: DvPortGroupFacts, dvs: DvsFacts, to_vmnic: dict[str, str],
                   ) -> PortGroupView:
    layers: tuple[PolicyFacts, ...] = (pg.policy, dvs.default_policy)
    vlan = pg.vlan if pg.vlan is not None else dvs.default_vlan
    return PortGroupView(
        name=pg.name, switch=dvs.name, switch_kind="distributed",
        switch_mtu=dvs.max_mtu or 1500, vlan=vlan or 0,
        security=_security("distributed", *(p.security for p in layers)),
        teaming=_team(dvs.uplink_names, to_vmnic, *(p.teaming for p in layers)))


def _host_view(host: HostFacts, snapshot: Snapshot, lab: Lab) -> HostView:
    intent = lab.hosts.get(host.name)
    pgs = _standard_port_groups(host)
    for dvs in snapshot.dvs.values():
        if not _member_of(host, dvs):
            continue
        to_vmnic: dict[str, str] = {}
        for proxy in host.proxy_switches:
            if proxy.dvs_uuid == dvs.uuid:
                to_vmnic.update(proxy.uplinks)
        for pg in snapshot.dv_port_groups.values():
            if pg.dvs == dvs.name and not pg.uplink and not is_probe_object(pg.name):
                pgs[pg.name] = _dv_port_group(pg, dvs, to_vmnic)
    dvpg_by_key = {pg.key: pg.name for pg in snapshot.dv_port_groups.values()}
    vmknics: dict[str, VmknicView] = {}
    for vmk in host.vmknics.values():
        port_group = vmk.port_group or ""
        if vmk.dvs_port is not None and vmk.dvs_port.portgroup_key:
            port_group = dvpg_by_key.get(vmk.dvs_port.portgroup_key, port_group)
        lab_vmk = intent.vmknics.get(vmk.device) if intent else None
        if lab_vmk is not None and lab_vmk.port_group != port_group:
            lab_vmk = None  # not the vmknic the lab means: take nothing from its intent
        services = [SERVICE_OF_NIC_TYPE[t] for t in vmk.services if t in SERVICE_OF_NIC_TYPE]
        if vmk.netstack == "vxlan":
            services.append("vxlan")  # NSX-V VTEPs live on the vxlan stack; no nic type says so
        if lab_vmk is not None and "iscsi" in lab_vmk.services:
            services.append("iscsi")  # intent: see the module docstring
        vmknics[vmk.device] = VmknicView(
            name=vmk.device, port_group=port_group, ip=vmk.ip, mtu=vmk.mtu,
            services=tuple(dict.fromkeys(services)),
            tcpip_stack=STACK_OF_NETSTACK.get(vmk.netstack, vmk.netstack),
            subnet_shared_with=tuple(lab_vmk.subnet_shared_with) if lab_vmk else ())
    build = int(host.build) if host.build and host.build.isdigit() else 0
    return HostView(
        name=host.name, version=host.version or "", build=build,
        ntp_servers=host.ntp_servers, advanced_options=dict(host.options), port_groups=pgs,
        vmknics=vmknics,
        vmnic_adapter=lab.vmnic_adapter(host.name) if intent else {},
        page_sharing=intent.page_sharing if intent else None)


def view_from_snapshot(snapshot: Snapshot, lab: Lab) -> DesignView:
    """The observed side of the design view: what vCenter reports, shaped like the intent."""
    hosts = {name: _host_view(h, snapshot, lab) for name, h in snapshot.hosts.items()}
    vms = {
        name: VmView(
            name=name, host=vm.host or "", extra_config=dict(vm.extra_config),
            nics=tuple(VmNicView(n.label, n.mac, n.address_type, n.network or "")
                       for n in vm.nics))
        for name, vm in snapshot.vms.items() if not is_probe_object(name)
    }
    intent = view_from_lab(lab)
    about = snapshot.vcenter
    vcenter = VCenterView(intent.vcenter.name if intent.vcenter else "vcenter", about.version,
                          int(about.build) if about.build.isdigit() else None)
    # the NLB clusters are what to check vCenter's port groups against; the underlay (router
    # and switch interfaces) is not something vCenter reports, so the observed view has none
    return DesignView(source="observed", hosts=hosts, vms=vms,
                      nlb_clusters=intent.nlb_clusters, underlay=(), vcenter=vcenter)


# subject kinds vCenter can report; others (underlay hops) are observed by other drivers
OBSERVABLE_KINDS = ("hosts", "vmknics", "port_groups", "vxlan_path", "nlb_port_groups",
                    "vm_nics")


def observable_subject(kind: str, subject: str, lab: Lab) -> bool:
    """Whether vCenter reports this subject at all (a VTEP yes, a router interface no)."""
    if kind not in OBSERVABLE_KINDS:
        return False
    return kind != "vxlan_path" or subject.split("/", 1)[0] in lab.hosts


def missing_subject(view: DesignView, kind: str, subject: str) -> str | None:
    """What vCenter lacks of a lab subject (None when it reports it): the subject the lab has
    and vCenter does not is a finding, not a silent pass."""
    name, _, part = subject.partition("/")
    if kind == "vm_nics":
        vm = view.vms.get(name)
        if vm is None:
            return f"VM {name}"
        return None if any(n.label == part for n in vm.nics) else f"{part} of VM {name}"
    host = view.hosts.get(name)
    if host is None:
        return f"host {name}"
    if kind in ("vmknics", "vxlan_path") and part not in host.vmknics:
        return f"{part} on {name}"
    if kind in ("port_groups", "nlb_port_groups") and part not in host.port_groups:
        return f"port group {part} on {name}"
    return None


def snapshot_option_keys(lab: Lab) -> tuple[str, ...]:
    """Advanced option keys worth reading for this lab: the ones the checks use and every key
    a host of the lab sets (pass to `VsphereDriver.snapshot(option_keys=...)`)."""
    keys = dict.fromkeys(DEFAULT_OPTION_KEYS)
    for host in lab.hosts.values():
        keys.update(dict.fromkeys(host.advanced_options))
    return tuple(keys)
