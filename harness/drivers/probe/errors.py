"""Exceptions of the probe driver, one family, each naming the agent, the op and what failed."""

from __future__ import annotations

from typing import Any

from harness.errors import LabharnessError


class ProbeError(LabharnessError):
    """A probe request failed.

    Attributes:
        namespace: the agent's namespace (or `ssh://user@host:port` for a remote agent).
        op: the request's op (`echo`, `path_mtu`, ...), or "" for start-up failures.
        error_type: the agent's error type (`NoArpReply`, `BadRequest`, ...).
        detail: the agent's structured facts (interface, address, argument).
    """

    def __init__(self, message: str, *, namespace: str, op: str = "",
                 error_type: str = "ProbeError", detail: dict[str, Any] | None = None) -> None:
        self.message, self.namespace, self.op = message, namespace, op
        self.error_type, self.detail = error_type, dict(detail or {})
        where = f"{namespace} {op}".strip()
        super().__init__(f"{where}: {message}" if where else message)


class PolicyError(ProbeError):
    """The agent refused: the request names an interface or destination outside its policy."""


class AgentUnavailable(ProbeError):
    """The agent cannot be reached: not started, exited, connection lost, SSH refused."""


class ProbeTimeout(ProbeError):
    """No answer within the timeout; the agent may still be working on the request."""

    def __init__(self, message: str, *, namespace: str, op: str = "", timeout: float) -> None:
        super().__init__(message, namespace=namespace, op=op, error_type="Timeout",
                         detail={"timeout": timeout})
        self.timeout = timeout
