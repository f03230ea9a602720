"""The ESXi/vCenter compatibility table: reference data the F08 version-skew check reads.

A data table with a source on every row (harness/data/esxi_vcenter_compat.yaml): the first
build of every ESXi and vCenter GA/update release, and which ESXi lines (and up to which update
of its own line) each vCenter release manages. A build is placed at the newest release at or
below it, so patches count as their update.

`load_compat_table` validates the file like a lab file (file:line:column on every problem); the
check (`harness.checks.compat`) is handed the loaded table and never reads a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import Field, ValidationError

from harness.lab.errors import problems_from_validation
from harness.lab.source import InputFileError, Problem, SourceDocument, load_yaml
from harness.lab.types import StrictModel

COMPAT_TABLE = Path(__file__).resolve().parent.parent / "data" / "esxi_vcenter_compat.yaml"
TABLE_NAME = "harness/data/esxi_vcenter_compat.yaml"
ANY = "any"

_VERSION = r"^\d+\.\d+(\.\d+)?$"
_RELEASE = re.compile(r"^(\d+\.\d+) (GA|U(\d+))$")
_LINE = re.compile(r"^\d+\.\d+$")


def release_line(version: str) -> str:
    """`6.5.0` -> `6.5`: the product line a version belongs to."""
    return ".".join(version.split(".")[:2])


def line_key(line: str) -> tuple[int, ...]:
    return tuple(int(p) for p in line.split("."))


class EsxiRelease(StrictModel):
    """One ESXi GA or update release: the first build that carries it."""

    release: str = Field(description="`6.5 U1`, `7.0 GA`")
    version: str = Field(pattern=_VERSION)
    build: int = Field(ge=1)
    released: date
    source: str


class VCenterRelease(StrictModel):
    """One vCenter GA or update release and the ESXi it manages."""

    release: str
    version: str = Field(pattern=_VERSION)
    builds: list[int] = Field(min_length=1, description="ISO build and API build, if they differ")
    released: date
    manages: dict[str, str] = Field(
        description="ESXi line -> `any`, or the newest release of that line it manages")
    source: str
    support: str = Field(description="where the `manages` facts come from")

    @property
    def first_build(self) -> int:
        return min(self.builds)


class _CompatFile(StrictModel):
    esxi: list[EsxiRelease] = Field(min_length=1)
    vcenter: list[VCenterRelease] = Field(min_length=1)


@dataclass(frozen=True)
class CompatTable:
    """The validated table, by release line, oldest release first."""

    esxi: Mapping[str, tuple[EsxiRelease, ...]]
    vcenter: Mapping[str, tuple[VCenterRelease, ...]]
    path: str = TABLE_NAME

    def esxi_release(self, line: str, build: int) -> EsxiRelease | None:
        """The ESXi release a build of `line` belongs to; None below the line's first build."""
        found = None
        for release in self.esxi.get(line, ()):
            if release.build <= build:
                found = release
        return found

    def esxi_named(self, name: str) -> EsxiRelease:
        return next(r for r in self.esxi[name.split(" ")[0]] if r.release == name)

    def vcenter_release(self, version: str, build: int) -> VCenterRelease | None:
        """The vCenter release a build of `version`'s line belongs to, or None if unknown."""
        found = None
        for release in self.vcenter.get(release_line(version), ()):
            if release.first_build <= build:
                found = release
        return found

    def newest_vcenter_release(self, version: str) -> VCenterRelease | None:
        """The newest release that reports exactly `version` (`6.5.0` -> 6.5 U3)."""
        full = version if version.count(".") >= 2 else f"{version}.0"  # `6.5` means 6.5.0
        same = [r for r in self.vcenter.get(release_line(version), ()) if r.version == full]
        return same[-1] if same else None

    def first_vcenter_managing(self, line: str, release: EsxiRelease | None
                               ) -> VCenterRelease | None:
        """The oldest vCenter release that manages `release` (of `line`)."""
        for vline in sorted(self.vcenter, key=line_key):
            for vc in self.vcenter[vline]:
                limit = vc.manages.get(line)
                if limit == ANY or (limit is not None and release is not None
                                    and self.esxi_named(limit).build >= release.build):
                    return vc
        return None

    def vcenter_span(self) -> str:
        first = min(self.vcenter, key=line_key)
        last = max(self.vcenter, key=line_key)
        return f"{self.vcenter[first][0].release} to {self.vcenter[last][-1].release}"


