"""What a probe deployment would change: the lab's switches and uplinks against what vCenter has.

Per ESXi host of the lab the probe VM needs one NIC on a trunk port group of each virtual switch
the host has in the lab, and one NIC on a port group pinned to each uplink: on a standard
vSwitch `lh-probe-trunk-<vSwitch>` and `lh-probe-<vSwitch>-<vmnic>` on that host; on a
distributed switch `lh-probe-trunk-<dvs>` and `lh-probe-<dvs>-<uplink>` once per switch (the
vmnic behind an uplink differs per host; the lab's `hosts.<h>.uplinks` says which). The probe VM
itself is `lh-probe-<host>`, cloned from a template, or a VM of the user's (`--attach`).

Every object the plan names is in one of four states: `create` (deploy makes it), `ours` (an
earlier deploy made it; it is in the journal), `exists` (it was there before and fits; it is
used, never journaled, never removed) or `problem` (it exists but does not fit, or something it
needs is missing: deploy refuses until the plan has no problems). Pure: reads only the records
the vSphere driver returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from harness.drivers.vsphere.probevms import (
    MAX_NICS,
    TRUNK_RANGE,
    TRUNK_VLAN,
    ProbeDvPortGroup,
    ProbeHost,
    ProbeVm,
    VcenterObjects,
)
from harness.facts.vsphere import PROBE_PREFIX, PolicyFacts
from harness.lab.model import Lab
from harness.lab.views import host_port_groups
from harness.procedures.probevms.journal import (
    DvPortGroupEntry,
    Journal,
    NicEntry,
    PortGroupEntry,
    VmEntry,
)

Status = Literal["create", "ours", "exists", "problem"]


def trunk_name(switch: str) -> str:
    return f"{PROBE_PREFIX}trunk-{switch}"


def pinned_name(switch: str, uplink: str) -> str:
    return f"{PROBE_PREFIX}{switch}-{uplink}"


def vm_name(host: str) -> str:
    return f"{PROBE_PREFIX}{host}"


@dataclass(frozen=True)
class ProbeNic:
    """One NIC a host's probe VM needs.

    Attributes:
        kind: `trunk` (every VLAN of `switch`) or `uplink` (pinned to one uplink).
        uplink: for `uplink`: the vmnic on a standard switch, the uplink name on a DVS.
        vmnic: for `uplink`: the host's vmnic behind it (the inventory's `uplinks` key).
        network: the probe port group.
    """

    kind: Literal["trunk", "uplink"]
    switch: str
    distributed: bool
    uplink: str | None
    vmnic: str | None
    network: str

    @property
    def purpose(self) -> str:
        if self.kind == "trunk":
            return f"trunk {self.switch}"
        via = f"{self.uplink} = {self.vmnic}" if self.distributed else str(self.vmnic)
        return f"uplink {self.switch} {via}"


def probe_nics(lab: Lab, host: str) -> list[ProbeNic]:
    """The NICs of a host's probe VM besides management, in the order they are added: per
    switch (standard ones first, as the lab lists them) its trunk, then one per uplink."""
    h = lab.hosts[host]
    out: list[ProbeNic] = []
    for sname, sw in h.standard_switches.items():
        out.append(ProbeNic("trunk", sname, False, None, None, trunk_name(sname)))
        out += [ProbeNic("uplink", sname, False, vmnic, vmnic, pinned_name(sname, vmnic))
                for vmnic in sw.uplinks]
    for dname, dvs in lab.distributed_switches.items():
        member = dvs.hosts.get(host)
        if member is None:
            continue
        out.append(ProbeNic("trunk", dname, True, None, None, trunk_name(dname)))
        out += [ProbeNic("uplink", dname, True, u, member.uplinks[u], pinned_name(dname, u))
                for u in dvs.uplinks if u in member.uplinks]
    return out


def switch_vlans(lab: Lab, host: str) -> dict[str, list[int]]:
    """The VLANs the lab's port groups use on each virtual switch of a host."""
    out: dict[str, set[int]] = {}
    for pg in host_port_groups(lab, host).values():
        out.setdefault(pg.switch, set()).add(pg.vlan)
    return {switch: sorted(vlans) for switch, vlans in out.items()}


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class PortGroupStep:
    """A probe port group: on one host's vSwitch (`host` set) or on a DVS (`host` None)."""

    switch: str
    name: str
    uplink: str | None  # pinned: vmnic (standard) or uplink name (DVS); None: trunk
    host: str | None
    status: Status

    @property
    def distributed(self) -> bool:
        return self.host is None

    @property
    def where(self) -> str:
        return f"{self.host}/{self.switch}" if self.host else self.switch


