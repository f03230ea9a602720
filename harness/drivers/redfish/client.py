"""One Redfish session to one BMC, on DMTF python-redfish-library.

The library never raises on an HTTP status and turns TLS verification off unless given a CA
file, so this class adds what a harness needs on top: TLS verification as the inventory says,
every non-2xx reply mapped to a typed exception carrying the MessageIds, bounded retries (503
busy, one re-login when the session expired), If-Match on writes, and a count of every HTTP
request sent (a counting transport adapter), so request budgets can be asserted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import redfish
import requests
import requests.adapters
import urllib3
from redfish.rest import v1 as rf

from harness.drivers.redfish.errors import (
    BY_SHORT_ID,
    RedfishAuthError,
    RedfishConnectionError,
    RedfishEndpointDown,
    RedfishError,
    RedfishRequestError,
    messages_of,
)
from harness.lab.inventory import SecretError, TlsEndpoint, resolve_secret

DEFAULT_SESSIONS = "/redfish/v1/SessionService/Sessions/"
BUSY_RETRIES = 3  # 503 "busy" replies retried with back-off before giving up
BUSY_BACKOFF_S = 0.5


@dataclass(frozen=True)
class Reply:
    """A successful Redfish reply: the path asked, status, JSON body and ETag header."""

    path: str
    status: int
    body: dict[str, Any]
    etag: str | None
    headers: Mapping[str, str]


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request as it went over the wire."""

    method: str
    path: str
    status: int | None
    elapsed_ms: float


@dataclass
class RequestLog:
    """Every HTTP request a BMC session sent, retries and login included."""

    records: list[RequestRecord] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.records)

    def since(self, mark: int) -> list[RequestRecord]:
        return self.records[mark:]


