"""The pytest plugin, tested by running pytest on small temporary projects (pytester)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from harness.pytest_plugin.inputs import GivenInputs, resolve_inputs
from tests.conftest import SIM_INVENTORY, SIM_LAB

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")


def test_per_subject_ids_come_from_the_lab(pytester: pytest.Pytester,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.per_subject("vmknics")
        def test_vmk(subject):
            assert subject.count("/") == 1
    """)
    monkeypatch.setenv("LABHARNESS_LAB", str(SIM_LAB))  # the env fallback of --lab
    result = pytester.runpytest("--collect-only", "-q")
    assert "test_vmk[esx01/vmk0]" in result.stdout.str()
    assert "test_vmk[esx03/vmk4]" in result.stdout.str()
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=15)


def test_inputs_given_by_labharness_run_are_the_ones_tested(pytester: pytest.Pytester) -> None:
    # `labharness run` hands its resolved lab to the session it starts: not read again
    pytester.makepyfile("""
        import pytest

        @pytest.mark.per_subject("vmknics")
        def test_vmk(subject, lab):
            assert lab.name == "given"
    """)
    inputs = resolve_inputs(SIM_LAB, None)
    assert inputs.lab is not None
    given = replace(inputs, lab=inputs.lab.model_copy(update={"name": "given"}))
    reprec = pytester.inline_run("-q", plugins=[GivenInputs(given)])
    reprec.assertoutcome(passed=15)


def test_without_a_lab_tests_skip_and_say_what_to_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.per_subject("hosts")
        def test_host(subject):
            pass

        def test_lab(lab):
            pass
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=2)
    assert result.stdout.str().count("pass --lab FILE") == 2


def test_capability_skips_say_why(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.needs("vsphere")
        def test_vc():
            pass

        @pytest.mark.needs("redfish")
        def test_bmc():
            pass
    """)
    result = pytester.runpytest(f"--lab={SIM_LAB}", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*needs vsphere: no inventory given: pass --inventory*"])
    # the simulated lab realises both (nothing is built here: these tests use no fixture)
    result = pytester.runpytest(f"--lab={SIM_LAB}", f"--inventory={SIM_INVENTORY}", "-rs")
    result.assert_outcomes(passed=2)


def test_real_inventory_offers_what_it_lists(pytester: pytest.Pytester) -> None:
    inv = pytester.makefile(".yaml", inv=(
        "name: site\nlab: sim\nbackend: real\n"
        "vcenter: {url: 'https://vc.example.test/sdk', username: u, password: env:VC_PW}\n"))
    pytester.makepyfile("""
        import pytest

        @pytest.mark.needs("vsphere")
        def test_vc(backend):
            assert backend.kind == "real"

        @pytest.mark.needs("ssh")
        def test_ssh():
            pass
    """)
    result = pytester.runpytest(f"--lab={SIM_LAB}", f"--inventory={inv}", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs ssh: inventory site has no `ssh` section*"])


@pytest.mark.parametrize(("marker", "message"), [
    ('incident("F21")', "is not an incident id"),
    ('needs("teleport")', "use vsphere, redfish, ssh, opnsense, probe"),
])
def test_bad_marker_arguments_are_usage_errors(pytester: pytest.Pytester, marker: str,
                                               message: str) -> None:
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.{marker}
        def test_x():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_unknown_marker_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.incdent("F12")
        def test_x():
            pass
    """)
    result = pytester.runpytest("--strict-markers")
    assert result.ret != 0


def test_disruptive_needs_the_flag_and_a_lab_that_allows_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.disruptive
        def test_reboot():
            pass
    """)
    result = pytester.runpytest(f"--lab={SIM_LAB}", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*run with --allow-disruptive*"])
    result = pytester.runpytest(f"--lab={SIM_LAB}", "--allow-disruptive")
    result.assert_outcomes(passed=1)
    locked = pytester.makefile(".yaml", locked=SIM_LAB.read_text(encoding="utf-8").replace(
        "disruptive_allowed: true", "disruptive_allowed: false"))
    result = pytester.runpytest(f"--lab={locked}", "--allow-disruptive", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*lab sim does not set disruptive_allowed: true*"])


FAILING_CHECK = """
    import pytest
    from harness.checks.finding import Finding
    from harness.pytest_plugin import assert_no_findings

    @pytest.mark.incident("F12")
    @pytest.mark.per_subject("hosts")
    def test_subnets(subject):
        if subject == "esx02":
            assert_no_findings([Finding(
                "F12", "error", "esx02/vmk1", "vmk1 shares a subnet with vmk0",
                cause="traffic leaves by vmk0", fix="move vmk1 to its own subnet",
                check="vmknic-subnets", evidence={"egress": "vmk0"})])
