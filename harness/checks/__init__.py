"""Checks: pure functions from a lab and facts to findings. No I/O here."""

from harness.checks.catalog import (
    CHECKS_BY_NAME,
    DESIGN_CHECKS,
    DesignCheck,
    run_design_checks,
)
from harness.checks.finding import Finding, Severity
from harness.checks.intent import view_from_lab
from harness.checks.view import DesignView

__all__ = [
    "CHECKS_BY_NAME",
    "DESIGN_CHECKS",
    "DesignCheck",
    "DesignView",
    "Finding",
    "Severity",
    "run_design_checks",
    "view_from_lab",
]
