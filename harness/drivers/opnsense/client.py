"""One OPNsense REST API session to one router, on requests.

OPNsense authenticates every API call with HTTP Basic (the API key as user name, the secret
as password), so there is no login and no session to end. This class adds what a harness
needs: TLS verification as the inventory says (the router's CA or its own certificate in
`ca_file`), bounded connect and read timeouts, every non-2xx reply mapped to a typed error
that carries OPNsense's own message, and a log of every request sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from harness.drivers.opnsense.errors import (
    OpnsenseAuthError,
    OpnsenseConnectionError,
    OpnsenseError,
    OpnsenseRequestError,
    api_message,
)
from harness.lab.inventory import OpnsenseApi, ProtocolTimeouts, SecretError, resolve_secret

CONNECT_TIMEOUT_S = 10.0  # the inventory's timeouts.opnsense.connect default


@dataclass(frozen=True)
class ApiRecord:
    """One request as it went over the wire."""

    method: str
    path: str
    status: int | None
    elapsed_ms: float


@dataclass
class ApiLog:
    records: list[ApiRecord] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.records)


def tls_verify(api: OpnsenseApi, base_dir: Path) -> bool | str:
    """What to verify the router's certificate against: the inventory's CA file, the system CA
    bundle, or nothing when the inventory turns verification off explicitly."""
    if not api.verify_tls:
        return False
    if api.ca_file:
        path = Path(api.ca_file).expanduser()
        return str(path if path.is_absolute() else base_dir / path)
    return True


class OpnsenseClient:
    """GET JSON from one router's API: `OpnsenseClient.from_inventory(...).get("core/...")`.

    Args:
        router: the router's name in the lab; every error names it.
        url: `https://host[:port]` of the web GUI (any path is ignored: the API is `/api`).
        verify: False, True (system CAs) or a CA bundle path.
        timeout: seconds to connect (TCP and TLS) and to wait for each answer.
    """

    def __init__(self, router: str, url: str, key: str, secret: str, *,
                 verify: bool | str = True,
                 timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, 30.0)) -> None:
        parts = urlsplit(url)
        self.router = router
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.verify = verify
        self.timeout = timeout
        self.log = ApiLog()
        self._session = requests.Session()
        self._session.auth = (key, secret)
        self._session.headers["Accept"] = "application/json"
        if verify is False:
            # the inventory turned verification off for this router explicitly
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    @classmethod
    def from_inventory(cls, router: str, api: OpnsenseApi, base_dir: Path,
                       timeouts: ProtocolTimeouts | None = None) -> OpnsenseClient:
        """A client as the inventory entry (and its `timeouts.opnsense`) describes it.

        Raises:
            OpnsenseAuthError: the key or secret reference cannot be resolved.
        """
        try:
            key = resolve_secret(api.key, base_dir).reveal()
            secret = resolve_secret(api.secret, base_dir).reveal()
        except SecretError as exc:
            raise OpnsenseAuthError(f"credentials: {exc}", router=router,
                                    endpoint=str(api.url)) from None
        t = timeouts or ProtocolTimeouts(connect=CONNECT_TIMEOUT_S, read=30)
        return cls(router, str(api.url), key, secret, verify=tls_verify(api, base_dir),
                   timeout=(t.connect, t.read))

    def close(self) -> None:
        self._session.close()

    def where(self, path: str) -> str:
        """`GET https://host/api/...`: how findings cite a read."""
        return f"GET {self.url}{path}"

    def get(self, path: str) -> Any:
        """GET `/api/...` and return the decoded JSON.

        Raises:
            OpnsenseConnectionError: unreachable, timed out, TLS verification failed.
            OpnsenseAuthError: 401 or 403.
            OpnsenseRequestError: any other non-2xx answer, or a body that is not JSON.
        """
        start = time.perf_counter()
        status: int | None = None
        kw: dict[str, Any] = {"router": self.router, "endpoint": self.url, "method": "GET",
                              "path": path}
        try:
            # verify per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE
            resp = self._session.get(self.url + path, timeout=self.timeout, verify=self.verify,
                                     allow_redirects=False)
            status = resp.status_code
        except requests.exceptions.SSLError as exc:
            raise OpnsenseConnectionError(
                "TLS certificate verification failed; give the router's CA (or its own "
                f"certificate) in the inventory's ca_file, or set verify_tls: false ({exc})",
                **kw) from None
        except requests.exceptions.Timeout:
            raise OpnsenseConnectionError(f"no answer within {self.timeout[1]:g} s",
                                          **kw) from None
        except requests.exceptions.RequestException as exc:
            raise OpnsenseConnectionError(f"unreachable: {type(exc).__name__}: {exc}",
                                          **kw) from None
        finally:
            self.log.records.append(ApiRecord("GET", path, status,
                                              (time.perf_counter() - start) * 1000))
        try:
            body = resp.json()
        except ValueError:
            body = None
        if status in (401, 403):
            raise OpnsenseAuthError(
                "the API key was refused: check the inventory's key and secret" if status == 401
                else "the API key's user may not use this endpoint (privileges)",
                status=status, api_message=api_message(body), **kw)
        if not 200 <= status < 300:
            raise OpnsenseRequestError("request refused", status=status,
                                       api_message=api_message(body), **kw)
        if body is None:
            raise OpnsenseRequestError("the answer is not JSON: not an OPNsense API",
                                       status=status, **kw)
        return body


__all__ = ["ApiLog", "ApiRecord", "OpnsenseClient", "OpnsenseError", "tls_verify"]
