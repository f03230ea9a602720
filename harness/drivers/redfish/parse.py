"""Parsers that turn an iLO's Redfish documents into the typed facts of `harness.facts.redfish`.

Parsers take a JSON document and its URL and never fetch; a field the harness cannot do without
raises RedfishPayloadError naming its JSON path and URL, anything else missing becomes None
(the checks then say "not reported"). iLO 4 and iLO 5 differ in shape (`Oem.Hp` vs `Oem.Hpe`,
flat BIOS attributes vs `Attributes`, `SettingsResult` vs `@Redfish.Settings`, the read-only
HpBaseNetworkAdapter vs DMTF NetworkAdapter); both land in the same records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from harness.drivers.redfish.errors import RedfishPayloadError
from harness.facts.redfish import (
    AdapterFacts,
    BiosFacts,
    FunctionFacts,
    Generation,
    LldpNeighbour,
    PortFacts,
    PowerFacts,
    RedfishMessage,
    ResetAction,
    Scalar,
    SettingsState,
)

BIOS_META = frozenset({"Id", "Name", "Description", "Type", "AttributeRegistry", "Modified",
                       "SettingsResult", "SettingsObject", "Oem", "links", "Links", "Actions"})


def at(doc: Any, path: str) -> Any:
    """`doc` at a JSON path (`Oem/Hpe/Manager/0/ManagerType`: keys and array indexes joined by
    `/`, since Redfish keys contain dots), None when absent."""
    value = doc
    for part in path.split("/"):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is None:
            return None
    return value


def first(doc: Any, *paths: str) -> Any:
    """The first of several JSON paths that is present (iLO 5 / iLO 4 / legacy spellings)."""
    for path in paths:
        value = at(doc, path)
        if value is not None:
            return value
    return None


def link(doc: Any, *paths: str) -> str | None:
    """A link at one of `paths`: Redfish `{"@odata.id": ..}` or legacy `{"href": ..}`."""
    for path in paths:
        value = at(doc, path)
        if isinstance(value, Mapping):
            target = value.get("@odata.id", value.get("href"))
            if isinstance(target, str):
                return target
        elif isinstance(value, str):
            return value
    return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def etag_of(doc: Mapping[str, Any], header: str | None) -> str | None:
    """The ETag to send in If-Match: the header, else the body's `@odata.etag`."""
    return header or _str(doc.get("@odata.etag"))


# ---------------------------------------------------------------------------------------------
# settings objects


def parse_settings(doc: Mapping[str, Any]) -> SettingsState | None:
    block = doc.get("@Redfish.Settings")
    settings_uri = None
    if isinstance(block, Mapping):
        settings_uri = link(block, "SettingsObject")
    else:
        block = doc.get("SettingsResult")
        if not isinstance(block, Mapping):
            block = {}
    settings_uri = settings_uri or link(doc, "Oem/Hp/Links/Settings", "Oem/Hpe/Links/Settings",
                                        "links/Settings", "Settings")
    if not block and settings_uri is None:
        return None
    messages = tuple(RedfishMessage.from_json(m) for m in block.get("Messages") or ()
                     if isinstance(m, Mapping))
    return SettingsState(settings_uri, _str(block.get("ETag")), _str(block.get("Time")),
                         messages)


# ---------------------------------------------------------------------------------------------
# BIOS


def bios_attributes(doc: Mapping[str, Any]) -> dict[str, Scalar]:
    """iLO 5 keeps attributes under `Attributes`; iLO 4 (HpBios) has them flat."""
    attrs = doc.get("Attributes")
    if isinstance(attrs, Mapping):
        return {str(k): v for k, v in attrs.items() if not isinstance(v, (Mapping, list))}
    return {k: v for k, v in doc.items()
            if not k.startswith("@") and k not in BIOS_META
            and not isinstance(v, (Mapping, list))}


def parse_bios(current: Mapping[str, Any], url: str, pending: Mapping[str, Any] | None,
               pending_etag: str | None) -> BiosFacts:
    result = parse_settings(current)
    return BiosFacts(
        uri=url, settings_uri=result.settings_uri if result else None,
        registry=_str(current.get("AttributeRegistry")), current=bios_attributes(current),
        pending=bios_attributes(pending) if pending is not None else {},
        pending_etag=pending_etag, result=result)


