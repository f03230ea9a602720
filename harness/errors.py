"""The root of every error labharness raises on purpose, and the exit codes they end a run with.

Each failure domain has one family under `LabharnessError` (input files, secrets, vSphere,
Redfish, probes, SSH, depot bundles, the simulated lab), and each family carries its own
structured fields (file and line; endpoint, step and fault; BMC, request and MessageIds; agent,
op and error type). The command line catches `LabharnessError` once and exits with the error's
`exit_code`; anything else escaping is a bug and is allowed to show its traceback.

This module imports only the standard library: the probe agent, which runs on probe hosts with
nothing but python3 and scapy, shares it.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """What `labharness` exits with; documented in the README."""

    OK = 0
    FAILED = 1  # a test failed (the lab differs from its definition), or lint found an error
    BAD_INPUT = 2  # a lab, inventory, bundle or option is invalid: nothing was run
    NO_TESTS = 5  # the selection matched no test (pytest's own code)
    INTERRUPTED = 130  # SIGINT/SIGTERM


class LabharnessError(Exception):
    """An error labharness reports to the user as one clear message, never as a traceback.

    Subclasses carry structured fields (what was being done, where, why) and say which exit code
    a command ends with when the error reaches it.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED


class InputError(LabharnessError):
    """Something the user handed us is invalid (a file, an option, a reference)."""

    exit_code: ClassVar[ExitCode] = ExitCode.BAD_INPUT


class OptionError(InputError):
    """A command-line option (or its environment fallback) that cannot be used as given."""
