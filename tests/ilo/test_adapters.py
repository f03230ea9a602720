"""Adapters: on iLO 5 a NetworkDeviceFunction's NetDevFuncType and the adapter's embedded
LLDP/DCBX agent are written through their Settings objects when RedfishConfiguration is Enabled
and take effect at the next reset; iLO 4's adapter view is read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.sim.ilo import IloEndpoint, IloProcess
from tests.ilo.conftest import GEN10, last_segments, make_spec, message_ids, session, wait_post

ADAPTERS = "/redfish/v1/Chassis/1/NetworkAdapters/"
FLEXLOM, X530, LOM = ADAPTERS + "FlexLOM1/", ADAPTERS + "PCIeSlot1/", ADAPTERS + "EmbeddedLOM/"
RESET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset/"


def restart(client: Any) -> None:
    assert client.post(RESET, body={"ResetType": "ForceRestart"}).status == 200
    wait_post(client)


def test_personality_written_on_ilo5_applies_at_reset(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        ndf = client.get(FLEXLOM + "NetworkDeviceFunctions/1/").dict
        settings = ndf["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
        assert settings == FLEXLOM + "NetworkDeviceFunctions/1/Settings/"
        etag = client.get(settings).getheader("ETag")
        reply = client.patch(settings, body={"NetDevFuncType": "FibreChannelOverEthernet"},
                             headers={"If-Match": etag})
        assert reply.status == 200
        assert last_segments(message_ids(reply)) == ["SystemResetRequired"]
        assert client.get(settings).dict["NetDevFuncType"] == "FibreChannelOverEthernet"
        assert client.get(ndf["@odata.id"]).dict["NetDevFuncType"] == "iSCSI"
        restart(client)
        after = client.get(ndf["@odata.id"]).dict
        assert after["NetDevFuncType"] == "FibreChannelOverEthernet"
        assert [m["MessageId"] for m in after["@Redfish.Settings"]["Messages"]] == [
            "Base.1.10.Success"]
        assert client.get(FLEXLOM + "NetworkDeviceFunctions/2/").dict[
            "NetDevFuncType"] == "iSCSI"  # only the function written changed


def test_personality_outside_capabilities_and_unknown_property(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        settings = X530 + "NetworkDeviceFunctions/1/Settings/"
        reply = client.patch(settings, body={"NetDevFuncType": "FibreChannelOverEthernet"})
        assert reply.status == 400  # a 530SFP+ has no FCoE
        assert last_segments(message_ids(reply)) == ["PropertyValueNotInList"]
        reply = client.patch(settings, body={"NetDevFuncCapabilities": ["iSCSI"]})
        assert last_segments(message_ids(reply)) == ["PropertyNotWritable"]
        reply = client.patch(settings, body={"Personality": "iSCSI"})
        assert last_segments(message_ids(reply)) == ["PropertyUnknown"]


def test_adapter_without_redfish_configuration_is_read_only(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        lom = client.get(LOM).dict
        assert lom["Oem"]["Hpe"]["RedfishConfiguration"] == "Disabled"
        assert "@Redfish.Settings" not in lom
        reply = client.patch(LOM + "NetworkDeviceFunctions/1/Settings/",
                             body={"NetDevFuncType": "Ethernet"})
        assert reply.status == 400
        assert last_segments(message_ids(reply)) == ["PropertyNotWritable"]
        assert client.get(LOM + "Settings/").status == 404


def test_lldp_agent_switch_and_lldp_data(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        adapter = client.get(X530).dict
        assert adapter["Oem"]["Hpe"]["Controllers"][0]["EmbeddedLLDPFunctions"]["Enabled"]
        port = X530 + "NetworkPorts/1/"
        assert client.get(port).dict["Oem"]["Hpe"]["LldpData"]["Receiving"]["SystemName"]
        settings = adapter["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
        reply = client.patch(settings, body={"Oem": {"Hpe": {"Controllers": [
            {"EmbeddedLLDPFunctions": {"Enabled": False}}]}}})
        assert reply.status == 200
        reply = client.patch(settings, body={"Oem": {"Hpe": {"Controllers": [
            {"EmbeddedLLDPFunctions": {"Enabled": "no"}}]}}})
        assert last_segments(message_ids(reply)) == ["PropertyValueTypeError"]
        assert client.get(X530).dict["Oem"]["Hpe"]["Controllers"][0][
            "EmbeddedLLDPFunctions"]["Enabled"] is True
        restart(client)
        assert client.get(X530).dict["Oem"]["Hpe"]["Controllers"][0][
            "EmbeddedLLDPFunctions"]["Enabled"] is False
        # with the agent off, the adapter hears no LLDP from the switch
        assert client.get(port).dict["Oem"]["Hpe"]["LldpData"]["Receiving"] == {}
        lom_caps = client.get(LOM).dict["Controllers"][0]["ControllerCapabilities"]
        assert lom_caps["DataCenterBridging"]["Capable"] is False


def test_ilo4_cannot_write_adapters(gen9: IloEndpoint) -> None:
    with session(gen9) as client:
        base = "/redfish/v1/Systems/1/NetworkAdapters/2/"
        assert client.get(base).dict["StructuredName"] == "NIC.FlexLOM.1.1"
        reply = client.patch(base, body={"NetDevFuncType": "iSCSI"})
        assert reply.status == 405
        assert last_segments(message_ids(reply)) == ["UnsupportedOperation"]
        reply = client.patch(FLEXLOM + "NetworkDeviceFunctions/1/Settings/",
                             body={"NetDevFuncType": "iSCSI"})
        assert reply.status == 404


def test_bmcs_keep_independent_state(ilo: Any) -> None:
    a, b = ilo.endpoints["srv-esx01"], ilo.endpoints["srv-esx03"]
    with session(b) as client:
        client.patch("/redfish/v1/Systems/1/", body={"AssetTag": "only-esx03"})
        client.post(RESET, body={"ResetType": "ForceOff"})
        assert client.get("/redfish/v1/Systems/1/").dict["PowerState"] == "Off"
    with session(a) as client:
        system = client.get("/redfish/v1/Systems/1/").dict
        assert (system["AssetTag"], system["PowerState"]) == ("", "On")


def test_ilo5_1x_reports_lldp_only_in_hpe_lldp_which_follows_the_agent(tmp_path: Path) -> None:
    """iLO 5 1.x (HpeNetworkPortLLDP.v1_0_0): no LldpData on the port; the neighbour is in the
    port's HpeLLDP with `ID` spellings and the port id as hex octets, and it goes quiet when
    the embedded agent is switched off and the server reset. Read with the DMTF library."""
    with IloProcess.start(make_spec((GEN10,), firmware="1.40"), tmp_path / "ilo") as proc:
        ep = proc.endpoints[GEN10]
        with session(ep) as client:
            port = X530 + "NetworkPorts/1/"
            assert "LldpData" not in str(client.get(port).dict)
            lldp = client.get(port + "HpeLLDP/").dict
            assert lldp["@odata.type"] == "#HpeNetworkPortLLDP.v1_0_0.HpeNetworkPortLLDP"
            heard = lldp["Receiving"]
            assert heard["ChassisIDSubtype"] == "MacAddr" and heard["PortIDSubtype"] == "IfName"
            assert bytes.fromhex(heard["PortID"].replace(":", "")).decode().startswith("Ten")
            assert client.get(LOM + "NetworkPorts/1/HpeLLDP/").status == 404  # no agent
            settings = client.get(X530).dict["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
            assert client.patch(settings, body={"Oem": {"Hpe": {"Controllers": [
                {"EmbeddedLLDPFunctions": {"Enabled": False}}]}}}).status == 200
            restart(client)
            assert client.get(port + "HpeLLDP/").dict["Receiving"]["ChassisID"] is None
