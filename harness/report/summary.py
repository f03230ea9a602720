"""Collect test outcomes and findings during a run, and write summary.json.

The collector is a pytest plugin object handed to `pytest.main` by `labharness run`. It reads
only test reports (outcome, skip reason, user properties), so it works the same for every suite.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.checks.finding import Finding
from harness.diagnosis import Cause, diagnose
from harness.incidents import scenario_incident
from harness.lab.model import Lab
from harness.pytest_plugin.assertions import FINDING_PROPERTY
from harness.pytest_plugin.endpoints import endpoints, run_notes
from harness.pytest_plugin.factlog import facts_log
from harness.pytest_plugin.shard import shard_selection
from harness.pytest_plugin.state import (
    ERROR_PROPERTY,
    INCIDENT_PROPERTY,
    LAYER_PROPERTY,
    SUBJECT_PROPERTY,
    EndpointStatus,
)

OUTCOMES = ("passed", "failed", "skipped", "errors", "xfailed", "xpassed")


@dataclass
class TestResult:
    """One test's outcome across its setup, call and teardown phases."""

    nodeid: str
    layer: str = "other"
    incident: str | None = None
    subject: str | None = None
    outcome: str = "passed"
    reason: str | None = None
    duration_s: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    # a shard's test: its place in the whole session's order (a merge restores that order)
    position: int | None = None