class _CountingAdapter(requests.adapters.HTTPAdapter):
    """A transport adapter that logs each request it sends."""

    def __init__(self, log: RequestLog) -> None:
        super().__init__(max_retries=0)
        self._log = log

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        start = time.perf_counter()
        status: int | None = None
        try:
            response = super().send(request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            path = urlsplit(request.url or "").path
            self._log.records.append(RequestRecord(
                str(request.method), path, status, (time.perf_counter() - start) * 1000))


def tls_verify(endpoint: TlsEndpoint, base_dir: Path) -> bool | str:
    """What to verify the BMC's certificate against: the inventory's CA file, the system CA
    bundle, or nothing when the inventory turns verification off."""
    if not endpoint.verify_tls:
        return False
    if endpoint.ca_file:
        path = Path(endpoint.ca_file).expanduser()
        return str(path if path.is_absolute() else base_dir / path)
    return str(requests.utils.DEFAULT_CA_BUNDLE_PATH)


class RedfishBmc:
    """A Redfish session to one iLO: `with RedfishBmc.from_inventory(...) as bmc: ...`.

    Args:
        name: the server's name in the lab; every error names it.
        url: `https://host[:port]` of the BMC.
        verify: False, or a CA bundle path the certificate must chain to.
        timeout: seconds per HTTP request, or (connect, read) seconds.
        retries: transport retries per request (the library sleeps 1 s between them).
        logout_timeout: seconds the logout at the end may take (it is abandoned after).
    """

    def __init__(self, name: str, url: str, username: str, password: str, *,
                 verify: bool | str = True, timeout: float | tuple[float, float] = 30.0,
                 retries: int = 1, logout_timeout: float = 5.0) -> None:
        self.name = name
        parts = urlsplit(url)
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._username = username
        self._password = password
        self.verify = verify
        self.timeout = timeout
        self.retries = retries
        self.logout_timeout = logout_timeout
        self.down: RedfishEndpointDown | None = None  # set by the first transport failure
        self.log = RequestLog()
        self.root: dict[str, Any] = {}
        self._client: Any = None
        self._logged_in = False

    @classmethod
    def from_inventory(cls, name: str, endpoint: TlsEndpoint, base_dir: Path,
                       **kwargs: Any) -> RedfishBmc:
        """A session (not yet logged in) as the inventory entry describes it.

        Raises:
            RedfishAuthError: the password reference cannot be resolved.
        """
        try:
            password = resolve_secret(endpoint.password, base_dir).reveal()
        except SecretError as exc:
            raise RedfishAuthError(f"credentials: {exc}", bmc=name) from None
        return cls(name, str(endpoint.url), endpoint.username, password,
                   verify=tls_verify(endpoint, base_dir), **kwargs)

    # -- session ------------------------------------------------------------------------------

    def login(self) -> None:
        """Read the service root (unauthenticated) and open a session.

        Raises:
            RedfishConnectionError: unreachable, TLS verification failed, root not served.
            RedfishAuthError: credentials refused.
        """
        if self.verify is False:
            # the inventory turned verification off for this BMC explicitly
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        client = redfish.redfish_client(
            base_url=self.url, username=self._username, password=self._password,
            cafile=self.verify if isinstance(self.verify, str) else None,
            timeout=self.timeout, max_retry=self.retries, check_connectivity=False)
        adapter = _CountingAdapter(self.log)
        client._session.mount("https://", adapter)
        client._session.mount("http://", adapter)
        self._client = client
        try:
            client.get_root_object()
        except rf.RetriesExhaustedError as exc:
            raise RedfishConnectionError(_cause(exc), bmc=self.name, method="GET",
                                         path="/redfish/v1/") from None
        except rf.ServerDownOrUnreachableError as exc:
            raise RedfishConnectionError(str(exc), bmc=self.name, method="GET",
                                         path="/redfish/v1/") from None
        except rf.JsonDecodingError:
            raise RedfishConnectionError("the service root is not JSON: not a Redfish service",
                                         bmc=self.name, method="GET",
                                         path="/redfish/v1/") from None
        self.root = dict(client.root) if isinstance(client.root, dict) else {}
        client.login_url = sessions_uri(self.root)
        self._session_login()

    def _session_login(self) -> None:
        """POST the credentials to the Sessions collection; keep X-Auth-Token and Location."""
        path = self._client.login_url
        self._client.set_session_key(None)  # a stale token must not ride along
        try:
            resp = self._client.post(path, body={"UserName": self._username,
                                                 "Password": self._password},
                                     max_retry=self.retries)
        except rf.RetriesExhaustedError as exc:
            raise RedfishConnectionError(_cause(exc), bmc=self.name, method="POST",
                                         path=path) from None
        status, messages = int(resp.status), messages_of(_json(resp))
        if status in (200, 201) and resp.session_key:
            self._client.set_session_key(resp.session_key)
            self._client.set_session_location(resp.session_location)
            self._logged_in = True
            if any(m.short_id == "PasswordChangeRequired" for m in messages):
                self.logout()  # free the session slot it holds: nobody will use it
                raise RedfishAuthError("the BMC requires a password change before use",
                                       bmc=self.name, method="POST", path=path,
                                       status=status, messages=messages)
            return
        if status == 401:
            raise RedfishAuthError(f"login as {self._username!r} refused: check the "
                                   "inventory's username and password", bmc=self.name,
                                   method="POST", path=path, status=status, messages=messages)
        why = ("the BMC's session limit is reached: end stale sessions (iLO web interface > "
               "Information > Sessions) or wait for them to time out"
               if any(m.short_id == "SessionLimitExceeded" for m in messages)
               else "no session was created")
        raise RedfishAuthError(why, bmc=self.name, method="POST", path=path, status=status,
                               messages=messages)

    def logout(self) -> None:
        """End the session (DELETE on its Location, within `logout_timeout`, not retried; not
        tried at all when the BMC is down); never raises for an already-gone BMC."""
        if self._client is None:
            return
        client, self._client = self._client, None
        try:
            location = client.get_session_location() if self._logged_in else None
            if location and self.down is None:
                connect = self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout
                client.delete(urlsplit(location).path, max_retry=0,
                              timeout=(min(connect, self.logout_timeout), self.logout_timeout))
        except (rf.BadRequestError, rf.RetriesExhaustedError, requests.RequestException):
            pass  # the session is gone or the BMC down: nothing left to free
        finally:
            self._logged_in = False
            client._session.close()

    def __enter__(self) -> RedfishBmc:
        self.login()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.logout()

    @property
    def requests(self) -> int:
        """HTTP requests sent so far by this session (root, login and retries included)."""
        return self.log.count

    # -- requests -----------------------------------------------------------------------------

    def get(self, path: str) -> Reply:
        """GET a resource. Raises a RedfishError subclass on any non-2xx reply."""
        return self._request("GET", path)

    def patch(self, path: str, body: Mapping[str, Any], etag: str | None) -> Reply:
        """PATCH with `If-Match: etag` (the ETag of the resource as read); None sends none."""
        headers = {"If-Match": etag} if etag else {}
        return self._request("PATCH", path, dict(body), headers)

    def post(self, path: str, body: Mapping[str, Any]) -> Reply:
        """POST (actions). Not retried on transport errors: an action must not run twice."""
        return self._request("POST", path, dict(body), retries=0)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, retries: int | None = None) -> Reply:
        if self.down is not None:
            raise self.down
        if self._client is None:
            raise RedfishAuthError("not logged in", bmc=self.name, method=method, path=path)
        path = urlsplit(path).path if "://" in path else path
        relogged = False
        for attempt in range(BUSY_RETRIES + 1):
            try:
                send = {"GET": self._client.get, "PATCH": self._client.patch,
                        "POST": self._client.post, "DELETE": self._client.delete}[method]
                kwargs: dict[str, Any] = {"headers": dict(headers or {}), "max_retry":
                                          self.retries if retries is None else retries}
                if body is not None:
                    kwargs["body"] = body
                resp = send(path, **kwargs)
            except rf.RetriesExhaustedError as exc:
                if self._logged_in:  # it answered before: down for the rest of the run
                    self.down = RedfishEndpointDown(
                        f"stopped answering: {_cause(exc)}", bmc=self.name, method=method,
                        path=path, address=self.url)
                    raise self.down from None
                raise RedfishConnectionError(_cause(exc), bmc=self.name, method=method,
                                             path=path) from None
            status = int(resp.status)
            if status == 503 and attempt < BUSY_RETRIES:
                time.sleep(BUSY_BACKOFF_S * 2 ** attempt)
                continue
            if status == 401 and not relogged and self._logged_in:
                # iLO drops idle sessions; log in again once and repeat the request
                relogged = True
                self._session_login()
                continue
            break
        body_json = _json(resp)
        if 200 <= status < 300:
            return Reply(path, status, body_json, resp.getheader("ETag"),
                         {k: v for k, v in resp.getheaders()})
        raise self._error(method, path, status, body_json)

    def _error(self, method: str, path: str, status: int, body: Any) -> RedfishError:
        messages = messages_of(body)
        kw: dict[str, Any] = {"bmc": self.name, "method": method, "path": path,
                              "status": status, "messages": messages}
        if status == 401:
            return RedfishAuthError("no valid session", **kw)
        for m in messages:
            cls = BY_SHORT_ID.get(m.short_id)
            if cls is not None:
                return cls(_describe(m.short_id, m.args), **kw)
        if status == 412:
            return BY_SHORT_ID["PreconditionFailed"]("the resource changed since it was read "
                                                     "(stale ETag)", **kw)
        if status == 404:
            return BY_SHORT_ID["ResourceMissingAtURI"]("no such resource", **kw)
        return RedfishRequestError("request refused", **kw)


