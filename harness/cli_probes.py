"""`labharness probes plan|deploy|verify|remove`: probe VMs for a real or nested lab.

    labharness probes plan   --lab L --inventory I --template T --management-network PG
    labharness probes deploy --lab L --inventory I --template T --management-network PG \\
                             --allow-disruptive
    labharness probes verify --lab L --inventory I
    labharness probes remove --lab L --inventory I --allow-disruptive

`plan` reads vCenter and changes nothing; `deploy` and `remove` change the lab and run only with
--allow-disruptive on a lab that says `disruptive_allowed: true`; both keep the journal
(default `.labharness/probes-<lab>.json` next to the inventory) that lets `remove` undo exactly
what `deploy` made. Exit codes: 0 done (plan: nothing in the way; verify: everything works),
1 a problem (the plan has problems, a change failed, a probe VM lacks something), 2 bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.errors import ExitCode, OptionError

if TYPE_CHECKING:  # the commands import what they use: `labharness validate` stays fast
    from harness.drivers.vsphere.connection import VsphereConnection
    from harness.drivers.vsphere.probevms import VcenterObjects
    from harness.lab.inventory import Inventory, TlsEndpoint
    from harness.lab.loader import LoadedInventory
    from harness.lab.model import Lab
    from harness.procedures.probevms.journal import Journal
    from harness.procedures.probevms.plan import ProbePlan
    from harness.procedures.probevms.verify import HostVerdict

app = typer.Typer(help="Probe VMs for a real or nested lab: plan, deploy, verify, remove.",
                  no_args_is_help=True)
out = Console(soft_wrap=True, highlight=False)

LabOption = Annotated[Path, typer.Option("--lab", help="lab file")]
InventoryOption = Annotated[Path, typer.Option(
    "--inventory", help="inventory with the lab's vCenter (and probes: for verify)")]
JournalOption = Annotated[Path | None, typer.Option(
    help="journal of what deploy created [default: .labharness/probes-<lab>.json next to the "
         "inventory]")]
HostsOption = Annotated[list[str] | None, typer.Option(
    "--host", help="only these ESXi hosts (repeatable) [default: every host of the lab]")]
TemplateOption = Annotated[str | None, typer.Option(
    help="VM or template to clone each probe VM from (python3, python3-scapy, sshd, your key)")]
ManagementOption = Annotated[str | None, typer.Option(
    "--management-network", help="port group (standard or distributed) for the clone's first "
    "NIC: the address the harness reaches it on over SSH")]
AttachOption = Annotated[list[str] | None, typer.Option(
    help="HOST=VM: add the probe NICs to an existing VM on that host instead of cloning "
         "(repeatable)")]
DatastoreOption = Annotated[str | None, typer.Option(
    help="datastore for the clones [default: the template's, when the host has it, else the "
         "host's datastore with the most free space]")]
AllowOption = Annotated[bool, typer.Option(
    "--allow-disruptive", help="required: this changes the lab's vCenter")]

STATUS_STYLE = {"create": "green", "ours": "cyan", "exists": "blue", "problem": "red"}
STATUS_WORDS = {"create": "create", "ours": "exists (labharness made it)",
                "exists": "exists (kept, never removed)", "problem": "problem"}


def _inputs(lab: Path, inventory: Path) -> tuple[Lab, LoadedInventory]:
    from harness.lab.loader import load_inventory, load_lab

    model = load_lab(lab)
    return model, load_inventory(inventory, model)


def _connect(loaded: LoadedInventory, endpoint: TlsEndpoint) -> VsphereConnection:
    """A (not yet opened) session to the inventory's vCenter, with its `timeouts`."""
    from harness.drivers.vsphere.connection import VsphereConnection

    t = loaded.inventory.timeouts
    return VsphereConnection.from_inventory(
        endpoint, loaded.base_dir, connect_timeout=t.vsphere.connect,
        request_timeout=t.vsphere.read, logout_timeout=t.logout)


def _vcenter(inv: Inventory) -> TlsEndpoint:
    if inv.vcenter is None:
        raise OptionError(f"inventory {inv.name} has no `vcenter`: probe VMs are built "
                          "through vCenter")
    return inv.vcenter


