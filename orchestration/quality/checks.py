"""One result type for every data-quality check tfm runs: dbt tests, Great Expectations suites, close checks.

The close report, the Dagster asset checks and the CLI all read ``CheckResult``: what was checked, its
measured value beside its threshold, whether a failure blocks what depends on it, and a few offending rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["pass", "warn", "fail", "error"]
SAMPLE_ROWS = 10


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable identifier, e.g. "invoice_reconciliation", "gx:landing_aws_cur2"
    layer: str  # "dbt", "gx" or "close"
    target: str  # what was checked: a table ("marts.fct_focus_charges") or a billing period ("2026-02")
    status: Status  # "error": the check itself could not run (counts as a failure)
    blocking: bool  # a failing blocking check stops what depends on it (the publish, the close)
    description: str  # one sentence a person reads: what the check proves
    value: str | None = None  # what was measured, as a person reads it
    threshold: str | None = None  # what it had to be
    sample: list[dict] = field(default_factory=list)  # up to SAMPLE_ROWS offending rows
    billing_period: str | None = None  # "YYYY-MM" when the check is about one period

    @property
    def blocks(self) -> bool:
        return self.blocking and self.status in ("fail", "error")

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def blocking_failures(results: list[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.blocks]