@dataclass
class RunSummary:
    """Everything summary.json holds."""

    lab: str | None
    inventory: str | None
    backend: str
    scenarios: list[str]
    started: str
    results: dict[str, TestResult] = field(default_factory=dict)
    finished: str | None = None
    notes: list[str] = field(default_factory=list)
    endpoints: list[EndpointStatus] = field(default_factory=list)
    interrupted: str | None = None  # the signal that ended the run early (SIGINT, SIGTERM)
    # what ended the run from inside once its tests had started (labharness, pytest or a
    # plugin raised out of pytest.main): "Type: message"
    internal_error: str | None = None
    exit_code: int | None = None
    model: Lab | None = None  # the lab tested: its relations connect findings into causes
    # what the session's fixtures read, per layer (facts.json and the run history)
    facts: dict[str, Any] = field(default_factory=dict)
    lab_file: str | None = None  # the lab file tested (a merge of shards diagnoses with it)
    # a shard's run: {"index", "total", "collected", "selected"} (see pytest_plugin/shard.py)
    shard: dict[str, int] | None = None
    merged_from: list[dict[str, Any]] = field(default_factory=list)  # a merge's shards

    def unreachable(self) -> list[EndpointStatus]:
        return [e for e in self.endpoints if not e.reachable]

    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.results.values())
        return {"total": len(self.results), **{o: c.get(o, 0) for o in OUTCOMES}}

    @property
    def failed(self) -> bool:
        c = self.counts()
        return bool(c["failed"] or c["errors"] or c["xpassed"] or self.unreachable()
                    or self.interrupted or self.internal_error)

    def verdict(self) -> str:
        """One word for the run: interrupted, unreachable, errors, failed or passed."""
        c = self.counts()
        if self.interrupted:
            return "interrupted"
        if self.unreachable():
            return "unreachable"
        if c["errors"] or self.internal_error:
            return "errors"
        return "failed" if self.failed else "passed"

    def findings(self) -> list[Finding]:
        seen: set[str] = set()
        out: list[Finding] = []
        for result in self.results.values():
            for f in result.findings:
                key = f.to_json()
                if key not in seen:
                    seen.add(key)
                    out.append(f)
        return out

    def refs(self) -> list[str]:
        """How summary.json names each finding (`f1`, `f2`, ... in `findings()` order), so
        causes can point at them."""
        return [f"f{n}" for n in range(1, len(self.findings()) + 1)]

    def causes(self) -> list[Cause]:
        """The findings grouped into ranked root causes (none without a lab model)."""
        if self.model is None:
            return []
        return diagnose(self.model, self.findings(), self.refs())

    def masked(self) -> list[dict[str, Any]]:
        """Each incident an applied scenario reproduces (`F11-cabling` is F11's) that no
        finding names, and why: its tests passed (the fault did not show: say so), or they
        failed with other incidents' findings (another fault broke the same paths first: name
        the causes that masked it)."""
        found = {f.id for f in self.findings()}
        ref_of = {f.to_json(): ref for ref, f in zip(self.refs(), self.findings(), strict=True)}
        causes = self.causes()
        out: list[dict[str, Any]] = []
        applied = (scenario_incident(s) for s in self.scenarios)
        for incident in dict.fromkeys(i.id for i in applied if i is not None):
            if incident in found:
                continue
            tests = [r for r in self.results.values() if r.incident == incident]
            outcomes = Counter(r.outcome for r in tests)
            refs = {ref_of[f.to_json()] for r in tests for f in r.findings
                    if f.to_json() in ref_of}
            by = [f"{c.id} {c.incident}" for c in causes if refs & set(c.explains)]
            if by:
                text = (f"{incident} was applied but none of its findings show: its tests "
                        f"failed on other faults first (masked by {', '.join(by)})")
            else:
                text = (f"{incident} was applied but none of its findings show: "
                        f"{outcomes.get('passed', 0)} of its {len(tests)} tests passed")
            out.append({"incident": incident, "tests": dict(outcomes), "masked_by": by,
                        "text": text})
        return out

    def groups(self) -> list[dict[str, Any]]:
        """Counts per (layer, incident), for the terminal table and the JSON."""
        table: dict[tuple[str, str], Counter[str]] = {}
        for r in self.results.values():
            table.setdefault((r.layer, r.incident or "-"), Counter())[r.outcome] += 1
        return [{"layer": layer, "incident": incident, **{o: c.get(o, 0) for o in OUTCOMES}}
                for (layer, incident), c in sorted(table.items())]

    def skip_reasons(self) -> list[dict[str, Any]]:
        reasons = Counter(r.reason or "" for r in self.results.values() if r.outcome == "skipped")
        return [{"reason": reason, "tests": n} for reason, n in reasons.most_common()]

    def to_dict(self) -> dict[str, Any]:
        ref_of = {f.to_json(): ref for ref, f in zip(self.refs(), self.findings(), strict=True)}
        out = {
            "lab": self.lab,
            "lab_file": self.lab_file,
            "inventory": self.inventory,
            "backend": self.backend,
            "scenarios": self.scenarios,
            "started": self.started,
            "finished": self.finished,
            "verdict": self.verdict(),
            "interrupted": self.interrupted,
            "internal_error": self.internal_error,
            "exit_code": self.exit_code,
            "tests": self.counts(),
            "groups": self.groups(),
            "skipped": self.skip_reasons(),
            "notes": self.notes,
            "endpoints": [e.to_dict() for e in self.endpoints],
            "findings": [{"ref": ref, **f.to_dict()}
                         for ref, f in zip(self.refs(), self.findings(), strict=True)],
            "causes": [c.to_dict() for c in self.causes()],
            "masked": self.masked(),
            "results": [
                {"test": r.nodeid, "layer": r.layer, "incident": r.incident,
                 "subject": r.subject, "outcome": r.outcome, "reason": r.reason,
                 "duration_s": round(r.duration_s, 4),
                 "findings": list(dict.fromkeys(ref_of[f.to_json()] for f in r.findings)),
                 **({} if r.position is None else {"position": r.position})}
                for r in self.results.values()
            ],
        }
        if self.shard is not None:
            out["shard"] = self.shard
        if self.merged_from:
            out["merged_from"] = self.merged_from
        return out

    def write(self, path: Path) -> None:
        """Write summary.json, and facts.json beside it (atomically, see `write_json`).

        Raises:
            OSError: the directory is not writable or full (the old file, if any, is kept).
        """
        write_json(path, self.to_dict())
        write_json(path.with_name(FACTS_FILE), self.facts)


