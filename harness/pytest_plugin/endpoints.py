"""Which endpoints of the inventory a run reached, and which it could not.

An endpoint the inventory names (vCenter, a BMC, an SSH host, a probe VM) that cannot be
reached or logged in to is an error of every test that needs it, never a skip, and the run's
summary names it with the reason: a nightly run whose vCenter is down must not look green.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from harness.pytest_plugin.state import ENDPOINTS_KEY, NOTES_KEY, Endpoints, EndpointStatus


def endpoints(config: pytest.Config) -> Endpoints:
    found = config.stash.get(ENDPOINTS_KEY, None)
    if found is None:
        found = config.stash[ENDPOINTS_KEY] = Endpoints()
    return found


def reached(config: pytest.Config, kind: str, name: str, address: str) -> None:
    endpoints(config).record(EndpointStatus(kind, name, address, True))


def unreachable(config: pytest.Config, kind: str, name: str, address: str,
                reason: str) -> NoReturn:
    """Record the endpoint as unreachable and fail the asking test (an error in setup)."""
    endpoints(config).record(EndpointStatus(kind, name, address, False, reason))
    pytest.fail(f"{kind} {name} ({address}) is unreachable: {reason}", pytrace=False)


def run_notes(config: pytest.Config) -> list[str]:
    """Notes about how the run measured something (kept in summary.json and printed)."""
    found = config.stash.get(NOTES_KEY, None)
    if found is None:
        found = config.stash[NOTES_KEY] = []
    return found
