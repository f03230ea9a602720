"""Real third-party Redfish clients against the emulator, each as its users run it: the DMTF
python-redfish-library (in-process), and as subprocesses from their own virtualenvs (made by
ci/client-venvs): DMTF Tacklebox scripts, OpenStack sushy, HPE ilorest (7.4 for iLO 5, 7.3 for
iLO 4) and the DMTF Redfish Service Validator, offline against ../shared/redfish/csdl."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redfish.messages import search_message

from harness.sim.ilo import IloEndpoint, IloProcess
from tests.conftest import ROOT
from tests.ilo.conftest import (
    GEN9,
    GEN10,
    PASSWORD,
    USER,
    client_venv,
    make_spec,
    session,
    wait_post,
)

BIOS = "/redfish/v1/systems/1/bios/"
RESET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset/"
CSDL = ROOT.parent / "shared" / "redfish" / "csdl"
# Service Validator failures real iLO 5 has too (ILO-REDFISH.md §6); anything else fails the test.
KNOWN_ILO_DEVIATIONS = (
    # iLO serves BIOS at lower-case /systems/1/bios/, outside the CSDL URI patterns
    "/@odata.id (/redfish/v1/systems/1/bios/): Undefined URI Error",
    # iLO's Bios.ResetBios target sits under /settings/, not under /bios/Actions/
    "/Actions/#Bios.ResetBios/target (/redfish/v1/systems/1/bios/settings/Actions/"
    "Bios.ResetBios/): Action URI Error",
)


def run(argv: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None,
        timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, stdin=None if stdin is not None else
                          subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False, cwd=cwd)


def sessions_open(ep: IloEndpoint) -> int:
    with session(ep, auth="basic") as client:
        return int(client.get("/redfish/v1/SessionService/Sessions/").dict[
            "Members@odata.count"])


# -- DMTF python-redfish-library ---------------------------------------------------------------

@pytest.mark.parametrize("server", ["srv-esx01", "srv-esx03"])
def test_dmtf_redfish_library_set_reset_verify(ilo: Any, server: str) -> None:
    ep: IloEndpoint = ilo.endpoints[server]
    with session(ep) as client:
        bios = client.get(BIOS).dict
        settings = (bios.get("@Redfish.Settings", {}).get("SettingsObject")
                    or bios["Oem"]["Hp"]["Links"]["Settings"])["@odata.id"]
        etag = client.get(settings).getheader("ETag")
        body = {"Attributes": {"Sriov": "Disabled"}} if ep.generation == "ilo5" \
            else {"Sriov": "Disabled"}
        reply = client.patch(settings, body=body, headers={"If-Match": etag})
        assert reply.status == 200
        assert search_message(reply, "iLO", "SystemResetRequired")
        assert client.post(RESET, body={"ResetType": "ForceRestart"}).status == 200
        wait_post(client)
        bios = client.get(BIOS).dict
        assert bios.get("Attributes", bios)["Sriov"] == "Disabled"
    assert sessions_open(ep) == 0  # logout deleted the session


# -- DMTF Tacklebox (redfish-utilities) --------------------------------------------------------

def test_tacklebox_bios_power_and_inventory(gen10: IloEndpoint) -> None:
    venv = client_venv("redfish-utilities-3.5.2")
    auth = ["-u", USER, "-p", PASSWORD, "-r", gen10.url]
    shown = run([str(venv / "bin" / "rf_bios_settings.py"), *auth])
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert re.search(r"EmbNicEnable\s+\|\s+Auto\s+\|\s+Auto", shown.stdout)
    bad = run([str(venv / "bin" / "rf_bios_settings.py"), *auth, "-a", "EmbNicEnable", "On"])
    assert bad.returncode != 0 and "PropertyValueNotInList" in bad.stdout + bad.stderr
    ok = run([str(venv / "bin" / "rf_bios_settings.py"), *auth, "-a", "EmbNicEnable",
              "Disabled"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    pending = run([str(venv / "bin" / "rf_bios_settings.py"), *auth])
    assert re.search(r"EmbNicEnable\s+\|\s+Auto\s+\|\s+Disabled", pending.stdout)
    reset = run([str(venv / "bin" / "rf_power_reset.py"), *auth])  # picks ForceRestart here
    assert reset.returncode == 0, reset.stdout + reset.stderr
    with session(gen10) as client:
        wait_post(client)
    applied = run([str(venv / "bin" / "rf_bios_settings.py"), *auth])
    assert re.search(r"EmbNicEnable\s+\|\s+Disabled\s+\|\s+Disabled", applied.stdout)
    inventory = run([str(venv / "bin" / "rf_sys_inventory.py"), *auth])
    assert inventory.returncode == 0, inventory.stdout + inventory.stderr
    for label in ("Embedded LOM", "FlexibleLOM 1", "PCI-E Slot 1", "534FLR-SFP+"):
        assert label in inventory.stdout


# -- OpenStack sushy ---------------------------------------------------------------------------

SUSHY_SCRIPT = r"""
import sys, time, json, sushy
url, user, password, cert = sys.argv[1:5]
root = sushy.Sushy(url + "/redfish/v1/", username=user, password=password, verify=cert)
system = root.get_system("/redfish/v1/Systems/1/")
out = {"power": str(system.power_state), "model": system.model, "serial": system.serial_number,
       "resets": sorted(str(v) for v in system.get_allowed_reset_system_values())}
