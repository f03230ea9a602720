"""Benchmark: what strict, located loading costs over a plain YAML parse of the same file.

Loads labs/sim.yaml N times both ways in one process and prints both times and the ratio
(ours / plain) as the last line, `ratio=N.N`. The located loader composes nodes and records a
position for every value, then validates models and cross-references; a ratio far above ~3
means that work has grown a hot spot.

Usage: .venv/bin/python bench/lab_load.py [N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ruamel.yaml import YAML

from harness.checks.catalog import run_design_checks
from harness.checks.intent import view_from_lab
from harness.lab import load_lab
from harness.lab.reference import shipped_reference

LAB = Path(__file__).resolve().parent.parent / "labs" / "sim.yaml"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    text = LAB.read_text(encoding="utf-8")
    plain = YAML(typ="safe", pure=True)
    start = time.perf_counter()
    for _ in range(n):
        plain.load(text)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        lab = load_lab(LAB)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        run_design_checks(view_from_lab(lab), shipped_reference())
    lint = time.perf_counter() - start
    print(f"plain ruamel safe load: {baseline / n * 1000:.1f} ms per load ({n} loads)")
    print(f"labharness load_lab:    {ours / n * 1000:.1f} ms per load (strict, located, validated)")
    print(f"design checks (lint):   {lint / n * 1000:.2f} ms per run")
    print(f"ratio={ours / baseline:.1f}")


if __name__ == "__main__":
    main()
