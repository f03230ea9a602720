"""Exceptions of the OPNsense driver: one family, each naming the router, the request and what
the API answered.

OPNsense answers errors with small JSON bodies: 401 `{"status":401,"message":"Authentication
Failed"}`, 403 `{"status":403,"message":"Forbidden"}`, 404 `{"errorMessage":"Endpoint not
found"}` (24.7 and later; 400 `{"message":"controller ... not found"}` before). `api_message`
keeps whichever the router sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from harness.errors import EndpointUnreachable, ExitCode, LabharnessError


def api_message(body: Any) -> str:
    """The message of an OPNsense error body (`message`, `errorMessage`), or ""."""
    if isinstance(body, Mapping):
        for key in ("message", "errorMessage"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return ""


class OpnsenseError(LabharnessError):
    """An OPNsense API operation on one router failed.

    Attributes:
        router: the router's name in the lab (`opnsense01`).
        endpoint: the API's base (`https://198.19.255.2`).
        method, path: the request (`GET`, `/api/core/firmware/status`), "" when none.
        status: the HTTP status, or None when no reply came.
        api_message: what the API said (`Authentication Failed`, `Endpoint not found`).
    """

    def __init__(self, message: str, *, router: str, endpoint: str = "", method: str = "",
                 path: str = "", status: int | None = None, api_message: str = "") -> None:
        self.message, self.router, self.endpoint = message, router, endpoint
        self.method, self.path, self.status, self.api_message = method, path, status, api_message
        where = f"{method} {endpoint}{path}".strip()
        status_text = f" -> {status}" if status is not None else ""
        said = f" ({api_message})" if api_message else ""
        super().__init__(f"opnsense {router}: {where}{status_text}: {message}{said}" if where
                         else f"opnsense {router}: {message}{said}")


class OpnsenseConnectionError(OpnsenseError, EndpointUnreachable):
    """The API could not be reached: refused, timed out, TLS verification failed."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNREACHABLE


class OpnsenseAuthError(OpnsenseError, EndpointUnreachable):
    """The key and secret were refused (401), or the key's user may not use the endpoint
    (403), or they could not be resolved from the inventory."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNREACHABLE


class OpnsenseRequestError(OpnsenseError):
    """The API refused a request (404 unknown endpoint, 400, 5xx)."""


class OpnsensePayloadError(OpnsenseError):
    """An answer lacks a field the driver needs, or has it in a shape no OPNsense release
    documents.

    Attributes:
        json_path: where in the document (`rows[2].mtu`).
    """

    def __init__(self, message: str, *, router: str, endpoint: str = "", path: str,
                 json_path: str) -> None:
        self.json_path = json_path
        super().__init__(f"{json_path}: {message}", router=router, endpoint=endpoint,
                         method="GET", path=path)
