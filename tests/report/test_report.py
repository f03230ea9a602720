"""report.html, the topology and Allure's extras, from report directories made here (no sim).

The topology is drawn by the real Graphviz `dot` (ci/setup installs it): these tests fail, not
skip, without it. The Allure CLI tests run `allure generate` for real where it is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from harness.incidents import INCIDENTS
from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.probes.evidence import Frame, pcap_bytes
from harness.report import allure_extras
from harness.report.dirs import newest_report
from harness.report.finish import finish_reports
from harness.report.frames import pcap_summary
from harness.report.html import REPORT_NAME
from harness.report.topology import TOUCHED_COLOR, render_svg, topology_dot
from tests.conftest import ROOT, SIM_LAB

F10_TOUCHES = ["srv-esx03", "srv-esx03/pcie1/port1", "esx03/vmnic6",
               "sw02/TenGigabitEthernet1/1/7", "esx03/vmk1", "not-in-the-lab/x"]


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load_lab(SIM_LAB)


def _echo_frame(vlan: int, src: str, dst: str, kind: int, seq: int) -> bytes:
    """An 802.1Q-tagged ICMP echo (request 8 / reply 0) as a probe would keep it."""
    eth = (bytes.fromhex("005056000001" "005056000002" "8100") + vlan.to_bytes(2, "big")
           + b"\x08\x00")
    ip = (bytes([0x45, 0, 0, 28, 0, 1, 0x40, 0, 64, 1, 0, 0])
          + bytes(int(x) for x in src.split(".")) + bytes(int(x) for x in dst.split(".")))
    icmp = bytes([kind, 0, 0, 0, 0, 7]) + seq.to_bytes(2, "big")
    return eth + ip + icmp


def _run_dir(tmp: Path, name: str, *, causes: bool, started: str = "2026-12-05T10:00:00+00:00",
             status: str = "failed") -> Path:
    """A report directory as `labharness run` leaves it: summary.json and allure-results with
    one failed test carrying a finding, its evidence and a pcap."""
    run = tmp / name
    results = run / "allure-results"
    results.mkdir(parents=True)
    frames = [Frame(1796468080.5 + i, "eth1", _echo_frame(20, "198.18.20.13", "198.18.20.11",
                                                            8 if i % 2 == 0 else 0, i), 60, True)
              for i in range(4)]
    (results / "p1-attachment.pcap").write_bytes(pcap_bytes(frames))
    (results / "e1-attachment.json").write_text(json.dumps({"probe_vlan": 20}))
    finding_text = "[F10 nic-personality-dcb] error: esx03/vmnic6: no frame passes"
    (results / "r1-result.json").write_text(json.dumps({
        "uuid": "r1", "name": "test_uplink_passes_traffic[esx03/vmnic6]",
        "fullName": "suites.network.test_wire#test_uplink_passes_traffic", "status": status,
        "historyId": "h1", "start": 1, "stop": 2,
        "statusDetails": {"message": f"Failed: {finding_text}"},
        "attachments": [{"name": "uplink esx03/vmnic6", "source": "p1-attachment.pcap",
                         "type": "application/vnd.tcpdump.pcap"},
                        {"name": "evidence esx03/vmnic6", "source": "e1-attachment.json",
                         "type": "application/json"}],
        "labels": [{"name": "feature", "value": "F11 silent-uplink"}]}))
    (results / "r2-result.json").write_text(json.dumps({
        "uuid": "r2", "name": "test_ntp[esx01]", "fullName": "suites.vsphere.test_host#test_ntp",
        "status": "passed", "historyId": "h2", "start": 1, "stop": 2,
        "attachments": [{"name": "ntp evidence", "source": "e1-attachment.json",
                         "type": "application/json"}]}))
    summary: dict[str, Any] = {
        "lab": "sim", "inventory": "inventory/sim.yaml", "backend": "sim", "scenarios": ["F10"],
        "started": started, "finished": started, "verdict": "failed", "exit_code": 1,
        "interrupted": None, "tests": {"total": 2, "passed": 1, "failed": 1},
        "notes": ["simulated lab up in 20 s"], "endpoints": [],
        "findings": [{"ref": "f1", "id": "F10", "severity": "error", "subject": "esx03/vmnic6",
                      "message": "no frame passes <script>", "cause": "DCB agent off",
                      "fix": "turn it on", "check": "uplink-traffic", "source": "observed",
                      "evidence": {"pcap": "uplink esx03/vmnic6", "pcap_frames": 4,
                                   "frames": [{"kind": "echo", "vlan": 20,
                                               "src_mac": "00:50:56:00:00:02"}]}}],
        "results": [
            {"test": "suites/network/test_wire.py::test_uplink_passes_traffic[esx03/vmnic6]",
             "layer": "network", "incident": "F11", "subject": "esx03/vmnic6",
             "outcome": "failed", "reason": None, "duration_s": 1.5},
            {"test": "suites/vsphere/test_host.py::test_ntp[esx01]", "layer": "vsphere",
             "incident": "F05", "subject": "esx01", "outcome": "passed", "reason": None,
             "duration_s": 0.1}],
    }
    if causes:
        summary["causes"] = [{
            "id": "C1", "rank": 1, "incident": "F10", "subject": "srv-esx03", "layer": "bmc",
            "title": "srv-esx03 530SFP+ port 1: DCB/LLDP agent off",
            "explains": ["f1"], "touches": F10_TOUCHES,
            "evidence_chain": [
                {"layer": "bmc", "subject": "srv-esx03/pcie1/port1",
                 "text": "DCB/LLDP agent off (Redfish)", "finding": "f1"},
                {"layer": "network", "subject": "esx03/vmnic6", "text": "vmnic6 dead",
                 "finding": "f1"}]}]
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_topology_marks_what_a_cause_touches(lab: Lab) -> None:
    source, marked = topology_dot(lab, F10_TOUCHES)
    assert marked == set(F10_TOUCHES) - {"not-in-the-lab/x"}
    svg = render_svg(source)
    assert svg.startswith("<svg")
    # every kind of element of the lab is drawn, named as checks and causes name it
    for element in ("esx01/vmnic0", "srv-esx01/bmc", "srv-esx01/flexlom/port1", "esx01/vmk4",
                    "sw01/GigabitEthernet1/0/1", "opnsense01/underlay_a", "network/vtep-a",
                    "ls-web", "tz-lab", "dlr01", "esg01", "web01", "mon01", "dvs-lab",
                    "dvs-lab/dvpg-vmotion", "nlb/nlb-exch"):
        assert f'id="{element.replace("-", "&#45;")}"' in svg, element
    touched = re.findall(r'<g id="([^"]+)" class="(?:node|cluster|edge) touched"', svg)
    assert {t.replace("&#45;", "-") for t in touched} >= set(marked)
    assert TOUCHED_COLOR in svg
    # the cable between two touched ends is marked; no other is
    assert len([t for t in touched if t.startswith("cable/")]) == 1
    assert "VNI 5001" in svg and "VLAN 20" in svg and "BMC ilo5" in svg
    # a port group is drawn once per switch and marked by any host's name for it
    source, marked = topology_dot(lab, ["esx02/dvpg-iscsi-b", "esx01/Management Network"])
    assert marked == {"esx02/dvpg-iscsi-b", "esx01/Management Network"}
    svg = render_svg(source)
    for element in ("dvs-lab/dvpg-iscsi-b", "esx01/vSwitch0"):
        assert f'<g id="{element.replace("-", "&#45;")}" class="node touched"' in svg, element


def test_pcap_frames_are_decoded() -> None:
    blob = pcap_bytes([Frame(1796468080.25, "eth1", _echo_frame(20, "198.18.20.13",
                                                                 "198.18.20.11", 8, 3), 60)])
    lines = pcap_summary(blob)
    assert len(lines) == 1
    assert "vlan 20 IPv4 198.18.20.13 > 198.18.20.11 DF ICMP echo request id 7 seq 3 len 60" \
        in lines[0]
    assert pcap_summary(b"junk")[0].startswith("not a pcap")
    assert pcap_summary(blob[:-5])[-1] == "(the file ends inside a frame)"


def test_report_html_has_causes_topology_tests_and_evidence(tmp_path: Path, lab: Lab) -> None:
    run = _run_dir(tmp_path, "run", causes=True)
    done = finish_reports(run, lab)
    assert done.notes == [] and done.html == run / REPORT_NAME
    page = done.html.read_text()
    assert "<script" not in page.replace("&lt;script&gt;", "")  # no script, text escaped
    assert "default-src 'none'" in page and "http://" not in page.replace(
        "http://www.w3.org", "")
    assert 'id="cause-C1"' in page and "DCB/LLDP agent off (Redfish)" in page
    assert 'href="#finding-f1"' in page and 'id=finding-f1' in page
    assert "(not drawn: not-in-the-lab/x)" in page
    assert '<div id=topology><svg' in page and 'class="node touched"' in page
    # tests by layer and incident, the failure's message and attachments inline
    assert "layer network" in page and "F11 silent-uplink" in page
    assert "Failed: [F10 nic-personality-dcb]" in page
    assert 'download="uplink_esx03_vmnic6.pcap" href="data:application/vnd.tcpdump.pcap;base64,' \
        in page
    assert "ICMP echo reply id 7 seq 1" in page
    assert "attachments (1)</summary><div id=att-3><b>ntp evidence</b>" in page  # passed test
    # the finding's evidence links its pcap and shows the decoded frames
    assert re.search(r'<a href="#att-\d+">uplink esx03/vmnic6</a>', page)
    assert "decoded frames (1)" in page


def test_report_without_causes_or_dot(tmp_path: Path, lab: Lab,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_dir(tmp_path, "run", causes=False)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    done = finish_reports(run, lab)
    page = (run / REPORT_NAME).read_text()
    assert "No causes in this run's summary." in page and "cause-C" not in page
    assert "id=topology-missing" in page and "Graphviz `dot` is not installed" in page
    assert any("topology not drawn" in n for n in done.notes)


def test_unreadable_summary_is_a_note(tmp_path: Path, lab: Lab) -> None:
    done = finish_reports(tmp_path, lab)
    assert done.html is None and "summary.json unreadable" in done.notes[0]


def test_allure_categories_environment_topology(tmp_path: Path, lab: Lab) -> None:
    run = _run_dir(tmp_path, "run", causes=True)
    finish_reports(run, lab)
    results = run / "allure-results"
    categories = json.loads((results / "categories.json").read_text())
    assert len(categories) == len(INCIDENTS) + 1
    message = "Failed: [F10 nic-personality-dcb] error: x\n  cause: y"
    matching = [c["name"] for c in categories
                if "messageRegex" in c and re.fullmatch(c["messageRegex"], message)]
    assert matching == [f"{INCIDENTS['F10'].label}: {INCIDENTS['F10'].title}"]
    env = (results / "environment.properties").read_text()
    for key in ("lab=sim", "backend=sim", "scenarios=F10", "labharness=", "pyvmomi=",
                "redfish=", "python="):
        assert key in env, env
    container = next(json.loads(p.read_text()) for p in results.glob("*-container.json"))
    assert sorted(container["children"]) == ["r1", "r2"]
    svg = container["befores"][0]["attachments"][0]
    assert svg["type"] == "image/svg+xml"
    assert (results / svg["source"]).read_text().startswith("<svg")


def test_history_comes_from_the_previous_run_of_the_same_lab(tmp_path: Path) -> None:
    older = _run_dir(tmp_path, "a", causes=False, started="2026-12-04T10:00:00+00:00")
    prev = _run_dir(tmp_path, "b", causes=False, started="2026-12-05T09:00:00+00:00")
    other_lab = _run_dir(tmp_path, "c", causes=False, started="2026-12-05T09:30:00+00:00")
    summary = json.loads((other_lab / "summary.json").read_text())
    (other_lab / "summary.json").write_text(json.dumps({**summary, "lab": "other"}))
    for run, marker in ((older, "older"), (prev, "prev"), (other_lab, "other")):
        (run / "allure-report" / "history").mkdir(parents=True)
        (run / "allure-report" / "history" / "history-trend.json").write_text(f'["{marker}"]')
    (prev / "allure-results" / "executor.json").write_text('{"buildOrder": 7}')
    new = _run_dir(tmp_path, "d", causes=False)  # started 10:00
    # each summary written when its run ended; a long run that ended last started first
    long = _run_dir(tmp_path, "e", causes=False, started="2026-12-05T08:30:00+00:00")
    for run, ended in ((older, "2026-12-04T10:30"), (prev, "2026-12-05T09:20"),
                       (other_lab, "2026-12-05T09:40"), (long, "2026-12-05T09:55")):
        at = datetime.fromisoformat(ended + "+00:00").timestamp()
        os.utime(run / "summary.json", (at, at))
    # a summary written before the newest match started is not read (its content would win)
    stale = _run_dir(tmp_path, "f", causes=False, started="2026-12-05T09:45:00+00:00")
    at = datetime.fromisoformat("2026-12-05T07:00:00+00:00").timestamp()
    os.utime(stale / "summary.json", (at, at))
    came_from = allure_extras.carry_history(new / "allure-results", new, "sim",
                                            "2026-12-05T10:00:00+00:00")
    assert came_from == str(prev / "allure-report" / "history")
    assert (new / "allure-results" / "history" / "history-trend.json").read_text() == '["prev"]'
    assert json.loads((new / "allure-results" / "executor.json").read_text())["buildOrder"] == 8
    first = _run_dir(tmp_path / "alone", "x", causes=False)
    assert allure_extras.carry_history(first / "allure-results", first, "sim", "z") is None


@pytest.mark.skipif(shutil.which("allure") is None,
                    reason="the Allure CLI is not installed (ci/setup installs it)")
def test_allure_report_trend_spans_runs(tmp_path: Path, lab: Lab) -> None:
    """Two runs through the real `allure generate`: the second report's trend has both."""
    first = _run_dir(tmp_path, "1", causes=True, started="2026-12-05T09:00:00+00:00")
    done = finish_reports(first, lab, allure_report=True)
    assert done.notes == [] and done.allure_report is not None
    assert (done.allure_report / "index.html").is_file()
    second = _run_dir(tmp_path, "2", causes=True, started="2026-12-05T10:00:00+00:00",
                      status="passed")
    done = finish_reports(second, lab, allure_report=True)
    assert done.allure_report is not None
    trend = json.loads((done.allure_report / "history" / "history-trend.json").read_text())
    assert len(trend) == 2 and trend[0]["buildOrder"] == 2 and trend[1]["buildOrder"] == 1
    assert trend[1]["data"]["failed"] == 1 and trend[0]["data"]["failed"] == 0
    shown = json.loads((done.allure_report / "widgets" / "categories.json").read_text())
    assert shown["total"] == 0  # the second run's test passed
    # the topology is in every test's set-up
    cases = list((done.allure_report / "data" / "test-cases").glob("*.json"))
    assert len(cases) == 2 and all("lab topology (from the lab file" in c.read_text()
                                   for c in cases)
    assert list((done.allure_report / "data" / "attachments").glob("*.svg"))
    env = json.loads((done.allure_report / "widgets" / "environment.json").read_text())
    assert {e["name"] for e in env} >= {"lab", "inventory", "backend", "labharness"}
    first_categories = json.loads(
        (first / "allure-report" / "widgets" / "categories.json").read_text())
    assert [c["name"] for c in first_categories["items"]] == [
        f"{INCIDENTS['F10'].label}: {INCIDENTS['F10'].title}"]


