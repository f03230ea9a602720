"""Join the report directories of a sharded run (`labharness run --shard K/N`) into one run.

Each shard wrote junit.xml, summary.json, facts.json and allure-results/ for its own slice of
the tests. The merge writes the same files for the whole run, as if it had run in one job: the
tests in the whole session's order, the findings numbered again, and the causes diagnosed anew
on the union of the findings (a cause can join findings of tests that ran in different shards).

Shards that do not belong together are refused before anything is written: another lab, another
scenario set, another shard count, a shard given twice or missing, tests in two shards.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from harness.checks.finding import Finding
from harness.errors import ExitCode, LabharnessError
from harness.lab.model import Lab
from harness.pytest_plugin.state import EndpointStatus
from harness.report.html import nodeid_key
from harness.report.summary import FACTS_FILE, RunSummary, TestResult

SUMMARY_FILE = "summary.json"
JUNIT_FILE = "junit.xml"
ALLURE_DIR = "allure-results"
# written for the whole run by finish_reports after the merge, never copied from a shard
RUN_LEVEL_FILES = frozenset({"categories.json", "environment.properties", "executor.json"})
TOPOLOGY_CONTAINER = "lab topology"  # allure_extras.attach_topology's run-level fixture


class MergeError(LabharnessError):
    """Report directories that are not the complete shards of one run."""

    exit_code: ClassVar[ExitCode] = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class ShardRun:
    """One shard's report directory and its summary.json."""

    path: Path
    summary: Mapping[str, Any]

    @property
    def index(self) -> int:
        return int(self.summary["shard"]["index"])

    @property
    def total(self) -> int:
        return int(self.summary["shard"]["total"])

    @property
    def label(self) -> str:
        return f"{self.path} (shard {self.index}/{self.total})"


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path.parent}: no {path.name}: not the report directory of a "
                         f"labharness run ({what})") from None
    except (OSError, ValueError) as exc:
        raise MergeError(f"{path}: unreadable: {exc}") from None


def _load(path: Path) -> ShardRun:
    data = _read_json(path / SUMMARY_FILE, "labharness run --shard K/N --report-dir DIR "
                                           "writes one")
    if not isinstance(data, dict):
        raise MergeError(f"{path / SUMMARY_FILE}: not a labharness summary")
    shard = data.get("shard")
    if not isinstance(shard, dict) or not {"index", "total", "collected", "selected"} <= set(
            shard):
        code = data.get("exit_code")
        why = (f"its run ended before it collected tests (exit code {code})"
               if code not in (None, 0, 1) else "not a shard: run it with --shard K/N")
        raise MergeError(f"{path}: {why}")
    if any("findings" not in r for r in data.get("results") or []):
        raise MergeError(f"{path / SUMMARY_FILE}: its results do not name their findings "
                         "(written by an older labharness): run the shards again")
    return ShardRun(path, data)


def load_shards(dirs: Sequence[Path]) -> list[ShardRun]:
    """The shards in `dirs`, checked to be the complete, disjoint shards of one run, in shard
    order.

    Raises:
        MergeError: a directory is not a shard's, or the shards do not make one run (each
            message names the directories).
    """
    shards = [_load(d) for d in dirs]
    first = shards[0]
    for key, what in (("lab", "lab"), ("backend", "backend"), ("scenarios", "scenarios")):
        for s in shards[1:]:
            if s.summary.get(key) != first.summary.get(key):
                raise MergeError(f"{first.path} tested {what} {first.summary.get(key)!r}, "
                                 f"{s.path} {what} {s.summary.get(key)!r}: the shards of one "
                                 "run test one lab with one set of scenarios")
    for s in shards[1:]:
        if s.total != first.total:
            raise MergeError(f"{first.label} and {s.label} were split into different numbers "
                             "of shards")
        if s.summary["shard"]["collected"] != first.summary["shard"]["collected"]:
            raise MergeError(f"{first.path} collected {first.summary['shard']['collected']} "
                             f"tests, {s.path} {s.summary['shard']['collected']}: the shards "
                             "of one run collect the same tests (same labharness, lab, suites "
                             "and -k)")
    seen: dict[int, ShardRun] = {}
    for s in shards:
        if s.index in seen:
            raise MergeError(f"shard {s.index}/{s.total} given twice: {seen[s.index].path} "
                             f"and {s.path}")
        seen[s.index] = s
    missing = [k for k in range(1, first.total + 1) if k not in seen]
    if missing:
        raise MergeError(f"incomplete: shard(s) {', '.join(f'{k}/{first.total}' for k in missing)}"
                         f" missing; given {', '.join(s.label for s in shards)}")
    owner: dict[str, Path] = {}
    for s in shards:
        for r in s.summary.get("results") or []:
            test = str(r["test"])
            if test in owner:
                raise MergeError(f"test {test} is in {owner[test]} and in {s.path}: the shards "
                                 "overlap")
            owner[test] = s.path
    return sorted(shards, key=lambda s: s.index)


