"""Publishing and the monthly close as Dagster assets, downstream of every model they read.

``published_warehouse`` copies the audited warehouse over the file analysts read; ``period_close`` audits and
freezes one billing period. Both depend on every dbt model and Python model, so a failed model or a failing
blocking check (a dbt test, a Great Expectations suite) stops them: nothing is published from a build that did
not pass.

No `from __future__ import annotations` here: Dagster inspects the context annotations at definition time.
"""

import json
import time
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from orchestration.defs.dbt import tfm_dbt_models
from orchestration.defs.predictions import prediction_assets
from orchestration.defs.resources import TfmWarehouse
from orchestration.settings import Settings

PUBLISHED = dg.AssetKey(["published_warehouse"])
PERIOD_CLOSE = dg.AssetKey(["period_close"])


def _upstream() -> list[dg.AssetKey]:
    keys = set(tfm_dbt_models.keys)
    for asset in prediction_assets:
        keys |= set(asset.keys)
    return sorted(keys, key=lambda k: k.to_user_string())


def dbt_summary_since(target_root: Path, since: float) -> dict | None:
    """Test outcomes of the dbt invocations whose results were written after ``since`` (this run's)."""
    counts: dict[str, int] = {}
    failures: list[dict] = []
    found = False
    for results in sorted(target_root.glob("*/run_results.json")):
        if results.stat().st_mtime < since:
            continue
        found = True
        for result in json.loads(results.read_text(encoding="utf-8")).get("results", []):
            if not result.get("unique_id", "").startswith("test."):
                continue
            status = result.get("status", "unknown")
            counts[status] = counts.get(status, 0) + 1
            if status in ("warn", "fail", "error"):
                failures.append(
                    {
                        "test": result["unique_id"].split(".")[-1],
                        "status": status,
                        "failures": result.get("failures"),
                    }
                )
    if not found:
        return None
    return {**counts, "failures": failures}


def _record_whole_build(context: dg.AssetExecutionContext, con) -> None:
    """Every model of a whole build passed: the next build rebuilds only the billing periods changed since."""
    from orchestration.defs.dbt import dbt_project
    from orchestration.incremental import project_fingerprint, record_whole_build

    periods = record_whole_build(con, project_fingerprint(dbt_project.manifest_path), context.run.run_id)
    context.log.info(f"recorded the raw data of {periods} billing periods as built")


def _run_started(context: dg.AssetExecutionContext) -> float:
    stats = context.instance.get_run_stats(context.run.run_id)
    return (stats.start_time or time.time()) - 1.0


@dg.asset(
    key=PUBLISHED,
    deps=_upstream(),
    group_name="publish",
    kinds={"duckdb"},
    description=(
        "The copy of the warehouse analysts read (tfm sql, BI tools): $TFM_HOME/published/warehouse.duckdb, replaced "
        "atomically once every model and every blocking check of a whole build has passed. A failed or killed "
        "build leaves it as it was."
    ),
    pool="warehouse",
)
def published_warehouse(context: dg.AssetExecutionContext, warehouse: TfmWarehouse):
    from orchestration.close import ensure_close_schema, refresh_closed_views, write_restatement_reports
    from orchestration.publish import publish

    settings = Settings.from_env()
    with warehouse.connect() as con:
        _record_whole_build(context, con)
        ensure_close_schema(con)
        refresh_closed_views(con)
        restated = write_restatement_reports(con, settings)
        for period, path in restated:
            context.log.warning(
                f"closed period {period} was restated by the provider since its close; the closed numbers are "
                f"unchanged until it is closed again; differences in {path}"
            )
        publication = publish(
            con, settings, reason=f"build (run {context.run.run_id[:8]})", log=context.log.info
        )
    tests = dbt_summary_since(settings.dbt_target_dir, _run_started(context))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(publication.path)),
            "size_mb": round(publication.bytes / 1e6, 1),
            "seconds": round(publication.seconds, 2),
            "restated_closed_periods": [p for p, _ in restated],
            **({"dbt_tests": _test_counts(tests)} if tests else {}),
        }
    )


