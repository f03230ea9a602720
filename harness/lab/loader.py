"""Load lab and inventory files: YAML -> located plain data -> models -> cross-references.

Every problem of a file is collected and raised at once as an InputFileError, each naming
file:line:column, the dotted path and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from harness.lab.errors import problems_from_validation
from harness.lab.inventory import Inventory
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
    known = set(lab.hosts) | set(lab.routers) | set(lab.physical_switches) | set(lab.vms)
    for name in inv.ssh:
        if name not in known:
            problems.append(doc.problem(("ssh", name), f"lab {lab.name} has no host, router, "
                                        f"switch or VM {name!r}"))
    return problems