# ---------------------------------------------------------------------------------------------
# adapters, ports, functions


_SLOT_PATTERNS = (
    (re.compile(r"flex\s*-?\s*lom|flexible\s*lom|NIC\.FlexLOM", re.I), "flexlom"),
    (re.compile(r"\bLOM\b|embedded|NIC\.LOM|\bLOM\d", re.I), "embedded"),
    (re.compile(r"(?:pci-?e?\s*)?slot[\s.]*(\d+)", re.I), "pcie"),
)


def slot_from(*labels: str | None) -> str | None:
    """`NIC.FlexLOM.1.1`, `FlexLOM 1` -> flexlom; `NIC.LOM.1.1`, `Embedded LOM` -> embedded;
    `PCI-E Slot 2`, `NIC.Slot.2.1` -> pcie2."""
    for label in labels:
        if not label:
            continue
        for pattern, slot in _SLOT_PATTERNS:
            match = pattern.search(label)
            if match:
                return f"pcie{match.group(1)}" if slot == "pcie" else slot
    return None


def parse_port(doc: Mapping[str, Any], url: str | None, fallback_number: int) -> PortFacts:
    number = _int(first(doc, "PhysicalPortNumber", "PortId", "Id")) or fallback_number
    # iLO 5 2.x: Oem.Hpe.LldpData; the DMTF Port schema (v1.4+): Ethernet.LLDPReceive
    receiving = first(doc, "Oem/Hpe/LldpData/Receiving", "Ethernet/LLDPReceive", "LLDPReceive",
                      "Oem/Hpe/LLDPReceive")
    neighbour = None
    if isinstance(receiving, Mapping) and any(receiving.get(k) for k in (
            "ChassisId", "PortId", "SystemName")):
        neighbour = LldpNeighbour(
            _str(receiving.get("ChassisId")), _str(receiving.get("PortId")),
            _str(receiving.get("SystemName")),
            dcbx=bool(first(receiving, "Dcb/Ets/TlvReceived", "Dcb/Pfc/TlvReceived")
                      or (isinstance(receiving.get("Dcb"), Mapping)
                          and bool(receiving["Dcb"]))))
    speed = first(doc, "CurrentLinkSpeedMbps", "CurrentSpeedGbps", "SpeedMbps")
    if "CurrentSpeedGbps" in doc and "CurrentLinkSpeedMbps" not in doc and speed is not None:
        speed = int(float(speed) * 1000)
    return PortFacts(
        uri=url, number=number, link_status=_str(first(doc, "LinkStatus", "Status/State")),
        speed_mbps=_int(speed),
        mac=_str(first(doc, "AssociatedNetworkAddresses/0", "MacAddress",
                       "Ethernet/AssociatedMACAddresses/0")),
        neighbour=neighbour)


# IEEE 802.1AB port id subtypes whose octets are text (an interface name or alias)
_TEXT_PORT_IDS = {"IfName", "IfAlias", "LocalAssign", "PortComp", "ChassisComp"}


def has_lldp_data(doc: Mapping[str, Any]) -> bool:
    """The port document itself carries its LLDP receive data (iLO 5 2.x, DMTF Port)."""
    return first(doc, "Oem/Hpe/LldpData", "Ethernet/LLDPReceive", "LLDPReceive") is not None


def _octets_text(value: str | None) -> str | None:
    """`45:74:68:31` -> `Eth1`: HpeLLDP's PortID is colon-delimited hex octets."""
    if not value:
        return value
    parts = value.split(":")
    try:
        raw = bytes(int(p, 16) for p in parts if len(p) == 2)
    except ValueError:
        return value
    if len(raw) != len(parts):
        return value
    text = raw.decode("utf-8", "replace")
    return text if text.isprintable() else value


def parse_hpe_lldp(doc: Mapping[str, Any]) -> LldpNeighbour | None:
    """HPE's per-port `HpeLLDP` resource (HpeNetworkPortLLDP, iLO 5 1.20 on; the only LLDP view
    of iLO 5 1.x): `Receiving.ChassisID`/`PortID` spelled with `ID`, the port id as hex
    octets, and no system name."""
    receiving = doc.get("Receiving")
    if not isinstance(receiving, Mapping) or not any(
            receiving.get(k) for k in ("ChassisID", "PortID")):
        return None
    port_id = _str(receiving.get("PortID"))
    if receiving.get("PortIDSubtype") in _TEXT_PORT_IDS:
        port_id = _octets_text(port_id)
    dcb = receiving.get("Dcb")
    return LldpNeighbour(
        _str(receiving.get("ChassisID")), port_id, _str(receiving.get("SystemName")),
        dcbx=bool(first(receiving, "Dcb/Ets/TlvReceived", "Dcb/Pfc/TlvReceived"))
        if isinstance(dcb, Mapping) else False)