"""


def test_failing_check_reads_like_a_note_and_reaches_the_reports(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(FAILING_CHECK)
    junit = tmp_path / "junit.xml"
    allure_dir = tmp_path / "allure"
    result = pytester.runpytest(f"--lab={SIM_LAB}", f"--junitxml={junit}",
                                f"--alluredir={allure_dir}")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "[F12 vmotion-subnet] error: esx02/vmk1: vmk1 shares a subnet with vmk0" in out
    assert "cause: traffic leaves by vmk0" in out and "fix:   move vmk1" in out
    assert "def assert_no_findings" not in out  # the helper hides its own frame
    # JUnit: the finding travels as a property of the failing test case
    case = next(c for c in ET.parse(junit).iter("testcase") if "esx02" in c.get("name", ""))
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert json.loads(props["labharness.finding"])["subject"] == "esx02/vmk1"
    assert props["labharness.incident"] == "F12"
    # Allure: layer as epic, incident as feature, subject as story, plus the attachment
    results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    failed = next(r for r in results if r["status"] == "failed")
    labels = {(lab["name"], lab["value"]) for lab in failed["labels"]}
    assert {("feature", "F12 vmotion-subnet"), ("story", "esx02"), ("epic", "other")} <= labels
    names = {a["name"] for a in failed.get("attachments", [])}
    assert "F12 esx02/vmk1" in names and "evidence esx02/vmk1" in names


def test_invalid_lab_is_a_usage_error_without_traceback(pytester: pytest.Pytester) -> None:
    bad = pytester.makefile(".yaml", bad="name: t\nhosts:\n  esx01: {version: '6.5', bulid: 1}\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(f"--lab={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"{bad}:3:27: hosts.esx01.bulid: unknown key 'bulid' (did you mean 'build', which is " \
        "required?)" in err
    assert "required key is missing" not in err
    assert "Traceback" not in err + result.stdout.str()


@pytest.mark.parametrize(("args", "message"), [
    (["--scenario=F99"], "unknown scenario 'F99'"),
    (["--scenario=F12"], "--scenario applies faults to the simulated lab only"),
    ([f"--inventory={SIM_INVENTORY}", "--scenario=efuse-reset"],
     "scenario F07 efuse-reset is not reproduced by the simulated lab yet"),
])
def test_scenarios_are_validated(pytester: pytest.Pytester, args: list[str],
                                 message: str) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(f"--lab={SIM_LAB}", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_design_suite_runs_through_the_plugin(pytester: pytest.Pytester) -> None:
    """The shipped design suite, collected from its real location, against a faulty lab."""
    from tests.conftest import ROOT

    faulty = pytester.makefile(".yaml", faulty=SIM_LAB.read_text(encoding="utf-8").replace(
        "ntp:\n  servers: [198.18.10.1]", "ntp:\n  servers: []"))
    result = pytester.runpytest(str(ROOT / "suites" / "design"), f"--lab={faulty}",
                                "-p", "no:cacheprovider", f"--rootdir={ROOT}")
    result.assert_outcomes(failed=3, passed=98)
    result.stdout.fnmatch_lines(["*test_ntp_servers?esx01?*", "*F05 ntp-off*"])


def test_not_provided_skips_and_unreachable_errors(pytester: pytest.Pytester) -> None:
    """What the inventory does not give is a skip that says what to add; an endpoint that does
    not answer is an error without a traceback."""
    pytester.makepyfile("""
        from harness.errors import EndpointUnreachable, NotProvided

        def test_absent():
            raise NotProvided("no probe for host esx09: add probes.esx09")

        def test_down():
            raise EndpointUnreachable("the BMC of srv-esx01 is unreachable: refused")
    """)
    result = pytester.runpytest(f"--lab={SIM_LAB}", "-rs")
    result.assert_outcomes(skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*the BMC of srv-esx01 is unreachable: refused*",
                                 "*test_not_provided*.py:3: no probe for host esx09: add "
                                 "probes.esx09*"])
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_cdp_lldp_wait_follows_the_intervals_the_switches_advertise() -> None:
    """One advertisement interval, derived from what the neighbours said (CDP holdtime is 3
    intervals, LLDP TTL 4), else the protocols' defaults (60 s, 30 s): never a sim constant."""
    from harness.facts.vsphere import CdpFacts, LldpFacts, NetworkHintFacts
    from harness.pytest_plugin.fixtures import protocol_intervals

    assert {p: v[0] for p, v in protocol_intervals([]).items()} == {"cdp": 60.0, "lldp": 30.0}
    sim_like = [NetworkHintFacts("esx01", "vmnic0", CdpFacts("sw", "Gi1", holdtime=4),
                                 LldpFacts("sw", "Gi1", ttl=4))]
    got = protocol_intervals(sim_like)
    assert got["cdp"][0] == 4 / 3 and got["lldp"][0] == 1.0
    cisco = [NetworkHintFacts("esx01", "vmnic0", CdpFacts("sw", "Gi1", holdtime=180), None)]
    assert protocol_intervals(cisco)["cdp"] == (60.0, "CDP hold 180 s heard / 3")


def test_what_collection_froze_stays_frozen_through_pytests_last_collections(
        pytester: pytest.Pytester) -> None:
    """The session's objects are frozen at collection end and given back only after pytest's
    own final collections (its unraisable-exception check runs two), which then traverse
    nothing of the session; the collector has everything back before the process exits."""
    pytester.makeconftest("""
        import atexit, gc

        def _record(phase, info):
            if phase == "start" and info["generation"] == 2:
                with open("frozen.txt", "a") as out:
                    out.write(f"{gc.get_freeze_count()}\\n")

        def pytest_sessionfinish(session):
            gc.callbacks.append(_record)
            atexit.register(lambda: open("frozen.txt", "a").write(
                f"exit {gc.get_freeze_count()}\\n"))
    """)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    lines = (pytester.path / "frozen.txt").read_text().splitlines()
    frozen = [int(n) for n in lines[:lines.index("exit 0")]]  # then the interpreter's own
    assert len(frozen) >= 2 and all(n > 0 for n in frozen), lines
