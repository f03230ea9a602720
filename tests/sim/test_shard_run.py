"""Acceptance of sharding on the simulated lab: a run split into four shards (each building its
own sim, as separate CI runners do) and merged is the unsharded run: the same tests, outcomes,
findings and causes. A subset of the suites keeps it short, chosen to hold what sharding could
get wrong: the path probes of every vMotion pair (three hosts' tests, one host's per shard) and
the NTP tests, failing on esx02 under F05, with the cause the diagnosis draws from them."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.sim import lifecycle
from harness.sim.dataplane import kernel
from tests.report.test_merge import _verdicts
from tests.sim.test_history_diff import labharness

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or kernel.detect().problem() is not None,
    reason=f"needs root and the sim's kernel features: {kernel.detect().problem()}")

SELECTION = ["--scenario", "F05", "-k", "vmotion or ntp"]


def _cases(report: Path) -> list[tuple[str, str]]:
    return sorted((c.get("classname", ""), c.get("name", ""))
                  for c in ET.parse(report / "junit.xml").iter("testcase"))


def test_four_shards_merged_are_the_unsharded_run(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    whole = labharness(history, "run", *SELECTION, "--report-dir", str(tmp_path / "whole"))
    assert whole.returncode == 1, whole.stdout + whole.stderr  # F05: NTP tests fail
    shards = []
    for k in range(1, 5):
        shard = labharness(history, "run", *SELECTION, "--shard", f"{k}/4", "--report-dir",
                           str(tmp_path / f"shard{k}"))
        assert shard.returncode in (0, 1), shard.stdout + shard.stderr
        shards.append(str(tmp_path / f"shard{k}"))
    merged = labharness(history, "merge", *shards, "--out", str(tmp_path / "merged"))
    assert merged.returncode == whole.returncode, merged.stdout + merged.stderr
    assert lifecycle.load_state("sim") is None  # every run took its sim down

    a = json.loads((tmp_path / "whole" / "summary.json").read_text())
    b = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert _verdicts(b) == _verdicts(a)
    assert a["tests"]["total"] >= 20 and a["causes"], a["tests"]
    assert any("->" in (r["subject"] or "") and r["outcome"] == "passed" for r in b["results"])
    assert _cases(tmp_path / "merged") == _cases(tmp_path / "whole")
    # each host's vMotion paths were probed by one shard only
    by_source: dict[str, set[int]] = {}
    for k in range(1, 5):
        part = json.loads((tmp_path / f"shard{k}" / "summary.json").read_text())
        for r in part["results"]:
            if "->" in (r["subject"] or ""):
                by_source.setdefault(r["subject"].split("->")[0], set()).add(k)
    assert by_source and all(len(ks) == 1 for ks in by_source.values()), by_source
    # the history holds the unsharded run and the merged one: no shard on its own
    runs = json.loads(labharness(history, "history", "--json").stdout)
    assert len(runs) == 2 and runs[0]["tests"] == runs[1]["tests"]
