"""The labharness pytest plugin: options, fixtures, markers, readable ids, Allure labels.

Registered through the `pytest11` entry point as `labharness`; test code imports its helpers
from here.
"""

from harness.pytest_plugin.assertions import assert_no_findings, record_findings

__all__ = ["assert_no_findings", "record_findings"]
