"""Errors of the run history: one line each, with what to do."""

from __future__ import annotations

from typing import ClassVar

from harness.errors import ExitCode, InputError, LabharnessError


class HistoryError(LabharnessError):
    """The history database cannot be opened, migrated, written or read. `labharness run`
    reports it as a note and keeps the run's verdict; `history` and `diff` exit with
    REPORT_IO."""

    exit_code: ClassVar[ExitCode] = ExitCode.REPORT_IO


class HistoryInputError(InputError):
    """A `--history` value or run id that cannot be used (exit 2)."""


class RunNotFound(HistoryInputError):
    """No run with that id in the history."""

    def __init__(self, run_id: int, database: str, lowest: int | None,
                 highest: int | None) -> None:
        self.run_id = run_id
        held = (f"it holds runs {lowest} to {highest}" if lowest is not None
                else "it holds no runs yet")
        super().__init__(f"no run {run_id} in the history {database}: {held} "
                         "(labharness history lists them)")
