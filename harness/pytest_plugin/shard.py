"""Run one slice of a session's tests: `--shard K/N` (`labharness run --shard K/N`).

CI systems run N copies of a job side by side (GitLab `parallel: N`, a GitHub Actions matrix);
each copy runs the tests of its shard and `labharness merge` joins their reports into one run.

Tests are split by the element they are about, not one by one: every test of `esx01` (its
vmknics, its vmnics, the paths that start at it) lands in the same shard, so what a session
measures once for the tests it runs (all path probes of a host together, one BMC walk per
server) is measured by one shard only, never repeated in every shard. A test about the whole
lab (no subject) is its own element.

Which shard gets an element is decided from the collected tests alone, the same on every
machine and Python run: the elements, largest (most tests) first and then by CRC-32 of their
name (not `hash()`, which Python seeds per process), each go to the shard with the fewest tests
so far. Dealing rather than taking CRC-32 modulo N keeps shards even: on the default lab
(three hosts of ~58 tests, three servers of 30, a hundred one-test elements) CRC-32 modulo 4 and
dealing elements in turn both gave shards of 28 and 178 tests; this gives 96 to 97 each. Every
shard collects the same tests (same lab, same suites, same `-k`), so every shard deals the same
way; `labharness merge` checks that they did.

The slice is taken in `pytest_collection_modifyitems` (deselected tests reported through
`pytest_deselected`), so `session.items` is the shard's own tests: session fixtures that measure
"the subjects of the tests collected" measure only this shard's.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from harness.errors import ExitCode, LabharnessError

SHARD_ENV = "LABHARNESS_SHARD"
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(LabharnessError):
    """A `--shard` value that is not K/N with 1 <= K <= N."""

    exit_code: ClassVar[ExitCode] = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `total` (both counted from 1, as CI systems number their jobs)."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str, where: str = "--shard") -> Shard:
    """`K/N` as a Shard.

    Raises:
        ShardError: not two whole numbers K/N with 1 <= K <= N.
    """
    match = _SPEC.match(text)
    if match is None:
        raise ShardError(f"{where} {text!r}: give K/N, this job's shard K of N shards, e.g. "
                         "--shard 2/4 (GitLab parallel: --shard $CI_NODE_INDEX/$CI_NODE_TOTAL)")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ShardError(f"{where} {text!r}: K must be 1 to N and N at least 1 (K/N = shard K "
                         "of N, counted from 1)")
    return Shard(index, total)


def element_of(subject: str | None, nodeid: str) -> str:
    """The element a test is about, which decides its shard: the source of a path
    (`esx01->esx02`: esx01), the host or server of a part (`esx01/vmk1`: esx01,
    `srv-esx03/flexlom/port1`: srv-esx03), the subject itself otherwise; a test about no
    subject is its own element (its node id)."""
    if subject is None:
        return nodeid
    return subject.split("->", 1)[0].split("/", 1)[0]


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def deal(elements: Sequence[str], total: int) -> dict[str, int]:
    """Each distinct element's shard (1..total), given the element of every test: largest
    first (then by CRC-32 of the name, then the name), each to the shard with the fewest tests
    so far (the lowest-numbered of equals)."""
    sizes = Counter(elements)
    ordered = sorted(sizes, key=lambda e: (-sizes[e], _crc(e), e))
    load = [0] * total
    out: dict[str, int] = {}
    for element in ordered:
        k = min(range(total), key=lambda i: (load[i], i))
        load[k] += sizes[element]
        out[element] = k + 1
    return out


@dataclass
class ShardSelection:
    """What a shard selected: the shard, how many tests the session collected and kept, and
    each kept test's place in the whole session's order (so a merge restores that order)."""

    shard: Shard
    collected: int = 0
    selected: int = 0
    position: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.shard.index, "total": self.shard.total,
                "collected": self.collected, "selected": self.selected}


SHARD_KEY = pytest.StashKey[ShardSelection]()


def _subject(item: pytest.Item) -> str | None:
    callspec: Any = getattr(item, "callspec", None)
    if callspec is None or callspec.params.get("subject") is None:
        return None
    return str(callspec.params["subject"])


class ShardSelector:
    """pytest plugin object (registered by the labharness plugin when --shard is given) that
    keeps this shard's tests and deselects the others."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard

    # after -k/-m (and the plugin's own ordering): the shards deal out what was selected
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        elements = [element_of(_subject(item), item.nodeid) for item in items]
        shard_of = deal(elements, self.shard.total)
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        selection = ShardSelection(self.shard, collected=len(items))
        for n, (item, element) in enumerate(zip(items, elements, strict=True)):
            if shard_of[element] == self.shard.index:
                kept.append(item)
                selection.position[item.nodeid] = n
            else:
                dropped.append(item)
        selection.selected = len(kept)
        config.stash[SHARD_KEY] = selection
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept

    def pytest_report_header(self, config: pytest.Config) -> str:
        return f"labharness: shard {self.shard} (tests split by the element they are about)"


def shard_selection(config: pytest.Config) -> ShardSelection | None:
    """This session's shard and what it selected (None when the run is not sharded)."""
    return config.stash.get(SHARD_KEY, None)
