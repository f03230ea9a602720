"""`probes deploy` and `probes remove`: make the plan's changes, journaled; undo them.

Deploy creates port groups first (standard ones per host, then DV port groups), then the VMs
(each clone with its management NIC on the user's port group and one vmxnet3 NIC per probe port
group, powered on), then NICs for attached VMs. Every change is journaled `pending` before its
call and `done` after it (see journal.py). Remove walks the journal newest first: NICs are
removed from VMs, cloned VMs powered off and destroyed, then port groups removed, each entry
dropped as soon as its object is gone. The first failure stops either command with the journal
saying exactly what exists; running the command again continues from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.drivers.vsphere import devices
from harness.drivers.vsphere.connection import VsphereConnection
from harness.drivers.vsphere.errors import (
    VsphereAuthError,
    VsphereError,
    VsphereFaultError,
    VsphereInvalidRequestError,
    VsphereNotFoundError,
    VspherePermissionError,
    VsphereTaskError,
)
from harness.drivers.vsphere.probevms import (
    CloneTarget,
    ProbeDvs,
    ProbeHost,
    VcenterObjects,
    add_dv_port_group,
    add_port_group,
    clone_vm,
    destroy_dv_port_group,
    destroy_vm,
    dv_port_group_spec,
    nic_backing,
    nic_keys,
    read_objects,
    reconfigure_nics,
    remove_port_group,
    standard_port_group_spec,
    vm_devices,
    vm_nics,
)
from harness.drivers.vsphere.vmomi import vim
from harness.errors import LabharnessError
from harness.lab.model import Lab
from harness.procedures.probevms.journal import (
    DvPortGroupEntry,
    Entry,
    JournalFile,
    NicEntry,
    PortGroupEntry,
    VmEntry,
)
from harness.procedures.probevms.plan import ProbePlan, VmStep

Progress = Callable[[str], None]
NETWORK_WAIT_S = 60.0


class ProbeChangeError(LabharnessError):
    """A deploy or remove stopped at a failed change; the journal lists what exists now."""

    def __init__(self, what: str, cause: VsphereError, journal: JournalFile, done: list[str],
                 command: str) -> None:
        left = len(journal.entries)
        super().__init__(
            f"{what} failed: {cause}\n{len(done)} change(s) made before it; the journal "
            f"{journal.path} lists the {left} object(s) labharness created that exist now. "
            f"Fix the cause and run labharness probes {command} again to continue"
            + ("" if command == "remove" else " (or probes remove to undo them)"))
        self.cause, self.done = cause, done


@dataclass
class Changes:
    """What a deploy or remove did, one line per object."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str, progress: Progress) -> None:
        self.lines.append(line)
        progress(line)


def _done(entry: Entry, **update: Any) -> Entry:
    return entry.model_copy(update={"state": "done", **update})


# vCenter answered with a fault (or the task ended in one): the change did not happen
_REFUSED = (VsphereTaskError, VsphereInvalidRequestError, VsphereNotFoundError,
            VspherePermissionError, VsphereAuthError, VsphereFaultError)


def _journaled(journal: JournalFile, entries: list[Entry],
               make: Callable[[], list[dict[str, Any]]]) -> None:
    """Journal `entries` as pending, make the change, then mark them done with what `make`
    returns for each. A refused change drops them again (nothing was made); after a lost
    connection or a timeout they stay pending, since the change may have happened."""
    indexes = [journal.append(e) for e in entries]
    try:
        updates = make()
    except _REFUSED:
        for index in reversed(indexes):
            journal.drop(index)
        raise
    for index, update in zip(indexes, updates, strict=True):
        journal.replace(index, _done(journal.entries[index], **update))


