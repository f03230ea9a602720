"""`labharness merge`: the shards of a run joined into one run, and shards that do not make one
run refused (exit 2, naming the directories)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.checks.finding import Finding
from harness.lab.loader import load_lab
from harness.report.merge import MergeError, load_shards, merge_runs, worst_exit_code
from harness.report.summary import RunSummary, new_summary
from harness.report.summary import TestResult as Outcome
from tests.conftest import SIM_LAB
from tests.design_faults import DESIGN_FAULTS
from tests.test_cli import labharness
from tests.test_diagnosis import f10_findings, finding

LAB = load_lab(SIM_LAB)
Case = tuple[str, str, list[Finding]]  # node id, outcome, findings


def _cases() -> list[Case]:
    """A run whose F10 findings are spread over tests about different elements, plus an
    unrelated F05 fault and passing tests."""
    f10 = f10_findings()
    return [
        ("suites/server_build/test_s.py::test_adapter[srv-esx03]", "failed", f10[:2] + f10[7:]),
        ("suites/vsphere/test_v.py::test_uplinks[esx03]", "failed", f10[2:6]),
        ("suites/network/test_w.py::test_path[esx01->esx03]", "failed", f10[6:7]),
        ("suites/vsphere/test_v.py::test_ntp[esx02]", "failed",
         [finding("F05", "ntp-servers", "esx02")]),
        ("suites/vsphere/test_v.py::test_ntp[esx01]", "passed", []),
        ("suites/design/test_d.py::test_lab_wide", "skipped", []),
    ]


def _summary(cases: Sequence[tuple[int, Case]], shard: tuple[int, int] | None,
             collected: int) -> RunSummary:
    summary = new_summary(LAB.name, "inventory/sim.yaml", "sim", ["F10", "F05"], model=LAB,
                          lab_file=str(SIM_LAB))
    for position, (nodeid, outcome, findings) in cases:
        summary.results[nodeid] = Outcome(
            nodeid, layer=nodeid.split("/")[1], subject=nodeid.split("[")[-1].rstrip("]"),
            outcome=outcome, reason="no lab" if outcome == "skipped" else None,
            findings=list(findings), position=position if shard else None)
    if shard is not None:
        summary.shard = {"index": shard[0], "total": shard[1], "collected": collected,
                         "selected": len(cases)}
    summary.exit_code = 1 if summary.failed else 0
    summary.finished = summary.started
    return summary


def _write(path: Path, summary: RunSummary) -> Path:
    """A shard's report directory as `labharness run` leaves it (summary, facts, junit, allure
    results with one result per test and a lab-topology fixture)."""
    (path / "allure-results").mkdir(parents=True)
    summary.facts = {"vsphere": {r.subject or "-": {"seen": r.nodeid}
                                 for r in summary.results.values()}}
    summary.write(path / "summary.json")
    suite = ET.Element("testsuite", name="pytest", tests=str(len(summary.results)),
                       failures=str(summary.counts()["failed"]), errors="0",
                       skipped=str(summary.counts()["skipped"]), time="1.5",
                       timestamp=summary.started, hostname="runner")
    for n, r in enumerate(summary.results.values()):
        module, name = r.nodeid.split("::")
        case = ET.SubElement(suite, "testcase", classname=module[:-3].replace("/", "."),
                             name=name)
        if r.outcome == "failed":
            ET.SubElement(case, "failure", message="fault")
        (path / "allure-results" / f"{path.name}-{n}-result.json").write_text(
            json.dumps({"uuid": f"{path.name}-{n}", "name": name}))
    root = ET.Element("testsuites", name="pytest tests")
    root.append(suite)
    ET.ElementTree(root).write(path / "junit.xml", encoding="utf-8", xml_declaration=True)
    (path / "allure-results" / f"topo-{path.name}-attachment.svg").write_text("<svg/>")
    (path / "allure-results" / f"topo-{path.name}-container.json").write_text(json.dumps(
        {"uuid": "t", "name": "lab topology", "children": [],
         "befores": [{"attachments": [{"source": f"topo-{path.name}-attachment.svg"}]}]}))
    (path / "allure-results" / "categories.json").write_text("[]")
    return path


def _shards(tmp_path: Path, split: Sequence[Sequence[int]]) -> list[Path]:
    cases = list(enumerate(_cases()))
    return [_write(tmp_path / f"shard{k}", _summary([cases[i] for i in part], (k, len(split)),
                                                    len(cases)))
            for k, part in enumerate(split, start=1)]


def _verdicts(data: dict[str, Any]) -> dict[str, Any]:
    """What must not depend on sharding: tests and outcomes in order, counts, findings,
    causes (refs included), masked scenarios."""
    return {"results": [(r["test"], r["outcome"], r["findings"]) for r in data["results"]],
            **{k: data[k] for k in ("tests", "groups", "skipped", "findings", "causes",
                                    "masked", "verdict")}}


def test_merged_shards_are_the_unsharded_run(tmp_path: Path) -> None:
    whole = _summary(list(enumerate(_cases())), None, 0).to_dict()
    assert [c["incident"] for c in whole["causes"]] == ["F10", "F05"]
    # F10's findings in three shards; shard 3's test comes first in the session's order
    dirs = _shards(tmp_path, [[1, 4], [5, 3], [0, 2]])
    out = tmp_path / "merged"
    out.mkdir()
    merged = merge_runs(dirs, out, LAB, str(SIM_LAB))
    assert _verdicts(merged.to_dict()) == _verdicts(whole)
    [f10] = [c for c in merged.to_dict()["causes"] if c["incident"] == "F10"]
    assert len(f10["explains"]) == 9  # one cause across the shards, not one per shard
    assert merged.facts["vsphere"].keys() == {r.subject for r in merged.results.values()}
    assert [m["shard"] for m in merged.to_dict()["merged_from"]] == ["1/3", "2/3", "3/3"]
    # junit: one testsuite, counts summed, cases in the run's order
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("6", "4", "1")
    assert float(suite.get("time") or 0) == pytest.approx(4.5)
    assert [c.get("name") for c in suite.iter("testcase")] == [
        n.split("::")[1] for n, _, _ in _cases()]
    # allure: every result, no shard's topology fixture or run-level file (drawn for the run)
    names = {p.name for p in (out / "allure-results").iterdir()}
    assert len([n for n in names if n.endswith("-result.json")]) == 6
    assert not any(n.startswith("topo-") for n in names) and "categories.json" not in names


def test_a_shard_that_ended_on_an_internal_error_makes_the_merged_run_end_on_one(
        tmp_path: Path) -> None:
    cases = list(enumerate(_cases()))
    # two shards whose tests all passed, then pytest raised (exit code left unset: the
    # merged run's must follow from the error itself)
    broken = [_summary(part, (k, 3), 6) for k, part in ((2, cases[4:5]), (3, cases[5:6]))]
    for n, summary in enumerate(broken, start=1):
        summary.internal_error, summary.exit_code = f"RuntimeError: plugin {n} failed", None
        assert (summary.verdict(), summary.failed) == ("errors", True)
    dirs = [_write(tmp_path / "shard1", _summary(cases[:4], (1, 3), 6)),
            *(_write(tmp_path / f"shard{k}", s) for k, s in ((2, broken[0]), (3, broken[1])))]
    out = tmp_path / "merged"
    result = labharness("merge", *map(str, dirs), "--out", str(out), "--history", "off")
    assert result.returncode == 4, result.stdout + result.stderr
    merged = json.loads((out / "summary.json").read_text())
    assert merged["internal_error"] == ("shard 2/3: RuntimeError: plugin 1 failed; "
                                        "shard 3/3: RuntimeError: plugin 2 failed")
    assert (merged["verdict"], merged["exit_code"]) == ("errors", 4)
    assert "internal error" in result.stderr and "plugin 2 failed" in result.stderr


def _error(dirs: Sequence[Path]) -> str:
    with pytest.raises(MergeError) as caught:
        load_shards(dirs)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_shards_that_are_not_one_run_are_refused(tmp_path: Path) -> None:
    a, b, c = _shards(tmp_path, [[0, 1], [2, 3], [4, 5]])
    assert "shard(s) 2/3 missing" in _error([a, c]) and str(a) in _error([a, c])
    message = _error([a, b, c, a])
    assert "shard 1/3 given twice" in message and str(a) in message
    other = _write(tmp_path / "other", _summary(list(enumerate(_cases()))[1:3], (2, 3), 6))
    message = _error([a, other, c])
    assert "suites/vsphere/test_v.py::test_uplinks[esx03]" in message
    assert "overlap" in message
    four = _write(tmp_path / "four", _summary(list(enumerate(_cases()))[2:4], (2, 4), 6))
    assert "different numbers of shards" in _error([a, four, c])
    fewer = _write(tmp_path / "fewer", _summary(list(enumerate(_cases()))[2:4], (2, 3), 5))
    assert "collected 6 tests" in _error([a, fewer, c])
    lab = _summary(list(enumerate(_cases()))[2:4], (2, 3), 6)
    lab.lab = "site-a"
    message = _error([a, _write(tmp_path / "lab", lab), c])
    assert "lab 'site-a'" in message and str(tmp_path / "lab") in message
    whole = _write(tmp_path / "whole", _summary(list(enumerate(_cases())), None, 0))
    assert "not a shard" in _error([whole])
    assert "no summary.json" in _error([tmp_path / "nowhere"])
    with pytest.raises(MergeError, match="own directory"):
        merge_runs([a, b, c], b, LAB, None)


def test_the_merged_exit_code_is_the_worst_a_run_would_give() -> None:
    assert worst_exit_code([0, 0, None]) == 0
    assert worst_exit_code([0, 1, 4]) == 4
    assert worst_exit_code([1, 3, 4]) == 3
    assert worst_exit_code([0, 143, 1]) == 143


def test_merge_command_stores_one_run_and_refuses_with_exit_2(tmp_path: Path) -> None:
    dirs = _shards(tmp_path, [[0, 1, 2], [3, 4, 5]])
    history = tmp_path / "h.sqlite"
    out = tmp_path / "merged"
    result = labharness("merge", *map(str, dirs), "--out", str(out), "--history", str(history))
    assert result.returncode == 1, result.stdout + result.stderr  # the run has failures
    assert "C1 F10" in result.stdout and "run 1 stored" in result.stdout
    assert (out / "report.html").is_file() and (out / "summary.json").is_file()
    assert (out / "allure-results" / "categories.json").is_file()
    listed = labharness("history", "--history", str(history), "--json")
    [run] = json.loads(listed.stdout)
    assert run["tests"]["total"] == 6
    refused = labharness("merge", str(dirs[0]), "--out", str(tmp_path / "x"), "--history",
                         str(history))
    assert refused.returncode == 2 and "shard(s) 2/2 missing" in refused.stderr
    assert not (tmp_path / "x").exists()


def test_a_lab_file_run_in_four_shards_merges_into_the_unsharded_run(
        tmp_path: Path, faulty_lab: Any) -> None:
    """The real thing without a sim: the F12 design fault, run whole and in four shards."""
    fault = next(f for f in DESIGN_FAULTS if f.name == "F12-vmotion-subnet")
    lab = str(faulty_lab(fault.change))
    whole = labharness("run", "--lab", lab, "--report-dir", str(tmp_path / "whole"),
                       "--history", "off")
    assert whole.returncode == 1
    dirs = []
    for k in range(1, 5):
        shard = labharness("run", "--lab", lab, "--shard", f"{k}/4", "--report-dir",
                           str(tmp_path / f"s{k}"), "--history", str(tmp_path / "h"))
        assert shard.returncode in (0, 1), shard.stdout + shard.stderr
        assert "not stored on its own" in shard.stdout
        dirs.append(str(tmp_path / f"s{k}"))
    assert not (tmp_path / "h").exists()  # shards store nothing
    merged = labharness("merge", *dirs, "--out", str(tmp_path / "merged"), "--history",
                        str(tmp_path / "h"))
    assert merged.returncode == whole.returncode, merged.stdout + merged.stderr
    a = json.loads((tmp_path / "whole" / "summary.json").read_text())
    b = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert _verdicts(b) == _verdicts(a)
    assert {(f["id"], f["check"], f["subject"]) for f in b["findings"]} == fault.expected
    assert b["causes"] and b["exit_code"] == a["exit_code"] == 1


def test_merge_finds_the_lab_file_of_shards_run_in_another_checkout(tmp_path: Path) -> None:
    dirs = _shards(tmp_path, [[0, 1, 2], [3, 4, 5]])
    for d in dirs:  # as a CI runner with another build directory wrote them
        data = json.loads((d / "summary.json").read_text())
        data["lab_file"] = "/builds/other-runner/labharness/labs/sim.yaml"
        (d / "summary.json").write_text(json.dumps(data))
    result = labharness("merge", *map(str, dirs), "--out", str(tmp_path / "m"), "--history",
                        "off")
    assert result.returncode == 1 and "C1 F10" in result.stdout, result.stdout + result.stderr
    for d in dirs:
        data = json.loads((d / "summary.json").read_text())
        data["lab_file"] = "/builds/other-runner/site-a.yaml"
        (d / "summary.json").write_text(json.dumps(data))
    result = labharness("merge", *map(str, dirs), "--out", str(tmp_path / "n"), "--history",
                        "off")
    assert result.returncode == 2 and "pass --lab FILE" in result.stderr
    assert "/builds/other-runner/site-a.yaml" in result.stderr
