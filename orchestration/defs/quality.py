"""The Great Expectations suites as Dagster asset checks: on each raw table per billing period (partition),
and on each public mart over every period it holds.

One check per suite section (``gx_schema``, ``gx_values``, ``gx_period``), evaluated together in one step per
table. A section marked ``"blocking": true`` in its suite file is a blocking check: when it fails, Dagster
does not run the steps that depend on the table in the same run (for a mart: the Python models and the marts
that publish them, the publish and the close; marts dbt builds in the same dbt step as the checked mart are
not held back, dbt's own tests guard those). A failed non-blocking section is a warning. Validation results
are rendered as GX Data Docs under ``$TFM_HOME/quality/data_docs``.

No `from __future__ import annotations` here: Dagster inspects the context annotations at definition time.
"""

import warnings
from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.defs.ingest import billing_months, partition_period
from orchestration.defs.resources import TfmWarehouse
from orchestration.quality.suites import (
    QualityContext,
    TableOutcome,
    TableSuite,
    table_suites,
    validate_table,
)
from orchestration.settings import Settings

MAX_FAILURES_IN_METADATA = 10


def check_name(section: str) -> str:
    return f"gx_{section}"


def _specs(suite: TableSuite, partitioned: bool) -> list[dg.AssetCheckSpec]:
    scope = "of the partition's billing period" if partitioned else "of every billing period in the table"
    # Checks partitioned like their asset are a preview feature of Dagster 1.13 (it warns on each spec); a raw
    # table's checks must be, to run with the billing period the raw asset materializes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _build_specs(suite, partitioned, scope)


def _build_specs(suite: TableSuite, partitioned: bool, scope: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            check_name(section.name),
            asset=dg.AssetKey(suite.asset_key),
            blocking=section.blocking,
            description=(
                f"Great Expectations suite {suite.suite_name(section.name)} on the rows {scope}: "
                f"{section.description} {'Blocking' if section.blocking else 'Warns'} when it fails."
            ),
            partitions_def=billing_months if partitioned else None,
            metadata={"suite_file": f"orchestration/quality/expectations/{suite.name}.json"},
        )
        for section in suite.sections.values()
    ]


def _results(suite: TableSuite, outcome: TableOutcome, docs: str | None):
    """One AssetCheckResult per section: passed, or failed as an error (blocking) or a warning."""
    key = dg.AssetKey(suite.asset_key)
    if outcome.skipped is not None:
        for section in suite.sections.values():
            yield dg.AssetCheckResult(
                asset_key=key, check_name=check_name(section.name), passed=True,
                metadata={"skipped": outcome.skipped, "rows": 0},
            )  # fmt: skip
        return
    for section, result in zip(outcome.sections, outcome.check_results(), strict=True):
        metadata = {
            "result": result.value or "",
            "status": result.status,
            "rows": outcome.rows,
            "periods": outcome.billing_period or "all",
            "expectations": section.evaluated,
            "seconds": round(outcome.seconds, 2),
        }
        if outcome.cost is not None:
            metadata["cost"] = round(outcome.cost, 2)
        if section.failures:
            failed = [
                {k: f[k] for k in ("expectation", "column", "description", "threshold", "unexpected_count")}
                for f in section.failures[:MAX_FAILURES_IN_METADATA]
            ]
            metadata["failing_expectations"] = dg.MetadataValue.json(failed)
            metadata["threshold"] = result.threshold or ""
        if result.sample:
            metadata["sample"] = dg.MetadataValue.json(result.sample)
        if docs:
            metadata["data_docs"] = dg.MetadataValue.path(docs)
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=check_name(section.section.name),
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR if section.section.blocking else dg.AssetCheckSeverity.WARN,
            description=result.description,
            metadata=metadata,
        )


_CONTEXTS: dict[Path, QualityContext] = {}


def _quality_context(data_docs: Path) -> QualityContext:
    """One GX context per Data Docs folder in a process: the steps of a run share it."""
    if data_docs not in _CONTEXTS or not (data_docs.parent / "gx").is_dir():
        _CONTEXTS[data_docs] = QualityContext(data_docs)
    return _CONTEXTS[data_docs]


def _validate(context, warehouse: TfmWarehouse, suite: TableSuite, period: date | None):
    settings = Settings.from_env()
    run_name = f"{period:%Y-%m} " if period else ""
    run_name += f"dagster run {context.run.run_id[:8]}"
    with warehouse.connect() as con:
        # GX writes its stores and Data Docs while this step holds the warehouse: one writer at a time.
        gx_context = _quality_context(settings.data_docs)
        outcome = validate_table(con, suite, gx_context, period=period, run_name=run_name)
        index = gx_context.build_data_docs()
    for section in outcome.sections:
        context.log.info(f"{suite.suite_name(section.section.name)}: {section.status}: {section.summary()}")
    return outcome, str(index) if index else None


def _raw_check(suite: TableSuite) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"gx_{suite.name}",
        specs=_specs(suite, partitioned=True),
        description=f"Great Expectations on {suite.table}, one billing period (partition) at a time.",
        pool="warehouse",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: TfmWarehouse):
        period = partition_period(context.partition_key)
        outcome, docs = _validate(context, warehouse, suite, period)
        yield from _results(suite, outcome, docs)

    return _check


def _mart_check(suite: TableSuite) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"gx_{suite.name}",
        specs=_specs(suite, partitioned=False),
        description=f"Great Expectations on {suite.table}, every billing period it holds.",
        pool="warehouse",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: TfmWarehouse):
        outcome, docs = _validate(context, warehouse, suite, None)
        yield from _results(suite, outcome, docs)

    return _check


raw_quality_checks = [_raw_check(suite) for suite in table_suites() if suite.is_landing]
mart_quality_checks = [_mart_check(suite) for suite in table_suites() if not suite.is_landing]
quality_checks = [*raw_quality_checks, *mart_quality_checks]


def checks_for(selection: dg.AssetSelection, assets: list, resources: dict) -> dg.AssetSelection:
    """The Great Expectations checks of the marts a selection of ``assets`` materializes (a dbt selection
    selects dbt's own tests as checks, not these)."""
    definitions = dg.Definitions(assets=assets, asset_checks=mart_quality_checks, resources=resources)
    graph = definitions.resolve_asset_graph()
    selected = selection.resolve(graph)
    chosen = [key for check in mart_quality_checks for key in check.check_keys if key.asset_key in selected]
    return dg.AssetSelection.checks(*chosen)
