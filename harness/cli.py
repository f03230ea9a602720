"""`labharness`: validate and lint lab files, print their schema, and run the suites.

Exit codes are `harness.errors.ExitCode` (documented in the README). Every error labharness
raises on purpose (`LabharnessError`) is caught once, in `_Commands.invoke`, and printed as one
clear message. Heavy imports (pytest, pyVmomi, the simulated lab) happen inside the commands
that need them, so `validate` answers in well under a second.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from harness.cli_probes import app as probes_app
from harness.errors import ExitCode, LabharnessError, OptionError
from harness.lab.loader import load_inventory, load_lab
from harness.lab.source import InputFileError, load_yaml

if TYPE_CHECKING:  # the rest is imported by the command that needs it: `validate` stays fast
    from harness.checks.finding import Finding
    from harness.depot import DepotBundle
    from harness.lab.loader import LoadedInventory
    from harness.lab.model import Lab
    from harness.report.history.diff import Changes, RunDiff
    from harness.report.history.model import RunInfo
    from harness.report.history.store import History
    from harness.report.summary import RunSummary
    from harness.sim.scenarios import Scenario
    from harness.sim.state import SimState

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LAB = PROJECT_ROOT / "labs" / "sim.yaml"
DEFAULT_SIM_INVENTORY = PROJECT_ROOT / "inventory" / "sim.yaml"
SUITES_DIR = PROJECT_ROOT / "suites"

class _Commands(TyperGroup):
    """The command group: the one place an error labharness raises ends a command, printed
    as the user should see it and with its exit code (never a traceback)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LabharnessError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="labharness",
    cls=_Commands,
    help="Hardware-in-the-loop test harness for vSphere labs and HPE server builds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def report_error(exc: LabharnessError) -> None:
    """Print an error as the user should see it: every problem of a file, or one line."""
    from harness.sim.errors import SimError

    if isinstance(exc, InputFileError):
        for problem in exc.problems:
            err.print(escape(str(problem)), style="red")
        n = len(exc.problems)
        err.print(f"{n} problem{'s' if n != 1 else ''}", style="bold red")
        return
    prefix = "simulated lab: " if isinstance(exc, SimError) else ""
    err.print(escape(f"{prefix}{exc}"), style="red")


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
        lab_model = load_lab(lab)
    failed = 0
    inventories: list[Path] = []
    labs: list[Lab] = []
    for path in files:
        try:
            if _is_inventory(path):
                inventories.append(path)
                continue
            model = load_lab(path)
            labs.append(model)
            out.print(f"ok {escape(str(path))}: lab {model.name}: {len(model.hosts)} hosts, "
                      f"{len(model.servers)} servers, {len(model.distributed_switches)} "
                      f"distributed switches, {len(model.vms)} VMs")
        except InputFileError as exc:
            failed += 1
            for problem in exc.problems:
                err.print(escape(str(problem)), style="red")
    # an inventory is checked against --lab, or the one lab given with it
    against = lab_model or (labs[0] if len(labs) == 1 else None)
    for path in inventories:
        try:
            inv = load_inventory(path, against).inventory
            out.print(f"ok {escape(str(path))}: inventory {inv.name} ({inv.backend}) for lab "
                      f"{inv.lab}")
        except InputFileError as exc:
            failed += 1
            for problem in exc.problems:
                err.print(escape(str(problem)), style="red")
    if failed:
        err.print(f"{failed} of {len(files)} file(s) invalid", style="bold red")
        raise typer.Exit(ExitCode.BAD_INPUT)


@app.command()
def schema(
    kind: Annotated[str, typer.Option(help="lab or inventory")] = "lab",
    output: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    check: Annotated[bool, typer.Option(help="exit 1 if the committed copy is stale")] = False,
) -> None:
    """Print the JSON Schema of lab (or inventory) files, for editors and other tools."""
    from harness.lab.schema import committed_schema_path, render_schema

    if kind not in ("lab", "inventory"):
        raise OptionError(f"--kind must be lab or inventory, not {kind!r}")
    text = render_schema("lab" if kind == "lab" else "inventory")
    if check:
        path = committed_schema_path("lab" if kind == "lab" else "inventory")
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            err.print(f"{path} is stale: run labharness schema --kind {kind} --output {path}",
                      style="red")
            raise typer.Exit(ExitCode.FAILED)
        out.print(f"{path} is up to date")
        return
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


INCIDENTS_DOC = PROJECT_ROOT / "docs" / "incidents.md"


def incidents_markdown() -> str:
    """docs/incidents.md, made from the incident catalogue and the sim's scenarios."""
    from harness.incidents import INCIDENTS
    from harness.sim.scenarios import SCENARIOS

    lines = ["# Field incidents", "",
             "Generated by `labharness incidents --markdown` from `harness/incidents.py` and the",
             "simulated lab's scenarios; `labharness incidents --check` keeps it current.", "",
             "| id | slug | what went wrong | what labharness checks | simulated-lab scenario |",
             "| --- | --- | --- | --- | --- |"]
    for i in INCIDENTS.values():
        lines.append(f"| {i.id} | {i.slug} | {i.title} | {i.checks} | "
                     f"{_scenarios_of(i.id, SCENARIOS, '`{id}`: {summary}')} |")
    return "\n".join(lines) + "\n"


def _scenarios_of(incident: str, scenarios: Mapping[str, Scenario], form: str) -> str:
    """The sim's scenarios of one incident, each as `form` (`{id}`, `{summary}`), or `-`; with
    only the incident's own scenario, just its summary."""
    mine = [s for s in scenarios.values() if s.incident.id == incident]
    if len(mine) == 1 and mine[0].variant is None:
        return mine[0].summary
    return "; ".join(form.format(id=s.id, summary=s.summary) for s in mine) or "-"


