"""The resource tree per flavour: every listed resource serves with its ETag, iLO's OEM blocks
are where clients look for them, lookups are case-insensitive, and errors carry iLO's bodies."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.sim.ilo import IloEndpoint
from tests.ilo.conftest import PASSWORD, USER, last_segments, message_ids, session


def raw(ep: IloEndpoint, path: str, method: str = "GET", body: Any = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    """One HTTPS request that trusts exactly the emulator's certificate (proves the TLS too)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ep.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, context=ep.ssl_context(), timeout=10) as resp:
            text = resp.read().decode()
            status, hdrs = resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        text, status, hdrs = err.read().decode(), err.code, dict(err.headers)
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text


@pytest.mark.parametrize("server", ["srv-esx01", "srv-esx03"])
def test_every_directory_resource_serves_with_matching_etag(ilo: Any, server: str) -> None:
    ep = ilo.endpoints[server]
    with session(ep) as client:
        instances = client.get("/redfish/v1/ResourceDirectory/").dict["Instances"]
        assert len(instances) > 10
        for inst in instances:
            reply = client.get(inst["@odata.id"])
            assert reply.status == 200, inst["@odata.id"]
            assert reply.dict["@odata.id"] == inst["@odata.id"]
            assert reply.getheader("ETag") == reply.dict["@odata.etag"] == inst["ETag"]
            allow = reply.getheader("Allow")
            assert set(inst["HttpMethods"]) <= set(allow.split(", "))


def test_ilo5_tree_and_oem_blocks(gen10: IloEndpoint) -> None:
    status, headers, root = raw(gen10, "/redfish/v1/")  # the root is open
    assert status == 200 and headers["OData-Version"] == "4.0"
    hpe = root["Oem"]["Hpe"]
    assert hpe["Manager"][0]["ManagerType"] == "iLO 5"
    assert hpe["Manager"][0]["ManagerFirmwareVersion"] == "2.44"
    assert hpe["Moniker"]["PRODGEN"] == "iLO 5"
    assert hpe["Links"]["ResourceDirectory"]["@odata.id"] == "/redfish/v1/ResourceDirectory/"
    with session(gen10) as client:
        system = client.get("/redfish/v1/Systems/1/").dict
        assert system["Model"] == "ProLiant DL360 Gen10"
        assert system["Oem"]["Hpe"]["PostState"] == "FinishedPost"
        assert system["Actions"]["#ComputerSystem.Reset"][
            "ResetType@Redfish.AllowableValues"] == [
            "On", "ForceOff", "GracefulShutdown", "ForceRestart", "Nmi", "PushPowerButton"]
        assert "#HpeComputerSystemExt.SystemReset" in system["Oem"]["Hpe"]["Actions"]
        assert client.get("/redfish/v1/Managers/1/").dict["FirmwareVersion"] == "iLO 5 v2.44"
        bios = client.get(system["Bios"]["@odata.id"]).dict
        assert bios["@odata.type"] == "#Bios.v1_0_0.Bios"
        assert bios["Attributes"]["EmbNicEnable"] == "Auto"
        assert bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"] == \
            "/redfish/v1/systems/1/bios/settings/"
        adapters = client.get("/redfish/v1/Chassis/1/NetworkAdapters/?$expand=.").dict
        by_label = {a["Location"]["PartLocation"]["ServiceLabel"]: a
                    for a in adapters["Members"]}
        assert set(by_label) == {"Embedded LOM", "FlexibleLOM 1", "PCI-E Slot 1"}
        x530 = by_label["PCI-E Slot 1"]
        assert x530["Controllers"][0]["ControllerCapabilities"]["DataCenterBridging"][
            "Capable"] is True
        assert x530["Oem"]["Hpe"]["RedfishConfiguration"] == "Enabled"
        assert x530["Oem"]["Hpe"]["Controllers"][0]["EmbeddedLLDPFunctions"]["Enabled"] is True
        assert by_label["Embedded LOM"]["Oem"]["Hpe"]["RedfishConfiguration"] == "Disabled"
        funcs = client.get(by_label["FlexibleLOM 1"]["NetworkDeviceFunctions"]["@odata.id"] +
                           "?$expand=.").dict["Members"]
        assert [f["NetDevFuncType"] for f in funcs] == ["iSCSI", "iSCSI"]
        assert funcs[0]["NetDevFuncCapabilities"] == ["Ethernet", "iSCSI",
                                                      "FibreChannelOverEthernet"]
        port = client.get(x530["NetworkPorts"]["@odata.id"] + "2/").dict
        received = port["Oem"]["Hpe"]["LldpData"]["Receiving"]
        # srv-esx03's vmnic7 (530SFP+ port 2) is cabled to sw01 Te1/1/7 in labs/sim.yaml
        assert received["SystemName"] == "lab-sw01.example.test"
        assert received["PortId"] == "TenGigabitEthernet1/1/7"


