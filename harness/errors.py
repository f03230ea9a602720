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
    UNREACHABLE = 3  # an endpoint the inventory names (vCenter, BMC, SSH, probe) did not answer
    ERRORS = 4  # tests ended without a verdict: a harness fault (a probe agent, a simulator died)
    NO_TESTS = 5  # the selection matched no test (pytest's own code)
    REPORT_IO = 6  # the report directory cannot be written (missing, read-only, full)
    INTERRUPTED = 130  # SIGINT (128 + 2)
    TERMINATED = 143  # SIGTERM (128 + 15)


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


class NotProvided(LabharnessError):
    """The lab or inventory does not have what a test needs (a probe VM for this host, a BMC
    for this server). The pytest plugin turns it into a skip that says what to add; anything
    else a driver raises inside a test is an error of that test, never a skip."""


class EndpointUnreachable(LabharnessError):
    """An endpoint the inventory names did not answer or refused the login: the tests that need
    it end as errors (no verdict), and the run exits with UNREACHABLE.

    Drivers whose transport failed raise a subclass that says which endpoint (`where()`), so the
    run's summary can name it even when it went down in the middle of a test.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.UNREACHABLE

    def where(self) -> tuple[str, str, str] | None:
        """(kind, name, address) of the endpoint, when the raiser knows it."""
        return None