@dataclass(frozen=True)
class NicStep:
    """A NIC of a probe VM: on which port group, and whether it is there already."""

    purpose: str
    network: str
    status: Status  # create, or exists (the VM has a NIC on it)
    mac: str | None = None


@dataclass(frozen=True)
class CloneSource:
    """Where a clone comes from and goes to (morefs), resolved from vCenter."""

    template: str
    template_moref: str
    datastore: str
    datastore_moref: str
    pool: str
    folder: str
    host_moref: str
    management_network: str


@dataclass(frozen=True)
class VmStep:
    """A host's probe VM: cloned (`clone`), the user's (`attach`) or none given (`none`)."""

    host: str
    name: str
    mode: Literal["clone", "attach", "none"]
    status: Status
    nics: tuple[NicStep, ...] = ()
    moref: str | None = None  # when it exists
    clone: CloneSource | None = None

    @property
    def nics_to_add(self) -> list[NicStep]:
        return [n for n in self.nics if n.status == "create"]


@dataclass(frozen=True)
class ProbePlan:
    """Everything a deployment of the lab's probe VMs would create, use or trip over."""

    lab: str
    hosts: tuple[str, ...]
    port_groups: tuple[PortGroupStep, ...]
    vms: tuple[VmStep, ...]
    problems: tuple[str, ...]

    @property
    def changes(self) -> int:
        """How many objects deploy would create (port groups, VMs, NICs added to VMs)."""
        made = sum(1 for p in self.port_groups if p.status == "create")
        made += sum(1 for v in self.vms if v.status == "create")
        made += sum(len(v.nics_to_add) for v in self.vms if v.status != "create")
        return made

    @property
    def nothing_to_do(self) -> bool:
        return self.changes == 0 and not self.problems


@dataclass(frozen=True)
class PlanOptions:
    """What the user chose: a template to clone (and the management network its first NIC
    goes on), or existing VMs to attach per host; which hosts; which datastore."""

    template: str | None = None
    management_network: str | None = None
    attach: Mapping[str, str] = field(default_factory=dict)
    hosts: Sequence[str] | None = None
    datastore: str | None = None


def _fits(policy: PolicyFacts, uplink: str | None) -> list[str]:
    """Why an existing port group's policy cannot serve as this probe port group."""
    wrong: list[str] = []
    s = policy.security
    for what, value in (("promiscuous mode", s.allow_promiscuous),
                        ("MAC address changes", s.mac_changes),
                        ("forged transmits", s.forged_transmits)):
        if value is not True:
            wrong.append(f"{what} not allowed")
    if uplink is not None:
        t = policy.teaming
        if tuple(t.active or ()) != (uplink,) or tuple(t.standby or ()):
            wrong.append(f"failover order is active {list(t.active or ())} standby "
                         f"{list(t.standby or ())}, not {uplink} alone")
    return wrong


def _covers(pg: ProbeDvPortGroup, vlans: Sequence[int]) -> list[int]:
    """VLANs of `vlans` a DV port group does not carry."""
    return [v for v in vlans if not any(a <= v <= b for a, b in pg.vlans)]