def test_ilo4_tree_has_hp_oem_and_read_only_base_adapters(gen9: IloEndpoint) -> None:
    _, _, root = raw(gen9, "/redfish/v1/")  # no OData-Version: iLO 4 adds its legacy keys
    assert "Hpe" not in root["Oem"]
    assert root["Oem"]["Hp"]["Manager"][0]["ManagerType"] == "iLO 4"
    assert root["links"]["Sessions"]["href"] == "/redfish/v1/SessionService/Sessions/"
    _, _, modern = raw(gen9, "/redfish/v1/", headers={"OData-Version": "4.0"})
    assert "links" not in modern and modern["Links"]["Sessions"]
    with session(gen9) as client:
        system = client.get("/redfish/v1/Systems/1/").dict
        assert system["@odata.type"].startswith("#ComputerSystem.1.")
        assert system["Oem"]["Hp"]["PostState"] == "FinishedPost"
        assert system["Actions"]["#ComputerSystem.Reset"][
            "ResetType@Redfish.AllowableValues"] == [
            "On", "ForceOff", "ForceRestart", "Nmi", "PushPowerButton"]
        bios = client.get("/redfish/v1/systems/1/bios/").dict
        assert bios["@odata.type"] == "#HpBios.1.2.0.HpBios"
        assert bios["EmbNicEnable"] == "Enabled"  # flat attributes, Gen9 values
        assert bios["SettingsResult"]["Messages"][0]["MessageID"] == "Base.0.10.Success"
        adapters = client.get("/redfish/v1/Systems/1/NetworkAdapters/?$expand=.").dict
        names = [a["StructuredName"] for a in adapters["Members"]]
        assert names == ["NIC.LOM.1.1", "NIC.FlexLOM.1.1", "NIC.Slot.1.1"]
        assert all("NetDevFuncType" not in json.dumps(a) for a in adapters["Members"])
        reply = client.get("/redfish/v1/Chassis/1/NetworkAdapters/")
        assert reply.status == 404
        assert last_segments(message_ids(reply)) == ["ResourceMissingAtURI"]


