"""Exceptions of the Redfish driver: one family, each naming the BMC, the request and the
Redfish MessageIds the service answered with.

iLO versions its message registries (`Base.1.4.PropertyValueNotInList`, `iLO.2.14.
SystemResetRequired`), so callers match on the last segment (`short_ids`), never the full id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.errors import EndpointUnreachable, ExitCode, LabharnessError
from harness.facts.redfish import RedfishMessage


def messages_of(body: Any) -> tuple[RedfishMessage, ...]:
    """The extended-info messages of a Redfish reply body (error wrapper or legacy Messages)."""
    if not isinstance(body, Mapping):
        return ()
    items: list[Any] = []
    error = body.get("error")
    if isinstance(error, Mapping):
        items = list(error.get("@Message.ExtendedInfo") or [])
        if not items and error.get("code"):
            items = [{"MessageId": error["code"], "Message": error.get("message", "")}]
    if not items:
        items = list(body.get("@Message.ExtendedInfo") or body.get("Messages") or [])
    return tuple(RedfishMessage.from_json(i) for i in items if isinstance(i, Mapping))


class RedfishError(LabharnessError):
    """A Redfish operation on one BMC failed.

    Attributes:
        bmc: the BMC's name in the lab (`srv-esx03`) or its URL.
        method, path: the request that failed ("" when no request was involved).
        status: the HTTP status, or None when no reply came.
        messages: the service's extended-info messages.
    """

    def __init__(self, message: str, *, bmc: str, method: str = "", path: str = "",
                 status: int | None = None,
                 messages: Sequence[RedfishMessage] = ()) -> None:
        self.message, self.bmc, self.method, self.path = message, bmc, method, path
        self.status = status
        self.messages = tuple(messages)
        where = f"{method} {path}".strip()
        status_text = f" -> {status}" if status is not None else ""
        ids = f" [{', '.join(m.text() for m in self.messages)}]" if self.messages else ""
        super().__init__(f"{bmc}: {where}{status_text}: {message}{ids}" if where
                         else f"{bmc}: {message}{ids}")

    @property
    def message_ids(self) -> tuple[str, ...]:
        return tuple(m.message_id for m in self.messages)

    @property
    def short_ids(self) -> tuple[str, ...]:
        return tuple(m.short_id for m in self.messages)


class RedfishConnectionError(RedfishError):
    """The BMC could not be reached: refused, timed out, TLS verification failed, retries spent."""


class RedfishEndpointDown(RedfishConnectionError, EndpointUnreachable):
    """The BMC stopped answering after login: the session is down for the rest of the run and
    every later request fails at once with this ("fail once, stay failed")."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNREACHABLE

    def __init__(self, message: str, *, address: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.address = address

    def where(self) -> tuple[str, str, str] | None:
        return ("bmc", self.bmc, self.address)


class RedfishAuthError(RedfishError):
    """Login refused (401 UnauthorizedLoginAttempt) or the session is gone (NoValidSession)."""


class RedfishRequestError(RedfishError):
    """The service rejected a request (4xx/5xx) for a reason no subclass names."""


class PropertyValueError(RedfishRequestError):
    """A value is not allowed (PropertyValueNotInList, PropertyValueTypeError,
    ActionParameterValueNotInList); `allowed` lists the valid values when known."""

    def __init__(self, message: str, *, allowed: Sequence[str] = (), **kw: Any) -> None:
        self.allowed = tuple(allowed)
        if self.allowed:
            message = f"{message}; allowed: {', '.join(self.allowed)}"
        super().__init__(message, **kw)


class PropertyUnknownError(RedfishRequestError):
    """The resource has no such property (PropertyUnknown)."""


class PropertyNotWritableError(RedfishRequestError):
    """The property is read-only here (PropertyNotWritable, iLO PropertyNotWritableOrUnknown)."""


class PreconditionFailedError(RedfishRequestError):
    """412: the resource changed since it was read (stale ETag in If-Match)."""


class ResourceMissingError(RedfishRequestError):
    """404: no resource at that URI (ResourceMissingAtURI)."""


class InvalidStateError(RedfishRequestError):
    """Not now: InvalidOperationForSystemState or UnableToModifyDuringSystemPOST."""


class RedfishPayloadError(RedfishError):
    """A reply lacks a field the driver needs or has it in an unexpected shape.

    Attributes:
        json_path: where in the document (`Oem.Hpe.PostState`).
    """

    def __init__(self, message: str, *, bmc: str, path: str, json_path: str) -> None:
        self.json_path = json_path
        super().__init__(f"{json_path}: {message}", bmc=bmc, method="GET", path=path)


class ResetTimeoutError(RedfishError):
    """The server did not come back to FinishedPost within the timeout.

    Attributes:
        states: the (PowerState, PostState) pairs seen while waiting, in order.
    """

    def __init__(self, message: str, *, bmc: str, timeout: float,
                 states: Sequence[tuple[str | None, str | None]]) -> None:
        self.timeout = timeout
        self.states = tuple(states)
        super().__init__(message, bmc=bmc)


@dataclass
class SettingsOutcome:
    """What the settings messages after a reset say about one pending change."""

    resource: str
    applied: bool
    messages: tuple[RedfishMessage, ...] = ()
    mismatches: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (want, got)


class SettingsNotAppliedError(RedfishError):
    """After the reset, a settings object reports failure or the re-read value differs."""

    def __init__(self, message: str, *, bmc: str, outcomes: Sequence[SettingsOutcome]) -> None:
        self.outcomes = tuple(outcomes)
        msgs = [m for o in self.outcomes for m in o.messages]
        super().__init__(message, bmc=bmc, messages=msgs)


class RemediationRefused(RedfishError):
    """The BMC cannot make this change (iLO 4, or an adapter Redfish may not configure);
    `manual_fix` says what to change by hand."""

    def __init__(self, message: str, *, bmc: str, manual_fix: str) -> None:
        self.manual_fix = manual_fix
        super().__init__(f"{message}. By hand: {manual_fix}", bmc=bmc)


# last segment of a MessageId -> the exception that names it
BY_SHORT_ID: Mapping[str, type[RedfishRequestError]] = {
    "PropertyValueNotInList": PropertyValueError,
    "PropertyValueTypeError": PropertyValueError,
    "PropertyValueFormatError": PropertyValueError,
    "ActionParameterValueNotInList": PropertyValueError,
    "ActionParameterMissing": PropertyValueError,
    "PropertyUnknown": PropertyUnknownError,
    "PropertyNotWritable": PropertyNotWritableError,
    "PropertyNotWritableOrUnknown": PropertyNotWritableError,
    "PreconditionFailed": PreconditionFailedError,
    "ResourceMissingAtURI": ResourceMissingError,
    "InvalidOperationForSystemState": InvalidStateError,
    "UnableToModifyDuringSystemPOST": InvalidStateError,
}