class _Planner:
    def __init__(self, lab: Lab, found: VcenterObjects, journal: Journal | None,
                 options: PlanOptions) -> None:
        self.lab, self.found, self.options = lab, found, options
        self.entries = journal.entries if journal else []
        self.problems: list[str] = []
        self.port_groups: list[PortGroupStep] = []
        self.vms: list[VmStep] = []
        self._dv_done: set[str] = set()

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def ours_pg(self, host: str, name: str) -> bool:
        return any(isinstance(e, PortGroupEntry) and e.host == host and e.name == name
                   for e in self.entries)

    def ours_dvpg(self, name: str, moref: str) -> bool:
        return any(isinstance(e, DvPortGroupEntry) and e.name == name
                   and e.moref in (moref, None) for e in self.entries)

    # -- port groups ------------------------------------------------------------------------
    def standard(self, hname: str, host: ProbeHost) -> None:
        for sname, sw in self.lab.hosts[hname].standard_switches.items():
            vswitch = host.vswitches.get(sname)
            if vswitch is None:
                self.problem(f"{hname}: vCenter shows no standard switch {sname} on the host "
                             f"(it has {', '.join(sorted(host.vswitches)) or 'none'})")
                continue
            self.standard_pg(hname, host, sname, None, trunk_name(sname))
            for vmnic in sw.uplinks:
                name = pinned_name(sname, vmnic)
                if vmnic not in vswitch.uplinks:
                    self.problem(f"{hname}/{sname}: the lab has uplink {vmnic} but vCenter's "
                                 f"{sname} has {', '.join(vswitch.uplinks) or 'no uplinks'}: "
                                 f"cannot pin {name} to it")
                    continue
                self.standard_pg(hname, host, sname, vmnic, name)

    def standard_pg(self, hname: str, host: ProbeHost, sname: str, uplink: str | None,
                    name: str) -> None:
        have = host.port_groups.get(name)
        if have is None:
            self.port_groups.append(PortGroupStep(sname, name, uplink, hname, "create"))
            return
        ours = self.ours_pg(hname, name)
        wrong = ([] if have.vlan == TRUNK_VLAN else [f"VLAN {have.vlan}, not {TRUNK_VLAN}"])
        if have.vswitch != sname:
            wrong.append(f"on {have.vswitch}, not {sname}")
        wrong += _fits(have.computed, uplink)
        self.existing(PortGroupStep(sname, name, uplink, hname, "ours" if ours else "exists"),
                      f"{hname}: port group {name}", wrong)

    def distributed(self, hname: str, host: ProbeHost) -> None:
        for dname, dvs in self.lab.distributed_switches.items():
            member = dvs.hosts.get(hname)
            if member is None:
                continue
            found = self.found.dvs.get(dname)
            if found is None:
                if dname not in self._dv_done:
                    self.problem(f"vCenter has no distributed switch {dname}")
                    self._dv_done.add(dname)
                continue
            proxy = next((p for p in host.proxy_switches if p.dvs_uuid == found.uuid), None)
            if proxy is None:
                self.problem(f"{hname} is not a member of distributed switch {dname} in "
                             "vCenter: add the host to the switch first")
                continue
            for u, vmnic in member.uplinks.items():
                backed = proxy.uplinks.get(u)
                if backed is not None and backed != vmnic:
                    self.problem(f"{hname}/{dname}: vCenter backs {u} with {backed}, the lab "
                                 f"says {vmnic}: the probe NIC pinned to {u} would measure "
                                 f"{backed}. Fix the lab or the switch first")
            if dname in self._dv_done:
                continue
            self._dv_done.add(dname)
            vlans = sorted({v for h in dvs.hosts if h in self.lab.hosts
                            for v in switch_vlans(self.lab, h).get(dname, [])})
            self.dv_pg(dname, None, trunk_name(dname), vlans)
            for u in dvs.uplinks:
                if u not in found.uplinks:
                    self.problem(f"{dname}: the lab has uplink {u} but vCenter's switch has "
                                 f"{', '.join(found.uplinks) or 'none'}")
                    continue
                self.dv_pg(dname, u, pinned_name(dname, u), vlans)

    def dv_pg(self, dname: str, uplink: str | None, name: str, vlans: Sequence[int]) -> None:
        have = self.found.dv_port_groups.get(name)
        if have is None:
            self.port_groups.append(PortGroupStep(dname, name, uplink, None, "create"))
            return
        ours = self.ours_dvpg(name, have.moref)
        dvs = self.found.dvs[dname]
        wrong = [] if have.dvs == dvs.moref else ["on another distributed switch"]
        missing = _covers(have, vlans)
        if missing:
            wrong.append(f"does not carry VLAN(s) {', '.join(map(str, missing))} (trunk "
                         f"{TRUNK_RANGE[0]}-{TRUNK_RANGE[1]} carries all)")
        wrong += _fits(have.policy, uplink)
        self.existing(PortGroupStep(dname, name, uplink, None, "ours" if ours else "exists"),
                      f"DV port group {name}", wrong)

    def existing(self, step: PortGroupStep, what: str, wrong: Sequence[str]) -> None:
        """Record a port group that exists: used as it is, or a problem saying why not."""
        if wrong:
            whose = "created by labharness" if step.status == "ours" else \
                "not created by labharness"
            self.problem(f"{what} exists ({whose}) but does not fit a probe: "
                         f"{'; '.join(wrong)}. Fix or remove it")
            step = replace(step, status="problem")
        self.port_groups.append(step)

    # -- the VM -----------------------------------------------------------------------------
    def nic_steps(self, vm: ProbeVm | None, nics: Sequence[ProbeNic],
                  management: str | None) -> tuple[NicStep, ...]:
        have = {n.network: n for n in vm.nics} if vm else {}
        ours = {e.network for e in self.entries if isinstance(e, NicEntry)
                and vm is not None and e.vm_moref == vm.moref}
        wanted = ([("management", management)] if management else []) + [
            (n.purpose, n.network) for n in nics]
        out = []
        for purpose, network in wanted:
            nic = have.get(network)
            status: Status = ("create" if nic is None else "ours" if network in ours
                              else "exists")
            out.append(NicStep(purpose, network, status, nic.mac if nic else None))
        return tuple(out)

    def our_vm(self, hname: str) -> ProbeVm | None:
        for e in self.entries:
            if isinstance(e, VmEntry) and e.host == hname:
                vm = (self.found.vm_by_moref(e.moref) if e.moref else
                      next(iter(self.found.vms_named(e.name)), None))
                if vm is not None:
                    return vm
        return None

    def vm(self, hname: str, host: ProbeHost) -> None:
        nics = probe_nics(self.lab, hname)
        name = vm_name(hname)
        attach = self.options.attach.get(hname)
        if attach is not None:
            self.attached(hname, attach, nics)
            return
        mine = self.our_vm(hname)
        if mine is not None:
            steps = self.nic_steps(mine, nics, None)
            self.nic_limit(hname, mine.name, len(mine.nics), steps)
            self.vms.append(VmStep(hname, mine.name, "clone", "ours", steps, mine.moref))
            return
        if self.found.vms_named(name):
            self.vms.append(VmStep(hname, name, "clone", "problem"))
            self.problem(f"{hname}: a VM named {name} exists that labharness did not create: "
                         f"attach it (--attach {hname}={name}) or rename it")
            return
        if self.options.template is None:
            self.vms.append(VmStep(hname, name, "none", "problem",
                                   self.nic_steps(None, nics, None)))
            self.problem(f"{hname}: no probe VM: name a template to clone (--template) or "
                         f"an existing VM (--attach {hname}=VM)")
            return
        clone = self.clone_source(hname, host)
        steps = self.nic_steps(None, nics, self.options.management_network or "(management)")
        template = self.template()
        if template is not None:
            self.nic_limit(hname, name, max(len(template.nics), 1) - 1, steps)
        status: Status = "create" if clone is not None else "problem"
        self.vms.append(VmStep(hname, name, "clone", status, steps, clone=clone))

    def attached(self, hname: str, vm: str, nics: Sequence[ProbeNic]) -> None:
        found = self.found.vms_named(vm)
        if len(found) != 1:
            self.vms.append(VmStep(hname, vm, "attach", "problem"))
            self.problem(f"{hname}: --attach {hname}={vm}: vCenter has "
                         f"{'no VM' if not found else f'{len(found)} VMs'} named {vm}")
            return
        target = found[0]
        if target.template:
            self.problem(f"{hname}: {vm} is a template; attach a VM (or clone it: --template)")
        elif target.host != hname:
            self.problem(f"{hname}: {vm} runs on {target.host or 'no host'}, not on {hname}: "
                         "its probe NICs must be on this host's port groups")
        steps = self.nic_steps(target, nics, None)
        self.nic_limit(hname, vm, len(target.nics), steps)
        self.vms.append(VmStep(hname, vm, "attach", "exists", steps, target.moref))

    def nic_limit(self, hname: str, vm: str, have: int, steps: Sequence[NicStep]) -> None:
        total = have + sum(1 for s in steps if s.status == "create")
        if total > MAX_NICS:
            self.problem(f"{hname}: {vm} would have {total} network adapters; a VM can have "
                         f"{MAX_NICS}. Probe fewer switches or uplinks (--host) or split them")

    def template(self) -> ProbeVm | None:
        name = self.options.template
        found = self.found.vms_named(name) if name else []
        return found[0] if len(found) == 1 else None

    def clone_source(self, hname: str, host: ProbeHost) -> CloneSource | None:
        name = self.options.template
        assert name is not None
        found = self.found.vms_named(name)
        ok = True
        if len(found) != 1:
            self.problem(f"--template {name}: vCenter has "
                         f"{'no VM or template' if not found else f'{len(found)} VMs'} named "
                         f"{name}")
            ok = False
        mgmt = self.options.management_network
        if mgmt is None:
            self.problem("--management-network is required with --template: the port group "
                         "the clone's first NIC (its SSH address) goes on")
            ok = False
        elif not any(n.moref in host.networks for n in self.found.networks_named(mgmt)):
            self.problem(f"{hname}: management network {mgmt!r} is not available on the host")
            ok = False
        pool = self.found.resource_pools.get(host.compute or "")
        if pool is None:
            self.problem(f"{hname}: no resource pool found for the host's cluster")
            ok = False
        folder = self.folder()
        datastore = self.datastore(hname, host, found[0] if len(found) == 1 else None)
        if not ok or folder is None or datastore is None or pool is None or mgmt is None:
            return None
        return CloneSource(name, found[0].moref, datastore[0], datastore[1], pool, folder,
                           host.moref, mgmt)

    def folder(self) -> str | None:
        dcs = self.found.datacenters
        wanted = self.lab.vcenter.datacenter if self.lab.vcenter else None
        if wanted is not None and wanted in dcs:
            return dcs[wanted]
        if len(dcs) == 1:
            return next(iter(dcs.values()))
        if not any("datacenter" in p for p in self.problems):
            self.problem(f"cannot tell the datacenter for the probe VMs: the lab names "
                         f"{wanted!r}, vCenter has {', '.join(sorted(dcs)) or 'none'}")
        return None

    def datastore(self, hname: str, host: ProbeHost, template: ProbeVm | None,
                  ) -> tuple[str, str] | None:
        stores = [self.found.datastores[d] for d in host.datastores
                  if d in self.found.datastores]
        wanted = self.options.datastore
        if wanted is not None:
            pick = next((d for d in stores if d.name == wanted), None)
            if pick is None:
                self.problem(f"{hname}: datastore {wanted!r} is not mounted on the host (it has "
                             f"{', '.join(sorted(d.name for d in stores)) or 'none'})")
                return None
            return pick.name, pick.moref
        usable = [d for d in stores if d.accessible]
        same = [d for d in usable if template and d.moref in template.datastores]
        pick = same[0] if same else max(usable, key=lambda d: d.free_bytes, default=None)
        if pick is None:
            self.problem(f"{hname}: the host has no accessible datastore for the clone")
            return None
        return pick.name, pick.moref


