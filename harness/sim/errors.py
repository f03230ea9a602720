"""The simulated lab's error family: every way building or running the sim can fail.

`SimError` is the root; each part of the sim (data-plane plan and build, scenarios, the iLO
emulator, lh-vcsim and its provisioning) has its own subclass carrying what it knows.
"""

from __future__ import annotations

from typing import ClassVar

from harness.errors import ExitCode, LabharnessError


class SimError(LabharnessError):
    """The simulated lab cannot be brought up, or a part of it failed (what and why)."""


class UnknownScenarioError(SimError):
    """A scenario name that is no incident the sim reproduces (bad input: nothing was built)."""

    exit_code: ClassVar[ExitCode] = ExitCode.BAD_INPUT