@app.command()
def incidents(
    markdown: Annotated[bool, typer.Option(help="print docs/incidents.md")] = False,
    check: Annotated[bool, typer.Option(help="exit 1 if docs/incidents.md is stale")] = False,
) -> None:
    """The field incidents every check, test and scenario is named after."""
    from harness.incidents import INCIDENTS
    from harness.sim.scenarios import SCENARIOS

    text = incidents_markdown()
    if check:
        if not INCIDENTS_DOC.exists() or INCIDENTS_DOC.read_text(encoding="utf-8") != text:
            err.print(f"{INCIDENTS_DOC} is stale: run labharness incidents --markdown > "
                      f"{INCIDENTS_DOC}", style="red")
            raise typer.Exit(ExitCode.FAILED)
        out.print(f"{INCIDENTS_DOC} is up to date")
        return
    if markdown:
        sys.stdout.write(text)
        return
    table = Table(title="field incidents")
    for column in ("incident", "what went wrong", "checks", "scenario"):
        table.add_column(column, overflow="fold")
    for i in INCIDENTS.values():
        table.add_row(i.label, escape(i.title), escape(i.checks),
                      escape(_scenarios_of(i.id, SCENARIOS, "{id}: {summary}")))
    out.print(table)


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
    from harness.checks.catalog import run_design_checks
    from harness.checks.intent import view_from_lab
    from harness.lab.reference import shipped_reference

    if fail_on not in ("error", "warning"):
        raise OptionError(f"--fail-on must be error or warning, not {fail_on!r}")
    model = load_lab(lab)
    findings = run_design_checks(view_from_lab(model), shipped_reference())
    if json_output:
        import json

        sys.stdout.write(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
    elif findings:
        _print_findings(findings)
    else:
        out.print(f"lab {model.name}: no findings")
    failing = {"error"} if fail_on == "error" else {"error", "warning"}
    if any(f.severity in failing for f in findings):
        raise typer.Exit(ExitCode.FAILED)


def _grouped_reasons(summary: RunSummary, outcome: str) -> list[tuple[str, int]]:
    """Why tests ended with `outcome`, by the first line of the reason, most frequent first."""
    counts: dict[str, int] = {}
    for r in summary.results.values():
        if r.outcome == outcome:
            first = (r.reason or "").strip().splitlines()[0] if (r.reason or "").strip() else "-"
            counts[first.rstrip(":")] = counts.get(first.rstrip(":"), 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def _print_causes(summary: RunSummary) -> set[str]:
    """Causes first: one line each, its evidence chain indented, the fix of its root, and
    how many findings it folds (all of them in summary.json). Returns the refs folded."""
    from harness.incidents import INCIDENTS

    causes = summary.causes()
    if not causes:
        return set()
    by_ref = dict(zip(summary.refs(), summary.findings(), strict=True))
    out.print(f"[bold]{len(causes)} cause(s)[/], most telling first")
    for c in causes:
        incident = INCIDENTS[c.incident].label if c.incident in INCIDENTS else c.incident
        out.print(f"[bold red]{c.id} {escape(incident)}[/] {escape(c.title)}")
        for step in c.evidence_chain:
            out.print(f"    [dim]{step.layer:<8}[/] {escape(step.subject)}: {escape(step.text)}")
        out.print(f"    fix: {escape(by_ref[c.explains[0]].fix)}")
        out.print(f"    [dim]explains {len(c.explains)} finding(s): "
                  f"{escape(_ref_ranges(c.explains))} (summary.json)[/]")
    return {ref for c in causes for ref in c.explains}


def _ref_ranges(refs: Sequence[str]) -> str:
    """`f3, f5-f9`: finding refs in order, runs of consecutive numbers as ranges."""
    numbers = sorted(int(r[1:]) for r in refs)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"f{r[0]}" if len(r) == 1 else f"f{r[0]}-f{r[-1]}" for r in runs)


def _print_summary(summary: RunSummary, report_dir: Path) -> None:
    from harness.incidents import INCIDENTS

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
    for outcome, style in (("errors", "red"), ("skipped", "yellow")):
        for reason, n in _grouped_reasons(summary, outcome):
            out.print(f"[{style}]{outcome} {n}[/]: {escape(reason)}")
    for note in summary.notes:
        out.print(f"[yellow]note[/]: {escape(note)}")
    findings = summary.findings()
    caused = _print_causes(summary)
    for masked in summary.masked():
        out.print(f"[yellow]masked[/]: {escape(masked['text'])}")
    faults = [f for f, ref in zip(findings, summary.refs(), strict=True)
              if f.severity != "info" and ref not in caused]
    if faults:
        out.print(f"[bold]{len(faults)} finding(s)[/]" + (" no cause accounts for" if caused
                                                          else ""))
        _print_findings(faults)
    # notes (what a BMC cannot show, ...): one line per kind; every detail is in the reports
    infos: dict[tuple[str, str], list[str]] = {}
    for f in findings:
        if f.severity == "info":
            infos.setdefault((f.id, f.cause), []).append(f.subject)
    for (fid, cause), all_subjects in infos.items():
        subjects = list(dict.fromkeys(all_subjects))
        shown = ", ".join(subjects[:3]) + (f" and {len(subjects) - 3} more"
                                           if len(subjects) > 3 else "")
        out.print(f"[cyan]{escape(fid)} info x{len(all_subjects)}[/]: {escape(cause)} "
                  f"({escape(shown)})")
    for e in summary.endpoints:
        if not e.reachable:
            out.print(f"[bold red]unreachable[/] {e.kind} {escape(e.name)} "
                      f"({escape(e.address)}): {escape(e.reason or '')}")
        for note in e.notes:
            out.print(f"[yellow]{e.kind} {escape(e.name)}[/]: {escape(note)}")
    c = summary.counts()
    verdict = {"passed": "[bold green]PASSED[/]", "errors": "[bold red]ERRORS[/]",
               "unreachable": "[bold red]UNREACHABLE[/]"}.get(summary.verdict(),
                                                              "[bold red]FAILED[/]")
    out.print(f"{verdict}: {c['passed']} passed, {c['failed']} failed, {c['errors']} errors, "
              f"{c['skipped']} skipped; reports in {escape(str(report_dir))}")


@app.command()
def run(
    lab: Annotated[Path | None, typer.Option(help="lab file [default: the simulated lab]")] = None,
    inventory: Annotated[Path | None, typer.Option(
        help="inventory [default: inventory/sim.yaml with the default lab]")] = None,
    scenario: Annotated[list[str] | None, typer.Option(
        help="fault scenario(s) for the simulated lab: incident id or slug, or a variant "
             "such as F11-cabling (`labharness sim scenarios` lists them)")] = None,
    keyword: Annotated[str | None, typer.Option("-k", help="pytest -k expression")] = None,
    report_dir: Annotated[Path | None, typer.Option(
        help="[default: reports/<timestamp>, linked from reports/latest]")] = None,
    keep: Annotated[bool, typer.Option(help="leave the simulated lab up afterwards")] = False,
    allow_disruptive: Annotated[bool, typer.Option(
        help="run disruptive tests (the lab must allow them)")] = False,
    history: Annotated[str | None, typer.Option(
        envvar="LABHARNESS_HISTORY", show_default=False, help=HISTORY_HELP
        + "; 'off' stores nothing")] = None,
    allure_report: Annotated[bool, typer.Option(
        help="also build the static Allure report (allure-report/) with the Allure CLI")] = False,
    shard: Annotated[str | None, typer.Option(
        envvar="LABHARNESS_SHARD", show_default=False, metavar="K/N",
        help="run shard K of N (tests split by the element they are about); labharness merge "
             "joins the shards' reports and stores the run [env LABHARNESS_SHARD]")] = None,
) -> None:
    """Run the suites against a lab; write allure-results/, junit.xml, summary.json,
    facts.json and report.html, and store the run in the history database."""
    import pytest

    from harness.backend import CAPABILITIES
    from harness.pytest_plugin.inputs import GivenInputs, resolve_inputs
    from harness.pytest_plugin.shard import parse_shard
    from harness.report.dirs import prepare_report_dir
    from harness.report.summary import (
        SummaryCollector,
        mark_junit_interrupted,
        mark_junit_unfinished,
        new_summary,
    )
    from harness.runguard import RunGuard
    from harness.sim import lifecycle
    from harness.sim.scenarios import SCENARIOS

    shard_spec = parse_shard(shard) if shard else None  # a bad K/N: exit 2 before any work
    lab_path = lab or DEFAULT_LAB
    inv_path = inventory if inventory is not None else (None if lab else DEFAULT_SIM_INVENTORY)
    inputs = resolve_inputs(lab_path, inv_path, list(scenario or []))
    model, loaded, backend, scenarios = (inputs.lab, inputs.inventory, inputs.backend,
                                         inputs.scenarios)
    assert model is not None  # a lab path is always given here
    sim_problem = inputs.sim_problem

    where = prepare_report_dir(report_dir)  # before the lab is built: results must land
    summary = new_summary(model.name, str(inv_path) if inv_path else None, backend.kind,
                          list(scenarios), model=model, lab_file=str(lab_path))
    for capability, what in CAPABILITIES.items():
        reason = backend.why_not(capability)
        if reason is not None:
            summary.notes.append(f"{what}: not available ({reason}); tests that need it skip")
    args = [
        str(SUITES_DIR), "--rootdir", str(PROJECT_ROOT), "-c", str(PROJECT_ROOT / "pyproject.toml"),
        # the terminal shows progress and labharness's own summary (-qq: not pytest's count
        # line too); tracebacks, skip reasons and findings in full are in junit.xml,
        # allure-results and summary.json
        "-p", "no:cacheprovider", "-p", "no:warnings", "-qq", "--tb=no", "--no-summary",
        "-o", "addopts=--strict-markers", f"--lab={lab_path}",
        # a report directory given again holds this run's results, as its junit.xml does
        f"--alluredir={where / 'allure-results'}", "--clean-alluredir",
        f"--junitxml={where / 'junit.xml'}",
        "-o", "junit_family=xunit2",
    ]
    if inv_path is not None:
        args.append(f"--inventory={inv_path}")
    for s in scenarios:
        args.append(f"--scenario={s}")
    if allow_disruptive:
        args.append("--allow-disruptive")
    previous, said = _previous_facts(history, model.name, where)
    if previous is not None:  # without one, the boot-time tests' own note says so, once
        summary.notes.append(said)
    if previous is None and "F06" in scenarios:
        summary.notes.append("--scenario F06 reboots a host between two runs: run the lab "
                             "once without it first, with the same --history, to see F06")
    if previous is not None:
        args.append(f"--previous-facts={previous}")
    if keyword:
        args += ["-k", keyword]
    if shard_spec is not None:
        args.append(f"--shard={shard_spec}")
    for name in ("LABHARNESS_SCENARIO", "LABHARNESS_SHARD"):
        os.environ.pop(name, None)  # the options above are the whole truth
    outcome: dict[str, Any] = {"pytest": None, "sim_built": False, "io_error": None,
                               "down": None, "down_error": None}

    def down() -> None:
        try:
            lifecycle.down(model.name)
        except BaseException as exc:  # raised again once the reports are written
            outcome["down_error"] = exc

    def finish(signum: int | None) -> None:
        """Tear the sim down, then write the summary with the exit code it ends with (also
        what the watchdog runs when a signal finds the run blocked). A run that ended on its
        own tears down while the reports are written (joined before the run ends: a thread
        the interpreter waits for even on an error); a signal waits for the whole down."""
        if outcome["sim_built"] and not keep:
            if signum is None:
                outcome["down"] = threading.Thread(target=down, name="lh-sim-down")
                outcome["down"].start()
            else:
                lifecycle.down(model.name)
        if signum is not None:
            summary.interrupted = signal.Signals(signum).name
        summary.exit_code = _run_exit_code(summary, outcome["pytest"], signum)
        if summary.finished is None:
            summary.finished = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            summary.write(where / "summary.json")
            if summary.interrupted:
                mark_junit_interrupted(where / "junit.xml", summary.interrupted)
            elif summary.internal_error:
                mark_junit_unfinished(where / "junit.xml", "labharness.internal_error",
                                      summary.internal_error,
                                      f"the run ended on an internal error: "
                                      f"{summary.internal_error} (traceback in "
                                      f"{INTERNAL_ERROR_FILE})")
        except OSError as exc:
            outcome["io_error"] = exc
        if signum is not None:
            err.print(f"interrupted by {summary.interrupted}: reports (marked interrupted) in "
                      f"{escape(str(where))}", style="red")

    tests_started = False
    with RunGuard(finish) as guard:
        try:
            if backend.kind == "sim" and sim_problem is None and loaded is not None:
                outcome["sim_built"] = True  # `down` is safe on whatever `up` got to
                state = lifecycle.up(model, loaded.inventory, [SCENARIOS[s] for s in scenarios],
                                     base_dir=loaded.base_dir, owner_pid=os.getpid())
                summary.notes.append(f"simulated lab up in {_up_time(state)}: "
                                     f"{len(state.namespaces)} namespaces, "
                                     f"{len(state.daemons)} daemons"
                                     + "".join(f"; {f}" for f in state.faults))
                summary.notes.extend(state.notes)
            tests_started = True
            outcome["pytest"] = pytest.main(args, plugins=[GivenInputs(inputs),
                                                           SummaryCollector(summary)])
        except KeyboardInterrupt:
            outcome["pytest"] = pytest.ExitCode.INTERRUPTED
        except OSError as exc:  # the report disk filled up during the run
            outcome["io_error"] = exc
        except Exception as exc:
            if guard.signum is not None:
                # the signal reached pytest where its own report of the interrupt fails (it
                # cannot render a frame without a line number, one the signal can land on
                # while it rewrites a test module's asserts): interrupted all the same
                outcome["pytest"] = pytest.ExitCode.INTERRUPTED
            elif not tests_started:
                raise  # `sim up` failed, and removed what it had built: no test ran
            else:
                # labharness, pytest or a plugin raised out of pytest.main: a fault of the
                # harness, not of the lab. The run still ends as one: the lab down, the reports
                # written and marked, exit 4, and the traceback in a file, not on the terminal
                outcome["pytest"] = pytest.ExitCode.INTERNAL_ERROR
                summary.internal_error = _record_internal_error(where, exc)
        if outcome["sim_built"] and keep:
            summary.notes.append(f"--keep: the simulated lab is still up (labharness sim "
                                 f"status; labharness sim down --lab {model.name})")
        guard.cleanup()
        try:  # still guarded: a signal now ends the reports, never the sim's teardown
            reports = (_finish_reports(where, model, allure_report=allure_report)
                       if outcome["io_error"] is None else [])
        except KeyboardInterrupt:
            reports = [("interrupted while writing the reports: they may be incomplete", True)]
        finally:
            if outcome["down"] is not None:
                outcome["down"].join()
    if outcome["down_error"] is not None:
        raise outcome["down_error"]
    if outcome["io_error"] is not None:
        failure: OSError = outcome["io_error"]
        err.print(f"cannot write the reports in {escape(str(where))}: "
                  f"{escape(failure.strerror or str(failure))}", style="red")
        raise typer.Exit(ExitCode.REPORT_IO)
    code = summary.exit_code if summary.exit_code is not None else ExitCode.FAILED
    if guard.signum is not None and summary.interrupted is None:  # came during the reports
        code = guard.exit_code or code
    if outcome["pytest"] == pytest.ExitCode.USAGE_ERROR and guard.signum is None:
        raise typer.Exit(ExitCode.BAD_INPUT)
    stored = (_store_history(history, summary, where) if shard_spec is None else
              f"history: shard {shard_spec} is not stored on its own: labharness merge stores "
              "the joined run")
    if guard.signum is not None:
        _print_lines(reports)
        err.print(stored)
        raise typer.Exit(code)
    _print_summary(summary, where)
    _print_lines(reports)
    out.print(stored)
    if summary.internal_error:
        err.print(f"internal error (in labharness or a pytest plugin, not in the lab): "
                  f"{escape(summary.internal_error)}; traceback in "
                  f"{escape(str(where / INTERNAL_ERROR_FILE))}", style="red")
    if code == ExitCode.NO_TESTS:
        err.print("no test selected", style="yellow")
    raise typer.Exit(code)


INTERNAL_ERROR_FILE = "internal-error.txt"


def _record_internal_error(where: Path, exc: BaseException) -> str:
    """Write the traceback of what escaped pytest to the report directory; returns the error as
    one line ("Type: message")."""
    import traceback

    line = " ".join(f"{type(exc).__name__}: {exc}".split())
    try:
        (where / INTERNAL_ERROR_FILE).write_text("".join(traceback.format_exception(exc)),
                                                 encoding="utf-8")
    except OSError:
        pass  # the run's other reports say what they can; the line is in summary.json
    return line


HISTORY_HELP = ("run history database: a path (SQLite) or an SQLAlchemy URL "
                "[default: reports/history.sqlite; env LABHARNESS_HISTORY]")


def _store_history(given: str | None, summary: RunSummary, where: Path) -> str:
    """Store the run in the history; returns the line that says where (or why not). A
    database that fails is a note: the run's verdict and exit code stay what the tests said,
    and its reports are complete without it."""
    from harness.report.history.store import OFF, History, resolve_url, shown

    if (given or "").strip().lower() == OFF:
        return "[yellow]history[/]: off (--history off): this run is not stored"
    try:
        url = resolve_url(given)
        db = History.open(url)
        try:
            run_id = db.store(summary.to_dict(), summary.facts, str(where))
        finally:
            db.close()
    except LabharnessError as exc:
        why = str(exc)
    except Exception as exc:  # a database driver's own error: still only a note
        why = f"{type(exc).__name__}: {exc}"
    else:
        return f"history: run {run_id} stored in {escape(shown(url))} (labharness diff)"
    return (f"[yellow]history[/]: not stored: {escape(why)}; the reports in "
            f"{escape(str(where))} are complete and the verdict stands")


@app.command()
def merge(
    dirs: Annotated[list[Path], typer.Argument(
        help="the shards' report directories (labharness run --shard K/N --report-dir DIR)",
        show_default=False)],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="[default: reports/<timestamp>, linked from reports/latest]")] = None,
    lab: Annotated[Path | None, typer.Option(
        help="the lab file the shards tested [default: the one their summary.json names]")
    ] = None,
    history: Annotated[str | None, typer.Option(
        envvar="LABHARNESS_HISTORY", show_default=False, help=HISTORY_HELP
        + "; 'off' stores nothing")] = None,
    allure_report: Annotated[bool, typer.Option(
        help="also build the static Allure report (allure-report/) with the Allure CLI")] = False,
) -> None:
    """Join the reports of a sharded run into one run: junit.xml, summary.json (causes
    diagnosed on all the shards' findings), facts.json, allure-results and report.html, stored
    in the history as one run. Exits as the whole run would have; 2 when the directories are
    not the complete shards of one run."""
    from harness.report.dirs import prepare_report_dir
    from harness.report.merge import load_shards, merge_runs, worst_exit_code

    shards = load_shards(dirs)  # refuse before a directory is made
    lab_path = lab
    if lab_path is None:
        named = [str(s.summary["lab_file"]) for s in shards if s.summary.get("lab_file")]
        # the shards ran in other checkouts: their default lab is this checkout's
        here = [DEFAULT_LAB if Path(p).name == DEFAULT_LAB.name and Path(p).parent.name
                == DEFAULT_LAB.parent.name else Path(p) for p in named]
        lab_path = next((p for p in [*map(Path, named), *here] if p.is_file()), None)
        if lab_path is None:
            shown = ", ".join(dict.fromkeys(named)) or "not named in their summary.json"
            raise OptionError(f"the lab file the shards tested ({shown}) is not here: pass "
                              "--lab FILE")
    model = load_lab(lab_path)
    if model.name != shards[0].summary.get("lab"):
        raise OptionError(f"--lab {lab_path} is lab {model.name!r}; the shards tested lab "
                          f"{shards[0].summary.get('lab')!r}")
    where = prepare_report_dir(out_dir)
    try:
        summary = merge_runs(dirs, where, model, str(lab_path))
        summary.exit_code = worst_exit_code(
            [_run_exit_code(summary, 0, None), *(s.summary.get("exit_code") for s in shards)])
        summary.write(where / "summary.json")
    except OSError as exc:
        err.print(f"cannot write the merged reports in {escape(str(where))}: "
                  f"{escape(exc.strerror or str(exc))}", style="red")
        raise typer.Exit(ExitCode.REPORT_IO) from None
    reports = _finish_reports(where, model, allure_report=allure_report)
    stored = _store_history(history, summary, where)
    _print_summary(summary, where)
    _print_lines(reports)
    out.print(stored)
    if summary.internal_error:
        err.print(f"internal error (in labharness or a pytest plugin, not in the lab) in "
                  f"{escape(summary.internal_error)}; traceback in that shard's "
                  f"{INTERNAL_ERROR_FILE}", style="red")
    raise typer.Exit(summary.exit_code)


