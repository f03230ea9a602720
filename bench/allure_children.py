"""Benchmark: a pytest session writing allure results, with and without the children index.

Writes a throwaway project of N parametrized tests (default 5000) that share a few session
fixtures, runs pytest on it with --alluredir twice, once as labharness runs it and once with
`-p no:labharness-allure-children` (allure-pytest untouched, its `uuid not in group.children`
scanning a list of every test so far), and prints both times and, as the last line,
`ratio=N.N` (untouched / indexed). No lab, no sim: pure pytest + allure.

Usage: .venv/bin/python bench/allure_children.py [N]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # pytest loads this checkout's plugin
sys.path.insert(0, str(REPO))

from harness.pytest_plugin.allure_children import PLUGIN_NAME  # noqa: E402

PROJECT = """
import pytest

@pytest.fixture(scope="session")
def lab():
    return 1

@pytest.fixture(scope="session")
def inventory(lab):
    return 2

@pytest.fixture(scope="session")
def snapshot(lab, inventory):
    return 3

@pytest.mark.parametrize("n", range({n}))
def test_subject(lab, inventory, snapshot, n):
    pass
"""


def run(project: Path, label: str, *extra: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--alluredir={project / label}", *extra, str(project / "test_many.py")],
                   cwd=project, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.monotonic() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory(prefix="lh-bench-allure-") as tmp:
        project = Path(tmp)
        (project / "test_many.py").write_text(PROJECT.replace("{n}", str(n)), encoding="utf-8")
        indexed = run(project, "indexed")
        plain = run(project, "plain", "-p", f"no:{PLUGIN_NAME}")
    print(f"{n} tests, 3 session fixtures: indexed {indexed:.1f} s, allure untouched {plain:.1f} s")
    print(f"ratio={plain / indexed:.1f}")


if __name__ == "__main__":
    main()
