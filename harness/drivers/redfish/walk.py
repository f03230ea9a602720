"""The server-build walk: one pass over one iLO into ServerFacts, in as few requests as iLO allows.

iLO 5: ComputerSystem, Bios and Bios/Settings, then the NetworkAdapters collection expanded
(`$expand=.`, one level, as iLO does) and, per adapter, its NetworkPorts and
NetworkDeviceFunctions collections expanded. The iLO generation and firmware come from the
service root the session already read, so the Manager is only fetched when the root lacks them.
iLO 4 has no DMTF adapter model: its read-only `Systems/1/NetworkAdapters` (HpBaseNetworkAdapter)
is read instead. With three adapters that is 11 requests on iLO 5; login and logout add 3.
iLO 5 1.x ports carry no LLDP data: each port of an adapter with an LLDP agent costs one more
GET, of its `HpeLLDP` resource.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from harness.drivers.redfish.client import RedfishBmc
from harness.drivers.redfish.errors import RedfishPayloadError, ResourceMissingError
from harness.drivers.redfish.parse import (
    etag_of,
    firmware_of,
    generation_of,
    has_lldp_data,
    link,
    parse_base_adapter,
    parse_bios,
    parse_hpe_lldp,
    parse_network_adapter,
    parse_power,
)
from harness.facts.redfish import AdapterFacts, PortFacts, ServerFacts

EXPAND = "?$expand=."


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) + "/"


def members(bmc: RedfishBmc, collection: str) -> list[tuple[dict[str, Any], str, str | None]]:
    """Every member of a collection as (document, URI, ETag): one expanded GET, plus one GET per
    member only when the service did not expand."""
    reply = bmc.get(collection + EXPAND)
    out: list[tuple[dict[str, Any], str, str | None]] = []
    for i, member in enumerate(reply.body.get("Members") or reply.body.get("Items") or ()):
        if not isinstance(member, Mapping):
            continue
        uri = member.get("@odata.id") or link(member, "links/self")
        if not isinstance(uri, str):
            raise RedfishPayloadError("member without @odata.id", bmc=bmc.name,
                                      path=collection, json_path=f"Members[{i}]")
        if set(member) <= {"@odata.id", "href"}:  # not expanded: fetch it
            got = bmc.get(uri)
            out.append((got.body, uri, got.etag))
        else:
            out.append((dict(member), uri, etag_of(member, None)))
    return out


def read_server(bmc: RedfishBmc) -> ServerFacts:
    """Read everything the server-build checks need from a logged-in BMC.

    Raises:
        RedfishError: a request failed; RedfishPayloadError: not an iLO 4/5 or a reply lacks
            what the walk needs (names the JSON path and URL).
    """
    start_count, start = bmc.requests, time.perf_counter()
    notes: list[str] = []
    generation, manager_type = generation_of(bmc.root, bmc=bmc.name, url="/redfish/v1/")
    systems = link(bmc.root, "Systems", "links/Systems") or "/redfish/v1/Systems/"
    system_uri = _join(systems, "1")
    system = bmc.get(system_uri).body

    firmware = firmware_of(bmc.root, None)
    if firmware is None:
        manager = link(bmc.root, "Managers", "links/Managers") or "/redfish/v1/Managers/"
        firmware = firmware_of(bmc.root, bmc.get(_join(manager, "1")).body)

    bios_uri = link(system, "Bios", "Oem/Hpe/Links/BIOS", "Oem/Hp/Links/BIOS",
                    "Oem/Hp/links/BIOS") or _join(system_uri, "bios")
    bios = bmc.get(bios_uri).body
    settings_uri = link(bios, "@Redfish.Settings/SettingsObject", "Oem/Hp/Links/Settings",
                        "Oem/Hpe/Links/Settings", "links/Settings") or _join(bios_uri, "settings")
    pending = bmc.get(settings_uri)
    bios_facts = parse_bios(bios, bios_uri, pending.body, etag_of(pending.body, pending.etag))
    if bios_facts.settings_uri is None:
        bios_facts = replace(bios_facts, settings_uri=settings_uri)

    adapters: list[AdapterFacts] = []
    view = ""
    if generation == "ilo5":
        chassis = link(system, "Links/Chassis/0") or "/redfish/v1/Chassis/1/"
        view = _join(chassis, "NetworkAdapters")
        try:
            for doc, uri, etag in members(bmc, view):
                ports_uri = link(doc, "NetworkPorts", "Ports")
                funcs_uri = link(doc, "NetworkDeviceFunctions")
                ports = [(p, u) for p, u, _ in members(bmc, ports_uri)] if ports_uri else []
                funcs = members(bmc, funcs_uri) if funcs_uri else []
                adapter = parse_network_adapter(doc, uri, ports=ports,
                                                functions=[(f, u) for f, u, _ in funcs])
                adapter = _hpe_lldp(bmc, adapter, ports)
                etags = {u: e for _, u, e in funcs}
                adapter = _with_etags(adapter, etag, etags)
                adapters.append(adapter)
        except ResourceMissingError:
            notes.append(f"{view} is absent: the adapters have no DMTF model on this iLO 5; "
                         "using the read-only BaseNetworkAdapters view")
            view = ""
        if view and not adapters:
            # iLO 5 on Gen10 Plus can list the collection, present but empty, while the
            # adapters are under Systems/1/BaseNetworkAdapters: an empty list is no answer
            notes.append(f"{view} lists no adapters on this iLO 5; using the read-only "
                         "BaseNetworkAdapters view")
            view = ""
    if not view:
        view = _join(system_uri, "BaseNetworkAdapters" if generation == "ilo5"
                     else "NetworkAdapters")
        adapters = [parse_base_adapter(doc, uri) for doc, uri, _ in members(bmc, view)]

    power = parse_power(system, system_uri)
    return ServerFacts(
        name=bmc.name, url=bmc.url, generation=generation, manager_type=manager_type,
        firmware=firmware, model=_model(system), serial=_text(system.get("SerialNumber")),
        system_uri=system_uri, power=power, bios=bios_facts, adapters=tuple(adapters),
        adapter_view=view, requests=bmc.requests - start_count,
        elapsed_ms=(time.perf_counter() - start) * 1000, notes=tuple(notes))


def _hpe_lldp(bmc: RedfishBmc, adapter: AdapterFacts,
              docs: list[tuple[dict[str, Any], str]]) -> AdapterFacts:
    """Neighbours from each port's `HpeLLDP` resource where the port document has no LLDP data
    of its own: iLO 5 1.x reports LLDP only there. Read only for adapters with an embedded
    LLDP agent, so a 2.x walk (LldpData inline) makes no extra request."""
    if adapter.lldp_agent is None or all(has_lldp_data(doc) for doc, _ in docs):
        return adapter
    ports: list[PortFacts] = []
    for port, (doc, uri) in zip(adapter.ports, docs, strict=True):
        if not has_lldp_data(doc):
            try:
                port = replace(port, neighbour=parse_hpe_lldp(bmc.get(_join(uri, "HpeLLDP")).body))
            except ResourceMissingError:
                pass  # this port has no HpeLLDP either: nothing heard
        ports.append(port)
    return replace(adapter, ports=tuple(ports))


def _with_etags(adapter: AdapterFacts, etag: str | None,
                function_etags: Mapping[str, str | None]) -> AdapterFacts:
    funcs = tuple(replace(f, etag=function_etags.get(f.uri) or f.etag)
                  for f in adapter.functions)
    return replace(adapter, etag=etag or adapter.etag, functions=funcs)


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def _model(system: Mapping[str, Any]) -> str | None:
    return _text(system.get("Model"))
