"""F08 version-skew: the ESXi/vCenter compatibility table and the check built on it.

The key fact from the field: a vCenter cannot manage a host newer than itself (vCenter 6.5 GA
cannot add ESXi 6.5 U1; ESXi 6.7 needs vCenter 6.7). Supported pairs give no finding; a vCenter
or host release the table does not know gives a warning that says so, never a guess.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.checks.compat import check_host_versions
from harness.checks.design import check_version_skew
from harness.checks.intent import view_from_lab
from harness.cli import app
from harness.lab import load_lab
from harness.lab.compat import COMPAT_TABLE, load_compat_table
from harness.lab.reference import shipped_reference
from harness.lab.source import InputFileError
from tests.conftest import ROOT, LabWriter

TABLE = shipped_reference().compat

# First builds of releases, as KB 2143832 / KB 2143838 give them (see the table's sources).
ESXI = {
    "5.5 U3": ("5.5.0", 3029944), "6.0 U3": ("6.0.0", 5050593),
    "6.5 GA": ("6.5.0", 4564106), "6.5 U1": ("6.5.0", 5969303), "6.5 U2": ("6.5.0", 8294253),
    "6.5 U3": ("6.5.0", 13932383), "6.7 GA": ("6.7.0", 8169922), "6.7 U3": ("6.7.0", 14320388),
    "7.0 GA": ("7.0.0", 15843807), "7.0 U1": ("7.0.1", 16850804), "7.0 U3": ("7.0.3", 18644231),
    "8.0 U2": ("8.0.2", 22380479), "8.0 U3": ("8.0.3", 24022510),
}
VCENTER = {
    "6.0 U3": ("6.0.0", 5112527), "6.5 GA": ("6.5.0", 4602587), "6.5 U1": ("6.5.0", 5973321),
    "6.5 U2": ("6.5.0", 8307201), "6.5 U3": ("6.5.0", 14020092), "6.7 GA": ("6.7.0", 8217866),
    "6.7 U3": ("6.7.0", 14367737), "7.0 U1": ("7.0.1", 16858589), "7.0 U2": ("7.0.2", 17694817),
    "7.0 U3": ("7.0.3", 18700403), "8.0 GA": ("8.0.0", 20519528), "8.0 U1": ("8.0.1", 21560480),
    "8.0 U3": ("8.0.3", 24022515),
}


def check(vcenter: str, *hosts: tuple[str, str, int], source: Any = "intent") -> list[Any]:
    version, build = VCENTER[vcenter]
    return check_host_versions(version, build, hosts, source, vcenter_name="vcsa01", table=TABLE)


def host(release: str, name: str = "esx01", build: int | None = None) -> tuple[str, str, int]:
    version, first = ESXI[release]
    return (name, version, build if build is not None else first)


# -- the check ---------------------------------------------------------------------------------


def test_host_newer_than_vcenter_in_its_own_line_is_f08() -> None:
    """The field case: vCenter 6.5 GA cannot add a host patched to ESXi 6.5 U1."""
    (finding,) = check("6.5 GA", host("6.5 U1"))
    assert (finding.id, finding.severity, finding.subject, finding.check) == (
        "F08", "error", "esx01", "vcenter-host-compat")
    assert finding.message == ("ESXi 6.5.0 build 5969303 (6.5 U1) is newer than vCenter vcsa01 "
                               "6.5.0 build 4602587 (6.5 GA) can manage")
    assert "manages ESXi 6.5 only up to 6.5 GA" in finding.cause
    assert "upgrade vCenter first, to vCenter 6.5 U1 (build 5973321) or later" in finding.fix
    assert "downgrade the host to ESXi 6.5 GA or older" in finding.fix
    assert "labharness depot profiles" in finding.fix and "--allow-downgrades" in finding.fix
    assert finding.evidence["host_release"] == "6.5 U1"
    assert finding.evidence["vcenter_release"] == "6.5 GA"
    json.loads(finding.to_json())


def test_host_of_a_newer_line_needs_that_vcenter_line() -> None:
    """ESXi 6.7 needs vCenter 6.7: even the last 6.5 vCenter cannot manage it."""
    (finding,) = check("6.5 U3", host("6.7 GA"))
    assert finding.severity == "error"
    assert "ESXi 6.7 needs vCenter 6.7 or later" in finding.cause
    assert "vCenter 6.7 GA" in finding.fix and "reinstall the host with ESXi 6.5" in finding.fix
    (finding,) = check("7.0 U3", host("8.0 U2"))
    assert "to vCenter 8.0 U2 (build 22385739) or later" in finding.fix


def test_a_patch_past_the_vcenter_update_is_f08_a_patch_within_it_is_not() -> None:
    assert check("6.5 U2", host("6.5 U2", build=9298722)) == []  # 6.5 U2c, Aug 2018
    (finding,) = check("6.5 U2", host("6.5 U3", build=16576891))  # ESXi650-202007001 (P05)
    assert finding.evidence["host_release"] == "6.5 U3"


@pytest.mark.parametrize(
    ("vcenter", "hosts"),
    [
        ("6.5 U2", [host("6.5 U1"), host("6.5 U1", "p02", 7388607), host("6.0 U3", "b"),
                    host("5.5 U3", "c"), host("6.5 U2", "d")]),
        ("6.0 U3", [host("6.0 U3"), host("5.5 U3", "b")]),
        ("6.7 GA", [host("6.7 GA"), host("6.5 U1", "b"), host("6.0 U3", "c")]),
        ("6.7 U3", [host("6.7 U3"), host("6.5 U3", "b")]),
        ("7.0 U1", [host("7.0 U1"), host("6.7 U3", "b"), host("6.5 U3", "c")]),
        ("7.0 U3", [host("7.0 U3", build=21424296), host("7.0 GA", "b"), host("6.5 GA", "c")]),
        ("8.0 U3", [host("8.0 U3", build=24674464), host("7.0 U3", "b"), host("6.7 U3", "c")]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_supported_pairs_have_no_findings(vcenter: str, hosts: list[tuple[str, str, int]]
                                          ) -> None:
    assert check(vcenter, *hosts) == []


def test_host_older_than_the_vcenter_manages_is_f08() -> None:
    (finding,) = check("7.0 U2", host("6.0 U3"))
    assert finding.severity == "error"
    assert finding.message.startswith("ESXi 6.0.0 build 5050593 (6.0 U3) is too old for vCenter")
    assert "manages ESXi 6.5, 6.7, 7.0 only" in finding.cause
    assert "upgrade the host to ESXi 6.5 or later" in finding.fix
    (finding,) = check("8.0 GA", host("6.5 U3"))
    assert "too old" in finding.message


def test_vcenter_api_build_maps_to_its_release() -> None:
    """vCenter 7.0 U1 reports 16858589 over the API; its ISO build is 16860138."""
    table = shipped_reference().compat
    for build in (16858589, 16860138):
        vc = table.vcenter_release("7.0.1", build)
        assert vc is not None and vc.release == "7.0 U1"
    assert check("7.0 U1", host("7.0 U1")) == []


def test_unknown_vcenter_is_a_warning_per_host_not_a_guess() -> None:
    findings = check_host_versions("9.0.0", 24755230, [host("8.0 U3"), host("8.0 U3", "esx02")],
                                   "observed", table=TABLE)
    assert [(f.severity, f.subject, f.source) for f in findings] == [
        ("warning", "esx01", "observed"), ("warning", "esx02", "observed")]
    assert "that vCenter release is not in the compatibility table" in findings[0].message
    assert "vCenter 6.0 GA to 8.0 U3" in findings[0].cause
    assert "harness/data/esxi_vcenter_compat.yaml" in findings[0].fix
    # a build older than the line's first release (a beta) is unknown too
    (finding,) = check_host_versions("6.5.0", 4000000, [host("6.5 GA")], "intent", table=TABLE)
    assert finding.severity == "warning"


def test_unknown_host_build_or_line_is_a_warning() -> None:
    (beta,) = check("6.5 U2", ("esx01", "6.5.0", 4000000))
    assert beta.severity == "warning"
    assert "older than ESXi 6.5 GA (build 4564106)" in beta.cause
    (odd,) = check("6.7 U3", ("esx01", "6.1.0", 9000000))
    assert odd.severity == "warning" and "ESXi 6.1 is not a release line" in odd.cause


def test_without_a_vcenter_build_the_newest_release_of_the_version_is_assumed() -> None:
    """A lab may leave the build out: only skew that holds for every such release is reported."""
    assert check_host_versions("6.5.0", None, [host("6.5 U3")], "intent", table=TABLE) == []
    (finding,) = check_host_versions("6.5.0", None, [host("6.7 GA")], "intent", table=TABLE)
    assert "assumed the newest 6.5.0 release, 6.5 U3" in finding.cause
    assert finding.evidence["vcenter_build"] is None
    (finding,) = check_host_versions("7.0.2", None, [host("7.0 U3")], "intent", table=TABLE)
    assert "7.0 U2" in finding.message
    assert check_host_versions("6.5", None, [host("6.5 U3")], "intent", table=TABLE) == []


# -- the table ---------------------------------------------------------------------------------


def test_shipped_table_holds_the_key_facts() -> None:
    table = shipped_reference().compat
    assert set(table.vcenter) == {"6.0", "6.5", "6.7", "7.0", "8.0"}
    for line in ("7.0", "8.0"):
        assert [r.release for r in table.vcenter[line]] == [
            f"{line} GA", f"{line} U1", f"{line} U2", f"{line} U3"]
    for line in ("6.0", "6.5", "6.7", "7.0", "8.0"):
        assert [r.release for r in table.esxi[line]] == [
            f"{line} GA", f"{line} U1", f"{line} U2", f"{line} U3"]
    for release, (version, build) in ESXI.items():
        found = table.esxi_release(version[:3], build)
        assert found is not None and found.release == release
    for release, (version, build) in VCENTER.items():
        vc = table.vcenter_release(version, build)
        assert vc is not None and vc.release == release
    # every vCenter manages its own line up to exactly its own update, and nothing newer
    for rows in table.vcenter.values():
        for vc in rows:
            assert vc.manages[vc.release.split()[0]] == vc.release
            assert vc.source and vc.support


def test_package_data_ships_the_table() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["harness"]
    relative = COMPAT_TABLE.relative_to(ROOT / "harness").as_posix()
    assert any(fnmatch.fnmatch(relative, p) for p in patterns), patterns


TABLE_HEAD = """esxi:
  - {release: "6.5 GA", version: "6.5.0", build: 4564106, released: 2016-11-15, source: KB}
  - {release: "6.5 U1", version: "6.5.0", build: 5969303, released: 2017-07-27, source: KB}
