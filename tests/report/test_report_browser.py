"""report.html of a real F10 run on the simulated lab, loaded in a real headless Chromium.

One `labharness run --scenario F10 --allure-report` (the simulated lab: run it under
`flock /tmp/lh-sim.lock`), next to an earlier run of the same lab whose Allure history the new
run must carry on. The page must load with no console error, uncaught exception or blocked
request (its Content-Security-Policy forbids any fetch: it is self-contained), show the
topology with what the causes touch marked, the failing tests and the findings. Screenshots
are kept in the run's report directory (screenshots/, under pytest's tmp dir: CI's artifact).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.incidents import INCIDENTS
from harness.lab.loader import load_lab
from harness.report.finish import finish_reports
from harness.report.html import REPORT_NAME
from harness.sim.dataplane import kernel
from tests.conftest import ROOT, SIM_LAB
from tests.report.cdp import chromium_binary, visit

needs_sim = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

PREVIOUS_TREND = [{"buildOrder": 41, "reportName": "labharness: lab sim",
                   "data": {"failed": 0, "broken": 0, "skipped": 0, "passed": 70, "unknown": 0,
                            "total": 70}}]


@pytest.fixture(scope="module")
def f10_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, str]:
    runs = tmp_path_factory.mktemp("runs")
    previous = runs / "20260101T000000Z"
    (previous / "allure-report" / "history").mkdir(parents=True)
    (previous / "summary.json").write_text(json.dumps(
        {"lab": "sim", "started": "2026-01-01T00:00:00+00:00"}))
    (previous / "allure-report" / "history" / "history-trend.json").write_text(
        json.dumps(PREVIOUS_TREND))
    (previous / "allure-results").mkdir()
    (previous / "allure-results" / "executor.json").write_text('{"buildOrder": 41}')
    report = runs / "f10"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--scenario", "F10",
                             "--allure-report", "--report-dir", str(report)], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=900, check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert result.returncode == 1, result.stdout + result.stderr  # F10's checks fail
    return report, json.loads((report / "summary.json").read_text()), result.stderr


@needs_sim
def test_report_html_in_headless_chromium(f10_run: tuple[Path, Any, str]) -> None:
    report, summary, _ = f10_run
    assert chromium_binary() is not None, "chromium is not installed (ci/setup installs it)"
    page = report / REPORT_NAME
    assert page.is_file()
    failed = [r["test"].split("::")[-1] for r in summary["results"]
              if r["outcome"] in ("failed", "errors")]
    assert failed and summary["findings"]
    causes = summary.get("causes") or []
    seen = visit(page, {
        "svg": "!!document.querySelector('#topology svg')",
        "topology_ids": "['srv-esx03', 'srv-esx03/bmc', 'esx03/vmnic6', 'esx03/vmk1', "
                        "'sw01/TenGigabitEthernet1/1/7', 'opnsense01/lan', 'network/vmotion', "
                        "'ls-web'].filter(id => !document.getElementById(id))",
        "text": "document.body.innerText",
        "failed_rows": "document.querySelectorAll('tr.t-failed, tr.t-errors').length",
        "findings": "document.querySelectorAll('#findings .finding').length",
        "touched": "Array.from(document.querySelectorAll("
                   "'#topology svg g.node.touched, #topology svg g.cluster.touched'))"
                   ".map(e => e.id)",
        "drawn": "Array.from(document.querySelectorAll("
                 "'#topology svg g.node, #topology svg g.cluster')).map(e => e.id)",
        "topology_height": "document.querySelector('#topology svg').getBoundingClientRect()"
                           ".height",
    }, report / "screenshots",
        scroll_to="#topology svg g.node.touched" if causes else "#topology-section")
    assert seen.errors == []
    assert seen.values["svg"] is True and seen.values["topology_height"] > 300
    assert seen.values["topology_ids"] == []  # every kind of lab element is drawn
    text = seen.values["text"]
    assert seen.values["failed_rows"] == len(failed)
    for name in failed:
        assert name in text
    assert seen.values["findings"] == len(summary["findings"])
    assert INCIDENTS["F10"].label in text
    for finding in summary["findings"]:
        assert finding["message"].split(":")[0] in text
    # the cause assertions need `causes` in summary.json (the diagnosis step adds them)
    if causes:
        top = min(causes, key=lambda c: c["rank"])
        assert top["incident"] == "F10"
        assert top["title"] in text
        for step in top["evidence_chain"]:
            assert step["text"] in text
        touched, drawn = set(seen.values["touched"]), set(seen.values["drawn"])
        touches = {t for c in causes for t in c["touches"]}
        # every touched element drawn under its own name is marked (a port group is drawn
        # once per switch and marked through its host's name for it)
        assert touched and touches & drawn <= touched
    for shot in seen.screenshots:
        assert shot.stat().st_size > 10_000


@needs_sim
def test_allure_results_and_report_of_the_run(f10_run: tuple[Path, Any, str]) -> None:
    report, summary, stderr = f10_run
    results = report / "allure-results"
    categories = json.loads((results / "categories.json").read_text())
    assert f"{INCIDENTS['F10'].label}: {INCIDENTS['F10'].title}" in [c["name"] for c in categories]
    env = (results / "environment.properties").read_text()
    assert "lab=sim" in env and "scenarios=F10" in env and "pyvmomi=" in env
    assert any(p.suffix == ".svg" for p in results.glob("*-attachment.svg"))
    assert json.loads((results / "executor.json").read_text())["buildOrder"] == 42
    assert json.loads((results / "history" / "history-trend.json").read_text()) == PREVIOUS_TREND
    if shutil.which("allure") is None:
        assert "Allure CLI is not installed" in stderr
        pytest.skip("the Allure CLI is not installed here (ci/setup installs it where npm is)")
    built = report / "allure-report"
    assert (built / "index.html").is_file(), stderr
    trend = json.loads((built / "history" / "history-trend.json").read_text())
    assert [t["buildOrder"] for t in trend] == [42, 41]
    assert trend[0]["data"]["failed"] == summary["tests"]["failed"]
    shown = json.loads((built / "widgets" / "categories.json").read_text())
    assert f"{INCIDENTS['F10'].label}: {INCIDENTS['F10'].title}" in [
        c["name"] for c in shown["items"]]


def test_a_report_with_causes_in_chromium(tmp_path: Path) -> None:
    """No sim: a report directory with causes in summary.json (the diagnosis step's shape),
    loaded in Chromium: no error, the cause and its chain visible, its elements marked."""
    from tests.report.test_report import F10_TOUCHES, _run_dir

    assert chromium_binary() is not None, "chromium is not installed (ci/setup installs it)"
    run = _run_dir(tmp_path, "run", causes=True)
    assert finish_reports(run, load_lab(SIM_LAB)).notes == []
    seen = visit(run / REPORT_NAME, {
        "text": "document.body.innerText",
        "touched": "Array.from(document.querySelectorAll("
                   "'#topology svg g.node.touched, #topology svg g.cluster.touched'))"
                   ".map(e => e.id).sort()",
        "stroke": "getComputedStyle(document.querySelector("
                  "'#topology svg g.touched[id=\"esx03/vmnic6\"] path')).stroke",
        "pcap_link": "document.querySelector('a[download]').href.slice(0, 41)",
    }, run / "screenshots", scroll_to="#topology svg g.node.touched")
    assert seen.errors == []
    assert "srv-esx03 530SFP+ port 1: DCB/LLDP agent off" in seen.values["text"]
    assert "DCB/LLDP agent off (Redfish)" in seen.values["text"]
    touched = set(seen.values["touched"])
    assert touched == set(F10_TOUCHES[:-1])
    assert seen.values["stroke"] == "rgb(208, 0, 0)"
    assert seen.values["pcap_link"].startswith("data:application/vnd.tcpdump.pcap;base64,")
