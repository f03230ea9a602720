"""The reports made after a run's tests: Allure's extras, report.html, and (asked for) the
static Allure report.

Each step stands alone and none of them can change how the run ends: a step that fails
becomes a one-line note for the terminal, and the run keeps the exit code its tests gave it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.lab.model import Lab
from harness.report import allure_extras
from harness.report.html import REPORT_NAME, render_report, write_atomic
from harness.report.topology import TopologyUnavailable, render_svg, topology_dot


@dataclass
class Finished:
    """What the after-run steps produced, and what they could not."""

    html: Path | None = None
    allure_report: Path | None = None
    notes: list[str] = field(default_factory=list)


def touches_of(summary: dict[str, Any]) -> list[str]:
    """Every element any cause touches, in order of first mention."""
    seen: dict[str, None] = {}
    for cause in summary.get("causes") or []:
        for t in cause.get("touches") or []:
            seen.setdefault(str(t), None)
    return list(seen)


def finish_reports(report_dir: Path, lab: Lab | None, *, allure_report: bool = False
                   ) -> Finished:
    """Write report.html and Allure's extras into `report_dir` (which holds summary.json and
    allure-results/), then build the static Allure report if asked."""
    done = Finished()
    try:
        summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        done.notes.append(f"report.html not written: summary.json unreadable ({exc})")
        return done
    results = report_dir / "allure-results"
    svg: str | None = None
    topology_note: str | None = None
    marked: set[str] = set()
    if lab is None:
        topology_note = "no lab file"
    else:
        source, marked = topology_dot(lab, touches_of(summary))
        try:
            svg = render_svg(source)
        except TopologyUnavailable as exc:
            topology_note = str(exc)
            done.notes.append(f"report.html: topology not drawn: {exc}")
    try:
        allure_extras.write_categories_and_environment(results, summary)
        if svg is not None:
            allure_extras.attach_topology(results, svg)
        allure_extras.carry_history(results, report_dir, summary.get("lab"),
                                    str(summary.get("started") or ""))
    except OSError as exc:
        done.notes.append(f"allure-results: categories, environment or history not written: "
                          f"{exc.strerror or exc}")
    try:
        page = render_report(summary, topology_svg=svg, topology_note=topology_note,
                             marked=marked, results_dir=results)
        write_atomic(report_dir / REPORT_NAME, page)
        done.html = report_dir / REPORT_NAME
    except OSError as exc:
        done.notes.append(f"report.html not written: {exc.strerror or exc}")
    if allure_report:
        try:
            done.allure_report = allure_extras.build_report(report_dir, summary.get("lab"))
        except RuntimeError as exc:
            done.notes.append(f"--allure-report: {exc}")
    return done
