"""One pyVmomi session to one vCenter: TLS as the inventory says, bounded time, counted requests.

    with VsphereConnection.from_inventory(inventory.vcenter, base_dir) as conn:
        conn.content.about.version

The connection negotiates the API version itself (pyVim's negotiation has no timeout), retries
only transient failures (refused, reset, timeout, HTTP 502-504) and never a TLS or login
failure, and logs out on exit. Every SOAP request after login passes a counting wrapper
(`requests`), which is how the driver proves its snapshot costs a handful of calls.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from harness.drivers.vsphere.errors import (
    VsphereConfigError,
    VsphereConnectionError,
    VsphereEndpointDown,
    VsphereError,
    VsphereTimeoutError,
    is_transient,
    translate,
)
from harness.drivers.vsphere.vmomi import (
    GetServiceVersions,
    GetWsdlType,
    SoapStubAdapter,
    versionIdMap,
    vim,
    vmodl,
)
from harness.lab.inventory import Secret, SecretError, TlsEndpoint, resolve_secret

T = TypeVar("T")

CONNECT_TIMEOUT = 10.0
# every SOAP request after login: a PropertyCollector page for 32 hosts takes a second or two;
# a vCenter that says nothing for this long is down (inventory `timeouts.vsphere.read`)
REQUEST_TIMEOUT = 45.0
LOGOUT_TIMEOUT = 5.0
RETRIES = 2
RETRY_DELAY = 0.5
POOL_SIZE = 8


SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def soap_fault(fault: ET.Element) -> Exception:
    """The pyVmomi exception a SOAP Fault element stands for (its detail's vSphere type, with
    the fault string as message), so `translate` classifies it like any pyVmomi fault."""
    message = fault.findtext("faultstring") or "vSphere fault"
    detail = fault.find("detail")
    name = ""
    if detail is not None and len(detail):
        first = detail[0]
        name = (first.get(f"{{{XSI}}}type") or first.tag.rsplit("}", 1)[-1].removesuffix(
            "Fault")).rsplit(":", 1)[-1]
    try:
        cls = GetWsdlType("urn:vim25", name) if name else None
    except KeyError:
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls, message = vmodl.RuntimeFault, f"{name}: {message}" if name else message
    exc: Exception = cls()
    exc.msg = message  # type: ignore[attr-defined]
    return exc


def ssl_context(verify: bool, ca_file: Path | None = None) -> ssl.SSLContext:
    """Verify against `ca_file` (or the system CAs); `verify=False` only when asked for."""
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class VsphereConnection:
    """A logged-in vSphere API session.

    Attributes:
        endpoint: `host:port`, used in every error message.
        requests: SOAP requests sent since login (login itself not counted).
        calls: method names of those requests, in order (`RetrievePropertiesEx`, ...).
    """

    def __init__(self, url: str, username: str, password: Secret, *,
                 context: ssl.SSLContext, connect_timeout: float = CONNECT_TIMEOUT,
                 request_timeout: float = REQUEST_TIMEOUT, retries: int = RETRIES,
                 retry_delay: float = RETRY_DELAY, logout_timeout: float = LOGOUT_TIMEOUT
                 ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            where = parts.netloc.rpartition("@")[2] or "?"  # never echo a user:password@
            raise VsphereConfigError(where, "inventory",
                                     "the vCenter url must be https://HOST[:PORT][/sdk]")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.path = parts.path.rstrip("/") or "/sdk"
        self.endpoint = f"{self.host}:{self.port}"
        self.username = username
        self._password = password
        self._context = context
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.logout_timeout = logout_timeout
        self.down: VsphereEndpointDown | None = None  # set by the first transport failure
        self.requests = 0
        self.calls: list[str] = []
        self.slowest: tuple[float, str] = (0.0, "")  # seconds, method: a stall shows here
        self._lock = threading.Lock()
        self._stub: Any = None
        self._content: Any = None

    @classmethod
    def from_inventory(cls, endpoint: TlsEndpoint, base_dir: Path,
                       **kwargs: Any) -> VsphereConnection:
        """A connection as an inventory's `vcenter` entry describes it (not yet opened).

        Raises:
            VsphereConfigError: the password reference cannot be resolved or the CA file is
                missing.
        """
        url = str(endpoint.url)
        where = urlsplit(url).netloc.rpartition("@")[2]
        try:
            password = resolve_secret(endpoint.password, base_dir)
        except SecretError as exc:
            raise VsphereConfigError(where, "credentials", str(exc)) from None
        ca_file = None
        if endpoint.ca_file:
            ca_file = Path(endpoint.ca_file).expanduser()
            ca_file = ca_file if ca_file.is_absolute() else base_dir / ca_file
            if not ca_file.is_file():
                raise VsphereConfigError(where, "tls", f"ca_file {ca_file} does not exist")
        try:
            context = ssl_context(endpoint.verify_tls, ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise VsphereConfigError(where, "tls", f"ca_file {ca_file}: {exc}") from None
        return cls(url, endpoint.username, password, context=context, **kwargs)

    # -----------------------------------------------------------------------------------------
    # session

    @property
    def content(self) -> Any:
        """The ServiceContent retrieved at login (about, propertyCollector, viewManager...)."""
        if self._content is None:
            raise VsphereError(self.endpoint, "session", "not connected: call open() first")
        return self._content

    @property
    def stub(self) -> Any:
        """The pyVmomi stub, to bind managed objects by id: `vim.HostSystem(moid, conn.stub)`."""
        if self._stub is None:
            raise VsphereError(self.endpoint, "session", "not connected: call open() first")
        return self._stub

    def open(self) -> VsphereConnection:
        """Negotiate the API version and log in, retrying transient failures.

        Raises:
            VsphereTlsError, VsphereConnectionError, VsphereAuthError, VsphereTimeoutError.
        """
        if self._stub is None:
            self.retrying("login", self._login)
        return self

    def _login(self) -> None:
        version = self._negotiate()
        stub = SoapStubAdapter(host=self.host, port=self.port, path=self.path, version=version,
                               sslContext=self._context, poolSize=POOL_SIZE,
                               httpConnectionTimeout=self.request_timeout)
        try:
            content = vim.ServiceInstance("ServiceInstance", stub).RetrieveContent()
            content.sessionManager.Login(self.username, self._password.reveal(), None)
        except BaseException:
            stub.DropConnections()
            raise
        invoke = stub.InvokeMethod

        def counting(mo: Any, info: Any, args: Any, *rest: Any) -> Any:
            name = str(info.wsdlName if info.wsdlName != "Fetch" else
                       f"Fetch {args[0] if args else ''}")
            with self._lock:
                self.requests += 1
                self.calls.append(name)
            started = time.monotonic()
            try:
                return invoke(mo, info, args, *rest)
            finally:
                took = time.monotonic() - started
                if took > self.slowest[0] and name != "WaitForUpdatesEx":  # waits on purpose
                    self.slowest = (took, name)

        stub.InvokeMethod = counting
        self._stub, self._content = stub, content

    def _negotiate(self) -> str:
        """The newest API version both pyVmomi and the server speak, from vimServiceVersions.xml,
        fetched with the connect timeout (this is what proves reachability and TLS)."""
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.connect_timeout,
                                           context=self._context)
        try:
            conn.request("GET", f"{self.path}/vimServiceVersions.xml")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status in (502, 503, 504):
            raise http.client.HTTPException(f"{resp.status} {resp.reason}")
        try:
            root = ET.fromstring(body) if resp.status == 200 else None
        except ET.ParseError:
            root = None
        if root is None or root.tag != "namespaces":
            raise VsphereConnectionError(
                self.endpoint, "login", f"not a vSphere API endpoint: GET {self.path}"
                f"/vimServiceVersions.xml answered HTTP {resp.status}")
        offered = {v.text for ns in root.findall("namespace")
                   for v in [ns.find("version"), *ns.findall("priorVersions/version")]
                   if v is not None}
        for version in GetServiceVersions("vim25"):
            if versionIdMap.get(version) in offered:
                return str(version)
        raise VsphereConnectionError(self.endpoint, "login", "no API version in common; the "
                                     f"server offers {sorted(x for x in offered if x)}")

    def close(self) -> None:
        """Log out (within `logout_timeout`; not at all when the endpoint is down) and drop the
        HTTP connections; safe to call twice."""
        stub, content = self._stub, self._content
        self._stub = self._content = None
        if stub is None:
            return
        if self.down is None:
            # the session expires on the server anyway: a logout that hangs is abandoned
            logout = threading.Thread(target=_quietly, args=(content.sessionManager.Logout,),
                                      name=f"logout-{self.endpoint}", daemon=True)
            logout.start()
            logout.join(self.logout_timeout)
        stub.DropConnections()

    def __enter__(self) -> VsphereConnection:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------
    # calls

    def call(self, step: str, fn: Callable[[], T]) -> T:
        """Run one request, translating whatever it raises into a VsphereError.

        Raises:
            VsphereEndpointDown: the endpoint stopped answering, now or earlier in the run.
        """
        return self._after(self._attempt(step, fn))

    def post(self, step: str, method: str, body: str, *, extra_s: float = 0.0) -> ET.Element:
        """One SOAP request that pyVmomi has no binding for (the host's esxcli executer),
        sent over this session's connection pool, cookie and TLS context, counted like every
        other request, and retried like them when the failure is transient.

        Args:
            step: what the request is for, for error messages.
            method: its method name (for `calls`).
            body: the SOAP Body's content, in the urn:vim25 namespace.
            extra_s: seconds the server needs on purpose before it answers (a vmkping's
                echoes), added to the read timeout for this request only.

        Returns:
            the Body's response element.

        Raises:
            VsphereError: transport failures, HTTP errors and SOAP faults (the fault's vSphere
                type decides the class, as for pyVmomi's own calls).
        """
        stub = self.stub
        data = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAPENV}"'
                f' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
                f' xmlns:xsi="{XSI}"><soapenv:Body>{body}</soapenv:Body>'
                "</soapenv:Envelope>").encode()
        headers = {"Cookie": stub.cookie, "SOAPAction": stub.versionId,
                   "Content-Type": "text/xml; charset=UTF-8"}

        def once() -> ET.Element:
            with self._lock:
                self.requests += 1
                self.calls.append(method)
            conn = stub.GetConnection()
            base = conn.timeout
            try:
                if extra_s:
                    conn.timeout = (base or self.request_timeout) + extra_s
                    if conn.sock is not None:
                        conn.sock.settimeout(conn.timeout)
                conn.request("POST", stub.path, data, headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                stub.DropConnections()  # as pyVmomi does: the server is probably sick
                raise
            if extra_s:
                conn.timeout = base
                if conn.sock is not None:
                    conn.sock.settimeout(base)
            stub.ReturnConnection(conn)
            if resp.status not in (200, 500):
                raise http.client.HTTPException(f"{resp.status} {resp.reason}")
            try:
                root = ET.fromstring(payload)
            except ET.ParseError as exc:
                raise VsphereConnectionError(self.endpoint, step,
                                             f"not a SOAP answer ({exc})") from None
            fault = root.find(f".//{{{SOAPENV}}}Fault")
            if fault is not None:
                raise soap_fault(fault)
            answer = root.find(f"{{{SOAPENV}}}Body")
            if answer is None or len(answer) == 0:
                raise VsphereConnectionError(self.endpoint, step, "a SOAP answer without a body")
            return answer[0]

        return self.retrying(step, once)

    def retrying(self, step: str, fn: Callable[[], T]) -> T:
        """Run an idempotent request, retrying transient failures `retries` times."""
        delay, attempt = self.retry_delay, 0
        while True:
            got = self._attempt(step, fn)
            if not isinstance(got, _Failed) or not is_transient(got.error) \
                    or attempt >= self.retries:
                return self._after(got)
            attempt += 1
            time.sleep(delay)
            delay *= 2

    def _attempt(self, step: str, fn: Callable[[], T]) -> T | _Failed:
        if self.down is not None:
            raise VsphereEndpointDown(self.endpoint, step, f"down since {self.down.step}: "
                                      f"{self.down.reason}", self.down.fault)
        try:
            return fn()
        except VsphereError as exc:
            return _Failed(exc)
        except Exception as exc:
            return _Failed(translate(exc, self.endpoint, step, [self._password.reveal()]))

    def _after(self, got: T | _Failed) -> T:
        """The result, or the error raised; a transport failure of a logged-in session marks
        the endpoint down for the rest of the run (a socket timeout is not waited out twice)."""
        if not isinstance(got, _Failed):
            return got
        exc = got.error
        transport = (type(exc) is VsphereConnectionError
                     or (type(exc) is VsphereTimeoutError and exc.fault in _SOCKET_TIMEOUTS))
        if transport and self._stub is not None:
            self.down = VsphereEndpointDown(exc.endpoint, exc.step, exc.reason, exc.fault)
            raise self.down
        raise exc


_SOCKET_TIMEOUTS = ("TimeoutError", "timeout")


class _Failed:
    """A request's translated failure, held until retry or raise is decided."""

    __slots__ = ("error",)

    def __init__(self, error: VsphereError) -> None:
        self.error = error


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:
        pass  # nothing to report at teardown
