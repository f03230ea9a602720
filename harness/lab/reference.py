"""Reference data the checks compare a lab against: facts about products, not about a lab.

Loaded (and validated, with file:line:column on every problem) by the caller and handed to the
checks, which never read a file themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from harness.lab.compat import CompatTable, load_compat_table


@dataclass(frozen=True)
class Reference:
    """The reference tables a run uses.

    Attributes:
        compat: which ESXi builds each vCenter release manages (F08).
    """

    compat: CompatTable


@cache
def shipped_reference() -> Reference:
    """The tables shipped with labharness (loaded once per process).

    Raises:
        InputFileError: a shipped table is invalid (a packaging bug, reported like a lab file).
    """
    return Reference(compat=load_compat_table())