def _test_counts(summary: dict) -> str:
    """``'412 passed, 2 warned, 0 failed'``: the outcomes of this run's dbt tests."""
    passed, warned = summary.get("pass", 0), summary.get("warn", 0)
    failed = summary.get("fail", 0) + summary.get("error", 0)
    return f"{passed} passed, {warned} warned, {failed} failed"


class CloseConfig(dg.Config):
    periods: list[str] = Field(description="The billing periods to close, YYYY-MM, each on its own.")
    closed_by: str = Field("dagster", description="Who closes them (recorded with each close version).")


@dg.asset(
    key=PERIOD_CLOSE,
    deps=_upstream(),
    group_name="close",
    kinds={"duckdb"},
    description=(
        "The monthly close of billing periods: every close check (landing complete, sources and days present, "
        "invoices reconciled, allocation conserved, the thresholds of seeds/close_policy.csv, dbt tests, Great "
        "Expectations suites); a period none of whose blocking checks fails is frozen as close version n+1 "
        "(schema closed), then the warehouse is published. A period that fails is not frozen. Reports in "
        "$TFM_HOME/close/YYYY-MM/."
    ),
    pool="warehouse",
)
def period_close(context: dg.AssetExecutionContext, config: CloseConfig, warehouse: TfmWarehouse):
    from orchestration.close import close_period
    from orchestration.publish import publish

    settings = Settings.from_env()
    periods = [date.fromisoformat(f"{p}-01") for p in config.periods]
    summary = dbt_summary_since(settings.dbt_target_dir, _run_started(context))
    outcomes = []
    with warehouse.connect() as con:
        _record_whole_build(context, con)
        for period in periods:
            outcome = close_period(
                con, settings, period, closed_by=config.closed_by, dbt_summary=summary, log=context.log.info,
                publish_after=False,
            )  # fmt: skip
            (context.log.info if outcome.succeeded else context.log.error)(outcome.summary())
            outcomes.append(outcome)
        closed = [o for o in outcomes if o.succeeded]
        if closed:
            versions = ", ".join(f"{o.period:%Y-%m} v{o.close_version}" for o in closed)
            publish(con, settings, reason=f"close {versions}", log=context.log.info)
    metadata = {
        "closed": {f"{o.period:%Y-%m}": o.close_version for o in closed},
        "not_closed": [f"{o.period:%Y-%m}" for o in outcomes if not o.succeeded],
        "reports": [str(o.report_markdown) for o in outcomes],
        "warnings": sorted({c.name for o in outcomes for c in o.warnings}),
        "blocking_failures": sorted({c.name for o in outcomes for c in o.blocking}),
    }
    failed = [o for o in outcomes if not o.succeeded]
    if failed:
        raise dg.Failure(description=" | ".join(o.summary() for o in failed), metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


close_assets = [published_warehouse, period_close]

_models = dg.AssetSelection.assets(tfm_dbt_models, *prediction_assets)
build_job = dg.define_asset_job(
    "build",
    selection=_models | dg.AssetSelection.assets(published_warehouse),
    description=(
        "Build every dbt model and Python model with their checks (dbt tests, Great Expectations), then publish "
        "(what tfm build runs, and build_after_ingest after the sensor's loads). Only the billing periods whose "
        "loaded files changed since the last whole build are rebuilt."
    ),
)
models_job = dg.define_asset_job(
    "models",
    selection=dg.AssetSelection.assets(*prediction_assets),
    description="Run the Python models alone (forecasts, anomalies) with their checks, on the marts as they are.",
)
close_job = dg.define_asset_job(
    "close",
    selection=_models | dg.AssetSelection.assets(period_close),
    description="Build everything, then close the billing periods of its config (what tfm close runs).",
)
