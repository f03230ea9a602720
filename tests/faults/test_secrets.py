"""Secrets given by reference are written nowhere: not in reports, allure attachments, junit,
logs, the sim's state or evidence. The run is made with secrets only this test knows, then every
file the run wrote is searched for them."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from harness.sim import lifecycle
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB
from tests.faults.inject import LAB, cli_env, needs_sim

pytestmark = needs_sim


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_env_secrets_are_written_nowhere(tmp_path: Path) -> None:
    vc_pw = f"LhVc-{secrets.token_hex(8)}"
    ilo_pw = f"LhIlo-{secrets.token_hex(8)}"
    inv = tmp_path / "sim-env.yaml"
    inv.write_text(SIM_INVENTORY.read_text()
                   .replace("plain:lh-sim-Vcenter1!", "env:LH_TEST_VC_PW")
                   .replace("plain:lh-sim-ilo", "env:LH_TEST_ILO_PW"))
    assert "env:LH_TEST_VC_PW" in inv.read_text() and "env:LH_TEST_ILO_PW" in inv.read_text()
    report = tmp_path / "r"
    # F10 makes findings with evidence from the BMCs; --keep leaves the sim's run dir to search
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--lab", str(SIM_LAB), "--inventory",
         str(inv), "--scenario", "F10", "--keep", "--report-dir", str(report)],
        cwd=ROOT, env=cli_env(LH_TEST_VC_PW=vc_pw, LH_TEST_ILO_PW=ilo_pw),
        capture_output=True, text=True, timeout=600, check=False)
    try:
        assert proc.returncode == 1, proc.stdout + proc.stderr  # F10's findings, nothing else
        written = _files(report, lifecycle.run_dir(LAB))
        assert len(written) > 20, written
        for path in written:
            data = path.read_bytes()
            for value in (vc_pw, ilo_pw):
                assert value.encode() not in data, f"{path} contains a secret"
        for stream in (proc.stdout, proc.stderr):
            assert vc_pw not in stream and ilo_pw not in stream
    finally:
        lifecycle.down(LAB)
    assert lifecycle.leftovers(LAB) == []