bios = system.bios
out["before"] = bios.attributes["Sriov"]
bios.set_attribute("Sriov", "Disabled")
bios.refresh()
out["pending"] = bios.pending_attributes["Sriov"]
system.reset_system(sushy.ResetType.FORCE_RESTART)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    system.refresh()
    if system.json["Oem"]["Hpe"]["PostState"] == "FinishedPost":
        break
    time.sleep(0.02)
bios.refresh(force=True)
out["after"] = bios.attributes["Sriov"]
out["messages"] = [m.message_id for m in bios._settings.messages]
print(json.dumps(out))
"""


def test_sushy_system_bios_and_reset(gen10: IloEndpoint) -> None:
    venv = client_venv("sushy-5.14.0")
    proc = run([str(venv / "bin" / "python"), "-c", SUSHY_SCRIPT, gen10.url, USER, PASSWORD,
                str(gen10.cert_file)])
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["model"] == "ProLiant DL360 Gen10" and out["power"].endswith("ON")
    assert "ResetType.FORCE_RESTART" in out["resets"]
    assert (out["before"], out["pending"], out["after"]) == ("Enabled", "Disabled", "Disabled")
    assert out["messages"] == ["Base.1.10.Success"]


# -- HPE ilorest -------------------------------------------------------------------------------

@pytest.fixture
def ilo443(tmp_path: Path) -> Iterator[dict[str, IloEndpoint]]:
    """The emulator on port 443, as real iLOs serve: ilorest's logout mangles the session URL
    on any other port. Loopback addresses derived from our PID keep parallel runs apart."""
    if os.geteuid() != 0:
        pytest.skip("ilorest needs its iLO on port 443 (its logout breaks on other ports); "
                    "binding 443 needs root")
    pid = os.getpid()
    octets = f"{(pid >> 8) & 255}.{pid & 255 or 1}"
    urls = {GEN9: f"https://127.109.{octets}", GEN10: f"https://127.110.{octets}"}
    with IloProcess.start(make_spec(urls=urls), tmp_path / "ilo443") as proc:
        yield proc.endpoints


def ilorest(venv: Path, home: Path, *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    return run([str(venv / "bin" / "ilorest"), "--nologo", "--cache-dir", str(home / "cache"),
                *args], env={"HOME": str(home)}, stdin=stdin, cwd=home)  # its logs go to cwd


def test_ilorest_74_on_ilo5(ilo443: dict[str, IloEndpoint], tmp_path: Path) -> None:
    venv = client_venv("ilorest-7.4.0.0")
    gen10 = ilo443[GEN10]
    host = gen10.url.removeprefix("https://")
    steps = [("login", host, "-u", USER, "-p", PASSWORD), ("select", "Bios."),
             ("get", "Sriov", "EmbNicEnable")]
    outs = []
    for step in steps:
        proc = ilorest(venv, tmp_path, *step)
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
        outs.append(proc.stdout)
    assert "Sriov=Enabled" in outs[-1] and "EmbNicEnable=Auto" in outs[-1]
    bad = ilorest(venv, tmp_path, "set", "EmbNicEnable=Bogus")  # refused from the registry
    assert bad.returncode == 28 and "is not a valid setting" in bad.stdout + bad.stderr
    commit = ilorest(venv, tmp_path, "set", "Sriov=Disabled", "--commit")
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert ilorest(venv, tmp_path, "get", "Sriov").stdout.strip() == "Sriov=Disabled"  # pending
    reboot = ilorest(venv, tmp_path, "reboot", "ForceRestart")
    assert reboot.returncode == 0, reboot.stdout + reboot.stderr
    with session(gen10) as client:
        wait_post(client)
        assert client.get(BIOS).dict["Attributes"]["Sriov"] == "Disabled"
    logout = ilorest(venv, tmp_path, "logout")
    assert logout.returncode == 0, logout.stdout + logout.stderr
    assert sessions_open(gen10) == 0


def test_ilorest_73_on_ilo4(ilo443: dict[str, IloEndpoint], tmp_path: Path) -> None:
    """iLO 4 over Redfish needs `--redfish`; 7.3 cannot restore its cache for iLO 4 in that mode
    (it looks the root up under /rest/v1), so the commands run in one interactive session."""
    venv = client_venv("ilorest-7.3.0.0")
    gen9 = ilo443[GEN9]
    host = gen9.url.removeprefix("https://")
    script = "\n".join([f"login {host} -u {USER} -p {PASSWORD}", "select Bios.",
                        "get Sriov EmbNicEnable", "set EmbNicEnable=Auto",
                        "set Sriov=Disabled --commit", "get Sriov", "logout", ""])
    proc = ilorest(venv, tmp_path, "--redfish", "--notab", stdin=script)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "EmbNicEnable=Enabled" in out and "Sriov=Enabled" in out
    assert "'Auto' is not a valid setting for 'EmbNicEnable'" in out  # a Gen10 word on Gen9
    assert "Committing changes..." in out and "Sriov=Disabled" in out
    assert sessions_open(gen9) == 0
    with session(gen9) as client:
        assert client.get("/redfish/v1/systems/1/bios/Settings/").dict["Sriov"] == "Disabled"
        assert client.get(BIOS).dict["Sriov"] == "Enabled"  # until the next reset


def served(ep: IloEndpoint) -> dict[str, int]:
    """The emulator's request counters (`METHOD path` -> count)."""
    with session(ep, auth="basic") as client:
        return dict(client.get("/lh/requests").dict["requests"])


