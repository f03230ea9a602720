"""The journal of a probe deployment: every object `probes deploy` created, in order.

`probes remove` undoes exactly what the journal lists, newest first, and nothing else: objects
that existed before (even ones named like ours) are never in it. Each change is written to the
journal twice: as `pending` just before the call that makes it (so a crash or Ctrl-C in the
middle of a clone still leaves a record of what may now exist) and as `done`, with vCenter's
managed-object id, right after. The file is replaced atomically on every write, so it is always
either the old or the new journal, never half of one; `remove` drops each entry as soon as its
object is gone, so a failure midway leaves an accurate journal and a rerun finishes the job.

One process at a time: deploy and remove hold an exclusive lock on `<journal>.lock`.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import InputError, LabharnessError

State = Literal["pending", "done"]


class JournalError(InputError):
    """A journal that cannot be used: unreadable, corrupted, or written for another lab or
    vCenter. Says which file and what is wrong; nothing was changed."""


class JournalBusy(LabharnessError):
    """Another `probes deploy` or `probes remove` holds the journal's lock."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state: State
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))


class PortGroupEntry(_Entry):
    """A standard port group added to one host's vSwitch."""

    kind: Literal["port_group"] = "port_group"
    host: str
    host_moref: str
    vswitch: str
    name: str


class DvPortGroupEntry(_Entry):
    """A DV port group added to a distributed switch."""

    kind: Literal["dv_port_group"] = "dv_port_group"
    dvs: str
    dvs_moref: str
    name: str
    moref: str | None = None  # known once done


class VmEntry(_Entry):
    """A VM cloned onto a host (power it off and destroy it to undo)."""

    kind: Literal["vm"] = "vm"
    host: str
    name: str
    template: str
    moref: str | None = None


class NicEntry(_Entry):
    """A NIC added to a VM that labharness did not create (remove the device to undo).

    `keys_before` are the VM's NIC device keys before the change: a pending entry's NIC is the
    one on `network` whose key is not among them.
    """

    kind: Literal["nic"] = "nic"
    host: str  # whose probe NIC it is
    vm: str
    vm_moref: str
    network: str
    keys_before: list[int] = Field(default_factory=list)
    key: int | None = None


Entry = Annotated[PortGroupEntry | DvPortGroupEntry | VmEntry | NicEntry,
                  Field(discriminator="kind")]


class Journal(BaseModel):
    """What one lab's probe deployment created in one vCenter."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    lab: str
    vcenter: str  # host:port, for messages
    vcenter_uuid: str | None = None  # about.instanceUuid: which vCenter, whatever its address
    entries: list[Entry] = Field(default_factory=list)


def default_path(inventory_dir: Path, lab: str) -> Path:
    """`.labharness/probes-<lab>.json` next to the inventory."""
    return inventory_dir / ".labharness" / f"probes-{lab}.json"


def load(path: Path, lab: str) -> Journal | None:
    """The journal at `path`, None when there is none.

    Raises:
        JournalError: not JSON, not a journal, or written for another lab.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise JournalError(f"{path}: cannot read the probe journal: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JournalError(f"{path}:{exc.lineno}:{exc.colno}: the probe journal is not valid "
                           f"JSON ({exc.msg}); it is corrupted. If you know what it created, "
                           "remove those objects by hand and delete the file") from None
    try:
        journal = Journal.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors())
        raise JournalError(f"{path}: not a labharness probe journal (version "
                           f"1): {problems}") from None
    if journal.lab != lab:
        raise JournalError(f"{path}: this probe journal is for lab {journal.lab!r}, not "
                           f"{lab!r}; pass the right lab, or --journal to use another file")
    return journal


def check_vcenter(journal: Journal, path: Path, endpoint: str, uuid: str | None) -> None:
    """Refuse a journal written against another vCenter (by instance uuid when both have one).

    Raises:
        JournalError: the vCenters differ.
    """
    if journal.vcenter_uuid and uuid and journal.vcenter_uuid != uuid:
        raise JournalError(f"{path}: this probe journal was written against vCenter "
                           f"{journal.vcenter} (instance {journal.vcenter_uuid}); the inventory "
                           f"reaches {endpoint} (instance {uuid}), which is another vCenter")


class JournalFile:
    """A journal and the file it is saved to after every change."""

    def __init__(self, path: Path, journal: Journal) -> None:
        self.path = path
        self.journal = journal

    @property
    def entries(self) -> list[Entry]:
        return self.journal.entries

    def append(self, entry: Entry) -> int:
        """Add an entry, save, and return its index."""
        self.journal.entries.append(entry)
        self.save()
        return len(self.journal.entries) - 1

    def replace(self, index: int, entry: Entry) -> None:
        self.journal.entries[index] = entry
        self.save()

    def drop(self, index: int) -> None:
        del self.journal.entries[index]
        self.save()

    def save(self) -> None:
        """Write atomically (temporary file, fsync, rename); with no entries left, delete."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.journal.entries:
            self.path.unlink(missing_ok=True)
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.journal.model_dump_json(indent=2) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a crash
        finally:
            os.close(dir_fd)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `<journal>.lock` exclusively for a deploy or remove.

    Raises:
        JournalBusy: another process holds it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    with lock.open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusy(f"{path}: another labharness probes deploy or remove is using "
                              "this journal; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
