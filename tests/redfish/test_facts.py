"""The parsers on payload shapes recorded from real iLOs (../shared/notes/ILO-REDFISH.md): no
emulator, so these pin the driver to iLO's documented shapes rather than to our own emulator."""

from __future__ import annotations

from typing import Any

import pytest

from harness.drivers.redfish.errors import (
    PreconditionFailedError,
    PropertyUnknownError,
    PropertyValueError,
    RedfishPayloadError,
    messages_of,
)
from harness.drivers.redfish.parse import (
    firmware_of,
    generation_of,
    has_lldp_data,
    parse_base_adapter,
    parse_bios,
    parse_hpe_lldp,
    parse_network_adapter,
    parse_port,
    parse_power,
    parse_settings,
    slot_from,
)
from harness.facts.redfish import RedfishMessage

# iLO 5 1.x service root (proliantutils root.json, shortened)
ILO5_ROOT: dict[str, Any] = {
    "@odata.id": "/redfish/v1/", "RedfishVersion": "1.0.0",
    "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions/"}},
    "Oem": {"Hpe": {"Manager": [{"ManagerType": "iLO 5", "ManagerFirmwareVersion": "1.10"}]}}}
# iLO 4 v2.54 root: Oem.Hp, no Links.Sessions
ILO4_ROOT: dict[str, Any] = {
    "@odata.type": "#ServiceRoot.1.0.0.ServiceRoot",
    "Oem": {"Hp": {"@odata.type": "#HpiLOServiceExt.1.0.0.HpiLOServiceExt",
                   "Manager": [{"ManagerType": "iLO 4", "ManagerFirmwareVersion": "2.54"}]}}}


def test_generation_and_firmware_from_the_service_root() -> None:
    assert generation_of(ILO5_ROOT, bmc="b", url="/redfish/v1/") == ("ilo5", "iLO 5")
    assert generation_of(ILO4_ROOT, bmc="b", url="/redfish/v1/") == ("ilo4", "iLO 4")
    assert firmware_of(ILO5_ROOT, None) == "1.10"
    assert firmware_of({}, {"FirmwareVersion": "iLO 5 v2.72"}) == "2.72"
    assert firmware_of({}, {"FirmwareVersion": "iLO 4 v2.20"}) == "2.20"


def test_a_bmc_that_is_not_an_ilo_names_the_field() -> None:
    with pytest.raises(RedfishPayloadError) as err:
        generation_of({"Oem": {"Dell": {}}}, bmc="srv1", url="/redfish/v1/")
    assert err.value.json_path == "Oem/Hpe/Manager/0/ManagerType"
    assert "srv1" in str(err.value) and "iLO 4 and iLO 5 only" in str(err.value)


def test_login_uri_from_the_root() -> None:
    from harness.drivers.redfish.client import sessions_uri

    assert sessions_uri(ILO5_ROOT) == "/redfish/v1/SessionService/Sessions/"
    assert sessions_uri({"links": {"Sessions": {"href": "/rest/v1/Sessions"}}}) \
        == "/rest/v1/Sessions"
    # iLO 4 with OData-Version drops the legacy keys: the trailing slash it requires is kept
    assert sessions_uri(ILO4_ROOT) == "/redfish/v1/SessionService/Sessions/"


def test_ilo5_bios_settings_messages_after_a_rejected_name() -> None:
    """HPE's documented post-reset state: Success plus one PropertyUnknown."""
    current = {
        "@odata.id": "/redfish/v1/systems/1/bios/", "AttributeRegistry":
        "BiosAttributeRegistryU32.v1_2_68", "Attributes": {"Sriov": "Enabled",
                                                           "EmbNicEnable": "Auto"},
        "@Redfish.Settings": {
            "@odata.type": "#Settings.v1_0_0.Settings", "ETag": "C4690603",
            "Messages": [{"MessageId": "Base.1.0.Success"},
                         {"MessageId": "Base.1.0.PropertyUnknown", "MessageArgs": ["Dhcpv8"],
                          "RelatedProperties": ["#/Dhcpv8"]}],
            "SettingsObject": {"@odata.id": "/redfish/v1/systems/1/bios/settings/"},
            "Time": "2017-06-10T07:40:44+00:00"}}
    pending = {"Attributes": {"Sriov": "Disabled", "EmbNicEnable": "Auto"}}
    bios = parse_bios(current, "/redfish/v1/systems/1/bios/", pending, 'W/"ABCD"')
    assert bios.settings_uri == "/redfish/v1/systems/1/bios/settings/"
    assert bios.pending_changes() == {"Sriov": ("Enabled", "Disabled")}
    assert bios.result is not None and bios.result.time == "2017-06-10T07:40:44+00:00"
    assert [m.short_id for m in bios.result.failures] == ["PropertyUnknown"]
    assert bios.result.failures[0].args == ("Dhcpv8",)


