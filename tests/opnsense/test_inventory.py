"""An OPNsense router's API in the inventory: typed, secrets by reference, cross-checked with
the lab (the router exists and is `kind: opnsense`); the backend offers the `opnsense`
capability from it; and the driver's parsers accept every documented release shape and name
the JSON path of anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.backend import backend_for
from harness.drivers.opnsense import parse
from harness.lab import InputFileError, load_inventory, load_lab
from tests.conftest import SIM_LAB, LabWriter

API = ("name: site\nlab: sim\nbackend: real\n"
       "opnsense:\n  {router}: {{url: 'https://fw.example.test', key: {key}, "
       "secret: 'file:apikey-secret', ca_file: certs/ca.pem}}\n")


def _load(tmp_path: Path, text: str, lab: Path = SIM_LAB) -> Any:
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return load_inventory(path, load_lab(lab))


def test_api_entry_loads_and_offers_the_capability(tmp_path: Path) -> None:
    loaded = _load(tmp_path, API.format(router="opnsense01", key="env:FW_KEY"))
    api = loaded.inventory.opnsense["opnsense01"]
    assert (api.key, api.secret, api.verify_tls) == ("env:FW_KEY", "file:apikey-secret", True)
    t = loaded.inventory.timeouts.opnsense
    assert (t.connect, t.read) == (10, 30)
    assert ("opnsense", "opnsense01", "key") in [p for p, _ in loaded.inventory.secret_refs()]
    backend = backend_for(loaded)
    assert "opnsense" in backend.capabilities and "ssh" not in backend.capabilities


def test_plain_keys_are_refused_in_a_real_inventory(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        _load(tmp_path, API.format(router="opnsense01", key="'plain:abc'"))
    (problem,) = info.value.problems
    assert problem.path == "opnsense.opnsense01.key" and "abc" not in str(info.value)


def test_router_must_exist_and_be_opnsense(tmp_path: Path, faulty_lab: LabWriter) -> None:
    with pytest.raises(InputFileError) as info:
        _load(tmp_path, API.format(router="fw09", key="env:FW_KEY"))
    (problem,) = info.value.problems
    assert problem.path == "opnsense.fw09" and "no router 'fw09'" in problem.message

    def linux(data: dict[str, Any]) -> None:
        data["routers"]["opnsense01"]["kind"] = "linux"

    with pytest.raises(InputFileError) as info:
        _load(tmp_path, API.format(router="opnsense01", key="env:FW_KEY"), faulty_lab(linux))
    (problem,) = info.value.problems
    assert "`kind: linux`" in problem.message and "reached through `ssh`" in problem.message


# -- parsers --------------------------------------------------------------------------------------

def test_interface_rows_of_every_release() -> None:
    assigned_247 = {"device": "vmx1", "mtu": "9000", "status": "up", "identifier": "opt2",
                    "description": "UNDERLAY_A", "enabled": True,
                    "ipv4": [{"ipaddr": "10.0.0.1/24"}]}
    assigned_251 = {**assigned_247, "addr4": "10.0.0.1/24", "addr6": ""}
    unassigned = {"device": "vmx2", "mtu": 1500, "status": "no carrier", "identifier": "",
                  "description": "Unassigned Interface",
                  "ipv4": [{"ipaddr": "10.9.0.1", "subnetbits": 16, "tunnel": False}]}
    rows = parse.parse_interfaces({"rows": [assigned_247, assigned_251, unassigned]})
    assert rows[0] == rows[1]
    assert rows[0].mtu == 9000 and rows[0].known_as("underlay_a") and rows[0].known_as("opt2")
    assert rows[2].description is None and rows[2].identifier is None
    assert rows[2].status == "no carrier" and str(rows[2].addresses[0]) == "10.9.0.1/16"


def test_interface_config_before_24_1() -> None:
    raw = {"vmx1": {"flags": ["up", "broadcast", "running"], "mtu": "1500", "status": "active",
                    "ipv4": [{"ipaddr": "10.0.0.1", "subnetbits": 24, "tunnel": False}]},
           "vmx2": {"flags": ["broadcast"], "mtu": "1500", "status": "no carrier"},
           "pfsync0": {"flags": [], "mtu": "1500"}}
    got = parse.parse_interface_config(raw, {"vmx1": "LAN"})
    assert [(i.device, i.status, i.description) for i in got] == [
        ("vmx1", "up", "LAN"), ("vmx2", "no carrier", None)]


def test_payload_problems_name_their_path() -> None:
    with pytest.raises(parse.PayloadProblem) as info:
        parse.parse_interfaces({"rows": [{"device": "vmx0", "mtu": "large"}]})
    assert info.value.json_path == "rows[0].mtu"
    with pytest.raises(parse.PayloadProblem) as info:
        parse.parse_firmware({"product": {"product_version": "latest"}})
    assert info.value.json_path == "product.product_version"
    with pytest.raises(parse.PayloadProblem):
        parse.parse_routes({"rows": []})  # getRoutes is a bare list


def test_forwarding_nat_and_gateways() -> None:
    grid = {"rows": [{"tunable": "net.inet.ip.forwarding", "value": "", "default_value": "1"}]}
    assert parse.parse_forwarding(grid) is True
    grid["rows"][0]["value"] = "0"
    assert parse.parse_forwarding(grid) is False
    assert parse.parse_forwarding({"rows": []}) is None
    assert parse.parse_source_nat({"rows": [{"uuid": "u", "enabled": "1", "sequence": "1",
                                             "description": ""}]}) is None  # before 25.7
    assert parse.parse_gateways({"items": [], "status": "failed"}) == ()