def test_lookup_is_case_insensitive_with_or_without_slash(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        ids = {client.get(p).dict["@odata.id"] for p in (
            "/redfish/v1/systems/1/bios/", "/redfish/v1/Systems/1/Bios",
            "/REDFISH/V1/SYSTEMS/1/BIOS/")}
        assert ids == {"/redfish/v1/systems/1/bios/"}


def test_unauthenticated_requests_get_no_valid_session(gen10: IloEndpoint) -> None:
    for path in ("/redfish/v1/Systems/1/", "/redfish/v1/nonexistent/"):
        status, _, body = raw(gen10, path)
        assert status == 401
        assert message_ids(body) == ["Base.1.10.NoValidSession"]
    for path in ("/redfish/v1/", "/redfish/v1/$metadata", "/redfish/v1/odata"):
        assert raw(gen10, path)[0] == 200


def test_method_not_allowed_and_malformed_json(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        reply = client.patch("/redfish/v1/systems/1/bios/", body={"Attributes": {}})
        assert reply.status == 405
        assert reply.getheader("Allow") == "GET, HEAD"
        assert last_segments(message_ids(reply)) == ["UnsupportedOperation"]
        reply = client.post("/redfish/v1/systems/1/bios/settings/", body={})
        assert reply.status == 405
    status, _, body = raw(gen10, "/redfish/v1/Systems/1/", "PATCH", None, {
        "Authorization": "Basic " + __import__("base64").b64encode(
            f"{USER}:{PASSWORD}".encode()).decode()})
    assert status == 400 and last_segments(message_ids(body)) == ["MalformedJSON"]


def test_query_options_select_only_and_expand(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        sel = client.get("/redfish/v1/Systems/1/?$select=PowerState,SerialNumber").dict
        assert {k for k in sel if not k.startswith("@")} == {"PowerState", "SerialNumber"}
        only = client.get("/redfish/v1/Systems/?only").dict
        assert only["@odata.id"] == "/redfish/v1/Systems/1/"
        plain = client.get("/redfish/v1/Systems/").dict["Members"][0]
        assert set(plain) == {"@odata.id"}


def test_schemas_registries_and_metadata_describe_what_is_served(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        system = client.get("/redfish/v1/Systems/1/")
        link = system.getheader("Link")
        assert link == "</redfish/v1/SchemaStore/en/ComputerSystem.v1_4_0.json/>; rel=describedby"
        schema = client.get(link[1:link.index(">")]).dict
        assert schema["title"] == "#ComputerSystem.v1_4_0.ComputerSystem"
        assert schema["properties"]["AssetTag"]["readonly"] is False
        assert schema["properties"]["SerialNumber"]["readonly"] is True
        regs = client.get("/redfish/v1/Registries/?$expand=.").dict
        assert "Registr" in regs["Name"]
        by_id = {m["Registry"]: m for m in regs["Members"]}
        assert set(by_id) == {"Base.1.10.0", "iLO.2.14.0", "BiosAttributeRegistryU32.v1_2_68"}
        bios_reg = client.get(by_id["BiosAttributeRegistryU32.v1_2_68"]["Location"][0]["Uri"])
        attrs = {a["AttributeName"]: a for a in bios_reg.dict["RegistryEntries"]["Attributes"]}
        assert [v["ValueName"] for v in attrs["EmbNicEnable"]["Value"]] == ["Auto", "Disabled"]
        assert attrs["SerialNumber"]["ReadOnly"] is True
        ilo_reg = client.get(by_id["iLO.2.14.0"]["Location"][0]["Uri"]).dict
        assert "SystemResetRequired" in ilo_reg["Messages"]
    status, headers, text = raw(gen10, "/redfish/v1/$metadata")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    assert 'Namespace="ComputerSystem"' in text and 'Namespace="NetworkAdapter"' in text


def test_tls_certificate_is_self_signed_per_bmc(ilo: Any) -> None:
    a, b = ilo.endpoints["srv-esx01"], ilo.endpoints["srv-esx03"]
    assert a.cert_file.read_bytes() != b.cert_file.read_bytes()
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(a.url + "/redfish/v1/", context=ssl.create_default_context(),
                               timeout=10)
    assert raw(a, "/redfish/v1/")[0] == 200


def test_ilo4_mirrors_its_tree_at_the_legacy_rest_api(gen9: IloEndpoint,
                                                       gen10: IloEndpoint) -> None:
    """HPE's iLO 4 RESTful API (2.30+): /rest/v1 beside /redfish/v1, the same resources with
    `Type`, `links.*.href` under /rest/v1 and legacy collections (`Items`, `links.Member`);
    sessions at /rest/v1/Sessions. iLO 5 has no /rest/v1."""
    status, _, root = raw(gen9, "/rest/v1")  # open, like /redfish/v1
    assert status == 200 and root["Type"] == "ServiceRoot.1.0.0"
    assert root["Oem"]["Hp"]["Manager"][0]["ManagerType"] == "iLO 4"
    assert root["links"]["Sessions"]["href"] == "/rest/v1/Sessions"
    assert root["links"]["Systems"]["href"] == "/rest/v1/Systems"
    status, hdrs, _ = raw(gen9, "/rest/v1/Sessions", "POST",
                          {"UserName": USER, "Password": PASSWORD})
    assert status == 201 and "/rest/v1/SessionService/Sessions/" in hdrs["Location"]
    token = {"X-Auth-Token": hdrs["X-Auth-Token"]}
    status, _, systems = raw(gen9, "/rest/v1/Systems", headers=token)
    assert status == 200 and systems["Type"] == "Collection.1.0.0"
    assert systems["MemberType"] == "ComputerSystem.1" and systems["Total"] == 1
    assert systems["links"]["Member"] == [{"href": "/rest/v1/Systems/1"}]
    assert systems["Items"][0]["Model"] == "ProLiant DL360 Gen9"
    _, _, manager = raw(gen9, "/rest/v1/Managers/1", headers=token)
    assert manager["FirmwareVersion"] == "iLO 4 v2.80" and manager["Type"].startswith("Manager.")
    _, _, bios = raw(gen9, "/rest/v1/systems/1/bios", headers=token)
    assert bios["Type"].startswith("HpBios.")
    assert bios["links"]["Settings"]["href"] == "/rest/v1/systems/1/bios/Settings"
    assert raw(gen9, "/rest/v1/Systems/1", headers={})[0] == 401
    assert raw(gen9, urlsplit(hdrs["Location"]).path, "DELETE", headers=token)[0] == 200
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert raw(gen10, "/rest/v1", headers={"Authorization": f"Basic {basic}"})[0] == 404