def sessions_uri(root: Mapping[str, Any]) -> str:
    """Where to POST a login: `Links.Sessions` (Redfish), `links.Sessions.href` (iLO 4)."""
    for container, key in (("Links", "@odata.id"), ("links", "href")):
        link = root.get(container, {}).get("Sessions", {}) if isinstance(
            root.get(container), Mapping) else {}
        if isinstance(link, Mapping) and isinstance(link.get(key), str):
            return str(link[key])
    return DEFAULT_SESSIONS  # iLO 4 wants the trailing slash; the library's fallback has none


def _json(resp: Any) -> Any:
    try:
        return resp.dict
    except Exception:  # a body that is not JSON (a proxy's HTML page): keep the status
        return {}


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(cause)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ("TLS certificate verification failed; give the BMC's CA in the inventory "
                f"(ca_file) or set verify_tls: false for it ({text})")
    return f"unreachable: {type(cause).__name__}: {text}"


def _describe(short_id: str, args: tuple[str, ...]) -> str:
    if short_id in ("PropertyValueNotInList", "ActionParameterValueNotInList") and len(args) >= 2:
        return f"value {args[0]} is not allowed for {args[1]}"
    if short_id == "PropertyUnknown" and args:
        return f"no property {args[0]}"
    if short_id.startswith("PropertyNotWritable") and args:
        return f"{args[0]} is read-only"
    if short_id == "PreconditionFailed":
        return "the resource changed since it was read (stale ETag)"
    return short_id
