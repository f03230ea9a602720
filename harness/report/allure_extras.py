"""What allure-pytest does not write and Allure reads from allure-results: categories by
incident, the run's environment, the lab's topology, and the history of the previous run of
the same lab (so the trend charts of a nightly job have something to trend).

All of it is written after the tests ran, from summary.json and the lab file; `build_report`
then runs the Allure CLI (`allure generate`) where it is installed.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.incidents import INCIDENTS

ALLURE_REPORT_DIR = "allure-report"
ALLURE_TIMEOUT_S = 600
VERSIONED_PACKAGES = ("labharness", "pyvmomi", "redfish", "pytest", "allure-pytest")


def categories() -> list[dict[str, Any]]:
    """One Allure category per incident, matched on the `[F12 vmotion-subnet]` every finding's
    text starts with (assertion messages are findings' texts), then one for tests that reached
    no verdict (an endpoint that did not answer, a broken fixture)."""
    out: list[dict[str, Any]] = [
        {"name": f"{i.label}: {i.title}",
         # Java's Matcher.matches(): the whole message, across lines
         "messageRegex": rf"(?s).*\[{i.id} {i.slug}\].*",
         "matchedStatuses": ["failed", "broken"]}
        for i in INCIDENTS.values()
    ]
    out.append({"name": "No verdict: an endpoint or the harness failed",
                "matchedStatuses": ["broken"]})
    return out


def _prop(text: str, *, key: bool = False) -> str:
    """Escaped for a Java .properties file."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n")
    if key:
        out = out.replace(" ", "\\ ").replace("=", "\\=").replace(":", "\\:")
    return out


def environment(summary: Mapping[str, Any]) -> dict[str, str]:
    """What Allure's Environment widget shows: the lab, inventory, backend, scenarios and the
    versions of what talked to it."""
    env = {
        "lab": str(summary.get("lab")),
        "inventory": str(summary.get("inventory") or "-"),
        "backend": str(summary.get("backend")),
        "scenarios": ", ".join(summary.get("scenarios") or []) or "-",
        "python": platform.python_version(),
    }
    for package in VERSIONED_PACKAGES:
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            env[package] = "not installed"
    return env


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_categories_and_environment(results: Path, summary: Mapping[str, Any]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    write_json(results / "categories.json", categories())
    lines = [f"{_prop(k, key=True)}={_prop(v)}" for k, v in environment(summary).items()]
    (results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")


def attach_topology(results: Path, svg: str) -> str:
    """The topology SVG as an attachment of a run-level fixture that contains every test (how
    Allure shows what belongs to the whole run: under each test's set-up). Returns the
    attachment's file name."""
    source = f"{uuid.uuid4()}-attachment.svg"
    (results / source).write_text(svg, encoding="utf-8")
    children = []
    for path in results.glob("*-result.json"):
        try:
            children.append(str(json.loads(path.read_text(encoding="utf-8"))["uuid"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    now = int(datetime.now().timestamp() * 1000)
    write_json(results / f"{uuid.uuid4()}-container.json", {
        "uuid": str(uuid.uuid4()), "name": "lab topology", "children": children,
        "befores": [{"name": "lab topology (from the lab file; red: what a cause touches)",
                     "status": "passed", "stage": "finished", "start": now, "stop": now,
                     "attachments": [{"name": "lab topology", "source": source,
                                      "type": "image/svg+xml"}]}],
        "start": now, "stop": now})
    return source


_CLOCK_SLACK_S = 60.0  # a summary's mtime against a start time written by another clock


def _started(run: Path) -> tuple[str, str | None] | None:
    """(started, lab) of a run directory's summary.json, None if it has none."""
    try:
        data = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return str(data.get("started") or ""), data.get("lab")


def previous_run(report_dir: Path, lab: str | None, started: str) -> Path | None:
    """The newest run of the same lab next to this one (reports/<timestamp> siblings, or the
    siblings of an explicit --report-dir) that started before it.

    Newest summary first, and no further than a summary written before the best run so far
    started (a run writes its summary after it starts): a report directory that keeps every
    nightly run costs the few newest reads, not one parse of every run ever kept."""
    here = report_dir.resolve()
    dated: list[tuple[float, Path]] = []
    try:
        for run in here.parent.iterdir():
            if run.is_symlink() or not run.is_dir() or run.resolve() == here:
                continue
            try:
                dated.append(((run / "summary.json").stat().st_mtime, run))
            except OSError:
                continue
    except OSError:
        return None
    best: tuple[str, Path] | None = None
    stop_before: float | None = None  # a summary written before then started before best
    for written, run in sorted(dated, key=lambda d: d[0], reverse=True):
        if stop_before is not None and written < stop_before:
            break
        info = _started(run)
        if info is None or info[1] != lab or not info[0] or info[0] > started:
            continue
        if best is None or info[0] > best[0]:
            best = (info[0], run)
            try:
                stop_before = datetime.fromisoformat(info[0]).timestamp() - _CLOCK_SLACK_S
            except ValueError:
                stop_before = None  # no time to stop at: read on
    return best[1] if best else None


def carry_history(results: Path, report_dir: Path, lab: str | None, started: str) -> str | None:
    """Copy the previous run's Allure history (its generated report's, else the history its
    results carried) into this run's results, and number the build after it. Returns where it
    came from, or None when there is no previous run with history."""
    prev = previous_run(report_dir, lab, started)
    order = 1
    source: Path | None = None
    if prev is not None:
        for candidate in (prev / ALLURE_REPORT_DIR / "history",
                          prev / "allure-results" / "history"):
            if candidate.is_dir() and any(candidate.glob("*.json")):
                source = candidate
                break
        try:
            executor = json.loads((prev / "allure-results" / "executor.json").read_text())
            order = int(executor.get("buildOrder", 0)) + 1
        except (OSError, ValueError, TypeError, AttributeError):
            pass
    results.mkdir(parents=True, exist_ok=True)
    write_json(results / "executor.json", {
        "name": "labharness", "type": "labharness", "buildOrder": order,
        "buildName": f"{lab} #{order} {started}", "reportName": f"labharness: lab {lab}"})
    if source is None:
        return None
    target = results / "history"
    target.mkdir(exist_ok=True)
    for item in source.glob("*.json"):
        shutil.copy2(item, target / item.name)
    return str(source)


def allure_cli() -> str | None:
    return shutil.which("allure")


def build_report(report_dir: Path, lab: str | None) -> Path:
    """`allure generate` the run's results into report_dir/allure-report.

    Raises:
        RuntimeError: the CLI is not installed, or it failed (its last line of output).
    """
    cli = allure_cli()
    if cli is None:
        raise RuntimeError("the Allure CLI is not installed (npm install -g allure-commandline; "
                           "it needs a Java runtime: apt-get install default-jre-headless); "
                           "allure-results/ is complete: `allure generate` it anywhere")
    out = report_dir / ALLURE_REPORT_DIR
    try:
        done = subprocess.run(
            [cli, "generate", str(report_dir / "allure-results"), "-o", str(out), "--clean",
             "--name", f"labharness: lab {lab}"],
            capture_output=True, timeout=ALLURE_TIMEOUT_S, check=False, text=True)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"allure generate took over {ALLURE_TIMEOUT_S} s") from None
    except OSError as exc:
        raise RuntimeError(f"allure could not run: {exc.strerror}") from None
    if done.returncode != 0 or not (out / "index.html").is_file():
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"allure generate failed (exit {done.returncode}): "
                           f"{lines[-1] if lines else 'no output'}")
    return out