def make_plan(lab: Lab, found: VcenterObjects, journal: Journal | None,
              options: PlanOptions) -> ProbePlan:
    """The plan for the lab's hosts (or `options.hosts`) against what vCenter has."""
    p = _Planner(lab, found, journal, options)
    hosts = list(options.hosts) if options.hosts else list(lab.hosts)
    for h in hosts:
        if h not in lab.hosts:
            p.problem(f"--host {h}: lab {lab.name} has no such host (it has "
                      f"{', '.join(lab.hosts)})")
    for h in options.attach:
        if h not in lab.hosts:
            p.problem(f"--attach {h}=...: lab {lab.name} has no host {h}")
    hosts = [h for h in hosts if h in lab.hosts]
    for hname in hosts:
        host = found.hosts.get(hname)
        if host is None:
            p.problem(f"{hname}: vCenter has no host of that name (it has "
                      f"{', '.join(sorted(found.hosts)) or 'none'})")
            continue
        if not host.connected:
            p.problem(f"{hname}: the host is not connected to vCenter")
            continue
        p.standard(hname, host)
        p.distributed(hname, host)
        p.vm(hname, host)
    return ProbePlan(lab.name, tuple(hosts), tuple(p.port_groups), tuple(p.vms),
                     tuple(dict.fromkeys(p.problems)))


def probe_vm_of(journal: Journal | None, host: str) -> tuple[str, str | None] | None:
    """(name, moref) of the VM the journal says carries `host`'s probe NICs (a clone, or the
    user's VM they were added to); None when the journal has none for it."""
    for e in journal.entries if journal else ():
        if isinstance(e, VmEntry) and e.host == host:
            return e.name, e.moref
        if isinstance(e, NicEntry) and e.host == host:
            return e.vm, e.vm_moref
    return None