def test_ilorest_default_mode_on_ilo4_uses_the_legacy_rest_api(
        ilo443: dict[str, IloEndpoint], tmp_path: Path) -> None:
    """Without `--redfish`, ilorest finds iLO 4 by the `Type` of /rest/v1 and works through the
    legacy tree, as on a real iLO 4: login at /rest/v1/Sessions, its cache from
    /rest/v1/ResourceDirectory (`Instances[].href`/`Type`), then select, get, list and a
    committed set. ilorest 6.0: from 6.3 on its crawler skips every path outside /redfish/v1,
    so those versions need `--redfish` on any iLO 4."""
    venv = client_venv("ilorest-6.0.0.0")
    gen9 = ilo443[GEN9]
    host = gen9.url.removeprefix("https://")
    steps = [("login", host, "-u", USER, "-p", PASSWORD), ("types",), ("select", "HpBios."),
             ("get", "Sriov", "EmbNicEnable"), ("list", "--selector", "ComputerSystem.",
                                                "Model"),
             ("select", "HpBios."), ("set", "Sriov=Disabled", "--commit")]
    outs = []
    for step in steps:
        proc = ilorest(venv, tmp_path, *step)
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
        outs.append(proc.stdout)
    assert "HpBios.1.2.0" in outs[1] and "ComputerSystem.1.0.1" in outs[1]
    assert "EmbNicEnable=Enabled" in outs[3] and "Sriov=Enabled" in outs[3]
    assert "Model=ProLiant DL360 Gen9" in outs[4]
    counts = served(gen9)
    # it logs in where the root's `Links.Sessions` points (iLO 4 returns both spellings),
    # then reads and writes the legacy tree only
    assert counts.get("GET /rest/v1/Managers/1") and counts.get("GET /rest/v1/ResourceDirectory")
    assert counts.get("PATCH /rest/v1/systems/1/bios/Settings"), counts
    assert not any(k.startswith(("PATCH /redfish", "GET /redfish/v1/systems/1/bios"))
                   for k in counts), counts
    logout = ilorest(venv, tmp_path, "logout")
    assert logout.returncode == 0, logout.stdout + logout.stderr
    assert sessions_open(gen9) == 0
    with session(gen9) as client:  # the same setting seen through Redfish: pending until reset
        assert client.get("/redfish/v1/systems/1/bios/Settings/").dict["Sriov"] == "Disabled"


