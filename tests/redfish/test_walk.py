"""The driver against the iLO emulator: sessions, TLS as the inventory says, the walk's facts per
flavour and its request budget (<= 15 for a whole server-build read, login and logout included).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.drivers.redfish import (
    RedfishAuthError,
    RedfishBmc,
    RedfishConnectionError,
    read_server,
)
from harness.drivers.redfish.errors import ResourceMissingError
from harness.lab.inventory import TlsEndpoint
from tests.redfish.conftest import GEN9, GEN10, PASSWORD, USER, Ilo, StartIlo

BUDGET = 15


def test_gen10_walk_reads_the_build_as_the_lab_says(ilo: Ilo) -> None:
    facts = read_server(ilo.bmc(GEN10))
    assert (facts.generation, facts.manager_type, facts.firmware) == ("ilo5", "iLO 5", "2.44")
    assert facts.model == "ProLiant DL360 Gen10" and facts.serial
    assert (facts.power.power_state, facts.power.post_state) == ("On", "FinishedPost")
    assert facts.power.reset is not None and "ForceRestart" in facts.power.reset.types
    assert facts.bios.current["PciSlot1Enable"] == "Auto"
    assert facts.bios.pending_etag and facts.bios.settings_uri
    assert {a.slot for a in facts.adapters} == {"embedded", "flexlom", "pcie1"}
    flexlom, x530 = facts.adapter_in("flexlom"), facts.adapter_in("pcie1")
    assert flexlom is not None and x530 is not None
    assert "534FLR-SFP+" in flexlom.name and flexlom.writable and flexlom.dcb_capable
    assert [flexlom.personality(n) for n in (1, 2)] == ["iSCSI", "iSCSI"]
    assert [x530.personality(n) for n in (1, 2)] == ["Ethernet", "Ethernet"]
    assert x530.lldp_agent is True
    assert all(f.etag for f in flexlom.functions)
    port = x530.port(1)
    assert port is not None and port.neighbour is not None
    assert port.neighbour.system_name and port.neighbour.port_id  # the switch, over LLDP


def test_gen9_walk_has_inventory_but_no_personality_or_dcb(ilo: Ilo) -> None:
    facts = read_server(ilo.bmc(GEN9))
    assert (facts.generation, facts.firmware, facts.model) == ("ilo4", "2.80",
                                                               "ProLiant DL360 Gen9")
    assert facts.bios.current["EmbNicEnable"] == "Enabled"  # Gen9 spells it Enabled
    assert facts.adapter_view.endswith("Systems/1/NetworkAdapters/")
    flexlom = facts.adapter_in("flexlom")
    assert flexlom is not None and flexlom.source == "BaseNetworkAdapter"
    assert flexlom.personality(1) is None and flexlom.lldp_agent is None
    assert not flexlom.writable and len(flexlom.ports) == 2 and flexlom.firmware


@pytest.mark.parametrize("server", [GEN9, GEN10])
def test_whole_server_build_read_stays_within_the_budget(ilo: Ilo, server: str) -> None:
    """Root, login, the walk and logout: counted by the driver and by the emulator alike."""
    ilo.served(server, reset=True)
    ep = ilo.proc.endpoints[server]
    bmc = RedfishBmc(server, ep.url, USER, PASSWORD, verify=str(ep.cert_file), retries=0)
    with bmc:
        facts = read_server(bmc)
    assert bmc.requests <= BUDGET, [f"{r.method} {r.path}" for r in bmc.log.records]
    assert facts.requests == bmc.requests - 3  # root + login before, logout after
    assert ilo.served(server)["total"] == bmc.requests  # the server saw exactly these
    assert [r.method for r in bmc.log.records][-1] == "DELETE"


def test_tls_is_verified_unless_the_inventory_turns_it_off(ilo: Ilo, tmp_path: Path) -> None:
    ep = ilo.proc.endpoints[GEN10]
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    strict = TlsEndpoint(url=ep.url, username=USER, password="file:pw")  # type: ignore[arg-type]
    with pytest.raises(RedfishConnectionError) as err:
        RedfishBmc.from_inventory(GEN10, strict, tmp_path, retries=0).login()
    assert "certificate verification failed" in str(err.value) and "ca_file" in str(err.value)
    pinned = strict.model_copy(update={"ca_file": str(ep.cert_file)})
    with RedfishBmc.from_inventory(GEN10, pinned, tmp_path, retries=0) as bmc:
        assert bmc.get("/redfish/v1/Systems/1/").status == 200
    off = strict.model_copy(update={"verify_tls": False})
    with RedfishBmc.from_inventory(GEN10, off, tmp_path, retries=0) as bmc:
        assert bmc.verify is False and bmc.get("/redfish/v1/Systems/1/").status == 200


def test_wrong_password_is_an_auth_error(ilo: Ilo) -> None:
    with pytest.raises(RedfishAuthError) as err:
        ilo.bmc(GEN10, password="wrong")
    assert err.value.status == 401 and "username and password" in str(err.value)


def test_unresolvable_secret_names_the_reference(tmp_path: Path) -> None:
    endpoint = TlsEndpoint(url="https://127.0.0.1", username=USER,  # type: ignore[arg-type]
                           password="env:LH_NO_SUCH_VARIABLE")
    with pytest.raises(RedfishAuthError) as err:
        RedfishBmc.from_inventory("srv1", endpoint, tmp_path)
    assert "LH_NO_SUCH_VARIABLE" in str(err.value)


def test_unreachable_bmc_is_a_connection_error() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bmc = RedfishBmc("srv1", f"https://127.0.0.1:{port}", USER, PASSWORD, retries=0,
                     verify=False)
    with pytest.raises(RedfishConnectionError) as err:
        bmc.login()
    assert "unreachable" in str(err.value) and err.value.path == "/redfish/v1/"


def test_expired_session_is_renewed_once(ilo: Ilo) -> None:
    """iLO drops idle sessions: the next request gets 401, the driver logs in again."""
    bmc = ilo.bmc(GEN10)
    other = ilo.bmc(GEN10)
    location = bmc._client.get_session_location()
    other._client.delete(urlsplit(location).path)  # end bmc's session behind its back
    assert bmc.get("/redfish/v1/Systems/1/").status == 200
    statuses = [(r.method, r.status) for r in bmc.log.records[-3:]]
    assert statuses == [("GET", 401), ("POST", 201), ("GET", 200)]


def test_session_limit_says_what_to_do(start_ilo: StartIlo) -> None:
    def two_sessions(spec: dict[str, Any]) -> None:
        for entry in spec["bmcs"]:
            entry["session_limit"] = 2

    ilo = start_ilo(two_sessions)
    for _ in range(2):
        ilo.bmc(GEN10)
    with pytest.raises(RedfishAuthError) as err:
        ilo.bmc(GEN10)
    assert err.value.short_ids == ("SessionLimitExceeded",) and err.value.status == 503
    assert "end stale sessions" in str(err.value)


def _as_gen10_plus(spec: dict[str, Any]) -> None:
    for entry in spec["bmcs"]:
        if entry["name"] == GEN10:
            entry["model"] = "DL360 Gen10 Plus"


def test_gen10_plus_lists_an_empty_adapter_collection_and_the_walk_falls_back(
        start_ilo: StartIlo) -> None:
    """iLO 5 on Gen10 Plus lists Chassis/1/NetworkAdapters present but empty, with the adapters
    as HPE base adapters under the system: the walk must not report a server without adapters,
    and what it cannot see (personality, DCB) stays unknown, not guessed."""
    ilo = start_ilo(_as_gen10_plus)
    bmc = ilo.bmc(GEN10)
    bmc.login()
    try:
        empty = bmc.get("/redfish/v1/Chassis/1/NetworkAdapters/").body
        assert empty["Members"] == [] and empty["Members@odata.count"] == 0
    finally:
        bmc.logout()
    facts = read_server(ilo.bmc(GEN10))
    assert (facts.generation, facts.model) == ("ilo5", "ProLiant DL360 Gen10 Plus")
    assert facts.adapter_view.endswith("Systems/1/BaseNetworkAdapters/")
    assert any("lists no adapters" in n for n in facts.notes)
    assert {a.slot for a in facts.adapters} == {"embedded", "flexlom", "pcie1"}
    flexlom = facts.adapter_in("flexlom")
    assert flexlom is not None and flexlom.source == "BaseNetworkAdapter"
    assert flexlom.personality(1) is None and not flexlom.writable
    assert [p.link_status for p in flexlom.ports] == ["LinkUp", "LinkUp"]


# -- firmware variants: one server (srv-esx03) as each iLO 5 line HPE ships for its model ------

def _variant(model: str, firmware: str) -> Any:
    def change(spec: dict[str, Any]) -> None:
        for entry in spec["bmcs"]:
            if entry["name"] == GEN10:
                entry["model"], entry["firmware"] = model, firmware
    return change


def _neighbours(facts: Any) -> dict[tuple[str, int], Any]:
    return {(a.slot, p.number): p.neighbour for a in facts.adapters for p in a.ports
            if p.neighbour is not None}


def test_ilo5_1x_lldp_comes_from_hpe_lldp_and_matches_2x(start_ilo: StartIlo) -> None:
    """iLO 5 1.x has no LldpData on its ports: the walk reads each DCB adapter port's HpeLLDP
    and finds the same switch ports (by chassis and port id) the 2.x walk finds inline."""
    old, new = start_ilo(_variant("DL360 Gen10", "1.40")), start_ilo(_variant("DL360 Gen10",
                                                                              "2.72"))
    bmc = old.bmc(GEN10)
    port = bmc.get("/redfish/v1/Chassis/1/NetworkAdapters/").body["Members"][0]["@odata.id"]
    assert "LldpData" not in str(bmc.get(port + "NetworkPorts/1/").body)
    facts_old, facts_new = read_server(old.bmc(GEN10)), read_server(new.bmc(GEN10))
    assert (facts_old.firmware, facts_new.firmware) == ("1.40", "2.72")
    heard_old, heard_new = _neighbours(facts_old), _neighbours(facts_new)
    assert set(heard_old) == set(heard_new) == {("flexlom", 1), ("flexlom", 2), ("pcie1", 1),
                                                ("pcie1", 2)}
    for key, neighbour in heard_new.items():
        assert (heard_old[key].chassis_id, heard_old[key].port_id) == (
            neighbour.chassis_id, neighbour.port_id)
        assert heard_old[key].system_name is None and neighbour.system_name  # 1.x has no name
    # one HpeLLDP read per port of the two DCB adapters, and no more
    assert facts_old.requests == facts_new.requests + 4


@pytest.mark.parametrize(("model", "firmware"), [
    ("DL360 Gen10", "1.40"), ("DL360 Gen10", "2.72"), ("DL360 Gen10", "3.04"),
    ("DL360 Gen10 Plus", "2.72")])
def test_every_ilo5_variant_walks_within_budget_and_has_no_legacy_tree(
        start_ilo: StartIlo, model: str, firmware: str) -> None:
    ilo = start_ilo(_variant(model, firmware))
    ep = ilo.proc.endpoints[GEN10]
    bmc = RedfishBmc(GEN10, ep.url, USER, PASSWORD, verify=str(ep.cert_file), retries=0)
    with bmc:
        facts = read_server(bmc)
        with pytest.raises(ResourceMissingError):
            bmc.get("/rest/v1")  # the legacy tree is iLO 4's
    assert (facts.firmware, facts.model) == (firmware, f"ProLiant {model}")
    assert {a.slot for a in facts.adapters} == {"embedded", "flexlom", "pcie1"}
    assert bmc.requests <= BUDGET + (4 if firmware.startswith("1.") else 0) + 1
