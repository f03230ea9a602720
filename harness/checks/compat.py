"""F08 version-skew: is every ESXi host a build its vCenter Server release can manage?

Pure functions over versions, builds and the compatibility table (`harness.lab.compat`), used on
the lab's intent and on what vCenter reports alike. Unknown versions give a warning that says
so, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from harness.checks.finding import Finding, Source
from harness.facts import JsonValue
from harness.lab.compat import ANY, CompatTable, EsxiRelease, VCenterRelease, line_key, release_line

CHECK = "vcenter-host-compat"


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
    managed = sorted(vc.manages, key=line_key)
    if limit is None:
        if line_key(line) > line_key(managed[-1]):
            return Assessment("too_new", line, release, None,
                              f"vCenter {vc.release} manages ESXi {', '.join(managed)} only; "
                              f"ESXi {line} needs vCenter {line} or later")
        if line_key(line) < line_key(managed[0]):
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
    table: CompatTable,
) -> list[Finding]:
    """F08 findings for hosts (name, ESXi version, build) under one vCenter.

    A host newer than the vCenter release manages (or of an older line than it still manages)
    is an error. A vCenter or host release the table does not know is a warning that says the
    table must be extended: the check never guesses. Without a vCenter build (a lab may leave it
    out) the newest release of that version is assumed, so only certain skew is reported.
    """
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
                newest = max(vc.manages, key=line_key)
                downgrade = f"reinstall the host with ESXi {newest}, the newest line it manages"
            out.append(Finding(
                "F08", "error", name, f"{host_text} is newer than {vc_text} can manage",
                cause=f"{verdict.reason}{note}: the host cannot be added, or drops out of "
                      "management after it was patched (the field notes' host patched past "
                      "its vCenter)",
                fix=f"upgrade vCenter first, to {target}; or {downgrade}",
                check=CHECK, source=source, evidence=evidence))
        elif verdict.verdict == "too_old":
            oldest = min(vc.manages, key=line_key)
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
