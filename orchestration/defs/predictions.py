"""The Python models as Dagster assets: spend forecasts and cost anomalies, after the marts they read.

Each asset reads dbt marts, runs ``python_models`` and writes a table of schema ``ml``, which dbt declares
as a source and publishes (``marts.fct_cost_forecasts``, ``marts.fct_cost_anomalies``, and the forecast
columns of ``fct_budget_burn`` and ``fct_finops_kpis``). Great Expectations validates each output as a
blocking asset check: a failed check stops the marts that would publish it.

No `from __future__ import annotations` here: Dagster inspects the context annotations at definition time.
"""

import dagster as dg
from pydantic import Field

from orchestration.defs.resources import TfmWarehouse

FORECASTS = dg.AssetKey(["ml", "cost_forecasts"])
ANOMALIES = dg.AssetKey(["ml", "cost_anomalies"])
SERIES = dg.AssetKey(["marts", "fct_daily_cost_series"])
FOCUS = dg.AssetKey(["marts", "fct_focus_charges"])


class ForecastConfig(dg.Config):
    horizon_months: int = Field(3, description="Forecast to the end of the month this many months ahead.")
    levels: list[int] = Field([80, 95], description="Prediction interval levels, in percent.")
    history_days: int = Field(730, description="Days of history a forecast may use.")
    backfill_months: int = Field(
        3, description="Month ends before the latest data to forecast from once, to measure accuracy against."
    )
    models: list[str] | None = Field(
        None, description="Candidate models (python_models.forecasting names); None for the default set."
    )


class AnomalyConfig(dg.Config):
    min_abs_impact: float = Field(20.0, description="An anomaly moves daily cost by at least this much money.")
    min_pct_impact: float = Field(20.0, description="... and by at least this percentage of the expected cost.")
    z: float = Field(5.0, description="... and lies at least this many robust standard deviations from it.")
    history_days: int = Field(730, description="Days of history scored.")
    top_root_causes: int = Field(5, description="Root-cause values kept per dimension.")


def _check(asset_key: dg.AssetKey, name: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset_key, blocking=True, description=description)


def _published(frame, suite: str, check_name: str, metadata: dict):
    """The materialization with its metadata, then the Great Expectations suite's verdict on the output."""
    from orchestration.quality.gx import validate

    outcome = validate(frame, suite)
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=check_name, passed=outcome.success, metadata={"result": outcome.describe(), "rows": outcome.rows}
    )


@dg.asset(
    key=FORECASTS,
    deps=[SERIES],
    group_name="models",
    kinds={"python", "duckdb"},
    description=(
        "Daily spend forecasts per organization, team, service and billing account, to the end of the month "
        "three months ahead, with 80% and 95% prediction intervals, the model chosen per series by "
        "rolling-origin backtest, and its accuracy. Every forecast is kept with the date it was made."
    ),
    check_specs=[_check(FORECASTS, "gx_cost_forecasts", "Great Expectations suite cost_forecasts on the "
                        "latest forecast: complete, non-negative, intervals nested around the mean.")],
    pool="warehouse",
)
def cost_forecasts(context: dg.AssetExecutionContext, config: ForecastConfig, warehouse: TfmWarehouse):
    from orchestration.ml_store import DuckDBStore
    from orchestration.predictions import forecast_frame_for_checks, run_forecasts

    with warehouse.connect() as con:
        store = DuckDBStore(con)
        run = run_forecasts(
            store, horizon_months=config.horizon_months, levels=config.levels, history_days=config.history_days,
            backfill_months=config.backfill_months, models=config.models, run_id=context.run.run_id,
            log=context.log.info,
        )  # fmt: skip
        frame = forecast_frame_for_checks(store)
    yield from _published(
        frame, "cost_forecasts", "gx_cost_forecasts",
        {
            "forecast_dates": [str(d) for d in run.forecast_dates],
            "series": run.series,
            "rows": run.rows,
            "models": dg.MetadataValue.json(run.models),
            "backtest": dg.MetadataValue.json(run.accuracy),
            "seconds": round(run.seconds, 2),
        },
    )  # fmt: skip


@dg.asset(
    key=ANOMALIES,
    deps=[SERIES, FOCUS],
    group_name="models",
    kinds={"python", "duckdb"},
    description=(
        "Cost anomaly episodes per service and sub account (usage cost, daily): actual against a robust "
        "same-weekday baseline, dollar and percent impact, severity, status, and root causes ranked by their "
        "dollar contribution (resource, usage type, region, team)."
    ),
    check_specs=[_check(ANOMALIES, "gx_cost_anomalies", "Great Expectations suite cost_anomalies: impact = "
                        "actual - expected, every episode has a root cause, known severities.")],
    pool="warehouse",
)
def cost_anomalies(context: dg.AssetExecutionContext, config: AnomalyConfig, warehouse: TfmWarehouse):
    from orchestration.ml_store import DuckDBStore
    from orchestration.predictions import anomaly_frame_for_checks, run_anomalies

    with warehouse.connect() as con:
        store = DuckDBStore(con)
        run = run_anomalies(
            store, min_abs_impact=config.min_abs_impact, min_pct_impact=config.min_pct_impact, z=config.z,
            history_days=config.history_days, top_root_causes=config.top_root_causes, run_id=context.run.run_id,
            log=context.log.info,
        )  # fmt: skip
        frame = anomaly_frame_for_checks(store)
    yield from _published(
        frame, "cost_anomalies", "gx_cost_anomalies",
        {
            "series_scored": run.series,
            "points_scored": run.points,
            "episodes": run.episodes,
            "open_episodes": run.open_episodes,
            "total_impact": round(run.total_impact, 2),
            "seconds": round(run.seconds, 2),
        },
    )  # fmt: skip


prediction_assets = [cost_forecasts, cost_anomalies]
