"""Reports: the run summary (summary.json and the terminal table); Allure and JUnit come from
their pytest plugins, enriched by labharness's labels and finding properties; after the tests,
report.html (finish.py) and what Allure reads besides the results (allure_extras.py)."""

from harness.report.summary import RunSummary, SummaryCollector

__all__ = ["RunSummary", "SummaryCollector"]
