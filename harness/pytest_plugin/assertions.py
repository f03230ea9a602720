"""Assertion helpers that fail with the finding's own text and keep findings for the reports."""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextvars import ContextVar

import allure
import pytest

from harness.checks.finding import Finding

FINDING_PROPERTY = "labharness.finding"

# The test item being run, set by the plugin around each test call so helpers can record.
current_item: ContextVar[pytest.Item | None] = ContextVar("labharness_current_item", default=None)


def record_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Attach findings to the running test: JUnit properties, Allure attachments, summary.json."""
    recorded = list(findings)
    item = current_item.get()
    for finding in recorded:
        if item is not None:
            item.user_properties.append((FINDING_PROPERTY, finding.to_json()))
        allure.attach(finding.text(), name=f"{finding.id} {finding.subject}",
                      attachment_type=allure.attachment_type.TEXT)
        if finding.evidence:
            allure.attach(json.dumps(dict(finding.evidence), indent=2, default=str),
                          name=f"evidence {finding.subject}",
                          attachment_type=allure.attachment_type.JSON)
    return recorded


def assert_no_findings(findings: Iterable[Finding]) -> None:
    """Fail the test with each finding's note (what, cause, fix, evidence) if there are any."""
    __tracebackhide__ = True
    recorded = record_findings(findings)
    if recorded:
        pytest.fail("\n\n".join(f.text() for f in recorded), pytrace=False)