def _cross_problems(doc: SourceDocument, data: _CompatFile) -> list[Problem]:
    problems: list[Problem] = []
    rows: list[tuple[str, int, str, str, int]] = [  # section, index, release, version, build
        *(("esxi", i, r.release, r.version, r.build) for i, r in enumerate(data.esxi)),
        *(("vcenter", i, r.release, r.version, r.first_build)
          for i, r in enumerate(data.vcenter)),
    ]
    seen: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], tuple[int, int]] = {}  # (section, line) -> (update, build)
    for section, i, release, version, build in rows:
        line = release_line(version)
        match = _RELEASE.match(release)
        if match is None or match.group(1) != line:
            problems.append(doc.problem((section, i, "release"), (
                f"{release!r} is not a release of {line} (write '{line} GA' or '{line} U1')")))
            continue
        if (section, release) in seen:
            problems.append(doc.problem((section, i, "release"), (
                f"{release!r} is listed twice (also {section}[{seen[(section, release)]}])")))
        seen[(section, release)] = i
        update = int(match.group(3) or 0)
        before = last.get((section, line))
        if before is not None and (update <= before[0] or build <= before[1]):
            problems.append(doc.problem((section, i), (
                f"{release} must come after the earlier {line} releases, with a higher update "
                "number and a higher build")))
        last[(section, line)] = (update, build)
    names = {r.release: r for r in data.esxi}
    for i, vc in enumerate(data.vcenter):
        own = release_line(vc.version)
        if own not in vc.manages:
            problems.append(doc.problem(("vcenter", i, "manages"),
                                        f"must say up to which {own} update {vc.release} manages"))
        for line, limit in vc.manages.items():
            where = ("vcenter", i, "manages", line)
            if not _LINE.match(line):
                problems.append(doc.problem(where, f"{line!r} is not an ESXi line like '6.5'",
                                            key=True))
            elif limit != ANY and (limit not in names or release_line(names[limit].version)
                                   != line):
                known = ", ".join(r for r in names if r.startswith(f"{line} ")) or "none listed"
                problems.append(doc.problem(where, (
                    f"{limit!r} is neither 'any' nor an ESXi {line} release of the esxi "
                    f"section (known: {known})")))
            elif line_key(line) > line_key(own):
                problems.append(doc.problem(where, (
                    f"vCenter {vc.release} cannot manage a newer ESXi line ({line})")))
    return problems


def load_compat_table(path: Path | str = COMPAT_TABLE) -> CompatTable:
    """Load and validate a compatibility table.

    Raises:
        InputFileError: every problem of the file, with file:line:column and field.
    """
    doc = load_yaml(Path(path))
    try:
        data = _CompatFile.model_validate(doc.data)
    except ValidationError as exc:
        raise InputFileError(problems_from_validation(doc, _CompatFile, exc)) from None
    problems = _cross_problems(doc, data)
    if problems:
        raise InputFileError(problems)
    esxi: dict[str, list[EsxiRelease]] = {}
    for row in data.esxi:
        esxi.setdefault(release_line(row.version), []).append(row)
    vcenter: dict[str, list[VCenterRelease]] = {}
    for vc in data.vcenter:
        vcenter.setdefault(release_line(vc.version), []).append(vc)
    shown = TABLE_NAME if Path(path).resolve() == COMPAT_TABLE else str(path)
    return CompatTable({k: tuple(v) for k, v in esxi.items()},
                       {k: tuple(v) for k, v in vcenter.items()}, shown)
