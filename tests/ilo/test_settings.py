"""BIOS settings lifecycle as iLO does it: a PATCH only makes values pending; a reset runs the
PostState sequence and applies them at InPostDiscoveryComplete; the settings messages say what
took. Bad values, unknown and read-only names, stale ETags and changes during POST are refused
or reported exactly as iLO does."""

from __future__ import annotations

from typing import Any

from harness.sim.ilo import IloEndpoint
from tests.ilo.conftest import last_segments, message_ids, session, wait_post

BIOS, SETTINGS = "/redfish/v1/systems/1/bios/", "/redfish/v1/systems/1/bios/settings/"
RESET = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset/"


def restart(client: Any) -> list[str]:
    reply = client.post(RESET, body={"ResetType": "ForceRestart"})
    assert reply.status == 200, reply.text
    return wait_post(client)


def test_pending_until_reset_then_applied_with_success_message(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        etag = client.get(SETTINGS).getheader("ETag")
        reply = client.patch(SETTINGS, body={"Attributes": {"Sriov": "Disabled",
                                                            "PciSlot1Enable": "Disabled"}},
                             headers={"If-Match": etag})
        assert reply.status == 200
        assert last_segments(message_ids(reply)) == ["SystemResetRequired"]
        assert message_ids(reply) == ["iLO.2.14.SystemResetRequired"]
        # pending is visible on the settings object, the current resource is unchanged
        assert client.get(SETTINGS).dict["Attributes"]["Sriov"] == "Disabled"
        before = client.get(BIOS).dict
        assert before["Attributes"]["Sriov"] == "Enabled"
        seen = restart(client)
        assert seen[-4:] == ["InPost", "InPostDiscoveryStart", "InPostDiscoveryComplete",
                             "FinishedPost"]
        after = client.get(BIOS).dict
        assert after["Attributes"]["Sriov"] == "Disabled"
        assert after["Attributes"]["PciSlot1Enable"] == "Disabled"
        result = after["@Redfish.Settings"]
        assert [m["MessageId"] for m in result["Messages"]] == ["Base.1.10.Success"]
        assert result["Time"] >= before["@Redfish.Settings"]["Time"]
        assert result["ETag"] != before["@Redfish.Settings"]["ETag"]


def test_bad_value_type_read_only_and_unknown_properties(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        reply = client.patch(SETTINGS, body={"Attributes": {"EmbNicEnable": "Enabled"}})
        assert reply.status == 400  # iLO 5 says Auto/Disabled; Enabled is the Gen9 word
        info = reply.dict["error"]["@Message.ExtendedInfo"][0]
        assert info["MessageId"] == "Base.1.10.PropertyValueNotInList"
        assert info["MessageArgs"] == ["Enabled", "EmbNicEnable"]
        reply = client.patch(SETTINGS, body={"Attributes": {"NetworkBootRetryCount": "ten"}})
        assert last_segments(message_ids(reply)) == ["PropertyValueTypeError"]
        reply = client.patch(SETTINGS, body={"AttributeRegistry": "x"})
        assert reply.status == 400
        assert last_segments(message_ids(reply)) == ["PropertyNotWritable"]
        reply = client.patch(SETTINGS, body={"Bogus": 1})
        assert reply.status == 400 and last_segments(message_ids(reply)) == ["PropertyUnknown"]
        reply = client.patch("/redfish/v1/Systems/1/", body={"PowerState": "Off"})
        assert last_segments(message_ids(reply)) == ["PropertyNotWritable"]
        reply = client.patch("/redfish/v1/Systems/1/", body={"AssetTag": "rack-7"})
        assert reply.status == 200 and last_segments(message_ids(reply)) == ["Success"]
        assert client.get("/redfish/v1/Systems/1/").dict["AssetTag"] == "rack-7"
        # nothing of the refused requests became pending
        assert client.get(SETTINGS).dict["Attributes"] == client.get(BIOS).dict["Attributes"]


def test_unknown_and_read_only_attributes_are_reported_after_the_reset(gen10: IloEndpoint
                                                                       ) -> None:
    """iLO accepts unknown BIOS attribute names with a 200 and reports them after POST."""
    with session(gen10) as client:
        reply = client.patch(SETTINGS, body={"Attributes": {
            "Dhcpv8": "Enabled", "SerialNumber": "X", "ProcHyperthreading": "Disabled"}})
        assert reply.status == 200
        restart(client)
        bios = client.get(BIOS).dict
        msgs = bios["@Redfish.Settings"]["Messages"]
        assert [(m["MessageId"], m.get("MessageArgs")) for m in msgs] == [
            ("Base.1.10.Success", None), ("Base.1.10.PropertyUnknown", ["Dhcpv8"]),
            ("Base.1.10.PropertyNotWritable", ["SerialNumber"])]
        assert bios["Attributes"]["ProcHyperthreading"] == "Disabled"  # the valid one applied
        assert "Dhcpv8" not in bios["Attributes"]


def test_stale_etag_is_412_and_star_or_fresh_etag_passes(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        stale = client.get(SETTINGS).getheader("ETag")
        assert client.patch(SETTINGS, body={"Attributes": {"Sriov": "Disabled"}},
                            headers={"If-Match": stale}).status == 200
        reply = client.patch(SETTINGS, body={"Attributes": {"Sriov": "Enabled"}},
                             headers={"If-Match": stale})
        assert reply.status == 412
        assert message_ids(reply) == ["Base.1.10.PreconditionFailed"]
        assert client.get(SETTINGS).dict["Attributes"]["Sriov"] == "Disabled"
        fresh = client.get(SETTINGS).getheader("ETag")
        assert fresh != stale
        assert client.patch(SETTINGS, body={"Attributes": {"Sriov": "Enabled"}},
                            headers={"If-Match": fresh.removeprefix("W/")}).status == 200
        assert client.patch(SETTINGS, body={"Attributes": {"BootMode": "LegacyBios"}},
                            headers={"If-Match": "*"}).status == 200


def test_settings_refused_during_post_and_reset_rules(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        assert client.post(RESET, body={"ResetType": "ForceRestart"}).status == 200
        reply = client.patch(SETTINGS, body={"Attributes": {"Sriov": "Disabled"}})
        assert reply.status == 400
        assert last_segments(message_ids(reply)) == ["UnableToModifyDuringSystemPOST"]
        wait_post(client)
        reply = client.post(RESET, body={"ResetType": "On"})  # already on
        assert last_segments(message_ids(reply)) == ["InvalidOperationForSystemState"]
        reply = client.post(RESET, body={"ResetType": "PowerCycle"})
        assert reply.status == 400
        assert last_segments(message_ids(reply)) == ["ActionParameterValueNotInList"]
        reply = client.post(RESET, body={})
        assert last_segments(message_ids(reply)) == ["ActionParameterMissing"]
        # ilorest sends an extra "Action" key: tolerated
        assert client.post(RESET, body={"Action": "ComputerSystem.Reset",
                                        "ResetType": "ForceOff"}).status == 200
        system = client.get("/redfish/v1/Systems/1/").dict
        assert (system["PowerState"], system["Oem"]["Hpe"]["PostState"]) == ("Off", "PowerOff")
        # settings may change while off; power-on applies them
        assert client.patch(SETTINGS, body={"Attributes": {"Sriov": "Disabled"}}).status == 200
        assert client.post(RESET, body={"ResetType": "On"}).status == 200
        assert wait_post(client)[-1] == "FinishedPost"
        assert client.get(BIOS).dict["Attributes"]["Sriov"] == "Disabled"
        assert client.get("/redfish/v1/Systems/1/").dict["PowerState"] == "On"


def test_reset_bios_restores_defaults_at_the_next_reset(gen10: IloEndpoint) -> None:
    with session(gen10) as client:
        client.patch(SETTINGS, body={"Attributes": {"PowerRegulator": "OsControl"}})
        restart(client)
        assert client.get(BIOS).dict["Attributes"]["PowerRegulator"] == "OsControl"
        target = client.get(BIOS).dict["Actions"]["#Bios.ResetBios"]["target"]
        reply = client.post(target, body={})
        assert last_segments(message_ids(reply)) == ["SystemResetRequired"]
        restart(client)
        assert client.get(BIOS).dict["Attributes"]["PowerRegulator"] == "StaticHighPerf"


def test_ilo4_flat_attributes_and_settings_result(gen9: IloEndpoint) -> None:
    with session(gen9) as client:
        settings = client.get(BIOS).dict["Oem"]["Hp"]["Links"]["Settings"]["@odata.id"]
        reply = client.patch(settings, body={"EmbNicEnable": "Disabled", "Bogus9": "x"})
        assert message_ids(reply) == ["iLO.0.10.SystemResetRequired"]
        reply = client.patch(settings, body={"EmbNicEnable": "Auto"})  # a Gen10 word
        assert last_segments(message_ids(reply)) == ["PropertyValueNotInList"]
        seen = restart(client)
        assert "InPostDiscoveryStart" not in seen  # iLO 4 firmware has no such state
        bios = client.get(BIOS).dict
        assert bios["EmbNicEnable"] == "Disabled"
        assert [(m["MessageID"], m.get("MessageArgs")) for m in bios["SettingsResult"][
            "Messages"]] == [("Base.0.10.Success", None), ("Base.0.10.PropertyUnknown",
                                                           ["Bogus9"])]