# -- DMTF Redfish Service Validator ------------------------------------------------------------

@pytest.fixture(params=[({}, 1000), ({"firmware": "1.40"}, 1000),
                        # no DMTF adapter resources on Gen10 Plus: fewer properties to check
                        ({"model": "DL360 Gen10 Plus", "firmware": "2.72"}, 900)],
                ids=["gen10-2.44", "gen10-1.40", "gen10plus-2.72"])
def ilo5_variant(request: pytest.FixtureRequest, tmp_path: Path
                 ) -> Iterator[tuple[IloEndpoint, int]]:
    """The Gen10 server as each iLO 5 firmware variant the emulator has, and how many
    validator passes at least its tree gives."""
    overrides, floor = request.param
    with IloProcess.start(make_spec((GEN10,), **overrides), tmp_path / "ilo") as proc:
        yield proc.endpoints[GEN10], floor


def test_service_validator_offline(ilo5_variant: tuple[IloEndpoint, int],
                                   tmp_path: Path) -> None:
    if not CSDL.is_dir():
        pytest.skip(f"{CSDL} is absent: the DMTF CSDL schemas live in ../shared/redfish")
    gen10, floor = ilo5_variant
    venv = client_venv("redfish-service-validator-3.1.8")
    proc = run([str(venv / "bin" / "rf_service_validator"), "-r", gen10.url, "-u", USER, "-p",
                PASSWORD, "--skipschema", "--schema_directory", str(CSDL), "--logdir",
                str(tmp_path)], timeout=300)
    logs = list(tmp_path.glob("*/RedfishServiceValidatorDebug_*.log"))
    assert logs, proc.stdout + proc.stderr
    text = logs[0].read_text()
    fails = sorted({line.split(" - FAIL - ", 1)[1] for line in text.splitlines()
                    if " - ERROR - FAIL - " in line})
    unexpected = [f for f in fails if not f.startswith(KNOWN_ILO_DEVIATIONS)]
    assert not unexpected, "\n".join(unexpected)
    totals = re.search(r"\|\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(\d+)\s+\|", proc.stdout)
    assert totals, proc.stdout[-2000:]
    passed, _, failed, _ = (int(g) for g in totals.groups())
    assert passed > floor and failed == len(KNOWN_ILO_DEVIATIONS)
    print(f"\nservice validator: {passed} pass, {failed} known iLO deviations", file=sys.stderr)
