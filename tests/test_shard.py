"""`--shard K/N`: which shard a test lands in (stable, disjoint, complete, by element), and the
plugin's deselection as a session sees it (pytester)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.pytest_plugin.shard import ShardError, deal, element_of, parse_shard
from tests.conftest import ROOT, SIM_LAB

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")


@pytest.mark.parametrize(("text", "index", "total"), [("1/1", 1, 1), ("2/4", 2, 4),
                                                      (" 4 / 4 ", 4, 4)])
def test_parse_shard(text: str, index: int, total: int) -> None:
    shard = parse_shard(text)
    assert (shard.index, shard.total) == (index, total) and str(shard) == f"{index}/{total}"


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "2", "a/b", "-1/4", "1/4/2", ""])
def test_parse_shard_refuses_what_is_not_k_of_n(text: str) -> None:
    with pytest.raises(ShardError, match="K/N") as caught:
        parse_shard(text)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(("subject", "element"), [
    ("esx01", "esx01"), ("esx01/vmk1", "esx01"), ("esx01->esx02", "esx01"),
    ("esx02/vmk3->esx01/vmk3", "esx02"), ("srv-esx03/flexlom/port1", "srv-esx03"),
    ("web01->198.18.9.1", "web01"), (None, "suites/a.py::test_lab_wide")])
def test_a_test_goes_with_the_element_it_is_about(subject: str | None, element: str) -> None:
    assert element_of(subject, "suites/a.py::test_lab_wide") == element


def _elements(rng: random.Random) -> list[str]:
    hosts = [f"esx{n:02d}" for n in range(1, rng.randint(1, 12))]
    tests = [h for h in hosts for _ in range(rng.randint(1, 60))]
    return tests + [f"suites/x.py::test_{n}" for n in range(rng.randint(0, 40))]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7])
def test_every_element_is_in_exactly_one_shard_and_shards_are_even(total: int) -> None:
    rng = random.Random(total)
    for _ in range(50):
        elements = _elements(rng)
        shard_of = deal(elements, total)
        assert set(shard_of) == set(elements)  # complete (and a dict: one shard each)
        assert set(shard_of.values()) <= set(range(1, total + 1))
        load = [sum(shard_of[e] == k for e in elements) for k in range(1, total + 1)]
        # greedy by size: no shard exceeds the lightest by more than the largest element
        biggest = max(elements.count(e) for e in set(elements)) if elements else 0
        assert max(load) - min(load) <= biggest, load
        # the order tests were collected in does not matter, only which tests there are
        assert deal(list(reversed(elements)), total) == shard_of


def test_the_deal_is_the_same_in_every_python_process() -> None:
    """CRC-32, not hash(): a process with another hash seed deals the same way."""
    code = ("import json; from harness.pytest_plugin.shard import deal; "
            "print(json.dumps(deal([f'esx{n}' for n in range(40) for _ in range(n % 5 + 1)]"
            " + [f'lab-wide-{n}' for n in range(30)], 4), sort_keys=True))")
    deals = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        deals.add(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout)
    assert len(deals) == 1
    # and it is this deal: a change of the algorithm reshuffles CI shards, so make it on purpose
    assert deal(["esx01"] * 3 + ["esx02"] * 2 + ["a", "b"], 2) == {
        "esx01": 1, "esx02": 2, "b": 2, "a": 1}


SUBJECTS = ["esx01", "esx01/vmk1", "esx01->esx02", "esx01->esx03", "esx02", "esx02->esx01",
            "esx03/vmnic0", "srv-esx01/flexlom/port1", "opnsense01"]


def _project(pytester: pytest.Pytester) -> None:
    """Tests about subjects and lab-wide ones, and a session fixture that records the
    session's items the way a session-wide measurement picks what to measure."""
    pytester.makeconftest("""
        import json, os
        import pytest

        @pytest.fixture(scope="session")
        def measured(request):
            with open(os.environ["ITEMS_FILE"], "w") as f:
                json.dump([i.nodeid for i in request.session.items], f)
    """)
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.parametrize("subject", {SUBJECTS!r})
        def test_about(subject, measured):
            pass

        @pytest.mark.parametrize("n", range(5))
        def test_lab_wide(n, measured):
            pass
    """)


def _passed(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "--junitxml=j.xml", *args)
    assert result.ret in (0, 5), result.stdout.str()
    return [f"{c.get('classname')}::{c.get('name')}"
            for c in ET.parse(pytester.path / "j.xml").iter("testcase")]


def test_shards_of_a_session_cover_it_once_and_keep_elements_together(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(pytester)
    items = pytester.path / "items.json"
    monkeypatch.setenv("ITEMS_FILE", str(items))
    everything = _passed(pytester)
    assert len(everything) == len(SUBJECTS) + 5
    seen: list[str] = []
    for k in (1, 2, 3):
        ran = _passed(pytester, f"--shard={k}/3")
        # the session's items are the shard's own tests: what a session fixture measures
        session_items = json.loads(items.read_text())
        assert [i.split("::")[-1] for i in session_items] == [r.split("::")[-1] for r in ran]
        about = {r.split("[", 1)[1].rstrip("]") for r in ran if "test_about" in r}
        assert {s.split("->")[0].split("/")[0] for s in about}.isdisjoint(
            {s.split("->")[0].split("/")[0] for s in set(SUBJECTS) - about})
        seen += ran
    assert sorted(seen) == sorted(everything)  # disjoint and complete


def test_the_shard_is_taken_after_k_and_from_the_environment(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(pytester)
    monkeypatch.setenv("ITEMS_FILE", str(pytester.path / "items.json"))
    selected = _passed(pytester, "-k", "esx01")
    monkeypatch.setenv("LABHARNESS_SHARD", "1/2")
    first = _passed(pytester, "-k", "esx01")
    monkeypatch.setenv("LABHARNESS_SHARD", "2/2")
    second = _passed(pytester, "-k", "esx01")
    assert sorted(first + second) == sorted(selected) and first and second


def test_a_bad_shard_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest("--shard=5/4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--shard '5/4': K must be 1 to N" in result.stderr.str()


def test_the_default_lab_splits_into_even_shards(pytester: pytest.Pytester) -> None:
    """The real suites on the default lab: four shards of ~97 tests, not 28 and 178."""
    sizes = []
    for k in (1, 2, 3, 4):
        result = pytester.runpytest_subprocess(
            str(ROOT / "suites"), "--collect-only", "-q", "-p", "no:cacheprovider",
            "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), f"--lab={SIM_LAB}",
            f"--shard={k}/4")
        lines = [line for line in result.stdout.lines if "::" in line]
        sizes.append(len(lines))
    assert max(sizes) - min(sizes) <= 2, sizes