PREVIOUS_FACTS = "previous-facts.json"


def _previous_facts(given: str | None, lab: str, where: Path) -> tuple[Path | None, str]:
    """The facts of the lab's last stored run, written into the report directory for the
    session to compare with (boot times, F06); and a note that says which run, or why none.
    A history that cannot be read is a note, as when storing: the run goes on without it."""
    from harness.report.history.store import OFF, History, resolve_url
    from harness.report.summary import write_json

    if (given or "").strip().lower() == OFF:
        return None, "history off: nothing to compare this run with (F06 boot times)"
    try:
        db = History.open(resolve_url(given), create=False)
        try:
            last = db.runs(lab=lab, limit=1)
            stored = db.load(last[0].id) if last else None
        finally:
            db.close()
    except LabharnessError as exc:
        return None, f"no previous run of lab {lab} to compare with ({exc})"
    if stored is None:
        return None, f"no previous run of lab {lab} in the history: nothing to compare with yet"
    path = where / PREVIOUS_FACTS
    write_json(path, stored.facts)
    info = stored.info
    return path, (f"compared with run {info.id} of lab {lab} "
                  f"({info.started.isoformat(timespec='seconds')}): host boot times (F06)")


def _open_history(given: str | None) -> History:
    from harness.report.history.store import OFF, History, resolve_url

    if (given or "").strip().lower() == OFF:
        raise OptionError("--history off: there is no history to read")
    return History.open(resolve_url(given), create=False)


