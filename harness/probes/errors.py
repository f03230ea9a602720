"""Why a probe could not run, as the agent reports it on the wire.

A probe that ran and measured a failure (no ARP reply, no echo reply) returns a result saying
so; these exceptions are for requests the agent refuses or cannot carry out. `wire_type` is the
`error.type` string the harness maps back to its own exception family.
"""

from __future__ import annotations

from typing import ClassVar

from harness.errors import LabharnessError

Detail = str | int | float | bool | None


class ProbeFailure(LabharnessError):
    """A probe could not be carried out; `detail` holds the structured facts behind `message`."""

    wire_type: ClassVar[str] = "ProbeFailed"

    def __init__(self, message: str, **detail: Detail) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class PolicyRefused(ProbeFailure):
    """The request names an interface or destination outside the agent's safety policy."""

    wire_type: ClassVar[str] = "PolicyError"


class BadRequest(ProbeFailure):
    """The request is malformed: unknown op, unknown or mistyped argument."""

    wire_type: ClassVar[str] = "BadRequest"


class InterfaceError(ProbeFailure):
    """The interface does not exist or cannot be used (down, no address)."""

    wire_type: ClassVar[str] = "InterfaceError"


class NoRoute(ProbeFailure):
    """The namespace's routing table has no route to the destination."""

    wire_type: ClassVar[str] = "NoRoute"


class NoArpReply(ProbeFailure):
    """The next hop did not answer ARP, so there is no MAC to send to (never broadcast)."""

    wire_type: ClassVar[str] = "NoArpReply"


class Unreachable(ProbeFailure):
    """The destination answered no probe at all, at any size."""

    wire_type: ClassVar[str] = "Unreachable"
