"""A pytest plugin `test_internal_error` loads into a `labharness run` (through PYTEST_ADDOPTS):
it raises while pytest unconfigures, after every test ran, out of pytest.main itself (a bug in
pytest or a plugin, not a fault of the lab)."""

from __future__ import annotations

import pytest

MESSAGE = "lh-test: a plugin failed while pytest unconfigured"


def pytest_unconfigure(config: pytest.Config) -> None:
    raise RuntimeError(MESSAGE)