def parse_function(doc: Mapping[str, Any], url: str, etag: str | None,
                   port_numbers: Mapping[str, int]) -> FunctionFacts:
    """`port_numbers` maps port URIs (as the adapter lists them) to physical port numbers."""
    port_uri = link(doc, "Links/PhysicalPortAssignment", "PhysicalPortAssignment",
                    "Links/PhysicalNetworkPortAssignment", "AssignablePhysicalPorts/0",
                    "AssignablePhysicalNetworkPorts/0")
    port = port_numbers.get(_norm(port_uri)) if port_uri else None
    if port is None and port_uri:
        port = _int(port_uri.rstrip("/").rsplit("/", 1)[-1])
    caps = doc.get("NetDevFuncCapabilities") or ()
    return FunctionFacts(
        uri=url, id=str(doc.get("Id", url.rstrip("/").rsplit("/", 1)[-1])), port=port,
        func_type=_str(doc.get("NetDevFuncType")),
        capabilities=tuple(str(c) for c in caps if c is not None),
        device_enabled=_bool(doc.get("DeviceEnabled")),
        etag=etag_of(doc, etag), result=parse_settings(doc))


def _norm(uri: str | None) -> str:
    return (uri or "").lower().rstrip("/")


def parse_network_adapter(doc: Mapping[str, Any], url: str, *,
                          ports: Sequence[tuple[Mapping[str, Any], str]] = (),
                          functions: Sequence[tuple[Mapping[str, Any], str]] = ()
                          ) -> AdapterFacts:
    """A DMTF NetworkAdapter (iLO 5) with its NetworkPorts and NetworkDeviceFunctions."""
    controller = at(doc, "Controllers/0") or {}
    hpe = at(doc, "Oem/Hpe/Controllers/0") or {}
    config = _str(at(doc, "Oem/Hpe/RedfishConfiguration"))
    port_facts = tuple(parse_port(p, u, i + 1) for i, (p, u) in enumerate(ports))
    numbers = {_norm(p.uri): p.number for p in port_facts if p.uri}
    func_facts = tuple(parse_function(f, u, None, numbers) for f, u in functions)
    result = parse_settings(doc)
    return AdapterFacts(
        uri=url, id=str(doc.get("Id", "")), name=str(doc.get("Name") or doc.get("Model") or ""),
        part_number=_str(doc.get("PartNumber")), serial=_str(doc.get("SerialNumber")),
        firmware=_str(first(controller, "FirmwarePackageVersion")),
        slot=slot_from(_str(at(controller, "Location/PartLocation/ServiceLabel")),
                       _str(at(doc, "Location/PartLocation/ServiceLabel")),
                       _str(first(doc, "Oem/Hpe/StructuredName", "StructuredName")),
                       _str(doc.get("Id"))),
        dcb_capable=_bool(at(controller, "ControllerCapabilities/DataCenterBridging/Capable")),
        lldp_agent=_bool(at(hpe, "EmbeddedLLDPFunctions/Enabled")),
        redfish_configuration=config,
        # RedfishConfiguration absent: the adapter takes no Redfish writes either way
        writable=config == "Enabled",
        source="NetworkAdapter", etag=_str(doc.get("@odata.etag")),
        settings_uri=result.settings_uri if result else None, result=result,
        ports=port_facts, functions=func_facts)


