"""Read one OPNsense router through its REST API into `RouterFacts`, in one pass.

The firmware version comes first: it says which endpoints and shapes the release has
(interfaces overview from 24.1, tunables from 25.1, full source NAT rows from 25.7). Every
read is cited in `RouterFacts.reads`, so a finding can name the API call its evidence came
from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from harness.drivers.opnsense import parse
from harness.drivers.opnsense.client import OpnsenseClient
from harness.drivers.opnsense.errors import OpnsensePayloadError
from harness.facts.router import RouterFacts

FIRMWARE = "/api/core/firmware/status"
INTERFACES = "/api/interfaces/overview/interfacesInfo"
INTERFACE_CONFIG = "/api/diagnostics/interface/getInterfaceConfig"  # before 24.1
INTERFACE_NAMES = "/api/diagnostics/interface/getInterfaceNames"
ROUTES = "/api/diagnostics/interface/getRoutes"
GATEWAYS = "/api/routes/gateway/status"
TUNABLES = "/api/core/tunables/searchItem"  # 25.1+
SOURCE_NAT = "/api/firewall/source_nat/searchRule"  # 24.1+

T = TypeVar("T")


def _parsed(client: OpnsenseClient, path: str, parser: Callable[[Any], T]) -> T:
    """GET `path` and parse it; a shape no release documents is an OpnsensePayloadError."""
    doc = client.get(path)
    try:
        return parser(doc)
    except parse.PayloadProblem as exc:
        raise OpnsensePayloadError(str(exc), router=client.router, endpoint=client.url,
                                   path=path, json_path=exc.json_path) from None


def read_router(client: OpnsenseClient) -> RouterFacts:
    """Firmware, interfaces, routing table, gateways, forwarding and source NAT of one router.

    Raises:
        OpnsenseConnectionError, OpnsenseAuthError: the API did not answer or refused the key.
        OpnsenseRequestError: an endpoint the router's release should have refused the call.
        OpnsensePayloadError: an answer in a shape no OPNsense release documents.
    """
    firmware = _parsed(client, FIRMWARE, parse.parse_firmware)
    reads = {"firmware": client.where(FIRMWARE)}
    if firmware.series >= (24, 1):
        interfaces = _parsed(client, INTERFACES, parse.parse_interfaces)
        reads["interfaces"] = client.where(INTERFACES)
    else:
        names = client.get(INTERFACE_NAMES)
        interfaces = _parsed(client, INTERFACE_CONFIG,
                             lambda doc: parse.parse_interface_config(doc, names))
        reads["interfaces"] = client.where(INTERFACE_CONFIG)
    routes = _parsed(client, ROUTES, parse.parse_routes)
    reads["routes"] = client.where(ROUTES)
    gateways = _parsed(client, GATEWAYS, parse.parse_gateways)
    reads["gateways"] = client.where(GATEWAYS)
    forwarding = None
    if firmware.series >= (25, 1):
        forwarding = _parsed(client, TUNABLES, parse.parse_forwarding)
        reads["forwarding"] = client.where(TUNABLES)
    nat = None
    if firmware.series >= (24, 1):
        nat = _parsed(client, SOURCE_NAT, parse.parse_source_nat)
        reads["nat"] = client.where(SOURCE_NAT)
    return RouterFacts(
        name=client.router, kind="opnsense", source=f"{client.url}/api",
        interfaces=interfaces, routes=routes, firmware=firmware.text,
        version=firmware.version, forwarding=forwarding, gateways=gateways, nat=nat,
        reads=reads)