def test_ilo4_bios_is_flat_with_settings_result_and_message_id_spelling() -> None:
    current = {"Type": "HpBios.1.2.0", "Name": "BIOS Current Settings",
               "EmbNicEnable": "Enabled", "PciSlot1Enable": "Disabled",
               "SettingsResult": {"ETag": "0B1A", "Time": "2020-01-01T00:00:00Z",
                                  "Messages": [{"MessageID": "Base.1.0:PropertyNotWritable",
                                                "MessageArgs": ["SerialNumber"]}]},
               "Oem": {"Hp": {"Links": {"Settings": {"@odata.id":
                                                     "/redfish/v1/systems/1/bios/Settings/"}}}}}
    bios = parse_bios(current, "/redfish/v1/systems/1/bios/", None, None)
    assert bios.current == {"EmbNicEnable": "Enabled", "PciSlot1Enable": "Disabled"}
    assert bios.settings_uri == "/redfish/v1/systems/1/bios/Settings/"
    assert bios.result is not None
    assert [m.short_id for m in bios.result.failures] == ["PropertyNotWritable"]


def test_settings_success_is_not_a_failure() -> None:
    state = parse_settings({"@Redfish.Settings": {"Messages": [
        {"MessageId": "Base.1.10.Success"}, {"MessageId": "iLO.2.14.SystemResetRequired"}]}})
    assert state is not None and state.failures == ()


def test_error_bodies_give_message_ids_for_the_typed_exceptions() -> None:
    body = {"error": {"code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo",
                      "@Message.ExtendedInfo": [{"MessageId": "Base.1.4.PropertyValueNotInList",
                                                 "MessageArgs": ["Bogus", "EmbNicEnable"]}]}}
    (msg,) = messages_of(body)
    assert msg == RedfishMessage("Base.1.4.PropertyValueNotInList", ("Bogus", "EmbNicEnable"))
    assert msg.short_id == "PropertyValueNotInList"
    err = PropertyValueError("value Bogus is not allowed", allowed=("Auto", "Disabled"),
                             bmc="srv1", method="PATCH", path="/x", status=400,
                             messages=[msg])
    assert err.message_ids == ("Base.1.4.PropertyValueNotInList",)
    assert "allowed: Auto, Disabled" in str(err) and "PATCH /x -> 400" in str(err)
    assert issubclass(PreconditionFailedError, Exception)
    assert issubclass(PropertyUnknownError, Exception)


def test_reset_actions_and_post_state() -> None:
    system = {"PowerState": "On", "Oem": {"Hpe": {"PostState": "InPostDiscoveryComplete"}},
              "Actions": {"#ComputerSystem.Reset": {
                  "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset/",
                  "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart",
                                                        "Nmi", "PushPowerButton"]}}}
    power = parse_power(system, "/redfish/v1/Systems/1/")
    assert power.post_state == "InPostDiscoveryComplete"
    assert power.reset is not None and "ForceRestart" in power.reset.types
    ilo4 = parse_power({"PowerState": "Off", "Oem": {"Hp": {"PostState": "PowerOff"}}}, "/s/")
    assert (ilo4.power_state, ilo4.post_state, ilo4.reset) == ("Off", "PowerOff", None)


@pytest.mark.parametrize(("labels", "slot"), [
    (("NIC.FlexLOM.1.1",), "flexlom"), (("NIC.LOM.1.1",), "embedded"),
    (("NIC.Slot.2.1",), "pcie2"), (("PCI-E Slot 3",), "pcie3"), (("FlexibleLOM 1",), "flexlom"),
    (("Embedded LOM",), "embedded"), ((None, "DE07A000"), None)])
def test_slot_from_location_labels(labels: tuple[str | None, ...], slot: str | None) -> None:
    assert slot_from(*labels) == slot