def _results(shard: ShardRun) -> list[TestResult]:
    found = {str(f["ref"]): Finding.from_dict(f) for f in shard.summary.get("findings") or []}
    out = []
    for r in shard.summary.get("results") or []:
        out.append(TestResult(
            nodeid=str(r["test"]), layer=str(r.get("layer") or "other"),
            incident=r.get("incident"), subject=r.get("subject"), outcome=str(r["outcome"]),
            reason=r.get("reason"), duration_s=float(r.get("duration_s") or 0.0),
            findings=[found[ref] for ref in r["findings"]], position=r.get("position")))
    return out


def _endpoints(shards: Iterable[ShardRun]) -> list[EndpointStatus]:
    """Each endpoint once: unreachable if any shard could not reach it, with every note."""
    by_key: dict[tuple[str, str], EndpointStatus] = {}
    for s in shards:
        for e in s.summary.get("endpoints") or []:
            status = EndpointStatus(kind=e["kind"], name=e["name"], address=e["address"],
                                    reachable=bool(e["reachable"]), reason=e.get("reason"),
                                    notes=tuple(e.get("notes") or ()))
            old = by_key.get((status.kind, status.name))
            if old is not None:
                down = old if not old.reachable else status
                status = replace(down, reachable=old.reachable and status.reachable,
                                 notes=tuple(dict.fromkeys(old.notes + status.notes)))
            by_key[(status.kind, status.name)] = status
    return sorted(by_key.values(), key=lambda e: (e.kind, e.name))


def _facts(shards: Iterable[ShardRun]) -> dict[str, Any]:
    """Per layer, per subject: what the shards read, a later shard's read of a subject
    replacing an earlier one's (as a later read does within one run)."""
    out: dict[str, dict[str, Any]] = {}
    for s in shards:
        path = s.path / FACTS_FILE
        facts = _read_json(path, "labharness run writes it beside summary.json") \
            if path.exists() else {}
        for layer, subjects in (facts or {}).items():
            out.setdefault(layer, {}).update(subjects)
    return {layer: dict(sorted(subjects.items())) for layer, subjects in sorted(out.items())}


def merge_summary(shards: Sequence[ShardRun], model: Lab | None,
                  lab_file: str | None) -> RunSummary:
    """One summary for the run: every shard's tests in the whole session's order, findings
    numbered again and causes diagnosed on all of them (by `RunSummary` itself)."""
    first = shards[0].summary
    results = [r for s in shards for r in _results(s)]
    results.sort(key=lambda r: r.position if r.position is not None else len(results))
    notes = [f"merged from {len(shards)} shards: "
             + ", ".join(f"{s.index}/{s.total} {s.path} ({s.summary['shard']['selected']} "
                         "tests)" for s in shards)]
    notes += list(dict.fromkeys(n for s in shards for n in s.summary.get("notes") or []))
    starts = [str(s.summary["started"]) for s in shards if s.summary.get("started")]
    ends = [str(s.summary["finished"]) for s in shards if s.summary.get("finished")]
    interrupted = next((str(s.summary["interrupted"]) for s in shards
                        if s.summary.get("interrupted")), None)
    internal = "; ".join(f"shard {s.index}/{s.total}: {s.summary['internal_error']}"
                         for s in shards if s.summary.get("internal_error")) or None
    summary = RunSummary(
        lab=first.get("lab"), inventory=first.get("inventory"),
        backend=str(first.get("backend")), scenarios=list(first.get("scenarios") or []),
        started=min(starts) if starts else "", finished=max(ends) if ends else None,
        results={r.nodeid: replace(r, position=None) for r in results}, notes=notes,
        endpoints=_endpoints(shards), interrupted=interrupted, internal_error=internal,
        model=model,
        facts=_facts(shards), lab_file=lab_file,
        merged_from=[{"dir": str(s.path), "shard": f"{s.index}/{s.total}",
                      "tests": s.summary["shard"]["selected"],
                      "exit_code": s.summary.get("exit_code")} for s in shards])
    return summary


