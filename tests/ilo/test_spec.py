"""The spec: derived from the lab and inventory (addresses, credentials, adapters, uplinks), and
a bad spec file is a one-line error with exit status 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.inventory import Inventory
from harness.lab.loader import load_lab
from harness.lab.source import load_yaml
from harness.sim.ilo import IloProcess, IloSpecError, IloStartError, load_spec, spec_from_lab
from harness.sim.ilo.spec import password_digest, password_matches
from tests.conftest import ROOT, SIM_INVENTORY, SIM_LAB
from tests.ilo.conftest import make_spec


def test_spec_from_the_sim_lab_and_inventory() -> None:
    lab = load_lab(SIM_LAB)
    inventory = Inventory.model_validate(load_yaml(SIM_INVENTORY).data)
    uplinks = {"esx03/vmnic6": ("lh-sim-esx03", ["vmnic6"]),
               "esx03/vmnic7": ("lh-sim-esx03", ["vmnic7"])}
    spec = spec_from_lab(lab, inventory, uplinks)
    bmcs = {b["name"]: b for b in spec["bmcs"]}
    assert set(bmcs) == {"srv-esx01", "srv-esx02", "srv-esx03"}
    gen10 = bmcs["srv-esx03"]
    assert (gen10["address"], gen10["port"], gen10["generation"]) == ("198.19.255.23", 443,
                                                                      "ilo5")
    assert (gen10["username"], gen10["firmware"]) == ("Administrator", "2.44")
    # the spec is written to disk: it keeps a salted digest, never the password
    assert "password" not in gen10 and "lh-sim-ilo" not in json.dumps(spec)
    assert password_matches("lh-sim-ilo", gen10["password_hash"])
    assert not password_matches("lh-sim-ilo!", gen10["password_hash"])
    assert gen10["host"] == "esx03" and bmcs["srv-esx01"]["generation"] == "ilo4"
    x530 = next(a for a in gen10["adapters"] if a["model"] == "530SFP+")
    assert [p["uplink"] for p in x530["ports"]] == [
        {"netns": "lh-sim-esx03", "ifaces": ["vmnic6"]},
        {"netns": "lh-sim-esx03", "ifaces": ["vmnic7"]}]
    assert x530["ports"][0]["peer"]["system_name"] == "lab-sw02.example.test"
    assert all("uplink" not in p for a in bmcs["srv-esx01"]["adapters"] for p in a["ports"])
    # the same lab always gets the same MACs and serials, different per server
    again = spec_from_lab(lab, inventory)
    assert again["bmcs"][2]["adapters"][0]["ports"] == [
        {k: v for k, v in p.items() if k != "uplink"} for p in gen10["adapters"][0]["ports"]]
    assert len({b["serial"] for b in spec["bmcs"]}) == 3
    assert [b.name for b in load_spec(spec)] == list(bmcs)


def test_unresolvable_password_names_the_bmc(tmp_path: Path) -> None:
    inventory = Inventory.model_validate({
        "name": "t", "lab": "sim", "bmcs": {"srv-esx01": {
            "url": "https://127.0.0.1", "username": "a", "password": "env:LH_NO_SUCH_VAR"}}})
    with pytest.raises(IloSpecError, match=r"bmcs\.srv-esx01\.password: environment variable "
                                           "LH_NO_SUCH_VAR is not set"):
        spec_from_lab(load_lab(SIM_LAB), inventory, base_dir=tmp_path)


@pytest.mark.parametrize(("content", "message"), [
    ("{", "Expecting property name"),
    ('{"bmcs": []}', "the spec has no `bmcs` list"),
    ('{"bmcs": [{"name": "x"}]}', "bmc 'x': missing field"),
    ('{"bmcs": [{"name": "x", "address": "127.0.0.1", "port": 0, "username": "u", '
     '"password_hash": "x", "generation": "ilo6", "model": "m", "serial": "s", "firmware": "1", '
     '"bios_nics": {}, "adapters": []}]}', "generation 'ilo6' is not one of ilo4, ilo5"),
    ('{"bmcs": [{"name": "x", "address": "127.0.0.1", "port": 0, "username": "u", '
     '"password_hash": "x", "generation": "ilo5", "model": "DL360 Gen10 Plus", "serial": "s", '
     '"firmware": "1.40", "bios_nics": {}, "adapters": []}]}',
     "bmc 'x': firmware '1.40' is not one a DL360 Gen10 Plus runs (iLO 5 2.10 or a later 2.x"),
])
def test_bad_spec_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "harness.sim.ilo", "--spec", str(spec),
                           "--ready", str(tmp_path / "ready.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "ready.json").exists()


def test_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    spec = {"bmcs": [{"name": "x", "address": "198.18.0.1", "port": 0, "username": "u",
                      "password_hash": password_digest("p"), "generation": "ilo5",
                      "model": "DL360 Gen10",
                      "serial": "s", "firmware": "2.44", "bios_nics": {}, "adapters": []}]}
    with pytest.raises(IloStartError, match=r"cannot listen on 198\.18\.0\.1:0"):
        IloProcess.start(spec, tmp_path)  # that address is on no interface here


def test_ready_file_and_clean_sigterm(tmp_path: Path) -> None:
    proc = IloProcess.start(make_spec(("srv-esx01",)), tmp_path)
    ready = json.loads((tmp_path / "ready.json").read_text())
    assert ready["pid"] == proc.pid
    assert [e["name"] for e in ready["endpoints"]] == ["srv-esx01"]
    assert (tmp_path / "spec.json").stat().st_mode & 0o077 == 0  # user names and digests
    proc.stop()
    assert proc._proc.returncode == 0
