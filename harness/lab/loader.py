"""Load lab and inventory files: YAML -> located plain data -> models -> cross-references.

Every problem of a file is collected and raised at once as an InputFileError, each naming
file:line:column, the dotted path and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from harness.lab.errors import problems_from_validation
from harness.lab.inventory import Inventory, ProbeSite
from harness.lab.model import Lab
from harness.lab.references import validate_references
from harness.lab.source import InputFileError, Problem, SourceDocument, load_yaml


def load_lab(path: Path | str) -> Lab:
    """Load and fully validate a lab file.

    Raises:
        InputFileError: with every problem found in the file.
    """
    doc = load_yaml(Path(path))
    _refuse_other_kind(doc, "lab")
    try:
        lab = Lab.model_validate(doc.data)
    except ValidationError as exc:
        raise InputFileError(problems_from_validation(doc, Lab, exc)) from None
    problems = [doc.problem(p.path, p.message) for p in validate_references(lab)]
    if problems:
        raise InputFileError(problems)
    return lab


@dataclass(frozen=True)
class LoadedInventory:
    """An inventory and the directory its relative paths resolve against."""

    inventory: Inventory
    base_dir: Path


def load_inventory(path: Path | str, lab: Lab | None = None) -> LoadedInventory:
    """Load an inventory file and check it against the lab it realises.

    Raises:
        InputFileError: with every problem found in the file.
    """
    path = Path(path)
    doc = load_yaml(path)
    _refuse_other_kind(doc, "inventory")
    try:
        inventory = Inventory.model_validate(doc.data)
    except ValidationError as exc:
        raise InputFileError(problems_from_validation(doc, Inventory, exc)) from None
    problems = _inventory_problems(doc, inventory, lab)
    if problems:
        raise InputFileError(problems)
    return LoadedInventory(inventory, path.resolve().parent)


def _refuse_other_kind(doc: SourceDocument, expected: str) -> None:
    """One clear error for a lab given as an inventory (or the other way round), instead of a
    page of unknown keys."""
    keys = set(doc.data)
    lab_only = keys & (set(Lab.model_fields) - set(Inventory.model_fields))
    inventory_only = keys & (set(Inventory.model_fields) - set(Lab.model_fields))
    is_inventory = isinstance(doc.data.get("lab"), str)
    if expected == "inventory" and lab_only and not inventory_only and not is_inventory:
        raise InputFileError([doc.problem(
            (sorted(lab_only)[0],), f"this is a lab file (it has {', '.join(sorted(lab_only))}); "
            f"an inventory has {', '.join(Inventory.model_fields)}", key=True)])
    if expected == "lab" and is_inventory and not lab_only:
        raise InputFileError([doc.problem(
            ("lab",), "this is an inventory file (it names the lab it realises); a lab has "
            f"{', '.join(Lab.model_fields)}", key=True)])


def _inventory_problems(doc: SourceDocument, inv: Inventory, lab: Lab | None) -> list[Problem]:
    problems: list[Problem] = []
    if inv.backend == "real":
        for data_path, ref in inv.secret_refs():
            if ref.startswith("plain:"):
                problems.append(doc.problem(data_path, "a real lab's secrets are references only: "
                                            "use env:NAME or file:PATH, not plain:"))
    if lab is None:
        return problems
    if inv.lab != lab.name:
        problems.append(doc.problem(("lab",), f"this inventory realises lab {inv.lab!r}, but the "
                                    f"lab given is {lab.name!r}"))
    for name in inv.bmcs:
        if name not in lab.servers:
            problems.append(doc.problem(("bmcs", name), f"lab {lab.name} has no server {name!r}; "
                                        f"servers: {', '.join(sorted(lab.servers)) or '(none)'}"))
    for name in inv.opnsense:
        router = lab.routers.get(name)
        if router is None:
            problems.append(doc.problem(("opnsense", name), f"lab {lab.name} has no router "
                                        f"{name!r}; routers: "
                                        f"{', '.join(sorted(lab.routers)) or '(none)'}",
                                        key=True))
        elif router.kind != "opnsense":
            problems.append(doc.problem(("opnsense", name), f"router {name} is `kind: "
                                        f"{router.kind}` in lab {lab.name}: an `opnsense` API "
                                        "entry is for a `kind: opnsense` router (a Linux router "
                                        "is reached through `ssh`)", key=True))
    known = set(lab.hosts) | set(lab.routers) | set(lab.physical_switches) | set(lab.vms)
    for name in inv.ssh:
        if name not in known:
            problems.append(doc.problem(("ssh", name), f"lab {lab.name} has no host, router, "
                                        f"switch or VM {name!r}"))
    for name, site in inv.probes.items():
        problems += _probe_problems(doc, lab, name, site)
    return problems


def _probe_problems(doc: SourceDocument, lab: Lab, name: str, site: ProbeSite) -> list[Problem]:
    """A probe site names a host (its probe VM) or a VM, and only what that element has."""
    where = ("probes", name)
    out: list[Problem] = []

    def bad(field: str, key: str, what: str, allowed: list[str]) -> None:
        out.append(doc.problem((*where, field, key), f"{name} has no {what} {key!r}; "
                               f"{what}s: {', '.join(allowed) or '(none)'}", key=True))

    if name in lab.hosts:
        switches = [*lab.hosts[name].standard_switches,
                    *(d for d, dvs in lab.distributed_switches.items() if name in dvs.hosts)]
        for switch in site.trunks:
            if switch not in switches:
                bad("trunks", switch, "virtual switch", switches)
        if not site.trunks:
            out.append(doc.problem(where, f"the probe VM of host {name} needs `trunks` (a NIC on "
                                   "a trunk port group of each virtual switch)"))
        vmnics = lab.host_vmnics(name)
        for vmnic in site.uplinks:
            if vmnic not in vmnics:
                bad("uplinks", vmnic, "vmnic", vmnics)
        for network, address in site.addresses.items():
            if network not in lab.networks:
                bad("addresses", network, "lab network", sorted(lab.networks))
            elif address.ip not in lab.networks[network].subnet:
                out.append(doc.problem((*where, "addresses", network),
                                       f"{address} is outside network {network} "
                                       f"({lab.networks[network].subnet})"))
        if site.interfaces:
            out.append(doc.problem((*where, "interfaces"), "`interfaces` is for a VM; a host's "
                                   "probe VM has `trunks` and `uplinks`", key=True))
    elif name in lab.vms:
        for label in site.interfaces:
            if label not in lab.vms[name].nics:
                bad("interfaces", label, "NIC", sorted(lab.vms[name].nics))
        for field in ("trunks", "uplinks", "addresses"):
            if getattr(site, field):
                out.append(doc.problem((*where, field), f"`{field}` is for a host's probe VM; a "
                                       "VM has `interfaces`", key=True))
    else:
        out.append(doc.problem(where, f"lab {lab.name} has no host or VM {name!r}; probes run "
                               "on a host's probe VM or on a VM", key=True))
    return out