def test_network_adapter_personality_and_dcb_from_dmtf_shapes() -> None:
    """A DMTF NetworkAdapter with an NDF per port (iLO 5 3.x names)."""
    base = "/redfish/v1/Chassis/1/NetworkAdapters/DC080000/"
    adapter = {
        "Id": "DC080000", "Name": "HPE FlexFabric 10Gb 2-port 534FLR-SFP+ Adapter",
        "Controllers": [{"FirmwarePackageVersion": "7.15.97",
                         "ControllerCapabilities": {"DataCenterBridging": {"Capable": True}},
                         "Location": {"PartLocation": {"ServiceLabel": "FlexLOM 1"}}}],
        "Oem": {"Hpe": {"RedfishConfiguration": "Enabled",
                        "Controllers": [{"EmbeddedLLDPFunctions": {"Enabled": False}}]}},
        "@Redfish.Settings": {"SettingsObject": {"@odata.id": base + "Settings/"}}}
    ports = [({"Id": "1", "PhysicalPortNumber": "1", "LinkStatus": "Up",
               "Oem": {"Hpe": {"LldpData": {"Receiving": {
                   "ChassisId": "00:1b:54:00:00:01", "PortId": "Te1/0/1",
                   "Dcb": {"Ets": {"TlvReceived": True}}}}}}}, base + "NetworkPorts/1/"),
             ({"Id": "2", "PhysicalPortNumber": "2", "LinkStatus": "Up"},
              base + "NetworkPorts/2/")]
    funcs = [({"Id": "1", "NetDevFuncType": "FibreChannelOverEthernet",
               "NetDevFuncCapabilities": ["Ethernet", "iSCSI", "FibreChannelOverEthernet"],
               "Links": {"PhysicalPortAssignment": {"@odata.id": base + "NetworkPorts/1"}}},
              base + "NetworkDeviceFunctions/1/"),
             ({"Id": "2", "NetDevFuncType": "Ethernet",
               "AssignablePhysicalPorts": [{"@odata.id": base + "NetworkPorts/2/"}]},
              base + "NetworkDeviceFunctions/2/")]
    facts = parse_network_adapter(adapter, base, ports=ports, functions=funcs)
    assert (facts.slot, facts.firmware, facts.dcb_capable) == ("flexlom", "7.15.97", True)
    assert (facts.lldp_agent, facts.writable) == (False, True)
    assert facts.settings_uri == base + "Settings/"
    assert facts.personality(1) == "FCoE" and facts.personality(2) == "Ethernet"
    assert facts.personality(3) is None
    port1 = facts.port(1)
    assert port1 is not None and port1.neighbour is not None and port1.neighbour.dcbx


# -- firmware variants HPE documents (issue: real iLO firmware the emulator did not show) ------

def test_ilo4_oem_reset_action_is_spelled_under_hp() -> None:
    """iLO 4 names its OEM reset HpComputerSystemExt under Oem.Hp; iLO 5 under Oem.Hpe."""
    system = {"PowerState": "On", "Oem": {"Hp": {"PostState": "FinishedPost", "Actions": {
        "#HpComputerSystemExt.SystemReset": {
            "target": "/redfish/v1/Systems/1/Actions/Oem/Hp/ComputerSystemExt.SystemReset/",
            "ResetType@Redfish.AllowableValues": ["ColdBoot", "AuxCycle"]}}}}}
    power = parse_power(system, "/redfish/v1/Systems/1/")
    assert power.oem_reset is not None
    assert power.oem_reset.target.endswith("/Oem/Hp/ComputerSystemExt.SystemReset/")
    assert power.oem_reset.types == ("ColdBoot", "AuxCycle")


def test_base_adapter_link_is_linkstatus_and_absent_on_ilo4() -> None:
    """iLO 5 BaseNetworkAdapters carry PhysicalPorts[].LinkStatus; an iLO 4 port's Status.State
    says it is enabled, not that it has link: not reported rather than guessed."""
    ilo5 = parse_base_adapter({"Id": "1", "Name": "HPE Ethernet 10Gb 2-port 530SFP+ Adapter",
                               "PhysicalPorts": [
                                   {"MacAddress": "a0:36:9f:00:00:01", "LinkStatus": "LinkUp",
                                    "Status": {"State": "Enabled"}},
                                   {"MacAddress": "a0:36:9f:00:00:02", "LinkStatus": "LinkDown",
                                    "Status": {"State": "Enabled"}}]},
                              "/redfish/v1/Systems/1/BaseNetworkAdapters/1/")
    assert [p.link_status for p in ilo5.ports] == ["LinkUp", "LinkDown"]
    ilo4 = parse_base_adapter({"Id": "1", "Name": "HP Ethernet 10Gb 2-port 534FLR-SFP+",
                               "PhysicalPorts": [{"MacAddress": "a0:36:9f:00:00:03",
                                                  "Status": {"State": "Enabled"}}]},
                              "/redfish/v1/Systems/1/NetworkAdapters/1/")
    assert [p.link_status for p in ilo4.ports] == [None]


