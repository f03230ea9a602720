"""The bad-input corpus: each malformed lab in tests/data/bad/ gets exactly one located problem.

Every corpus file holds one fault in an otherwise valid, small lab, and says what to expect in
three header lines:

    # fault: what is wrong
    # expect: a distinctive substring of the problem's message
    # expect-path: the problem's dotted data path, or - when it has none (syntax errors)

The faulty line ends with the comment `# <-- fault`; the problem must be reported on that line,
at a column before the comment. A file without the marker holds a whole-file fault (empty, not a
mapping), which is reported at 1:1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.lab.loader import load_lab
from harness.lab.source import InputFileError, Problem
from tests.conftest import ROOT

BAD_DIR = ROOT / "tests" / "data" / "bad"
BAD_FILES = sorted(BAD_DIR.glob("*.yaml"))
MARKER = "# <-- fault"
HEADER_KEYS = ("fault", "expect", "expect-path")


@dataclass(frozen=True)
class Expected:
    """What a corpus file's header and marker say its one problem is."""

    fault: str
    message: str  # substring of the message
    path: str  # "" when the problem has no data path
    line: int  # 1-based; 1 for whole-file faults
    before_column: int | None  # the reported column must be smaller (where the marker starts)


def expected(path: Path) -> Expected:
    """Read a corpus file's header and fault marker."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header: dict[str, str] = {}
    for key, text in zip(HEADER_KEYS, lines, strict=False):
        prefix = f"# {key}: "
        assert text.startswith(prefix), f"{path.name}: header line should start {prefix!r}"
        header[key] = text[len(prefix):].strip()
    assert set(header) == set(HEADER_KEYS) and all(header.values()), f"{path.name}: bad header"
    marked = [(n, text) for n, text in enumerate(lines, 1) if text.rstrip().endswith(MARKER)]
    assert len(marked) <= 1, f"{path.name}: more than one {MARKER!r} line"
    if marked:
        line, text = marked[0]
        before: int | None = text.rindex(MARKER) + 1
    else:
        line, before = 1, None
    return Expected(header["fault"], header["expect"],
                    "" if header["expect-path"] == "-" else header["expect-path"], line, before)


def problems_of(path: Path) -> list[Problem]:
    """The problems load_lab reports for a file (none if it loads)."""
    try:
        load_lab(path)
    except InputFileError as exc:
        return exc.problems
    return []


def test_corpus_is_broad() -> None:
    """The corpus is meant to cover many kinds of fault, not a handful."""
    assert len(BAD_FILES) >= 30, [p.name for p in BAD_FILES]


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_file_has_one_located_problem(path: Path) -> None:
    """One fault must give one problem, at the faulty line, with a clear message and path."""
    want = expected(path)
    problems = problems_of(path)
    shown = "\n".join(map(str, problems)) or "(loaded without a problem)"
    assert len(problems) == 1, f"{want.fault}: expected 1 problem, got:\n{shown}"
    (problem,) = problems
    assert problem.file == str(path)
    assert problem.line == want.line, f"expected line {want.line}: {problem}"
    if want.before_column is None:
        assert problem.column == 1, problem
    else:
        assert 1 <= problem.column < want.before_column, f"column outside the line: {problem}"
    assert want.message in problem.message, f"expected {want.message!r} in: {problem}"
    assert problem.path == want.path, f"expected path {want.path!r}: {problem}"


def labharness(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `labharness` command (or the module, if the script is not there)."""
    script = shutil.which("labharness", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "harness.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABHARNESS_")}
    env["COLUMNS"] = "200"  # no wrapping of long file:line:col lines
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def test_validate_reports_each_file_with_its_location() -> None:
    """Users see file:line:col for every bad file, and exit code 2, never a traceback."""
    paths = [BAD_DIR / name for name in (
        "yaml-tab-indentation.yaml", "unknown-top-level-key.yaml",
        "vmknic-unknown-port-group.yaml")]
    result = labharness("validate", *map(str, paths))
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stdout + result.stderr
    for path in paths:
        found = re.findall(rf"^{re.escape(str(path))}:(\d+):(\d+): ", result.stderr, re.M)
        assert found, f"{path} not named with file:line:col in:\n{result.stderr}"
        assert int(found[0][0]) == expected(path).line, result.stderr
    assert "3 of 3 file(s) invalid" in result.stderr


def test_validate_whole_corpus_never_crashes() -> None:
    """Every bad file at once: exit 2, no traceback, and each file the loader rejects named."""
    result = labharness("validate", *map(str, BAD_FILES))
    assert "Traceback" not in result.stdout and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stdout + result.stderr
    rejected = [path for path in BAD_FILES if problems_of(path)]
    for path in rejected:
        assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: ", result.stderr, re.M), path
    assert f"{len(rejected)} of {len(BAD_FILES)} file(s) invalid" in result.stderr
