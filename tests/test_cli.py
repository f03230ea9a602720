"""The `labharness` command, run as users run it: a subprocess with its exit code and output."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB, LabWriter
from tests.design_faults import DESIGN_FAULTS


def labharness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    env["COLUMNS"] = "200"
    result = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd or ROOT,
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def test_validate_accepts_labs_and_inventories() -> None:
    result = labharness("validate", str(SIM_LAB), str(SIM_INVENTORY), "--lab", str(SIM_LAB))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "inventory sim (sim) for lab sim" in result.stdout


def test_lint_is_silent_on_the_healthy_lab() -> None:
    result = labharness("lint", str(SIM_LAB))
    assert (result.returncode, result.stdout.strip()) == (0, "lab sim: no findings")


@pytest.mark.parametrize("fault", [f for f in DESIGN_FAULTS if f.name in (
    "F02-dvs-mtu", "F09-notify-switches", "F11-beacon-two-uplinks", "F12-vmotion-subnet",
    "F14-workstation-mac", "F05-no-ntp", "F04-salting-off")], ids=lambda f: f.name)
def test_lint_reports_the_fault_and_exits_1(fault: object, faulty_lab: LabWriter) -> None:
    from tests.design_faults import DesignFault

    assert isinstance(fault, DesignFault)
    path = faulty_lab(fault.change)
    result = labharness("lint", str(path), "--json")
    assert result.returncode == 1
    found = {(f["id"], f["check"], f["subject"]) for f in json.loads(result.stdout)}
    assert found == fault.expected
    human = labharness("lint", str(path))
    assert human.returncode == 1
    assert all(f"{s}:" in human.stdout for _, _, s in fault.expected)
    assert "cause:" in human.stdout and "fix:" in human.stdout


def test_lint_warnings_pass_unless_asked(faulty_lab: LabWriter) -> None:
    fault = next(f for f in DESIGN_FAULTS if f.name == "F11-one-adapter")
    path = faulty_lab(fault.change)
    assert labharness("lint", str(path)).returncode == 0
    assert labharness("lint", str(path), "--fail-on", "warning").returncode == 1


def test_schema_check_and_output(tmp_path: Path) -> None:
    assert labharness("schema", "--check").returncode == 0
    assert labharness("schema", "--kind", "inventory", "--check").returncode == 0
    out = tmp_path / "lab.schema.json"
    assert labharness("schema", "--output", str(out)).returncode == 0
    assert json.loads(out.read_text())["title"] == "Lab"
    bad = labharness("schema", "--kind", "rack")
    assert bad.returncode == 2 and "lab or inventory" in bad.stderr


def test_incident_docs_are_made_from_the_catalogue() -> None:
    from harness.incidents import INCIDENTS

    assert labharness("incidents", "--check").returncode == 0
    markdown = labharness("incidents", "--markdown").stdout
    assert all(f"| {i.id} | {i.slug} |" in markdown for i in INCIDENTS.values())


def test_run_default_lab_writes_reports(tmp_path: Path) -> None:
    result = labharness("run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink()
    summary = json.loads((latest / "summary.json").read_text())
    tests = summary["tests"]
    assert tests["failed"] == 0 and tests["errors"] == 0 and tests["passed"] >= 90
    # only notes (what an iLO 4 cannot show over Redfish), no faults
    assert {f["severity"] for f in summary["findings"]} <= {"info"}
    assert summary["lab"] == "sim" and summary["backend"] == "sim"
    assert {g["layer"] for g in summary["groups"]} >= {"design", "server_build", "vsphere",
                                                      "network", "nsx"}
    assert "PASSED" in result.stdout and "F12 vmotion-subnet" in result.stdout
    # a passing run reads in one screen: the table, one line per kind of note and of skip
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) <= 45, result.stdout
    assert sum("cannot be read through iLO 4" in line for line in lines) <= 2, result.stdout
    cases = list(ET.parse(latest / "junit.xml").iter("testcase"))
    assert len(cases) == tests["total"]
    assert len(list((latest / "allure-results").glob("*-result.json"))) == tests["total"]
    # report.html and Allure's extras, made after the tests (tests/report/ looks inside them)
    assert (latest / "report.html").is_file()
    assert (latest / "allure-results" / "categories.json").is_file()


def test_run_on_a_faulty_lab_fails_with_its_findings(tmp_path: Path,
                                                     faulty_lab: LabWriter) -> None:
    fault = next(f for f in DESIGN_FAULTS if f.name == "F12-vmotion-subnet")
    path = faulty_lab(fault.change)
    report = tmp_path / "report"
    result = labharness("run", "--lab", str(path), "--report-dir", str(report), cwd=tmp_path)
    assert result.returncode == 1
    summary = json.loads((report / "summary.json").read_text())
    assert summary["tests"]["failed"] == 3
    found = {(f["id"], f["check"], f["subject"]) for f in summary["findings"]}
    assert found == fault.expected
    finding = summary["findings"][0]
    assert set(finding) >= {"id", "severity", "subject", "message", "cause", "fix", "evidence"}
    failed = [r for r in summary["results"] if r["outcome"] == "failed"]
    assert {r["subject"] for r in failed} == {"esx01/vmk1", "esx02/vmk1", "esx03/vmk1"}
    assert "FAILED" in result.stdout


def test_run_selects_with_k(tmp_path: Path) -> None:
    report = tmp_path / "r"
    result = labharness("run", "-k", "ntp", "--report-dir", str(report), cwd=tmp_path)
    assert result.returncode == 0
    summary = json.loads((report / "summary.json").read_text())
    # the design check on the lab file and the same check on what vCenter reports, per host
    assert summary["tests"]["total"] == 6
    # the same report directory again: it holds this run's results only, not the last one's
    again = labharness("run", "-k", "test_ntp_servers", "--report-dir", str(report),
                       cwd=tmp_path)
    assert again.returncode == 0
    assert json.loads((report / "summary.json").read_text())["tests"]["total"] == 3
    assert len(list((report / "allure-results").glob("*-result.json"))) == 3
    none = labharness("run", "-k", "no_such_test", "--report-dir", str(report), cwd=tmp_path)
    assert none.returncode == 5 and "no test selected" in none.stderr


def _closed_port() -> int:
    """A local TCP port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_with_unreachable_endpoints_is_an_error_not_a_green_run(tmp_path: Path) -> None:
    """A nightly run whose vCenter, BMC and router are down must not pass or skip: the tests
    that need them are errors, the summary names each endpoint and why, and the exit code is
    3 (unreachable), apart from 1 (the lab differs from its definition)."""
    port = _closed_port()
    inv = tmp_path / "down.yaml"
    inv.write_text(
        "name: down\nlab: sim\nbackend: real\n"
        f"vcenter: {{url: 'https://127.0.0.1:{port}/sdk', username: u, password: env:LH_PW}}\n"
        f"bmcs:\n  srv-esx01: {{url: 'https://127.0.0.1:{port}', username: u, "
        "password: env:LH_PW}\n"
        f"opnsense:\n  opnsense01: {{url: 'https://127.0.0.1:{port}', key: env:LH_PW, "
        "secret: env:LH_PW}\n")
    report = tmp_path / "r"
    os.environ["LH_PW"] = "not-used"
    try:
        result = labharness("run", "--lab", str(SIM_LAB), "--inventory", str(inv),
                            "--report-dir", str(report))
    finally:
        del os.environ["LH_PW"]
    assert result.returncode == 3, result.stdout + result.stderr
    summary = json.loads((report / "summary.json").read_text())
    down = {(e["kind"], e["name"]) for e in summary["endpoints"] if not e["reachable"]}
    assert down == {("vcenter", "vcenter"), ("bmc", "srv-esx01"), ("opnsense", "opnsense01")}
    assert all(e["reason"] for e in summary["endpoints"])
    by_layer: dict[str, set[str]] = {}
    for r in summary["results"]:
        by_layer.setdefault(r["layer"], set()).add(r["outcome"])
    assert by_layer["vsphere"] <= {"errors", "skipped"} and "errors" in by_layer["vsphere"]
    srv1 = [r for r in summary["results"]
            if r["layer"] == "server_build" and "srv-esx01" in (r["subject"] or "")
            and r["outcome"] != "skipped"]
    assert srv1 and {r["outcome"] for r in srv1} == {"errors"}
    assert all("unreachable" in r["reason"] for r in srv1)
    assert summary["tests"]["failed"] == 0  # no verdict was reached on what did not answer
    assert "unreachable vcenter" in result.stdout and "UNREACHABLE" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--scenario", "F77"], "unknown scenario 'F77'"),
    (["--lab", "labs/nope.yaml"], "labs/nope.yaml:1:1: no such file"),
    (["--inventory", "labs/sim.yaml"], "inventory"),
    (["--shard", "5/4"], "--shard '5/4': K must be 1 to N"),
])
def test_run_bad_input_exits_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = labharness("run", *args, "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert message in result.stderr


def test_help_lists_the_commands() -> None:
    result = labharness("--help")
    assert result.returncode == 0
    for command in ("run", "validate", "lint", "schema"):
        assert command in result.stdout


def test_sim_up_time_says_how_much_was_the_kernels_wait() -> None:
    """Right after a big lab came down the kernel is still removing its namespaces, and the
    next `up` waits for it: said apart, so a slow `up` is not read as the sim's own; the
    scale benchmark reads both numbers back from that note."""
    import importlib.util

    from harness.cli import _up_time
    from harness.sim.state import SimState

    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "bench" / "scale.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def up(**timings: float) -> str:
        return _up_time(SimState(lab="lab", namespaces=[], root_ifaces=[], daemons=[],
                                 timings=timings))

    assert up(kernel_s=0.4, up_s=4.18) == "4.18 s"
    assert up(kernel_s=5.55, up_s=10.24) == (
        "10.24 s (5.55 s of it in the kernel check, waiting for the kernel to finish removing "
        "an earlier lab's namespaces)")
    for timings, read in (({"kernel_s": 5.55, "up_s": 10.24}, ("10.24", "5.55")),
                          ({"kernel_s": 0.02, "up_s": 4.18}, ("4.18", "0"))):
        note = f"simulated lab up in {up(**timings)}: 77 namespaces, 107 daemons"
        assert bench.sim_up_times(note) == read
    assert bench.sim_up_times("") == ("?", "?")