def test_dmtf_port_lldp_under_ethernet_is_read() -> None:
    """The DMTF Port schema (v1.4+) puts the neighbour under Ethernet.LLDPReceive."""
    port = parse_port({"Id": "1", "PortId": "1", "LinkStatus": "Up", "Ethernet": {
        "LLDPEnabled": True, "LLDPReceive": {"ChassisId": "00:11:22:33:44:55",
                                             "PortId": "Te1/1/5", "SystemName": "lab-sw02"}}},
                      "/redfish/v1/Chassis/1/NetworkAdapters/DE07A000/Ports/1/", 1)
    assert port.neighbour is not None
    assert (port.neighbour.chassis_id, port.neighbour.port_id, port.neighbour.system_name) == (
        "00:11:22:33:44:55", "Te1/1/5", "lab-sw02")


# iLO 5 1.x NetworkPort: no LLDP data of its own; the neighbour is in .../NetworkPorts/1/HpeLLDP
# (HpeNetworkPortLLDP.v1_0_0, HPE's iLO 5 resource definitions: `ID` spellings, PortID as hex
# octets, no SystemName)
ILO5_1X_PORT: dict[str, Any] = {
    "@odata.id": "/redfish/v1/Chassis/1/NetworkAdapters/DE07A000/NetworkPorts/1/",
    "@odata.type": "#NetworkPort.v1_1_0.NetworkPort", "Id": "1", "PhysicalPortNumber": "1",
    "LinkStatus": "Up", "AssociatedNetworkAddresses": ["a0:36:9f:00:00:01"]}
ILO5_1X_HPE_LLDP: dict[str, Any] = {
    "@odata.id": "/redfish/v1/Chassis/1/NetworkAdapters/DE07A000/NetworkPorts/1/HpeLLDP/",
    "@odata.type": "#HpeNetworkPortLLDP.v1_0_0.HpeNetworkPortLLDP", "Id": "HpeLLDP",
    "Receiving": {"ChassisID": "00:1b:54:c2:11:07", "ChassisIDSubtype": "MacAddr",
                  "PortID": "54:65:31:2f:30:2f:37", "PortIDSubtype": "IfName",
                  "SystemDescription": "Cisco NX-OS", "NearestBridgeTtlExpired": False,
                  "Dcb": {"Ets": {"TlvReceived": True}, "Pfc": {"TlvReceived": True}}},
    "Transmitting": {"ChassisIDSubtype": "MacAddr"}}


def test_ilo5_1x_lldp_is_read_from_the_hpe_lldp_resource() -> None:
    assert not has_lldp_data(ILO5_1X_PORT)
    assert parse_port(ILO5_1X_PORT, ILO5_1X_PORT["@odata.id"], 1).neighbour is None
    heard = parse_hpe_lldp(ILO5_1X_HPE_LLDP)
    assert heard is not None
    assert (heard.chassis_id, heard.port_id, heard.system_name, heard.dcbx) == (
        "00:1b:54:c2:11:07", "Te1/0/7", None, True)


def test_hpe_lldp_with_nothing_heard_or_a_mac_port_id() -> None:
    """An agent that hears nothing reports nulls; a MAC port id stays as octets."""
    nulls = {"Receiving": {"ChassisID": None, "ChassisIDSubtype": None, "PortID": None,
                           "PortIDSubtype": None}}
    assert parse_hpe_lldp(nulls) is None and parse_hpe_lldp({}) is None
    mac = parse_hpe_lldp({"Receiving": {"ChassisID": "00:1b:54:c2:11:07",
                                        "PortID": "00:1b:54:c2:11:47", "PortIDSubtype": "MacAddr"}})
    assert mac is not None and mac.port_id == "00:1b:54:c2:11:47" and not mac.dcbx


def test_ilo5_2x_port_carries_lldp_data_inline() -> None:
    """iLO 5 2.x: Oem.Hpe.LldpData on the port itself (no HpeLLDP request needed)."""
    port = {**ILO5_1X_PORT, "Oem": {"Hpe": {"LldpData": {"Receiving": {
        "ChassisId": "00:1b:54:c2:11:07", "PortId": "Te1/0/7", "SystemName": "lab-sw01"}}}}}
    assert has_lldp_data(port)
    facts = parse_port(port, port["@odata.id"], 1)
    assert facts.neighbour is not None and facts.neighbour.port_id == "Te1/0/7"
