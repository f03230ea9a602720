"""Where a run's reports go, checked before anything is built or run.

A report directory that cannot be created, is read-only or is (nearly) full would lose the
run's results at the end, after the lab was built and the suites ran; `prepare_report_dir`
finds that first and says so in one line (exit code REPORT_IO).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from harness.errors import ExitCode, LabharnessError

# allure results, junit and summary of a 32-host run with evidence stay well under this
MIN_FREE_BYTES = 16 * 1024 * 1024
# what a run writes beside allure-results/ (which pytest clears itself): removed from a
# directory used again, so a run that ends early never leaves an older run's files as its own
RUN_FILES = ("junit.xml", "summary.json", "facts.json", "report.html", "internal-error.txt")


class ReportDirError(LabharnessError):
    """The report directory cannot hold the run's reports."""

    exit_code: ClassVar[ExitCode] = ExitCode.REPORT_IO


def _check(path: Path, min_free: int) -> None:
    probe = path / ".labharness-write-test"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * 65536)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise ReportDirError(f"report directory {path} is not writable: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):  # a read-only file system refuses even this
            probe.unlink(missing_ok=True)
    free = shutil.disk_usage(path).free
    if free < min_free:
        raise ReportDirError(f"report directory {path} has {free // 1024} KiB free; a run needs "
                             f"at least {min_free // (1024 * 1024)} MiB: free space or pass "
                             "--report-dir elsewhere")


def prepare_report_dir(base: Path | None, *, min_free: int = MIN_FREE_BYTES) -> Path:
    """The directory for this run's reports: `base`, or reports/<UTC timestamp> linked from
    reports/latest; created and checked (writable, enough free space), and an earlier run's
    files in it (`RUN_FILES`) removed.

    Raises:
        ReportDirError: it cannot be created or written, or its file system is nearly full.
    """
    try:
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
            path = base
        else:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            root = Path("reports")
            path = root / stamp
            n = 1
            while path.exists():
                n += 1
                path = root / f"{stamp}-{n}"
            path.mkdir(parents=True)
    except OSError as exc:
        raise ReportDirError(f"cannot create report directory {base or 'reports/'}: "
                             f"{exc.strerror}") from None
    _check(path, min_free)
    for name in RUN_FILES:
        try:
            (path / name).unlink(missing_ok=True)
        except OSError as exc:
            raise ReportDirError(f"cannot replace {path / name}: {exc.strerror}") from None
    if base is None:
        latest = path.parent / "latest"
        try:
            if latest.is_symlink() or latest.exists():
                latest.unlink()
            latest.symlink_to(path.name)
        except OSError:
            pass  # the link is a convenience; the run reports where its reports are
    return path


def newest_report(base: Path, name: str = "report.html") -> Path | None:
    """The newest `name` in `base` itself or in one of its run directories (by modification
    time), None if there is none."""
    candidates = [base / name] if (base / name).is_file() else []
    try:
        candidates += [p / name for p in base.iterdir()
                       if p.is_dir() and not p.is_symlink() and (p / name).is_file()]
    except OSError:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)
