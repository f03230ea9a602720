"""The shipped `suites/server_build` run through the plugin against the emulator, reached the way
a real site is: a `backend: real` inventory with the BMC URLs, a password by reference and the
emulator's certificate as the CA (TLS verified). Healthy it passes; with F10 seeded it fails on
exactly the Gen10 server's four ports; with --allow-disruptive it fixes them and passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SIM_LAB, dump_yaml
from tests.redfish.conftest import GEN9, GEN10, PASSWORD, USER, Ilo, StartIlo, seed_f10

SUITE = ROOT / "suites" / "server_build"


def _inventory(pytester: pytest.Pytester, ilo: Ilo) -> Path:
    bmcs = {name: {"url": ep.url, "username": USER, "password": "env:LH_TEST_ILO_PASSWORD",
                   "ca_file": str(ep.cert_file)}
            for name, ep in ilo.proc.endpoints.items()}
    path = pytester.path / "inventory.yaml"
    path.write_text(dump_yaml({"name": "emulated", "lab": "sim", "backend": "real",
                               "bmcs": bmcs}), encoding="utf-8")
    return path


def _run(pytester: pytest.Pytester, ilo: Ilo, *args: str, lab: Path = SIM_LAB
         ) -> pytest.RunResult:
    return pytester.runpytest(str(SUITE), f"--lab={lab}", "-v",
                              f"--inventory={_inventory(pytester, ilo)}", "-p",
                              "no:cacheprovider", f"--rootdir={ROOT}", "-rs", *args)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LH_TEST_ILO_PASSWORD", PASSWORD)


def test_healthy_build_passes(pytester: pytest.Pytester, start_ilo: StartIlo) -> None:
    result = _run(pytester, start_ilo())
    # srv-esx02 has no BMC in this inventory; iLO 4 cannot show personality or DCB (skips that
    # say what to check by hand); the fix test is disruptive
    result.assert_outcomes(passed=18, skipped=72)
    for line in ("*the inventory has no BMC for server srv-esx02*",
                 "*not verifiable through this BMC*", "*info: srv-esx01/flexlom/port1*",
                 "*disruptive: run with --allow-disruptive*"):
        result.stdout.fnmatch_lines([line])


def test_f10_fails_on_the_gen10_ports_then_the_fix_makes_it_pass(
        pytester: pytest.Pytester, start_ilo: StartIlo) -> None:
    ilo = start_ilo(seed_f10)
    result = _run(pytester, ilo)
    result.assert_outcomes(failed=4, passed=14, skipped=72)
    result.stdout.fnmatch_lines([
        f"*test_adapter_port_personality_and_dcb?{GEN10}/flexlom/port1*",
        "*F10 nic-personality-dcb*FCoE personality, the lab says iSCSI*"])
    assert f"{GEN9}/" not in "".join(line for line in result.outlines if "FAILED" in line)

    fixed = _run(pytester, ilo, "--allow-disruptive")
    # the fix, and the F07 power-cycle drill on both servers with a BMC (Gen9 and Gen10)
    fixed.assert_outcomes(passed=21, skipped=69)
    fixed.stdout.fnmatch_lines(["*test_power_cycle_drill?srv-esx01? PASSED*",
                                "*test_power_cycle_drill?srv-esx03? PASSED*"])
    fixed.stdout.fnmatch_lines([f"*{GEN9}*cannot be read or written*nothing was changed*"])


GEN10_BMC = '    model: DL360 Gen10\n    bmc: {kind: ilo5, firmware: "2.44"}\n'


@pytest.mark.parametrize(("model", "firmware", "outcomes", "line"), [
    # iLO 5 1.x: the DMTF adapter model is there; LLDP comes from HpeLLDP
    ("DL360 Gen10", "1.40", {"passed": 18, "skipped": 72}, "*F10*srv-esx01/flexlom/port1*"),
    # Gen10 Plus: adapters only as base adapters, so personality and DCB are for a human
    ("DL360 Gen10 Plus", "2.72", {"passed": 14, "skipped": 76},
     "*srv-esx03/flexlom/port1*personality cannot be read through iLO 5*"),
])
def test_healthy_build_passes_on_each_firmware_variant(
        pytester: pytest.Pytester, start_ilo: StartIlo, model: str, firmware: str,
        outcomes: dict[str, int], line: str) -> None:
    """The Gen10 server as another firmware line HPE ships for it: a lab that says so, an
    emulator that is so, and the suite reads it right (Gen9 iLO 4 2.x and Gen10 iLO 5 2.x are
    the default lab's, above)."""
    text = SIM_LAB.read_text(encoding="utf-8")
    assert GEN10_BMC in text
    lab = pytester.path / "lab.yaml"
    lab.write_text(text.replace(GEN10_BMC, f"    model: {model}\n    bmc: {{kind: ilo5, "
                                           f"firmware: \"{firmware}\"}}\n"), encoding="utf-8")

    def variant(spec: dict[str, Any]) -> None:
        for entry in spec["bmcs"]:
            if entry["name"] == GEN10:
                entry["model"], entry["firmware"] = model, firmware

    result = _run(pytester, start_ilo(variant), lab=lab)
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines([line])


def test_bmcs_fixture_skips_with_what_to_add(pytester: pytest.Pytester) -> None:
    """An inventory without BMCs: every test that needs one says which section to add."""
    inv = pytester.path / "inventory.yaml"
    inv.write_text(dump_yaml({"name": "nobmc", "lab": "sim", "backend": "real",
                              "ssh": {"opnsense01": {"host": "198.18.10.1",
                                                     "username": "root",
                                                     "password": "env:X"}}}),
                   encoding="utf-8")
    pytester.makepyfile("def test_read(bmcs):\n    pass\n")
    result = pytester.runpytest(f"--lab={SIM_LAB}", f"--inventory={inv}", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs redfish: inventory nobmc has no `bmcs` section*"])
