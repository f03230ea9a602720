"""Fuzz the loader with damaged copies of the default lab.

Whatever a hand edit does to a lab file (a line lost, pasted twice or mis-indented, a value
replaced, the file cut short, stray characters), `load_lab` must either accept it or explain it as
located problems. Any other exception would reach the user as a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.lab.loader import load_lab
from harness.lab.model import Lab
from harness.lab.source import InputFileError, Problem
from tests.conftest import SIM_LAB

SIM_TEXT = SIM_LAB.read_text(encoding="utf-8")

# Characters that mean something to YAML, whitespace that it is picky about, and some non-ASCII.
_SPECIAL = ":{}[],&*#?|-<>=!%@`\"' \t\n\r\\~.0123456789xyzé€\u00a0\ufeff"
# utf-8: no lone surrogates, which no file can hold
_short_text_alphabet = st.one_of(st.sampled_from(_SPECIAL), st.characters(codec="utf-8"))
_short_text = st.text(alphabet=_short_text_alphabet, max_size=8)
_inserted = st.text(alphabet=_short_text_alphabet, min_size=1, max_size=8)
_plain_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=10)
_KNOWN_KEYS = [
    "name", "hosts", "vmknics", "ip", "port_group", "vlan", "mtu", "uplinks", "teaming",
    "standby", "server", "kind", "build", "version", "ports", "vmnic", "cabling", "<<", "a", "b",
    "segments", "vni", "members", "vip", "bmc", "model", "slot", "1", "vmk9", "vmnic9",
]

_value = st.one_of(
    _short_text.map(lambda s: s.strip("\n")),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.lists(_plain_word, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.dictionaries(_plain_word, _plain_word, max_size=2).map(
        lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"),
    st.sampled_from(["", "~", "null", "[]", "{}", "true", "no", "0x1F", "1e3", "*gen9", "&x",
                     "!!int abc", "!!binary zz", "|", ">-", "'unterminated", '"a\\q"', "- x",
                     "198.18.1.300/24", "00:50:56:zz:00:01", "vmkA", "eth0"]),
)

Lines = list[str]
Mutation = Callable[[st.DrawFn, Lines], Lines]


def _index(draw: st.DrawFn, lines: Lines) -> int:
    return draw(st.integers(min_value=0, max_value=max(len(lines) - 1, 0)))


def _delete_line(draw: st.DrawFn, lines: Lines) -> Lines:
    if lines:
        del lines[_index(draw, lines)]
    return lines


def _duplicate_line(draw: st.DrawFn, lines: Lines) -> Lines:
    if lines:
        i = _index(draw, lines)
        lines.insert(i, lines[i])
    return lines


def _swap_lines(draw: st.DrawFn, lines: Lines) -> Lines:
    if lines:
        i, j = _index(draw, lines), _index(draw, lines)
        lines[i], lines[j] = lines[j], lines[i]
    return lines


def _reindent_line(draw: st.DrawFn, lines: Lines) -> Lines:
    if lines:
        i = _index(draw, lines)
        body = lines[i].lstrip(" \t")
        indent = len(lines[i]) - len(body)
        new = draw(st.one_of(st.integers(min_value=0, max_value=indent + 6).map(lambda n: " " * n),
                             st.sampled_from(["\t", " \t", "\t  "])))
        lines[i] = new + body
    return lines


def _replace_value(draw: st.DrawFn, lines: Lines) -> Lines:
    with_value = [i for i, line in enumerate(lines) if ": " in line]
    if with_value:
        i = draw(st.sampled_from(with_value))
        head, _, _ = lines[i].partition(": ")
        lines[i] = f"{head}: {draw(_value)}\n"
    return lines


def _insert_key(draw: st.DrawFn, lines: Lines) -> Lines:
    i = draw(st.integers(min_value=0, max_value=len(lines)))
    key = draw(st.one_of(st.sampled_from(_KNOWN_KEYS), _plain_word))
    indent = " " * draw(st.sampled_from([0, 2, 4, 6, 8, 3]))
    lines.insert(i, f"{indent}{key}: {draw(_value)}\n")
    return lines


def _truncate(draw: st.DrawFn, lines: Lines) -> Lines:
    text = "".join(lines)
    cut = draw(st.integers(min_value=0, max_value=len(text)))
    return text[:cut].splitlines(keepends=True)


def _insert_characters(draw: st.DrawFn, lines: Lines) -> Lines:
    text = "".join(lines)
    at = draw(st.integers(min_value=0, max_value=len(text)))
    text = text[:at] + draw(_inserted) + text[at:]
    return text.splitlines(keepends=True)


MUTATIONS: list[Mutation] = [
    _delete_line, _duplicate_line, _swap_lines, _reindent_line, _replace_value, _insert_key,
    _truncate, _insert_characters,
]


@st.composite
def damaged_sim_lab(draw: st.DrawFn) -> str:
    """The default lab's text after one to three random edits."""
    lines = SIM_TEXT.splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        lines = draw(st.sampled_from(MUTATIONS))(draw, lines)
    return "".join(lines)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file, rewritten by every example (@given cannot use function-scoped tmp_path)."""
    return tmp_path_factory.mktemp("fuzz") / "lab.yaml"


@settings(max_examples=300, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=damaged_sim_lab())
def test_damaged_lab_loads_or_reports_located_problems(text: str, fuzz_file: Path) -> None:
    """A damaged lab is a Lab or an InputFileError whose problems all point into the file."""
    fuzz_file.write_text(text, encoding="utf-8", newline="")
    n_lines = len(fuzz_file.read_text(encoding="utf-8").splitlines())
    try:
        outcome: Lab | list[Problem] = load_lab(fuzz_file)
    except InputFileError as exc:  # anything else propagates and fails the test
        outcome = exc.problems
    if isinstance(outcome, Lab):
        event("still a valid lab")
        return
    event("rejected")
    assert outcome, "an InputFileError must carry at least one problem"
    for problem in outcome:
        assert problem.file == str(fuzz_file), problem
        assert problem.line >= 1 and problem.column >= 1, problem
        assert problem.line <= n_lines + 1, f"{problem} (the file has {n_lines} lines)"
        assert problem.message.strip(), problem
