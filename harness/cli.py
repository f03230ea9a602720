"""`labharness`: validate and lint lab files, print their schema, and run the suites.

Exit codes: 0 success; 1 tests failed or lint found errors; 2 bad input (lab, inventory,
options); 5 no test selected; 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pytest
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.backend import CAPABILITIES, backend_for
from harness.checks import run_design_checks, view_from_lab
from harness.checks.finding import Finding
from harness.incidents import INCIDENTS
from harness.lab.loader import LoadedInventory, load_inventory, load_lab
from harness.lab.model import Lab
from harness.lab.schema import committed_schema_path, render_schema
from harness.lab.source import InputFileError, load_yaml
from harness.pytest_plugin.plugin import parse_scenarios
from harness.report.summary import RunSummary, SummaryCollector, new_summary

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LAB = PROJECT_ROOT / "labs" / "sim.yaml"
DEFAULT_SIM_INVENTORY = PROJECT_ROOT / "inventory" / "sim.yaml"
SUITES_DIR = PROJECT_ROOT / "suites"

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_TESTS = 5
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="labharness",
    help="Hardware-in-the-loop test harness for vSphere labs and HPE server builds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _bad_input(exc: InputFileError) -> typer.Exit:
    for problem in exc.problems:
        err.print(escape(str(problem)), style="red")
    n = len(exc.problems)
    err.print(f"{n} problem{'s' if n != 1 else ''}", style="bold red")
    return typer.Exit(EXIT_BAD_INPUT)


def _is_inventory(path: Path) -> bool:
    doc = load_yaml(path)
    return isinstance(doc.data.get("lab"), str)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="lab or inventory files")],
    lab: Annotated[Path | None, typer.Option(help="check inventories against this lab")] = None,
) -> None:
    """Validate lab and inventory files: every problem with file:line:column, field, and what
    is allowed. Exit 2 if any file has a problem."""
    lab_model: Lab | None = None
    if lab is not None:
        try:
            lab_model = load_lab(lab)
        except InputFileError as exc:
            raise _bad_input(exc) from None
    failed = 0
    for path in files:
        try:
            if _is_inventory(path):
                loaded = load_inventory(path, lab_model)
                inv = loaded.inventory
                out.print(f"ok {escape(str(path))}: inventory {inv.name} ({inv.backend}) for lab "
                          f"{inv.lab}")
            else:
                model = load_lab(path)
                out.print(f"ok {escape(str(path))}: lab {model.name}: {len(model.hosts)} hosts, "
                          f"{len(model.servers)} servers, {len(model.distributed_switches)} "
                          f"distributed switches, {len(model.vms)} VMs")
        except InputFileError as exc:
            failed += 1
            for problem in exc.problems:
                err.print(escape(str(problem)), style="red")
    if failed:
        err.print(f"{failed} of {len(files)} file(s) invalid", style="bold red")
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def schema(
    kind: Annotated[str, typer.Option(help="lab or inventory")] = "lab",
    output: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    check: Annotated[bool, typer.Option(help="exit 1 if the committed copy is stale")] = False,
) -> None:
    """Print the JSON Schema of lab (or inventory) files, for editors and other tools."""
    if kind not in ("lab", "inventory"):
        err.print(f"--kind must be lab or inventory, not {kind!r}", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    text = render_schema("lab" if kind == "lab" else "inventory")
    if check:
        path = committed_schema_path("lab" if kind == "lab" else "inventory")
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            err.print(f"{path} is stale: run labharness schema --kind {kind} --output {path}",
                      style="red")
            raise typer.Exit(EXIT_FAILED)
        out.print(f"{path} is up to date")
        return
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _print_findings(findings: list[Finding]) -> None:
    for f in findings:
        style = {"error": "red", "warning": "yellow"}.get(f.severity, "cyan")
        out.print(f"[{style}]{escape(f.id)} {f.severity}[/] {escape(f.subject)}: "
                  f"{escape(f.message)}")
        out.print(f"    cause: {escape(f.cause)}")
        out.print(f"    fix:   {escape(f.fix)}")


@app.command()
def lint(
    lab: Annotated[Path, typer.Argument(help="lab file")],
    json_output: Annotated[bool, typer.Option("--json", help="findings as JSON")] = False,
    fail_on: Annotated[str, typer.Option(help="error or warning")] = "error",
) -> None:
    """Check a lab's design against the field incidents. Exit 1 on findings of severity
    --fail-on (error by default) or worse."""
    if fail_on not in ("error", "warning"):
        err.print(f"--fail-on must be error or warning, not {fail_on!r}", style="red")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        model = load_lab(lab)
    except InputFileError as exc:
        raise _bad_input(exc) from None
    findings = run_design_checks(view_from_lab(model))
    if json_output:
        import json

        sys.stdout.write(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
    elif findings:
        _print_findings(findings)
    else:
        out.print(f"lab {model.name}: no findings")
    failing = {"error"} if fail_on == "error" else {"error", "warning"}
    if any(f.severity in failing for f in findings):
        raise typer.Exit(EXIT_FAILED)


def _report_dir(base: Path | None) -> Path:
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
        return base
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    root = Path("reports")
    path = root / stamp
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    path.mkdir(parents=True)
    latest = root / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(path.name)
    return path


def _print_summary(summary: RunSummary, report_dir: Path) -> None:
    table = Table(title=f"labharness run: lab {summary.lab}, backend {summary.backend}")
    for column in ("layer", "incident", "passed", "failed", "errors", "skipped"):
        table.add_column(column, justify="left" if column in ("layer", "incident") else "right")
    for g in summary.groups():
        incident = INCIDENTS.get(g["incident"])
        name = incident.label if incident else g["incident"]
        failed = g["failed"] + g["xpassed"]
        table.add_row(g["layer"], name, str(g["passed"] + g["xfailed"]),
                      f"[red]{failed}[/]" if failed else "0",
                      f"[red]{g['errors']}[/]" if g["errors"] else "0", str(g["skipped"]))
    out.print(table)
    for skip in summary.skip_reasons():
        out.print(f"[yellow]skipped {skip['tests']}[/]: {escape(skip['reason'])}")
    for note in summary.notes:
        out.print(f"[yellow]note[/]: {escape(note)}")
    findings = summary.findings()
    if findings:
        out.print(f"[bold]{len(findings)} finding(s)[/]")
        _print_findings(findings)
    c = summary.counts()
    verdict = "[bold red]FAILED[/]" if summary.failed else "[bold green]PASSED[/]"
    out.print(f"{verdict}: {c['passed']} passed, {c['failed']} failed, {c['errors']} errors, "
              f"{c['skipped']} skipped; reports in {escape(str(report_dir))}")


@app.command()
def run(
    lab: Annotated[Path | None, typer.Option(help="lab file [default: the simulated lab]")] = None,
    inventory: Annotated[Path | None, typer.Option(
        help="inventory [default: inventory/sim.yaml with the default lab]")] = None,
    scenario: Annotated[list[str] | None, typer.Option(
        help="fault scenario(s) for the simulated lab: incident id or slug")] = None,
    keyword: Annotated[str | None, typer.Option("-k", help="pytest -k expression")] = None,
    report_dir: Annotated[Path | None, typer.Option(
        help="[default: reports/<timestamp>, linked from reports/latest]")] = None,
    keep: Annotated[bool, typer.Option(help="leave the simulated lab up afterwards")] = False,
    allow_disruptive: Annotated[bool, typer.Option(
        help="run disruptive tests (the lab must allow them)")] = False,
) -> None:
    """Run the suites against a lab and write allure-results/, junit.xml and summary.json."""
    lab_path = lab or DEFAULT_LAB
    inv_path = inventory if inventory is not None else (None if lab else DEFAULT_SIM_INVENTORY)
    try:
        model = load_lab(lab_path)
        loaded: LoadedInventory | None = (
            load_inventory(inv_path, model) if inv_path is not None else None)
    except InputFileError as exc:
        raise _bad_input(exc) from None
    backend = backend_for(loaded)
    try:
        scenarios = parse_scenarios(list(scenario or []), backend)
    except pytest.UsageError as exc:
        err.print(escape(str(exc)), style="red")
        raise typer.Exit(EXIT_BAD_INPUT) from None

    where = _report_dir(report_dir)
    summary = new_summary(model.name, str(inv_path) if inv_path else None, backend.kind,
                          list(scenarios))
    for capability, what in CAPABILITIES.items():
        reason = backend.why_not(capability)
        if reason is not None:
            summary.notes.append(f"{what}: not available ({reason}); tests that need it skip")
    if keep:
        summary.notes.append("--keep: the simulated lab has no running parts to keep yet")
    args = [
        str(SUITES_DIR), "--rootdir", str(PROJECT_ROOT), "-c", str(PROJECT_ROOT / "pyproject.toml"),
        "-p", "no:cacheprovider", "-q", f"--lab={lab_path}",
        f"--alluredir={where / 'allure-results'}", f"--junitxml={where / 'junit.xml'}",
        "-o", "junit_family=xunit2",
    ]
    if inv_path is not None:
        args.append(f"--inventory={inv_path}")
    for s in scenarios:
        args.append(f"--scenario={s}")
    if allow_disruptive:
        args.append("--allow-disruptive")
    if keyword:
        args += ["-k", keyword]
    os.environ.pop("LABHARNESS_SCENARIO", None)  # the options above are the whole truth
    code = pytest.main(args, plugins=[SummaryCollector(summary)])
    summary.write(where / "summary.json")
    if code == pytest.ExitCode.INTERRUPTED:
        err.print("interrupted", style="red")
        raise typer.Exit(EXIT_INTERRUPTED)
    if code == pytest.ExitCode.USAGE_ERROR:
        raise typer.Exit(EXIT_BAD_INPUT)
    _print_summary(summary, where)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        err.print("no test selected", style="yellow")
        raise typer.Exit(EXIT_NO_TESTS)
    if summary.failed or code != pytest.ExitCode.OK:
        raise typer.Exit(EXIT_FAILED)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