def deploy(conn: VsphereConnection, lab: Lab, plan: ProbePlan, found: VcenterObjects,
           journal: JournalFile, *, power_on: bool = True,
           progress: Progress = lambda _: None) -> Changes:
    """Make the plan's changes (the plan must have no problems), journaling each one.

    Raises:
        ProbeChangeError: a change failed; earlier ones stay, journaled.
    """
    changes = Changes()
    current = "reading vCenter"
    try:
        for step in plan.port_groups:
            if step.status != "create":
                continue
            current = f"creating port group {step.name} on {step.where}"
            if step.host is not None:
                host = found.hosts[step.host]
                spec = standard_port_group_spec(step.name, step.switch, step.uplink)

                def add_pg(host: ProbeHost = host, spec: Any = spec) -> list[dict[str, Any]]:
                    add_port_group(conn, host, spec)
                    return [{}]

                _journaled(journal, [PortGroupEntry(
                    state="pending", host=host.name, host_moref=host.moref,
                    vswitch=step.switch, name=step.name)], add_pg)
            else:
                dvs = found.dvs[step.switch]
                ports = max(1, len(lab.distributed_switches[step.switch].hosts))
                spec = dv_port_group_spec(step.name, step.uplink, ports)

                def add_dvpg(dvs: ProbeDvs = dvs, spec: Any = spec) -> list[dict[str, Any]]:
                    return [{"moref": add_dv_port_group(conn, dvs, spec)[0]}]

                _journaled(journal, [DvPortGroupEntry(
                    state="pending", dvs=dvs.name, dvs_moref=dvs.moref, name=step.name)],
                    add_dvpg)
            changes.add(f"created port group {step.name} on {step.where}", progress)
        vm_work = [v for v in plan.vms if v.status == "create" or v.nics_to_add]
        if vm_work:
            current = "waiting for vCenter to list the new port groups"
            found = _networks_listed(conn, plan)
        for vm in vm_work:
            if vm.status == "create":
                current = f"cloning {vm.name} onto {vm.host}"
                _clone(conn, vm, found, journal, power_on)
                template = vm.clone.template if vm.clone else "?"
                changes.add(f"cloned {vm.name} onto {vm.host} from {template}"
                            f"{', powered on' if power_on else ''}", progress)
            elif vm.moref is not None:
                current = f"adding {len(vm.nics_to_add)} NIC(s) to {vm.name}"
                _add_nics(conn, vm, found, journal)
                changes.add(f"added {len(vm.nics_to_add)} NIC(s) to {vm.name} on {vm.host}: "
                            f"{', '.join(n.network for n in vm.nics_to_add)}", progress)
    except VsphereError as exc:
        raise ProbeChangeError(current, exc, journal, changes.lines, "deploy") from None
    return changes


def _networks_listed(conn: VsphereConnection, plan: ProbePlan,
                     timeout: float = NETWORK_WAIT_S) -> VcenterObjects:
    """vCenter, once it lists every port group the VMs' NICs go on as a network of each host
    (a new standard port group's Network entity appears when vCenter syncs the host)."""
    deadline = time.monotonic() + timeout
    while True:
        found = read_objects(conn)
        missing = [f"{n.network} on {vm.host}" for vm in plan.vms for n in vm.nics
                   if n.status == "create" and vm.host in found.hosts and not any(
                       net.moref in found.hosts[vm.host].networks
                       for net in found.networks_named(n.network))]
        if not missing or time.monotonic() >= deadline:
            return found  # what is still missing fails the NIC's change, saying which
        time.sleep(1.0)


def _clone(conn: VsphereConnection, vm: VmStep, found: VcenterObjects, journal: JournalFile,
           power_on: bool) -> None:
    src = vm.clone
    assert src is not None  # a planned clone always has its source
    template = vm_devices(conn, src.template_moref, f"read template {src.template}")
    cards = sorted((d for d in template if isinstance(d, vim.vm.device.VirtualEthernetCard)),
                   key=lambda d: int(d.key))
    mgmt = nic_backing(conn, found, src.management_network)
    changes: list[Any] = []
    if cards:  # the template's first NIC becomes the management NIC
        first = cards[0]
        first.backing = mgmt
        first.connectable = vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, allowGuestControl=True, connected=False)
        changes.append(devices.edit(first))
    else:
        changes.append(devices.add(devices.vmxnet3(-100, mgmt, connected=False)))
    probe = [n for n in vm.nics if n.purpose != "management"]
    changes += [devices.add(devices.vmxnet3(-101 - i, nic_backing(conn, found, n.network),
                                            connected=False))
                for i, n in enumerate(probe)]
    target = CloneTarget(src.host_moref, src.pool, src.datastore_moref, src.folder)
    _journaled(journal, [VmEntry(state="pending", host=vm.host, name=vm.name,
                                 template=src.template)],
               lambda: [{"moref": clone_vm(conn, src.template_moref, vm.name, target, changes,
                                           power_on=power_on)}])


