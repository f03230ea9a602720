"""The one error a bundle can raise: which file, which member inside it, and what is wrong."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import InputError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """Member names and values come from the archive: show control characters escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class DepotError(InputError):
    """An offline bundle that cannot be read as an ESXi depot.

    Attributes:
        file: the bundle on disk.
        member: the archive member at fault; nested archives read `metadata.zip:profiles/x.xml`.
        problem: what is wrong, worded for the person who handed us the file.
    """

    def __init__(self, file: Path | str, member: str | None, problem: str) -> None:
        self.file = _one_line(str(file))
        self.member = _one_line(member) if member is not None else None
        self.problem = _one_line(problem)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.member}" if self.member else self.file
        return f"{where}: {self.problem}"