def parse_base_adapter(doc: Mapping[str, Any], url: str) -> AdapterFacts:
    """An HPE BaseNetworkAdapter (iLO 4, or iLO 5 adapters without the DMTF model): read-only
    inventory and ports, no personality, no DCB. iLO 5 reports each port's link as
    `PhysicalPorts[].LinkStatus` ("LinkUp"/"LinkDown"); iLO 4 has no link field (its
    `Status.State` says the port is enabled, not that it has link): not reported."""
    ports = tuple(
        PortFacts(uri=None, number=i + 1, link_status=_str(p.get("LinkStatus")),
                  speed_mbps=_int(p.get("SpeedMbps")), mac=_str(p.get("MacAddress")))
        for i, p in enumerate(doc.get("PhysicalPorts") or ()) if isinstance(p, Mapping))
    return AdapterFacts(
        uri=url, id=str(doc.get("Id", "")), name=str(doc.get("Name") or ""),
        part_number=_str(doc.get("PartNumber")), serial=_str(doc.get("SerialNumber")),
        firmware=_str(first(doc, "Firmware/Current/VersionString", "Firmware/Current/Version")),
        slot=slot_from(_str(doc.get("StructuredName")), _str(doc.get("Location")),
                       _str(doc.get("Name"))),
        dcb_capable=None, lldp_agent=None, redfish_configuration=None, writable=False,
        source="BaseNetworkAdapter", etag=_str(doc.get("@odata.etag")), ports=ports)


# ---------------------------------------------------------------------------------------------
# the server


def parse_power(doc: Mapping[str, Any], url: str) -> PowerFacts:
    def action(block: Any, param: str) -> ResetAction | None:
        if not isinstance(block, Mapping) or not isinstance(block.get("target"), str):
            return None
        types = block.get(f"{param}@Redfish.AllowableValues") or ()
        return ResetAction(str(block["target"]), tuple(str(t) for t in types))

    return PowerFacts(
        power_state=_str(doc.get("PowerState")),
        post_state=_str(first(doc, "Oem/Hpe/PostState", "Oem/Hp/PostState")),
        reset=action(at(doc, "Actions/#ComputerSystem.Reset"), "ResetType"),
        # iLO 5 spells its OEM actions under Hpe, iLO 4 under Hp (HpComputerSystemExt)
        oem_reset=action(first(doc, "Oem/Hpe/Actions/#HpeComputerSystemExt.SystemReset",
                               "Actions/Oem/Hpe/#HpeComputerSystemExt.SystemReset",
                               "Actions/Oem/#HpeComputerSystemExt.SystemReset",
                               "Oem/Hp/Actions/#HpComputerSystemExt.SystemReset",
                               "Actions/Oem/Hp/#HpComputerSystemExt.SystemReset",
                               "Actions/Oem/#HpComputerSystemExt.SystemReset"), "ResetType"),
        boot_marker=_str(first(doc, "Oem/Hpe/PostDiscoveryCompleteTimeStamp",
                               "Oem/Hp/PostDiscoveryCompleteTimeStamp")))


def generation_of(root: Mapping[str, Any], *, bmc: str, url: str) -> tuple[Generation, str]:
    """iLO generation from the service root's OEM block: (`ilo5`, `iLO 5`).

    Raises:
        RedfishPayloadError: not an HPE iLO 4/5.
    """
    manager_type = _str(first(root, "Oem/Hpe/Manager/0/ManagerType",
                              "Oem/Hp/Manager/0/ManagerType", "Oem/Hpe/Moniker/PRODGEN"))
    match = re.fullmatch(r"iLO\s*(\d+)", manager_type or "")
    if match is None or match.group(1) not in ("4", "5"):
        raise RedfishPayloadError(
            f"{manager_type or 'no HPE OEM block'}: labharness drives iLO 4 and iLO 5 only",
            bmc=bmc, path=url, json_path="Oem/Hpe/Manager/0/ManagerType")
    return ("ilo4" if match.group(1) == "4" else "ilo5"), f"iLO {match.group(1)}"


def firmware_of(root: Mapping[str, Any], manager: Mapping[str, Any] | None) -> str | None:
    """`2.72` from the root's ManagerFirmwareVersion or the Manager's `iLO 5 v2.72`."""
    value = first(root, "Oem/Hpe/Manager/0/ManagerFirmwareVersion",
                  "Oem/Hp/Manager/0/ManagerFirmwareVersion")
    if value is None and manager is not None:
        value = first(manager, "FirmwareVersion", "Oem/Hpe/Firmware/Current/VersionString",
                      "Firmware/Current/VersionString")
    if value is None:
        return None
    match = re.search(r"(\d+\.\d+(?:\.\d+)?)", str(value))
    return match.group(1) if match else str(value)