def _add_nics(conn: VsphereConnection, vm: VmStep, found: VcenterObjects,
              journal: JournalFile) -> None:
    assert vm.moref is not None
    target = found.vm_by_moref(vm.moref)
    powered_on = bool(target and target.powered_on)
    before = nic_keys(vm_devices(conn, vm.moref, f"read {vm.name}"))
    adds = vm.nics_to_add
    moref = vm.moref
    cards = [devices.add(devices.vmxnet3(-101 - i, nic_backing(conn, found, n.network),
                                         connected=powered_on)) for i, n in enumerate(adds)]

    def add() -> list[dict[str, Any]]:
        reconfigure_nics(conn, moref, vm.name, cards)
        names = {pg.key: pg.name for pg in found.dv_port_groups.values()}
        after = vm_nics(vm_devices(conn, moref, f"read {vm.name}"), names)
        new = {n.network: n.key for n in after if n.key not in before}
        return [{"key": new.get(n.network)} for n in adds]

    _journaled(journal, [NicEntry(state="pending", host=vm.host, vm=vm.name, vm_moref=moref,
                                  network=n.network, keys_before=sorted(before))
                         for n in adds], add)


# ---------------------------------------------------------------------------------------------
# remove


def remove(conn: VsphereConnection, journal: JournalFile, *,
           progress: Progress = lambda _: None) -> Changes:
    """Undo the journal newest first, dropping each entry once its object is gone.

    Raises:
        ProbeChangeError: an undo failed; the journal lists what is left.
    """
    changes = Changes()
    found = read_objects(conn)
    while journal.entries:
        index = len(journal.entries) - 1
        entry = journal.entries[index]
        what = _describe(entry)
        try:
            gone = _undo(conn, entry, found)
        except VsphereError as exc:
            raise ProbeChangeError(f"removing {what}", exc, journal, changes.lines,
                                   "remove") from None
        journal.drop(index)
        changes.add(f"{'removed' if gone else 'already gone:'} {what}", progress)
    return changes


def _describe(entry: Entry) -> str:
    if isinstance(entry, PortGroupEntry):
        return f"port group {entry.name} on {entry.host}/{entry.vswitch}"
    if isinstance(entry, DvPortGroupEntry):
        return f"DV port group {entry.name} on {entry.dvs}"
    if isinstance(entry, VmEntry):
        return f"VM {entry.name} (on {entry.host})"
    return f"NIC on {entry.network} of VM {entry.vm}"


def _undo(conn: VsphereConnection, entry: Entry, found: VcenterObjects) -> bool:
    """Undo one entry; False when its object no longer existed."""
    if isinstance(entry, VmEntry):
        moref = entry.moref
        if moref is None:  # the clone may or may not have happened: look for it by name
            named = found.vms_named(entry.name)
            if len(named) > 1:
                raise VsphereError(conn.endpoint, f"find {entry.name}", f"{len(named)} VMs are "
                                   f"named {entry.name}; remove the one labharness cloned by "
                                   "hand and drop its entry from the journal")
            if not named:
                return False
            moref = named[0].moref
        return destroy_vm(conn, moref, entry.name)
    if isinstance(entry, NicEntry):
        try:
            current = vm_devices(conn, entry.vm_moref, f"read {entry.vm}")
        except VsphereNotFoundError:
            return False
        names = {pg.key: pg.name for pg in found.dv_port_groups.values()}
        if entry.key is not None:
            keys = {entry.key}
        else:
            keys = {n.key for n in vm_nics(current, names)
                    if n.network == entry.network and n.key not in entry.keys_before}
        doomed = [d for d in current if int(d.key) in keys]
        if not doomed:
            return False
        reconfigure_nics(conn, entry.vm_moref, entry.vm, [devices.remove(d) for d in doomed])
        return True
    if isinstance(entry, DvPortGroupEntry):
        moref = entry.moref
        if moref is None:
            pg = found.dv_port_groups.get(entry.name)
            if pg is None or pg.dvs != entry.dvs_moref:
                return False
            moref = pg.moref
        return destroy_dv_port_group(conn, moref, entry.name)
    host = next((h for h in found.hosts.values() if h.moref == entry.host_moref), None)
    if host is None:
        return False
    return remove_port_group(conn, host, entry.name)
