"""Diagnosis: the run's findings grouped into ranked root causes with evidence chains.

Sits above the checks and below the reports: pure functions of the lab and the findings.
"""

from harness.diagnosis.causes import Cause, ChainStep, diagnose, finding_layer

__all__ = ["Cause", "ChainStep", "diagnose", "finding_layer"]