def _changing(lab: Path, inventory: Path, journal_file: Path | None, allow: bool,
              command: str) -> tuple[Lab, LoadedInventory, TlsEndpoint, Path]:
    """Inputs of a command that changes vCenter, refused before anything is read unless
    disruptive changes are allowed."""
    model, loaded = _inputs(lab, inventory)
    endpoint = _vcenter(loaded.inventory)
    _refuse_unless(allow, model, command)
    return model, loaded, endpoint, _journal_path(journal_file, inventory, model)


def _journal_path(path: Path | None, inventory: Path, lab: Lab) -> Path:
    from harness.procedures.probevms import journal

    return path if path is not None else journal.default_path(inventory.resolve().parent,
                                                               lab.name)


def _attach(values: list[str] | None) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or []:
        host, sep, vm = value.partition("=")
        if not sep or not host or not vm:
            raise OptionError(f"--attach {value!r}: write HOST=VM, e.g. --attach esx01=probe01")
        if host in pairs:
            raise OptionError(f"--attach names host {host} twice")
        pairs[host] = vm
    return pairs


def _refuse_unless(allow: bool, lab: Lab, what: str) -> None:
    if not (allow and lab.disruptive_allowed):
        why = ("pass --allow-disruptive" if not allow else
               f"lab {lab.name} says `disruptive_allowed: false`")
        raise OptionError(f"{what} changes the lab's vCenter and runs only with "
                          f"--allow-disruptive on a lab that says `disruptive_allowed: true`: "
                          f"{why}. Nothing was changed (labharness probes plan shows what "
                          "would be)")


def _read(conn: VsphereConnection, found_journal: Journal | None,
          path: Path) -> VcenterObjects:
    from harness.drivers.vsphere.probevms import read_objects
    from harness.procedures.probevms import journal

    found = read_objects(conn)
    if found_journal is not None:
        journal.check_vcenter(found_journal, path, conn.endpoint, found.instance_uuid)
    return found


def _print_plan(plan: ProbePlan) -> None:
    table = Table(title=f"probe VMs for lab {plan.lab}: {plan.changes} change(s)")
    for column in ("object", "where", "what", "status"):
        table.add_column(column, overflow="fold")
    for pg in plan.port_groups:
        what = (f"trunk, VLAN {'4095' if not pg.distributed else '0-4094'}" if pg.uplink is None
                else f"pinned to {pg.uplink}")
        table.add_row(escape(pg.name), escape(pg.where), what,
                      f"[{STATUS_STYLE[pg.status]}]{STATUS_WORDS[pg.status]}[/]")
    for vm in plan.vms:
        how = {"clone": "VM", "attach": "your VM (--attach)", "none": "VM: none given"}[vm.mode]
        if vm.clone is not None:
            how += f", clone of {vm.clone.template}, datastore {vm.clone.datastore}"
        table.add_row(escape(vm.name), escape(vm.host), escape(how),
                      f"[{STATUS_STYLE[vm.status]}]{STATUS_WORDS[vm.status]}[/]")
        for nic in vm.nics:
            status = "create" if nic.status == "create" else nic.status
            table.add_row(f"  NIC {escape(nic.purpose)}", escape(nic.network),
                          escape(nic.mac or ""),
                          f"[{STATUS_STYLE[status]}]{'add' if status == 'create' else 'on it'}[/]")
    out.print(table)
    for problem in plan.problems:
        out.print(f"[red]problem[/]: {escape(problem)}")
    if plan.nothing_to_do:
        out.print("nothing to do: every probe port group and VM is in place")


def _print_entries(lab: Lab, inv: Inventory, hosts: list[str],
                   macs: dict[str, dict[str, str]],
                   verdicts: dict[str, HostVerdict] | None = None) -> None:
    from harness.procedures.probevms.verify import inventory_lines

    out.print("\nthe inventory's probes: entries (guest NIC names are found by MAC by "
              "labharness probes verify once the VMs are up):")
    out.print("probes:", markup=False)
    for host in hosts:
        lines = inventory_lines(lab, host, (verdicts or {}).get(host), macs.get(host),
                                inv.probes.get(host))
        out.print("\n".join(lines), markup=False)


