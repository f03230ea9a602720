"""F08 version-skew: is every ESXi host a build its vCenter Server release can manage?

The facts come from a data table with a source on every row (harness/data/
esxi_vcenter_compat.yaml): the first build of every ESXi and vCenter GA/update release, and which
ESXi lines (and up to which update of its own line) each vCenter release manages. A build is
placed at the newest release at or below it, so patches count as their update.

`load_compat_table` validates the file (file:line:column on every problem); the check itself
(`check_host_versions`) is a pure function over versions and builds, used on the lab's intent
and on what vCenter reports alike. Unknown versions give a warning that says so, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from harness.checks.finding import Finding, Source
from harness.facts import JsonValue
from harness.lab.errors import problems_from_validation
from harness.lab.source import InputFileError, Problem, SourceDocument, load_yaml
from harness.lab.types import StrictModel

COMPAT_TABLE = Path(__file__).resolve().parent.parent / "data" / "esxi_vcenter_compat.yaml"
TABLE_NAME = "harness/data/esxi_vcenter_compat.yaml"
ANY = "any"
CHECK = "vcenter-host-compat"

_VERSION = r"^\d+\.\d+(\.\d+)?$"
_RELEASE = re.compile(r"^(\d+\.\d+) (GA|U(\d+))$")
_LINE = re.compile(r"^\d+\.\d+$")


def release_line(version: str) -> str:
    """`6.5.0` -> `6.5`: the product line a version belongs to."""
    return ".".join(version.split(".")[:2])


def _line_key(line: str) -> tuple[int, ...]:
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
        for vline in sorted(self.vcenter, key=_line_key):
            for vc in self.vcenter[vline]:
                limit = vc.manages.get(line)
                if limit == ANY or (limit is not None and release is not None
                                    and self.esxi_named(limit).build >= release.build):
                    return vc
        return None

    def vcenter_span(self) -> str:
        first = min(self.vcenter, key=_line_key)
        last = max(self.vcenter, key=_line_key)
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
            elif _line_key(line) > _line_key(own):
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


@cache
def default_table() -> CompatTable:
    """The table shipped with the harness (loaded once)."""
    return load_compat_table(COMPAT_TABLE)


Verdict = Literal["supported", "too_new", "too_old", "unknown"]


@dataclass(frozen=True)
class Assessment:
    """What the table says about one host under one vCenter release."""

    verdict: Verdict
    line: str
    release: EsxiRelease | None  # the host's release, when the table knows its build
    limit: str | None  # `any` or the newest release of the host's line the vCenter manages
    reason: str


def assess_host(table: CompatTable, vc: VCenterRelease, version: str, build: int) -> Assessment:
    """Whether vCenter release `vc` manages an ESXi host of `version` and `build`."""
    line = release_line(version)
    release = table.esxi_release(line, build)
    limit = vc.manages.get(line)
    managed = sorted(vc.manages, key=_line_key)
    if limit is None:
        if _line_key(line) > _line_key(managed[-1]):
            return Assessment("too_new", line, release, None,
                              f"vCenter {vc.release} manages ESXi {', '.join(managed)} only; "
                              f"ESXi {line} needs vCenter {line} or later")
        if _line_key(line) < _line_key(managed[0]):
            return Assessment("too_old", line, release, None,
                              f"vCenter {vc.release} manages ESXi {', '.join(managed)} only")
        return Assessment("unknown", line, release, None,
                          f"ESXi {line} is not a release line the table knows")
    if limit == ANY:
        return Assessment("supported", line, release, ANY,
                          f"vCenter {vc.release} manages every ESXi {line} release")
    newest = table.esxi_named(limit)
    if release is None:
        first = table.esxi[line][0]
        return Assessment("unknown", line, None, limit,
                          f"build {build} is older than ESXi {first.release} (build "
                          f"{first.build}), the first {line} release the table knows")
    if release.build > newest.build:
        return Assessment("too_new", line, release, limit,
                          f"vCenter {vc.release} manages ESXi {line} only up to {limit} "
                          f"(build {newest.build}); a vCenter must be as new as its hosts")
    return Assessment("supported", line, release, limit,
                      f"vCenter {vc.release} manages ESXi {line} up to {limit}")


def _described(version: str, build: int | None, release: EsxiRelease | VCenterRelease | None
               ) -> str:
    text = f"{version} build {build}" if build is not None else version
    return f"{text} ({release.release})" if release is not None else text


def check_host_versions(
    vcenter_version: str,
    vcenter_build: int | None,
    hosts: Iterable[tuple[str, str, int]],
    source: Source,
    *,
    vcenter_name: str | None = None,
    table: CompatTable | None = None,
) -> list[Finding]:
    """F08 findings for hosts (name, ESXi version, build) under one vCenter.

    A host newer than the vCenter release manages (or of an older line than it still manages)
    is an error. A vCenter or host release the table does not know is a warning that says the
    table must be extended: the check never guesses. Without a vCenter build (a lab may leave it
    out) the newest release of that version is assumed, so only certain skew is reported.
    """
    table = table or default_table()
    assumed = vcenter_build is None
    vc = (table.newest_vcenter_release(vcenter_version) if vcenter_build is None
          else table.vcenter_release(vcenter_version, vcenter_build))
    vc_text = " ".join(["vCenter", *([vcenter_name] if vcenter_name else []),
                        _described(vcenter_version, vcenter_build, vc)])
    note = (f" (no vCenter build given: assumed the newest {vcenter_version} release, "
            f"{vc.release})" if assumed and vc is not None else "")
    out: list[Finding] = []
    for name, version, build in hosts:
        evidence: dict[str, JsonValue] = {
            "host_version": version, "host_build": build, "vcenter": vcenter_name,
            "vcenter_version": vcenter_version, "vcenter_build": vcenter_build,
            "vcenter_release": vc.release if vc else None, "table": table.path,
        }
        if vc is None:
            out.append(Finding(
                "F08", "warning", name,
                f"cannot check ESXi {version} build {build} against {vc_text}: that vCenter "
                "release is not in the compatibility table",
                cause=f"the table covers vCenter {table.vcenter_span()}; a release outside it "
                      "(or a build older than its line's GA) cannot be judged",
                fix="check VMware's Product Interoperability Matrix by hand, and add the "
                    f"release with its source to {table.path}",
                check=CHECK, source=source, evidence=evidence))
            continue
        verdict = assess_host(table, vc, version, build)
        host_text = f"ESXi {_described(version, build, verdict.release)}"
        evidence.update({"host_release": verdict.release.release if verdict.release else None,
                         "vcenter_manages": dict(vc.manages), "support_source": vc.support})
        if verdict.verdict == "too_new":
            upgrade = table.first_vcenter_managing(verdict.line, verdict.release)
            target = (f"vCenter {upgrade.release} (build {upgrade.first_build}) or later"
                      if upgrade else f"a vCenter newer than any in {table.path}")
            if verdict.limit:  # same line: an image profile of an older update downgrades it
                downgrade = (
                    f"downgrade the host to ESXi {verdict.limit} or older with an image profile "
                    "of that release's offline bundle (`labharness depot profiles <bundle.zip>` "
                    "lists them; `esxcli software profile update -d <bundle.zip> -p <profile> "
                    "--allow-downgrades`)")
            else:
                newest = max(vc.manages, key=_line_key)
                downgrade = f"reinstall the host with ESXi {newest}, the newest line it manages"
            out.append(Finding(
                "F08", "error", name, f"{host_text} is newer than {vc_text} can manage",
                cause=f"{verdict.reason}{note}: the host cannot be added, or drops out of "
                      "management after it was patched (the field notes' host patched past "
                      "its vCenter)",
                fix=f"upgrade vCenter first, to {target}; or {downgrade}",
                check=CHECK, source=source, evidence=evidence))
        elif verdict.verdict == "too_old":
            oldest = min(vc.manages, key=_line_key)
            out.append(Finding(
                "F08", "error", name, f"{host_text} is too old for {vc_text}",
                cause=f"{verdict.reason}{note}: it cannot add or keep managing ESXi "
                      f"{verdict.line}",
                fix=f"upgrade the host to ESXi {oldest} or later (within the upgrade paths "
                    "VMware supports), or manage it from an older vCenter",
                check=CHECK, source=source, evidence=evidence))
        elif verdict.verdict == "unknown":
            out.append(Finding(
                "F08", "warning", name,
                f"cannot tell whether {vc_text} manages {host_text}",
                cause=f"{verdict.reason} ({table.path}){note}",
                fix="check the host's build and VMware's Product Interoperability Matrix by "
                    f"hand, and add the release with its source to {table.path}",
                check=CHECK, source=source, evidence=evidence))
    return out
