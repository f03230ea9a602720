"""OPNsense driver: a router's REST API (HTTPS, API key and secret by Basic auth).

`OpnsenseClient` is one router's API (TLS verified as the inventory says, bounded timeouts,
typed errors carrying OPNsense's own message, a request log); `read_router` reads firmware,
interfaces, routing table, gateways, forwarding and source NAT into `RouterFacts`.
"""

from harness.drivers.opnsense.client import ApiLog, ApiRecord, OpnsenseClient
from harness.drivers.opnsense.errors import (
    OpnsenseAuthError,
    OpnsenseConnectionError,
    OpnsenseError,
    OpnsensePayloadError,
    OpnsenseRequestError,
)
from harness.drivers.opnsense.read import read_router

__all__ = [
    "ApiLog",
    "ApiRecord",
    "OpnsenseAuthError",
    "OpnsenseClient",
    "OpnsenseConnectionError",
    "OpnsenseError",
    "OpnsensePayloadError",
    "OpnsenseRequestError",
    "read_router",
]