def _macs(lab: Lab, found: VcenterObjects, found_journal: Journal | None,
          hosts: list[str]) -> dict[str, dict[str, str]]:
    from harness.procedures.probevms.verify import probe_macs

    return {h: probe_macs(lab, found, found_journal, h) for h in hosts}


@app.command("plan")
def plan_command(lab: LabOption, inventory: InventoryOption, template: TemplateOption = None,
                 management_network: ManagementOption = None, attach: AttachOption = None,
                 host: HostsOption = None, datastore: DatastoreOption = None,
                 journal_file: JournalOption = None) -> None:
    """Print what deploy would create, what exists already, and what is in the way (reads
    vCenter only). Exit 1 when the plan has problems."""
    from harness.procedures.probevms import journal
    from harness.procedures.probevms.plan import PlanOptions, make_plan

    model, loaded = _inputs(lab, inventory)
    inv = loaded.inventory
    endpoint = _vcenter(inv)
    path = _journal_path(journal_file, inventory, model)
    found_journal = journal.load(path, model.name)
    options = PlanOptions(template, management_network, _attach(attach), host or None,
                          datastore)
    with _connect(loaded, endpoint) as conn:
        found = _read(conn, found_journal, path)
    plan = make_plan(model, found, found_journal, options)
    _print_plan(plan)
    _print_entries(model, inv, list(plan.hosts),
                   _macs(model, found, found_journal, list(plan.hosts)))
    if plan.problems:
        raise typer.Exit(ExitCode.FAILED)


@app.command("deploy")
def deploy_command(lab: LabOption, inventory: InventoryOption, template: TemplateOption = None,
                   management_network: ManagementOption = None, attach: AttachOption = None,
                   host: HostsOption = None, datastore: DatastoreOption = None,
                   journal_file: JournalOption = None, allow_disruptive: AllowOption = False,
                   power_on: Annotated[bool, typer.Option(
                       help="power the clones on")] = True,
                   check: Annotated[bool, typer.Option(
                       "--verify/--no-verify", help="verify the probe VMs afterwards when the "
                       "inventory has probes: entries for them")] = True,
                   boot_timeout: Annotated[float, typer.Option(
                       help="seconds to wait for fresh clones to answer SSH")] = 300.0) -> None:
    """Create the planned probe port groups and VMs, journaling every change (disruptive)."""
    from harness.drivers.vsphere.probevms import read_objects
    from harness.procedures.probevms import apply, journal
    from harness.procedures.probevms.plan import PlanOptions, make_plan
    from harness.procedures.probevms.verify import verify

    model, loaded, endpoint, path = _changing(lab, inventory, journal_file, allow_disruptive,
                                              "probes deploy")
    inv = loaded.inventory
    options = PlanOptions(template, management_network, _attach(attach), host or None,
                          datastore)
    with journal.locked(path), _connect(loaded, endpoint) as conn:
        found_journal = journal.load(path, model.name)
        found = _read(conn, found_journal, path)
        plan = make_plan(model, found, found_journal, options)
        _print_plan(plan)
        if plan.problems:
            out.print("[red]deploy refused: the plan has problems; nothing was changed[/]")
            raise typer.Exit(ExitCode.FAILED)
        current = found_journal or journal.Journal(lab=model.name, vcenter=conn.endpoint)
        current.vcenter_uuid = current.vcenter_uuid or found.instance_uuid
        if not plan.nothing_to_do:
            changes = apply.deploy(conn, model, plan, found, journal.JournalFile(path, current),
                                   power_on=power_on,
                                   progress=lambda line: out.print(escape(line)))
            out.print(f"{len(changes.lines)} change(s) made; journal: {escape(str(path))}")
        found = read_objects(conn)
    hosts = list(plan.hosts)
    macs = _macs(model, found, current, hosts)
    verdicts = None
    if check and hosts and all(h in inv.probes for h in hosts):
        results = verify(model, inv.probes, loaded.base_dir, hosts, macs=macs,
                         boot_timeout=boot_timeout if power_on else 0.0,
                         start_timeout=inv.timeouts.probe.connect,
                         call_timeout=inv.timeouts.probe.read)
        _print_verdicts(results)
        verdicts = {v.host: v for v in results}
    _print_entries(model, inv, hosts, macs, verdicts)
    if verdicts is not None and not all(v.ok for v in verdicts.values()):
        raise typer.Exit(ExitCode.FAILED)