FACTS_FILE = "facts.json"


def write_json(path: Path, data: Any) -> None:
    """Write atomically (a temporary name, then renamed): a reader never sees half a file.

    Raises:
        OSError: the directory is not writable or full (the old file, if any, is kept).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def mark_junit_interrupted(path: Path, signal_name: str) -> None:
    """Say in junit.xml that the run was interrupted (a property, and a `labharness.run` test
    case in error), so a CI dashboard that reads only junit does not show a short run as
    green."""
    mark_junit_unfinished(path, "labharness.interrupted", signal_name,
                          f"the run was interrupted by {signal_name}: the tests after this "
                          "point did not run")


def mark_junit_unfinished(path: Path, name: str, value: str, message: str) -> None:
    """A property `name`=`value` on every test suite and one `labharness.run` test case in
    error with `message`: every junit reader shows that the run did not finish. Where pytest
    wrote no junit.xml (or only part of one), one of that case alone."""
    import xml.etree.ElementTree as ET

    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        root = ET.Element("testsuites", name="pytest tests")
        ET.SubElement(root, "testsuite", name="pytest", errors="0", failures="0", skipped="0",
                      tests="0", time="0")
        tree = ET.ElementTree(root)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        ET.SubElement(props, "property", name=name, value=value)
    suite = suites[0] if suites else root
    case = ET.SubElement(suite, "testcase", classname="labharness", name="run")
    ET.SubElement(case, "error", message=message)
    for attr in ("tests", "errors"):
        suite.set(attr, str(int(suite.get(attr, "0")) + 1))
    tmp = path.with_name(f".{path.name}.tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def _skip_reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    return None


def _error_reason(report: pytest.TestReport) -> str | None:
    """The message a test that reached no verdict ended with: the exception's own message, else
    the last non-empty line of the report."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message).splitlines()[0]
    lines = [line.strip() for line in report.longreprtext.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    return last[2:].strip() if last.startswith("E ") else last


class SummaryCollector:
    """pytest plugin object that fills a RunSummary from test reports."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.summary.results.get(report.nodeid)
        if result is None:
            result = TestResult(report.nodeid)
            self.summary.results[report.nodeid] = result
            for name, value in report.user_properties:
                if name == LAYER_PROPERTY:
                    result.layer = str(value)
                elif name == INCIDENT_PROPERTY:
                    result.incident = str(value)
                elif name == SUBJECT_PROPERTY:
                    result.subject = str(value)
        result.duration_s += report.duration
        if report.when == "call":
            for name, value in report.user_properties:
                if name == FINDING_PROPERTY:
                    result.findings.append(Finding.from_dict(json.loads(str(value))))
        if hasattr(report, "wasxfail"):
            result.outcome = "xfailed" if report.skipped else "xpassed"
        elif report.failed:
            no_verdict = any(name == ERROR_PROPERTY for name, _ in report.user_properties)
            result.outcome = "failed" if report.when == "call" and not no_verdict else "errors"
            if result.outcome == "errors":
                result.reason = _error_reason(report)
        elif report.skipped and result.outcome == "passed":
            result.outcome = "skipped"
            result.reason = _skip_reason(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.summary.endpoints = endpoints(session.config).all()
        self.summary.notes.extend(run_notes(session.config))
        self.summary.facts = facts_log(session.config).to_dict()
        selection = shard_selection(session.config)
        if selection is not None:
            self.summary.shard = selection.to_dict()
            for nodeid, result in self.summary.results.items():
                result.position = selection.position.get(nodeid)
        self.summary.finished = datetime.now(UTC).isoformat(timespec="seconds")


def new_summary(lab: str | None, inventory: str | None, backend: str,
                scenarios: list[str], model: Lab | None = None,
                lab_file: str | None = None) -> RunSummary:
    return RunSummary(lab=lab, inventory=inventory, backend=backend, scenarios=scenarios,
                      started=datetime.now(UTC).isoformat(timespec="seconds"), model=model,
                      lab_file=lab_file)
