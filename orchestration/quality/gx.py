"""Great Expectations 1.x on DataFrames pulled from DuckDB.

GX over DuckDB through SQLAlchemy failed here on a plain not-null expectation (MetricResolutionError), so
tfm validates pandas frames: a query pulls exactly the rows and derived columns a suite needs (aggregates
and residuals computed in SQL), and the suite runs in an ephemeral GX context. Suites are JSON files in
``expectations/`` (``{"name", "description", "expectations": [{"type", "kwargs"}]}``), versioned with the
code that writes the data they check.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

SUITES_DIR = Path(__file__).resolve().parent / "expectations"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # the expectation type
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list  # a few offending values

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        count = f": {self.unexpected_count} unexpected" if self.unexpected_count else ""
        sample = f", e.g. {self.sample[:3]}" if self.sample else ""
        return f"{self.expectation}{where}{count}{sample}"


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    rows: int
    results: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [result for result in self.results if not result.success]

    def describe(self) -> str:
        if self.success:
            return f"{self.suite}: {len(self.results)} expectations passed on {self.rows:,} rows"
        return f"{self.suite}: " + "; ".join(failure.describe() for failure in self.failures)


def load_suite(name: str) -> dict:
    path = SUITES_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no expectation suite {name!r} in {SUITES_DIR}")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate(frame: pd.DataFrame, suite_name: str) -> SuiteOutcome:
    """Run one versioned suite on a frame; every expectation's outcome, never an exception for bad data."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    spec = load_suite(suite_name)
    context = _context()
    name = f"{spec['name']}-{len(context.suites.all())}"
    suite = gx.ExpectationSuite(name=name)
    for expectation in spec["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=expectation["type"], kwargs=dict(expectation["kwargs"]))
        )
    suite = context.suites.add(suite)
    source = context.data_sources.add_pandas(name)
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    run = definition.run(batch_parameters={"dataframe": frame})
    results = []
    for result in run.results:
        config = result.expectation_config
        details = result.result or {}
        results.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column") or config.kwargs.get("column_A"),
                success=bool(result.success),
                unexpected_count=details.get("unexpected_count"),
                sample=list(details.get("partial_unexpected_list") or [])[:5],
            )
        )
    return SuiteOutcome(spec["name"], len(frame), results)