@app.command("history")
def history_list(
    lab: Annotated[str | None, typer.Option(help="only this lab's runs (its name)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="newest runs shown")] = 20,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    history: Annotated[str | None, typer.Option(envvar="LABHARNESS_HISTORY",
                                                show_default=False, help=HISTORY_HELP)] = None,
) -> None:
    """List stored runs, newest first: id, time, lab, scenarios, verdict and counts."""
    import json

    db = _open_history(history)
    try:
        runs = db.runs(lab, limit)
    finally:
        db.close()
    if json_output:
        sys.stdout.write(json.dumps([r.to_dict() for r in runs], indent=2) + "\n")
        return
    if not runs:
        out.print("no runs stored" + (f" for lab {escape(lab)}" if lab else ""))
        return
    table = Table(title="labharness run history")
    for column in ("run", "started (UTC)", "lab", "scenarios", "verdict", "passed", "failed",
                   "errors", "skipped", "findings", "causes"):
        table.add_column(column, justify="right" if column in (
            "run", "passed", "failed", "errors", "skipped", "findings", "causes") else "left")
    for r in runs:
        c = r.counts
        style = "green" if r.verdict == "passed" else "red"
        table.add_row(str(r.id), r.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                      escape(r.lab), escape(",".join(r.scenarios) or "-"),
                      f"[{style}]{r.verdict}[/]", str(c["passed"]), str(c["failed"]),
                      str(c["errors"]), str(c["skipped"]), str(r.findings),
                      "-" if r.causes is None else str(r.causes))
    out.print(table)