@app.command("remove")
def remove_command(lab: LabOption, inventory: InventoryOption,
                   journal_file: JournalOption = None,
                   allow_disruptive: AllowOption = False) -> None:
    """Undo what deploy created, newest first, exactly as its journal lists (disruptive)."""
    from harness.procedures.probevms import apply, journal

    model, loaded, endpoint, path = _changing(lab, inventory, journal_file, allow_disruptive,
                                              "probes remove")
    with journal.locked(path):
        found_journal = journal.load(path, model.name)
        if found_journal is None:
            out.print(f"nothing to remove: no probe journal at {escape(str(path))}")
            return
        with _connect(loaded, endpoint) as conn:
            journal.check_vcenter(found_journal, path, conn.endpoint,
                                  str(conn.content.about.instanceUuid or "") or None)
            changes = apply.remove(conn, journal.JournalFile(path, found_journal),
                                   progress=lambda line: out.print(escape(line)))
    out.print(f"{len(changes.lines)} object(s) removed; the journal is empty (deleted)")


def _print_verdicts(verdicts: list[HostVerdict]) -> None:
    for v in verdicts:
        head = "[green]ok[/]" if v.ok else f"[red]{len(v.missing)} missing[/]"
        out.print(f"[bold]{escape(v.host)}[/]: {head}")
        for c in v.checks:
            mark = {"ok": "[green]ok[/]     ", "missing": "[red]MISSING[/]",
                    "skipped": "[yellow]skipped[/]"}[c.status]
            out.print(f"  {mark} {escape(c.what)}: {escape(c.detail)}")


@app.command("verify")
def verify_command(lab: LabOption, inventory: InventoryOption, host: HostsOption = None,
                   journal_file: JournalOption = None,
                   boot_timeout: Annotated[float, typer.Option(
                       help="keep retrying SSH this long (a VM still booting)")] = 0.0) -> None:
    """Prove each host's probe VM works: SSH, python3, scapy, its NICs (matched by MAC when
    vCenter knows the VM) and tagged frames both ways on every VLAN of the lab. Says per host
    what is missing; exit 1 if anything is."""
    from harness.drivers.vsphere.errors import VsphereError
    from harness.procedures.probevms import journal
    from harness.procedures.probevms.verify import verify

    model, loaded = _inputs(lab, inventory)
    inv = loaded.inventory
    hosts = list(host or model.hosts)
    unknown = [h for h in hosts if h not in model.hosts]
    if unknown:
        raise OptionError(f"--host {', '.join(unknown)}: lab {model.name} has no such host "
                          f"(it has {', '.join(model.hosts)})")
    macs: dict[str, dict[str, str]] = {}
    vcenter_problem = None
    if inv.vcenter is not None:
        path = _journal_path(journal_file, inventory, model)
        found_journal = journal.load(path, model.name)
        try:
            with _connect(loaded, inv.vcenter) as conn:
                found = _read(conn, found_journal, path)
            macs = _macs(model, found, found_journal, hosts)
        except VsphereError as exc:
            vcenter_problem = str(exc)
    verdicts = verify(model, inv.probes, loaded.base_dir, hosts, macs=macs,
                      boot_timeout=boot_timeout, start_timeout=inv.timeouts.probe.connect,
                      call_timeout=inv.timeouts.probe.read)
    _print_verdicts(verdicts)
    if vcenter_problem:
        out.print(f"[red]vCenter[/]: cannot read the probe VMs' NICs ({escape(vcenter_problem)})"
                  "; their guest names were not cross-checked by MAC")
    named = {v.host: v for v in verdicts if v.trunks or v.uplinks}
    if named and any(not v.ok for v in verdicts):
        _print_entries(model, inv, [h for h in hosts if h in named], macs, named)
    ok = all(v.ok for v in verdicts) and vcenter_problem is None
    out.print("[bold green]probe VMs ready[/]" if ok else "[bold red]probe VMs not ready[/]")
    if not ok:
        raise typer.Exit(ExitCode.FAILED)
