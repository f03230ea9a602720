"""An error out of pytest.main itself (pytest or a plugin raised, not the lab): the run still
ends as one, with no traceback on the terminal, the lab down, the results of the tests that ran
kept, the reports marked, and exit 4."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.errors import ExitCode
from harness.sim import lifecycle
from tests.faults.inject import LAB, cli_env, needs_sim, run
from tests.faults.unconfigure_raises import MESSAGE

pytestmark = needs_sim


def test_an_error_out_of_pytest_ends_the_run_as_an_internal_error(tmp_path: Path) -> None:
    report = tmp_path / "r"
    got = run(report, "-k", "ntp",
              env=cli_env(PYTEST_ADDOPTS="-p tests.faults.unconfigure_raises"))  # no traceback
    assert got.code == ExitCode.ERRORS, got.out
    assert f"internal error (in labharness or a pytest plugin, not in the lab): " \
           f"RuntimeError: {MESSAGE}" in got.out, got.out
    assert lifecycle.leftovers(LAB) == [] and lifecycle.load_state(LAB) is None

    summary = got.summary
    assert (summary["verdict"], summary["exit_code"]) == ("errors", ExitCode.ERRORS)
    assert summary["internal_error"] == f"RuntimeError: {MESSAGE}"
    assert summary["tests"]["passed"] > 0 and summary["tests"]["failed"] == 0  # kept
    assert "in pytest_unconfigure" in (report / "internal-error.txt").read_text()

    cases = ET.parse(report / "junit.xml").getroot().iter("testcase")
    run_case = next(c for c in cases if c.get("classname") == "labharness")
    error = run_case.find("error")
    assert error is not None and MESSAGE in error.get("message", ""), ET.tostring(run_case)
