"""Exceptions of the vSphere driver: one family, by failure domain, with structured fields.

Every pyVmomi exception the driver can meet (vim.fault.*, vmodl.fault.*, socket and TLS errors,
HTTP errors) is translated by `translate()` into one of these, carrying the endpoint, the step
that failed, the vSphere fault's type name and its message. Messages never contain a credential:
the driver passes its secrets to `translate()`, which redacts them from any text it keeps.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterable
from typing import Any, ClassVar

from harness.drivers.vsphere.vmomi import vim, vmodl
from harness.errors import EndpointUnreachable, ExitCode, LabharnessError


class VsphereError(LabharnessError):
    """A vSphere request failed.

    Attributes:
        endpoint: `host:port` of the vCenter (never the URL's user part).
        step: what the driver was doing (`login`, `snapshot`, `esx01: UpdatePortGroup`).
        reason: why, in words.
        fault: the vSphere fault or Python exception type (`vim.fault.InvalidLogin`), if any.
    """

    def __init__(self, endpoint: str, step: str, reason: str, fault: str | None = None) -> None:
        self.endpoint, self.step, self.reason, self.fault = endpoint, step, reason, fault
        suffix = f" ({fault})" if fault else ""
        super().__init__(f"vCenter {endpoint}: {step}: {reason}{suffix}")

    @property
    def transient(self) -> bool:
        """Whether retrying the same idempotent request may succeed."""
        return False


class VsphereConfigError(VsphereError):
    """The inventory cannot be used as written: bad URL, unresolvable secret, missing CA file."""


class VsphereConnectionError(VsphereError):
    """vCenter cannot be reached or dropped the connection (refused, reset, timeout, HTTP 5xx)."""

    @property
    def transient(self) -> bool:
        return True


class VsphereTlsError(VsphereConnectionError):
    """The server's certificate was not trusted, or the TLS handshake failed."""

    @property
    def transient(self) -> bool:
        return False


class VsphereAuthError(VsphereError):
    """Login refused (wrong user name or password) or the session is no longer valid."""


class VspherePermissionError(VsphereError):
    """The user is logged in but lacks the privilege for this request."""


class VsphereNotFoundError(VsphereError):
    """A named object (host, port group, vmknic, service) does not exist."""


class VsphereInvalidRequestError(VsphereError):
    """vCenter refused the request as invalid here: bad argument, wrong state, in use, exists."""


class VsphereHostUnreachableError(VsphereError):
    """vCenter cannot reach the ESXi host: disconnected, not responding, or cut off by a change."""


class VsphereTimeoutError(VsphereError):
    """No answer, or a task or change did not complete, within the allowed time."""


class VsphereTaskError(VsphereError):
    """A vCenter task ended in error; `fault` is the task's fault."""


class VsphereFaultError(VsphereError):
    """Any other vSphere fault."""


class VsphereEndpointDown(VsphereConnectionError, EndpointUnreachable):
    """vCenter stopped answering (a socket timeout, refused or reset connection after login):
    the session is down for the rest of the run and every later request fails at once with
    this, instead of waiting out its own timeout ("fail once, stay failed")."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNREACHABLE

    @property
    def transient(self) -> bool:
        return False

    def where(self) -> tuple[str, str, str] | None:
        return ("vcenter", "vcenter", self.endpoint)


class DisruptiveOperationRefused(VsphereError):
    """A remediation that changes the lab was called without allow_disruptive=True."""


_BY_FAULT: tuple[tuple[type[Any], type[VsphereError], str], ...] = (
    (vim.fault.InvalidLogin, VsphereAuthError, "invalid user name or password"),
    (vim.fault.NotAuthenticated, VsphereAuthError, "the session is not (or no longer) logged in"),
    (vim.fault.NoPermission, VspherePermissionError, "permission denied"),
    (vmodl.fault.ManagedObjectNotFound, VsphereNotFoundError, "the object no longer exists"),
    (vim.fault.NotFound, VsphereNotFoundError, "not found"),
    (vim.fault.NetworkDisruptedAndConfigRolledBack, VsphereInvalidRequestError,
     "the change would cut the host off from vCenter; the host rolled it back"),
    (vim.fault.AlreadyExists, VsphereInvalidRequestError, "already exists"),
    (vim.fault.ResourceInUse, VsphereInvalidRequestError, "in use"),
    (vim.fault.InvalidState, VsphereInvalidRequestError, "not possible in the current state"),
    (vmodl.fault.InvalidArgument, VsphereInvalidRequestError, "invalid argument"),
    (vmodl.query.InvalidProperty, VsphereInvalidRequestError, "invalid property path"),
    (vmodl.fault.NotSupported, VsphereInvalidRequestError, "not supported by this server"),
    (vmodl.fault.MethodNotFound, VsphereInvalidRequestError, "method not implemented by server"),
    (vim.fault.HostConnectFault, VsphereConnectionError, "cannot connect"),
    (vmodl.fault.HostCommunication, VsphereHostUnreachableError,
     "vCenter cannot reach the host (disconnected or not responding)"),
    (vim.fault.Timedout, VsphereTimeoutError, "timed out"),
)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def fault_name(exc: BaseException) -> str:
    """`vim.fault.InvalidLogin` for a vSphere fault, the class name for anything else."""
    return type(exc).__name__  # pyVmomi names its fault classes `vim.fault.InvalidLogin`


def _fault_detail(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None)
    if msg:
        return str(msg)
    for attr in ("invalidProperty", "name", "obj"):
        value = getattr(exc, attr, None)
        if value:
            return f"{attr}={value}"
    return ""


def _tls_reason(exc: BaseException) -> str | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or exc
        return f"the server certificate is not trusted: {detail}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}"
    text = str(getattr(exc, "msg", "") or exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:  # wrapped by pyVmomi (HostConnectFault)
        return f"the server certificate is not trusted: {text}"
    return None


def translate(exc: BaseException, endpoint: str, step: str,
              secrets: Iterable[str] = ()) -> VsphereError:
    """The driver exception for anything pyVmomi or the network raised.

    Args:
        exc: what was raised.
        endpoint: `host:port` for the message.
        step: what was being done.
        secrets: values to redact from any kept text (the password).
    """
    secrets = tuple(secrets)
    if isinstance(exc, VsphereError):
        return exc
    tls = _tls_reason(exc)
    if tls is not None:
        return VsphereTlsError(endpoint, step, _redact(tls, secrets), fault_name(exc))
    if isinstance(exc, vmodl.MethodFault):
        detail = _redact(_fault_detail(exc), secrets)
        for fault_type, cls, words in _BY_FAULT:
            if isinstance(exc, fault_type):
                reason = f"{words}: {detail}" if detail and detail != words else words
                return cls(endpoint, step, reason, fault_name(exc))
        return VsphereFaultError(endpoint, step, detail or "vSphere fault", fault_name(exc))
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return VsphereTimeoutError(endpoint, step, "no answer in time (socket timeout)",
                                   fault_name(exc))
    reason = _redact(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, http.client.HTTPException) and not isinstance(
            exc, http.client.RemoteDisconnected):
        # pyVmomi raises HTTPException("503 Service Unavailable") for a non-SOAP answer
        if reason.startswith(("502", "503", "504")):
            return VsphereConnectionError(endpoint, step, f"HTTP {reason}", fault_name(exc))
        return VsphereFaultError(endpoint, step, f"unexpected HTTP answer {reason}",
                                 fault_name(exc))
    if isinstance(exc, (ConnectionError, http.client.HTTPException, OSError)):
        return VsphereConnectionError(endpoint, step, reason, fault_name(exc))
    return VsphereFaultError(endpoint, step, _redact(str(exc) or repr(exc), secrets),
                             fault_name(exc))


def is_transient(exc: BaseException) -> bool:
    """Whether an idempotent request that raised `exc` is worth retrying: refused, reset or
    dropped connections and HTTP 502-504 are; TLS, login, faults and timeouts are not (a
    timeout already spent the time the caller allowed)."""
    return translate(exc, "", "").transient