def _run_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise OptionError(f"run id {text!r} is not a number: labharness history lists the "
                          "runs and their ids") from None
    if value < 1:
        raise OptionError(f"run id {value} is not a run: ids start at 1")
    return value


@app.command("diff")
def history_diff(
    runs: Annotated[list[str] | None, typer.Argument(
        help="two run ids (older, newer), one (compared with the run of its lab before it), "
             "or none (the last two runs of --lab, else of the newest run's lab)",
        show_default=False)] = None,
    lab: Annotated[str | None, typer.Option(help="lab name, when no run id is given")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    history: Annotated[str | None, typer.Option(envvar="LABHARNESS_HISTORY",
                                                show_default=False, help=HISTORY_HELP)] = None,
) -> None:
    """What changed between two runs: causes and findings new, fixed and still open, and the
    facts that changed (a vmknic's MTU, NTP servers, a BIOS attribute, a firmware version, a
    CDP neighbour). Exit 0 when nothing changed, 1 when something did, 2 on a bad run id."""
    import json

    from harness.report.history.diff import diff_runs

    ids = [_run_id(r) for r in runs or []]
    if len(ids) > 2:
        raise OptionError(f"diff takes at most two run ids, not {len(ids)}")
    if ids and lab is not None:
        raise OptionError("give run ids or --lab, not both")
    db = _open_history(history)
    try:
        if len(ids) == 2:
            older, newer = db.load(ids[0]), db.load(ids[1])
        else:
            if ids:
                newer = db.load(ids[0])
            else:
                latest = db.runs(lab, 1)
                if not latest:
                    raise OptionError("no runs stored" + (f" for lab {lab}" if lab else "")
                                      + ": labharness run stores one")
                newer = db.load(latest[0].id)
            before = db.previous(newer.info)
            if before is None:
                raise OptionError(f"run {newer.info.id} is the first run of lab "
                                  f"{newer.info.lab} in the history: nothing to compare with")
            older = db.load(before.id)
    finally:
        db.close()
    result = diff_runs(older, newer)
    if json_output:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    else:
        _print_diff(result)
    raise typer.Exit(0 if result.unchanged else ExitCode.FAILED)


def _run_line(info: RunInfo) -> str:
    return (f"run {info.id} ({info.started.astimezone(UTC):%Y-%m-%d %H:%M} UTC, lab "
            f"{escape(info.lab)}, {escape(','.join(info.scenarios) or 'no scenario')}, "
            f"{info.verdict})")


def _value(v: object) -> str:
    import json

    return "-" if v is None else escape(json.dumps(v) if isinstance(v, list) else str(v))


def _print_changes(kind: str, changes: Changes[Any]) -> None:
    for label, style, items in (("new", "red", changes.new), ("fixed", "green", changes.fixed)):
        for item in items:
            out.print(f"[{style}]{label} {kind}[/] {escape(item.text())}")
    if changes.still_open:
        out.print(f"still open: {len(changes.still_open)} {kind}(s): "
                  + ", ".join(escape(item.short()) for item in changes.still_open))


def _print_diff(d: RunDiff) -> None:
    out.print(f"[bold]diff[/] {_run_line(d.a)} -> {_run_line(d.b)}")
    if d.a.lab != d.b.lab:
        out.print(f"[yellow]note[/]: the runs are of different labs ({escape(d.a.lab)}, "
                  f"{escape(d.b.lab)})")
    if d.causes is None:
        out.print("causes: not compared (a run stored none)")
    else:
        _print_changes("cause", d.causes)
    _print_changes("finding", d.findings)
    for fact in d.facts:
        where = f"{fact.layer} {escape(fact.subject)} {escape(fact.key)}"
        if fact.change == "changed":
            out.print(f"[yellow]changed[/] {where}: {_value(fact.before)} -> "
                      f"{_value(fact.after)}")
        elif fact.change == "added":
            out.print(f"[cyan]added[/] {where}: {_value(fact.after)}")
        else:
            out.print(f"[cyan]removed[/] {where} (was {_value(fact.before)})")
    for note in d.not_compared:
        out.print(f"[yellow]not compared[/]: {escape(note)}")
    if d.unchanged:
        out.print("[green]no change[/]: the same causes, findings and facts")


def _finish_reports(where: Path, model: Lab, *, allure_report: bool) -> list[tuple[str, bool]]:
    """report.html and Allure's extras; whatever goes wrong there is a note (a line to print,
    and whether it is a problem), never a traceback and never a different exit code (the
    tests' verdict stands)."""
    from harness.report.finish import finish_reports

    try:
        done = finish_reports(where, model, allure_report=allure_report)
    except KeyboardInterrupt:  # a second Ctrl-C while the page is drawn: the run still ends
        return [("report.html not written: interrupted", True)]
    except Exception as exc:  # a report bug must not turn a verdict into a crash
        return [(f"report.html not written: {type(exc).__name__}: {exc}", True)]
    lines = [(note, True) for note in done.notes]
    if done.allure_report is not None:
        lines.append((f"allure report: {done.allure_report / 'index.html'}", False))
    return lines


def _print_lines(lines: list[tuple[str, bool]]) -> None:
    for text, problem in lines:
        if problem:
            err.print(escape(text), style="yellow")
        else:
            out.print(escape(text))


def _run_exit_code(summary: RunSummary, pytest_code: int | None, signum: int | None) -> int:
    """What a run exits with (README: exit codes); the first that applies wins."""
    import pytest

    if signum is not None:
        return 128 + signum
    if pytest_code == pytest.ExitCode.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if pytest_code == pytest.ExitCode.USAGE_ERROR:
        return ExitCode.BAD_INPUT
    if pytest_code == pytest.ExitCode.NO_TESTS_COLLECTED:
        # a shard whose slice is empty (fewer elements than shards) ran what it was dealt
        empty_shard = summary.shard is not None and summary.shard["collected"] > 0
        if not empty_shard:
            return ExitCode.NO_TESTS
        pytest_code = pytest.ExitCode.OK
    if summary.unreachable():
        return ExitCode.UNREACHABLE
    if (summary.counts()["errors"] or summary.internal_error
            or pytest_code == pytest.ExitCode.INTERNAL_ERROR):
        return ExitCode.ERRORS
    if summary.failed or pytest_code != pytest.ExitCode.OK:
        return ExitCode.FAILED
    return ExitCode.OK


report_app = typer.Typer(help="A run's reports: open the newest report.html.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("open")
def report_open(
    report_dir: Annotated[Path, typer.Option(
        help="a run's report directory, or the directory of runs")] = Path("reports"),
) -> None:
    """Open the newest report.html in a browser (and print its path)."""
    import webbrowser

    from harness.report.dirs import newest_report

    found = newest_report(report_dir)
    if found is None:
        err.print(f"no report.html in {escape(str(report_dir))} or its run directories: "
                  "`labharness run` writes one per run", style="red")
        raise typer.Exit(ExitCode.BAD_INPUT)
    out.print(str(found.resolve()))
    if not webbrowser.open(found.resolve().as_uri()):
        err.print("no browser could be started here: open the file above", style="yellow")


sim_app = typer.Typer(help="The simulated lab on this machine: up, down, status, scenarios.",
                      no_args_is_help=True)
app.add_typer(sim_app, name="sim")


def _up_time(state: SimState) -> str:
    """How long `sim up` took, and, when it is a second or more, how much of it went to the
    kernel feature check: it creates a scratch namespace and devices, which waits while the
    kernel is still removing an earlier lab's namespaces (seconds right after a 32-host lab
    came down)."""
    check = state.timings.get("kernel_s", 0.0)
    return f"{state.timings.get('up_s')} s" + (
        f" ({check} s of it in the kernel check, waiting for the kernel to finish removing an "
        "earlier lab's namespaces)" if check >= 1.0 else "")


def _sim_inputs(lab: Path | None, inventory: Path | None) -> tuple[Lab, LoadedInventory]:
    lab_path = lab or DEFAULT_LAB
    inv_path = inventory or DEFAULT_SIM_INVENTORY
    model = load_lab(lab_path)
    loaded = load_inventory(inv_path, model)
    if loaded.inventory.backend != "sim":
        raise OptionError(f"{inv_path}: backend is {loaded.inventory.backend}; the simulated "
                          "lab needs a sim inventory (backend: sim)")
    return model, loaded


def _scenarios(names_: list[str] | None) -> list[Scenario]:
    from harness.sim.scenarios import resolve as resolve_scenarios

    return resolve_scenarios([n for v in names_ or [] for n in v.split(",") if n])


@sim_app.command("up")
def sim_up(
    lab: Annotated[Path | None, typer.Option(help="lab file [default: labs/sim.yaml]")] = None,
    inventory: Annotated[Path | None, typer.Option(help="sim inventory")] = None,
    scenario: Annotated[list[str] | None, typer.Option(
        help="faults to apply: incident id or slug, or a variant such as F11-cabling")] = None,
) -> None:
    """Build the simulated lab (removing leftovers of an earlier run first)."""
    from harness.sim import lifecycle

    model, loaded = _sim_inputs(lab, inventory)
    chosen = _scenarios(scenario)
    state = lifecycle.up(model, loaded.inventory, chosen, base_dir=loaded.base_dir)
    out.print(f"lab {model.name} up in {_up_time(state)}: {len(state.namespaces)} "
              f"namespaces, {len(state.daemons)} daemons")
    for fault in state.faults:
        out.print(f"  fault {escape(fault)}")
    for note in state.notes:
        out.print(f"  note {escape(note)}")


@sim_app.command("down")
def sim_down(lab: Annotated[str, typer.Option(help="lab name")] = "sim") -> None:
    """Stop the simulated lab's daemons and delete its namespaces."""
    from harness.sim import lifecycle

    report = lifecycle.down(lab)
    out.print(f"lab {lab} down: stopped {len(report.stopped)} daemons, removed "
              f"{len(report.removed)} namespaces")


@sim_app.command("status")
def sim_status(
    lab: Annotated[str, typer.Option(help="lab name")] = "sim",
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """What runs: namespaces, daemons, endpoints and how to log in (exit 1 if not running)."""
    import json

    from harness.sim import lifecycle

    info = lifecycle.status(lab)
    if json_output:
        sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    elif not info.get("running"):
        out.print(f"lab {lab} is not running"
                  + (f" (leftover namespaces: {', '.join(info['namespaces'])})"
                     if info["namespaces"] else ""))
    else:
        if info.get("stale"):
            dead = [d["name"] for d in info["daemons"] if not d["running"]]
            owner = info.get("owner")
            why = (f"the run that built it (pid {owner['pid']}) is gone"
                   if owner and not info.get("owner_running") else
                   f"{len(dead)} of its daemons are gone ({', '.join(dead[:5])}"
                   f"{', ...' if len(dead) > 5 else ''})")
            out.print(f"[bold red]lab {lab} is stale[/]: {why}; labharness sim down --lab "
                      f"{lab} removes it (the next sim up or run does too)")
        table = Table(title=f"simulated lab {lab}")
        table.add_column("namespace")
        table.add_column("present", justify="center")
        for n in info["namespaces"]:
            table.add_row(n["name"], "yes" if n["present"] else "[red]no[/]")
        out.print(table)
        for d in info["daemons"]:
            out.print(f"daemon {d['name']} pid {d['pid']}: "
                      f"{'running' if d['running'] else '[red]stopped[/]'}")
        for e in info["endpoints"]:
            out.print(f"endpoint {e['kind']} {e['name']}: {e['ip']}:{e['port']}")
        for name, a in info.get("access", {}).items():
            out.print(f"login {name}: {a['url']} as {a['username']}"
                      + (f" (CA {a['ca_file']})" if a.get("ca_file") else ""))
        for f in info.get("faults", []):
            out.print(f"fault {escape(f)}")
    if not info.get("running"):
        raise typer.Exit(ExitCode.FAILED)


@sim_app.command("inventory")
def sim_inventory(
    lab: Annotated[Path | None, typer.Option(help="lab file [default: labs/sim.yaml]")] = None,
    output: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Print a `backend: real` inventory for the running simulated lab: it reaches the sim
    only the way a real lab is reached (vCenter SOAP, iLO HTTPS, SSH to the router, the probe
    VMs and the VMs), so a run with it must give the same verdicts as the sim backend."""
    from ruamel.yaml import YAML

    from harness.sim import lifecycle
    from harness.sim.errors import SimError
    from harness.sim.realinventory import real_inventory

    model = load_lab(lab or DEFAULT_LAB)
    state = lifecycle.load_state(model.name)
    if state is None:
        raise SimError(f"lab {model.name} is not up: run labharness sim up first")
    data = real_inventory(model, state, lifecycle.run_dir(model.name))
    yaml = YAML()
    yaml.default_flow_style = False
    header = (f"# labharness sim inventory: the running simulated lab {model.name}, reached as "
              "a real lab\n")
    if output is not None:
        with output.open("w", encoding="utf-8") as f:
            f.write(header)
            yaml.dump(data, f)
    else:
        sys.stdout.write(header)
        yaml.dump(data, sys.stdout)


@sim_app.command("generate")
def sim_generate(
    hosts: Annotated[int, typer.Option(help="number of ESXi hosts (1-99)")] = 32,
    name: Annotated[str, typer.Option(help="lab name (names start lh-<name>-)")] = "big",
    subnet: Annotated[str | None, typer.Option(
        help="management /24 in 198.18.0.0/15 [default: the default inventory's]")] = None,
    directory: Annotated[Path, typer.Option("--out", help="directory for NAME.yaml and "
                                                          "NAME.inventory.yaml")] = Path("."),
) -> None:
    """Write a lab of the default lab's shape with N hosts and its sim inventory (for sizing:
    `labharness run --lab NAME.yaml --inventory NAME.inventory.yaml`)."""
    from harness.lab import generate

    lab_doc = generate.scale_lab(generate.load(DEFAULT_LAB), hosts, name)
    inv_doc = generate.scale_inventory(generate.load(DEFAULT_SIM_INVENTORY), lab_doc, name,
                                       subnet)
    lab_path, inv_path = generate.write(lab_doc, inv_doc, directory)
    load_inventory(inv_path, load_lab(lab_path))  # what it wrote must load, as users will
    out.print(f"{lab_path}\n{inv_path}")


@sim_app.command("scenarios")
def sim_scenarios() -> None:
    """List the fault scenarios the simulated lab reproduces."""
    from harness.incidents import SCENARIO_ALL
    from harness.sim.scenarios import FIELD_INCIDENTS, SCENARIOS

    for s in SCENARIOS.values():
        out.print(f"{s.label}: {escape(s.summary)}")
    out.print(f"{SCENARIO_ALL}: one scenario per incident at once "
              f"({', '.join(s.id for s in FIELD_INCIDENTS)})")


app.add_typer(probes_app, name="probes")

depot_app = typer.Typer(help="ESXi offline bundles (depot ZIPs): what is inside, without "
                        "unpacking them by hand.", no_args_is_help=True)
app.add_typer(depot_app, name="depot")


def _print_profiles(bundle: DepotBundle) -> None:
    if not bundle.profiles:
        vibs = sum(m.vib_count for m in bundle.metadata)
        out.print(f"{escape(str(bundle.path))}: no image profiles ({vibs} VIB(s) in its "
                  "metadata: a driver or patch bundle that is installed VIB by VIB)")
        return
    table = Table(title=f"image profiles in {escape(bundle.path.name)}")
    for column in ("name", "vendor", "acceptance level", "VIBs", "created", "description"):
        table.add_column(column, justify="right" if column == "VIBs" else "left",
                         overflow="fold")
    for p in bundle.profiles:
        created = p.created.strftime("%Y-%m-%d %H:%M") if p.created else "-"
        table.add_row(escape(p.name), escape(p.vendor), p.acceptance_level, str(p.vib_count),
                      created, escape(p.description or "-"))
    out.print(table)
    source = ("the file is a bare metadata archive" if bundle.is_bare_metadata else
              "from " + ", ".join(escape(m.member) for m in bundle.metadata))
    out.print(f"{len(bundle.profiles)} image profile(s), {source}. Install or downgrade to one "
              "with: esxcli software profile update -d <bundle on a datastore> -p <name> "
              "[--allow-downgrades]")


@depot_app.command("profiles")
def depot_profiles(
    bundle: Annotated[Path, typer.Argument(help="offline bundle (depot ZIP)")],
    json_output: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
) -> None:
    """List the image profiles of an ESXi offline bundle: name, vendor, acceptance level, VIB
    count, creation time. Exit 2 if the file is not a readable bundle."""
    from harness.depot import read_bundle

    contents = read_bundle(bundle)
    if json_output:
        import json

        sys.stdout.write(json.dumps(contents.to_dict(), indent=2) + "\n")
    else:
        _print_profiles(contents)


vsphere_app = typer.Typer(help="Careful changes through vCenter (each guarded and verified).",
                          no_args_is_help=True)
app.add_typer(vsphere_app, name="vsphere")


def _ping(address: str) -> bool:
    """Does the address answer ICMP echo from this machine (one try, 1 s)?"""
    import subprocess

    done = subprocess.run(["ping", "-n", "-q", "-c", "1", "-W", "1", address],
                          capture_output=True, check=False)
    return done.returncode == 0


@vsphere_app.command("migrate-vmk")
def vsphere_migrate_vmk(
    host: Annotated[str, typer.Option(help="ESXi host as the lab names it")],
    vmk: Annotated[str, typer.Option(help="the management VMkernel NIC, e.g. vmk0")],
    to: Annotated[str, typer.Option(help="target port group (standard or distributed)")],
    lab: Annotated[Path | None, typer.Option(help="lab file [default: labs/sim.yaml]")] = None,
    inventory: Annotated[Path | None, typer.Option(
        help="inventory [default: inventory/sim.yaml]")] = None,
    ping: Annotated[bool, typer.Option(
        help="verify the vmk answers ICMP from this machine after the move (real labs)")] = False,
    allow_disruptive: Annotated[bool, typer.Option(
        "--allow-disruptive", help="required: this changes the lab")] = False,
) -> None:
    """F01: move a management vmk without losing the host. Checks first (network rollback on,
    host connected, the target carries the vmk's VLAN on a working uplink), moves, verifies,
    and moves it back on loss. Exit 0 moved, 1 refused or rolled back or lost, 2 bad input."""
    from harness.drivers.vsphere import VsphereDriver
    from harness.procedures.migration import migrate_management_vmk

    model = load_lab(lab or DEFAULT_LAB)
    loaded = load_inventory(inventory or DEFAULT_SIM_INVENTORY, model)
    endpoint = loaded.inventory.vcenter
    if endpoint is None:
        raise OptionError(f"inventory {loaded.inventory.name} has no `vcenter`")
    if not (allow_disruptive and model.disruptive_allowed):
        raise OptionError("this moves a VMkernel NIC: pass --allow-disruptive, on a lab that "
                          "says `disruptive_allowed: true`")
    with VsphereDriver.connect(endpoint, loaded.base_dir, allow_disruptive=True) as vc:
        report = migrate_management_vmk(vc, model, host, vmk, to,
                                        reachable=_ping if ping else None)
    out.print(escape(report.text()))
    raise typer.Exit(0 if report.outcome == "moved" else 1)


def main() -> None:
    """Console-script entry point. Ctrl-C outside a run (which handles it itself) ends the
    command quietly with 130."""
    # Everything still alive at exit is frozen before the interpreter's last collection, which
    # then has nothing to traverse: after a 32-host run (millions of objects) it took 1.5 s.
    atexit.register(gc.freeze)
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted", style="red")
        sys.exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    main()
