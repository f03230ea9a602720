"""A pytest plugin `test_signals` loads into a `labharness run` (through PYTEST_ADDOPTS): SIGINT
while pytest collects, then pytest's own report of the interrupt fails, as pytest 8's does
when the signal lands on an instruction without a line number (seen in CI: "unsupported
operand type(s) for -: 'NoneType' and 'int'" from its traceback rendering)."""

from __future__ import annotations

import os
import signal

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    os.kill(os.getpid(), signal.SIGINT)


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")