def test_allure_report_without_the_cli_is_a_note(tmp_path: Path, lab: Lab,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run = _run_dir(tmp_path, "run", causes=False)
    monkeypatch.setattr(allure_extras, "allure_cli", lambda: None)
    done = finish_reports(run, lab, allure_report=True)
    assert done.html is not None and done.allure_report is None
    assert "Allure CLI is not installed (npm install -g allure-commandline" in done.notes[-1]


def _labharness(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_report_open_opens_the_newest(tmp_path: Path) -> None:
    older, newer = tmp_path / "20261204T000000Z", tmp_path / "20261205T000000Z"
    for i, run in enumerate((older, newer)):
        run.mkdir()
        (run / REPORT_NAME).write_text("<html></html>")
        os.utime(run / REPORT_NAME, (1_000_000 + i, 1_000_000 + i))
    assert newest_report(tmp_path) == newer / REPORT_NAME
    opened = tmp_path / "opened"
    env = {"PATH": "/usr/bin:/bin", "BROWSER": f"sh -c 'echo %s > {opened}'"}
    result = _labharness("report", "open", "--report-dir", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(newer / REPORT_NAME)
    assert opened.read_text().strip() == (newer / REPORT_NAME).as_uri()
    none = _labharness("report", "open", "--report-dir", str(tmp_path / "nothing"), env=env)
    assert none.returncode == 2 and "no report.html in" in none.stderr
    assert "Traceback" not in none.stderr


def test_run_without_dot_or_allure_still_reports_and_keeps_its_exit_code(tmp_path: Path) -> None:
    """A run of the design suite only (no inventory: no lab is built) on a machine without
    Graphviz or the Allure CLI: report.html says why there is no topology, the terminal says
    what is missing, and the run's exit code is its tests' (0)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    report = tmp_path / "r"
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--lab", str(SIM_LAB), "--report-dir",
         str(report), "--allure-report"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": str(empty), "COLUMNS": "200"}, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "report.html: topology not drawn: Graphviz `dot` is not installed" in result.stderr
    assert "--allure-report: the Allure CLI is not installed" in result.stderr
    page = (report / REPORT_NAME).read_text()
    assert "id=topology-missing" in page and "layer design" in page
    assert (report / "allure-results" / "categories.json").is_file()


def test_a_report_bug_is_a_note_not_a_crash(tmp_path: Path, lab: Lab,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import cli
    from harness.report import finish

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("causes")

    monkeypatch.setattr(finish, "finish_reports", broken)
    assert cli._finish_reports(tmp_path, lab, allure_report=False) == [
        ("report.html not written: KeyError: 'causes'", True)]


def test_big_pcaps_are_linked_not_embedded(tmp_path: Path, lab: Lab,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.report import html

    monkeypatch.setattr(html, "PCAP_EMBED_MAX", 100)
    run = _run_dir(tmp_path, "run", causes=False)
    finish_reports(run, lab)
    page = (run / REPORT_NAME).read_text()
    assert "data:application/vnd.tcpdump.pcap" not in page
    assert '<a href="allure-results/p1-attachment.pcap">' in page and "too big to embed" in page
    assert "ICMP echo request id 7 seq 0" in page  # still decoded


def test_a_report_dir_used_again_loses_the_earlier_runs_files_first(tmp_path: Path) -> None:
    from harness.report.dirs import RUN_FILES, prepare_report_dir

    for name in RUN_FILES:
        (tmp_path / name).write_text("an earlier run's")
    (tmp_path / "notes.txt").write_text("the user's own")
    assert prepare_report_dir(tmp_path) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_run_that_ended_before_pytest_wrote_junit_still_has_one_that_is_not_green(
        tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from harness.report.summary import mark_junit_unfinished

    junit = tmp_path / "junit.xml"
    mark_junit_unfinished(junit, "labharness.internal_error", "RuntimeError: x",
                          "the run ended on an internal error")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("errors")) == ("1", "1")
    [case] = suite.iter("testcase")
    error = case.find("error")
    assert case.get("classname") == "labharness" and error is not None
    assert error.get("message") == "the run ended on an internal error"