def merge_junit(shards: Sequence[ShardRun], out: Path,
                order: Mapping[tuple[str, str], int]) -> None:
    """One testsuite holding every shard's test cases (in the run's order), its counts and
    time the shards' sums, its timestamp the earliest shard's.

    Raises:
        MergeError: a shard has no readable junit.xml.
    """
    cases: list[ET.Element] = []
    props: dict[tuple[str, str], ET.Element] = {}
    counts = dict.fromkeys(("tests", "errors", "failures", "skipped"), 0)
    time = 0.0
    stamps: list[str] = []
    hosts: list[str] = []
    for s in shards:
        path = s.path / JUNIT_FILE
        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            raise MergeError(f"{s.path}: no {JUNIT_FILE}") from None
        except (OSError, ET.ParseError) as exc:
            raise MergeError(f"{path}: unreadable: {exc}") from None
        for suite in [root] if root.tag == "testsuite" else list(root.iter("testsuite")):
            for key in counts:
                counts[key] += int(suite.get(key, "0"))
            time += float(suite.get("time", "0") or 0)
            if suite.get("timestamp"):
                stamps.append(str(suite.get("timestamp")))
            if suite.get("hostname"):
                hosts.append(str(suite.get("hostname")))
            for prop in suite.iter("property"):
                props.setdefault((prop.get("name", ""), prop.get("value", "")), prop)
            cases += suite.findall("testcase")
    last = len(order)
    cases.sort(key=lambda c: order.get((c.get("classname", ""), c.get("name", "")), last))
    root = ET.Element("testsuites", name="pytest tests")
    attrs = {"name": "pytest", **{k: str(v) for k, v in counts.items()},
             "time": f"{time:.3f}", "timestamp": min(stamps) if stamps else "",
             "hostname": ",".join(dict.fromkeys(hosts))}
    suite = ET.SubElement(root, "testsuite", attrs)
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="labharness.shards", value=str(len(shards)))
    properties.extend(props.values())
    suite.extend(cases)
    tmp = out.with_name(f".{out.name}.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(out)


def _topology_files(results: Path) -> set[str]:
    """A shard's lab-topology fixture and its attachment: the merge draws one for the run."""
    skip: set[str] = set()
    for path in results.glob("*-container.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("name") == TOPOLOGY_CONTAINER:
            skip.add(path.name)
            skip.update(str(a.get("source")) for b in data.get("befores") or []
                        for a in b.get("attachments") or [])
    return skip


def merge_allure(shards: Sequence[ShardRun], out: Path) -> int:
    """Copy every shard's results, containers and attachments (allure-pytest names them by
    UUID) into `out`, leaving what is written for the whole run afterwards. Returns how many
    files were copied.

    Raises:
        MergeError: two shards have a file of one name and different contents.
    """
    out.mkdir(parents=True, exist_ok=True)
    copied: dict[str, Path] = {}
    for s in shards:
        results = s.path / ALLURE_DIR
        if not results.is_dir():
            continue  # a shard that ran no test may have none
        skip = RUN_LEVEL_FILES | _topology_files(results)
        for path in sorted(results.iterdir()):
            if not path.is_file() or path.name in skip:
                continue
            target = out / path.name
            if path.name in copied:
                if target.read_bytes() != path.read_bytes():
                    raise MergeError(f"{ALLURE_DIR}/{path.name} differs between "
                                     f"{copied[path.name]} and {s.path}")
                continue
            shutil.copy2(path, target)
            copied[path.name] = s.path
    return len(copied)


def merge_runs(dirs: Sequence[Path], out: Path, model: Lab | None,
               lab_file: str | None) -> RunSummary:
    """Check the shards, then write the run's summary.json, facts.json, junit.xml and
    allure-results into `out`. Returns the merged summary (its exit code left to the caller).

    Raises:
        MergeError: the directories are not the complete shards of one run, or `out` is one
            of them.
        OSError: `out` cannot be written.
    """
    shards = load_shards(dirs)
    for s in shards:
        if s.path.resolve() == out.resolve():
            raise MergeError(f"--out {out} is shard {s.index}/{s.total}'s own directory: "
                             "write the merged run elsewhere")
    summary = merge_summary(shards, model, lab_file)
    order = {nodeid_key(nodeid): n for n, nodeid in enumerate(summary.results)}
    merge_junit(shards, out / JUNIT_FILE, order)
    merge_allure(shards, out / ALLURE_DIR)
    return summary


def worst_exit_code(codes: Iterable[int | None]) -> int:
    """The code a run made of several exits with: the first that applies in the order a single
    run decides its own (a signal, interrupted, bad input, no tests, unreachable, errors,
    failed)."""
    precedence = [ExitCode.BAD_INPUT, ExitCode.NO_TESTS,
                  ExitCode.UNREACHABLE, ExitCode.ERRORS, ExitCode.FAILED]
    given = [c for c in codes if c is not None]
    signals = [c for c in given if c > 128]  # 130 and 143 too
    if signals:
        return max(signals)
    for code in precedence:
        if code in given:
            return int(code)
    return int(ExitCode.OK)