vcenter:
"""


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ('  - {release: "6.5 GA", version: "6.5.0", builds: [4602587], released: 2016-11-15,\n'
         '     manages: {"6.5": "6.5 GA"}, source: KB, support: x, build: 1}\n',
         "compat.yaml:6:58: vcenter[0].build: unknown key 'build' (did you mean 'builds'?); "
         "allowed here: release, version, builds, released, manages, source, support"),
        ('  - {release: "6.5 GA", version: "6.5.0", builds: [4602587], released: 2016-11-15,\n'
         '     manages: {"6.5": "6.5 U2"}, source: KB, support: x}\n',
         "'6.5 U2' is neither 'any' nor an ESXi 6.5 release of the esxi section (known: 6.5 GA, "
         "6.5 U1)"),
        ('  - {release: "6.5 U1", version: "6.5.0", builds: [5973321], released: 2017-07-27,\n'
         '     manages: {"6.5": "6.5 U1"}, source: KB, support: x}\n'
         '  - {release: "6.5 GA", version: "6.5.0", builds: [4602587], released: 2016-11-15,\n'
         '     manages: {"6.5": "6.5 GA"}, source: KB, support: x}\n',
         "6.5 GA must come after the earlier 6.5 releases"),
        ('  - {release: "6.0 U3", version: "6.0.0", builds: [5112527], released: 2017-02-24,\n'
         '     manages: {"6.0": any, "6.5": any}, source: KB, support: x}\n',
         "vCenter 6.0 U3 cannot manage a newer ESXi line (6.5)"),
        ('  - {release: "6.5 Update 1", version: "6.5.0", builds: [5973321],\n'
         '     released: 2017-07-27, manages: {"6.5": "6.5 U1"}, source: KB, support: x}\n',
         "'6.5 Update 1' is not a release of 6.5 (write '6.5 GA' or '6.5 U1')"),
        ('  - {release: "6.5 GA", version: "6.5.0", builds: [4602587], released: 2016-11-15,\n'
         '     manages: {"6.0": any}, source: KB, support: x}\n',
         "must say up to which 6.5 update 6.5 GA manages"),
    ],
    ids=["unknown-key", "unknown-release", "out-of-order", "newer-line", "bad-name",
         "own-line-missing"],
)
def test_bad_table_is_refused_with_file_line_and_field(tmp_path: Path, rows: str,
                                                       expected: str) -> None:
    path = tmp_path / "compat.yaml"
    path.write_text(TABLE_HEAD + rows, encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        load_compat_table(path)
    text = str(info.value)
    assert text.startswith(f"{path}:"), text
    assert expected in text, text


# -- the design check on lab files -------------------------------------------------------------


def _lab_findings(faulty_lab: LabWriter, change: Any) -> list[Any]:
    return check_version_skew(view_from_lab(load_lab(faulty_lab(change))), shipped_reference())


def test_design_check_on_the_lab(faulty_lab: LabWriter) -> None:
    def newer(d: dict[str, Any]) -> None:
        d["hosts"]["esx02"]["version"] = "6.7.0"
        d["hosts"]["esx02"]["build"] = 8169922

    (finding,) = _lab_findings(faulty_lab, newer)
    assert (finding.subject, finding.source) == ("esx02", "intent")
    assert "vCenter vcsa01 6.5.0 build 8307201 (6.5 U2)" in finding.message

    def no_build(d: dict[str, Any]) -> None:
        d["vcenter"].pop("build")

    assert _lab_findings(faulty_lab, no_build) == []

    def no_vcenter(d: dict[str, Any]) -> None:
        d.pop("vcenter")

    assert _lab_findings(faulty_lab, no_vcenter) == []

    def future(d: dict[str, Any]) -> None:
        d["vcenter"]["version"] = "9.0.0"
        d["vcenter"]["build"] = 24755230

    findings = _lab_findings(faulty_lab, future)
    assert {(f.severity, f.subject) for f in findings} == {
        ("warning", "esx01"), ("warning", "esx02"), ("warning", "esx03")}


def test_lint_reports_f08_and_exits_1(faulty_lab: LabWriter) -> None:
    def patched(d: dict[str, Any]) -> None:
        d["hosts"]["esx03"]["build"] = 13932383  # ESXi 6.5 U3 under vCenter 6.5 U2

    path = faulty_lab(patched)
    result = CliRunner().invoke(app, ["lint", str(path), "--json"])
    assert result.exit_code == 1, result.output
    (finding,) = json.loads(result.stdout)
    assert (finding["id"], finding["check"], finding["subject"]) == (
        "F08", "vcenter-host-compat", "esx03")
    human = CliRunner().invoke(app, ["lint", str(path)], env={"COLUMNS": "200"})
    assert "F08 error esx03: ESXi 6.5.0 build 13932383 (6.5 U3) is newer than" in human.stdout


def test_every_server_model_is_in_every_catalog_table() -> None:
    """A model the lab may name must be known to the BMC emulator, the simulated vCenter and
    the BIOS registry alike."""
    from typing import get_args

    from harness.lab.catalog import (
        BMC_FIRMWARE,
        BMC_OF_MODEL,
        DEFAULT_BMC_FIRMWARE,
        ROM_FAMILY,
        SERVER_PLATFORMS,
        ServerModel,
        firmware_line,
    )

    models = set(get_args(ServerModel))
    assert models == set(BMC_OF_MODEL) == set(ROM_FAMILY) == set(SERVER_PLATFORMS)
    assert models == set(BMC_FIRMWARE) == set(DEFAULT_BMC_FIRMWARE)
    for model, firmware in DEFAULT_BMC_FIRMWARE.items():  # a default is a release it runs
        line = firmware_line(model, firmware)
        assert line is not None and line.kind == BMC_OF_MODEL[model]
    for model, lines in BMC_FIRMWARE.items():
        assert {line.kind for line in lines} == {BMC_OF_MODEL[model]}
