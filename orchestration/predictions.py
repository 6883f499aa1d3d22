"""The warehouse side of the Python models: daily cost series read from the marts, results written back.

``python_models`` is plain Python on DataFrames; this module is the only place that knows where its inputs
live (``marts.fct_daily_cost_series``, ``marts.fct_focus_charges``) and where its outputs go (schema ``ml``,
which dbt declares as a source and publishes as ``marts.fct_cost_forecasts`` and ``marts.fct_cost_anomalies``).
It reads and writes through a store (``orchestration.ml_store``: DuckDB or Spark), with SQL both engines
accept. The Dagster assets in ``orchestration.defs.predictions`` are thin wrappers around ``run_forecasts`` and
``run_anomalies`` on the DuckDB warehouse; ``orchestration.spark`` runs them on a Spark session.

Series are keyed ``<level>|<key>|<currency>``: costs in different currencies are never added together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from orchestration.ml_store import ML_TABLES, DuckDBStore, MlStore

Log = Callable[[str], None]

# A stretch of more than this many days without a single charge is missing data, not zero spend: a
# series' history starts after its last such gap (the demo's real samples are months years apart).
MAX_GAP_DAYS = 31

def ensure_ml_tables(con) -> None:
    """Create the output tables (empty) in a DuckDB warehouse, so that dbt can build its marts before the
    first forecast."""
    DuckDBStore(con).ensure_tables()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- reading the series -------------------------------------------------------------------------------

# Usage that accrues day by day, as marts.fct_daily_cost_series defines the anomaly monitor's series
# (service_account): the root causes split the same cost.
USAGE = (
    "ChargeCategory = 'Usage' AND ChargeFrequency = 'Usage-Based' "
    "AND coalesce(CommitmentDiscountStatus, '') <> 'Unused'"
)
FORECAST_LEVELS = ("organization", "team", "service", "billing_account")
ANOMALY_LEVELS = ("service_account",)


def read_series(store: MlStore, levels: Sequence[str]) -> pd.DataFrame:
    """Daily cost per series (marts.fct_daily_cost_series) in long format: unique_id, series_level,
    series_key, currency, ds, y (float: the models' estimates need no exact money)."""
    frame = store.frame(
        "SELECT series_level, series_key, currency, usage_date AS ds, CAST(effective_cost AS DOUBLE) AS y "
        f"FROM marts.fct_daily_cost_series WHERE series_level IN ({', '.join('?' for _ in levels)}) "
        "ORDER BY 1, 2, 3, 4",
        list(levels),
    )
    frame["unique_id"] = frame["series_level"] + "|" + frame["series_key"].astype(str) + "|" + frame["currency"]
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def recent_history(frame: pd.DataFrame, as_of: date, history_days: int) -> pd.DataFrame:
    """Each series' contiguous recent history up to ``as_of``: within ``history_days``, after its last gap
    of more than ``MAX_GAP_DAYS`` days, and only series that still had cost in the last ``MAX_GAP_DAYS``."""
    end = pd.Timestamp(as_of)
    window = frame[(frame["ds"] <= end) & (frame["ds"] > end - pd.Timedelta(days=history_days))]
    kept = []
    for _, series in window.groupby("unique_id", sort=True):
        days = series["ds"].sort_values()
        if (end - days.iloc[-1]).days > MAX_GAP_DAYS:
            continue  # no cost for a month before as_of: a series that ended, nothing to forecast
        gaps = days.diff().dt.days
        starts = days[gaps > MAX_GAP_DAYS]
        start = starts.iloc[-1] if len(starts) else days.iloc[0]
        kept.append(series[series["ds"] >= start])
    if not kept:
        return frame.iloc[0:0]
    return pd.concat(kept, ignore_index=True)


def _split_id(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame.assign(series_level=pd.Series(dtype=str), series_key=pd.Series(dtype=str),
                            currency=pd.Series(dtype=str))  # fmt: skip
    parts = frame["unique_id"].astype(str).str.split("|", n=2, expand=True)
    return frame.assign(series_level=parts[0], series_key=parts[1], currency=parts[2])


# --- forecasts ----------------------------------------------------------------------------------------


@dataclass
class ForecastRun:
    forecast_dates: list[date] = field(default_factory=list)
    series: int = 0
    rows: int = 0
    models: dict[str, int] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)  # overall backtest of the latest forecast
    seconds: float = 0.0


def month_end(day: date, months_ahead: int = 0) -> date:
    first = date(day.year + (day.month - 1 + months_ahead + 1) // 12, (day.month - 1 + months_ahead + 1) % 12 + 1, 1)
    return first - timedelta(days=1)


def forecast_origins(store: MlStore, latest: date, backfill_months: int) -> list[date]:
    """The forecast dates to make: the latest day of actuals, and the month ends before it (backfilled once,
    so each month has the forecast made at the end of the month before, to measure accuracy against)."""
    origins = [latest]
    end = month_end(latest, -1)
    for _ in range(backfill_months):
        origins.append(end)
        end = month_end(end, -1)
    done = {pd.Timestamp(day).date() for day in store.frame("SELECT DISTINCT forecast_date FROM ml.cost_forecasts")["forecast_date"]}
    # The latest is always re-made (a restatement or a late file may have changed its actuals).
    return sorted({latest} | {origin for origin in origins[1:] if origin not in done})


def run_forecasts(
    store: MlStore,
    *,
    horizon_months: int = 3,
    levels: Sequence[int] = (80, 95),
    history_days: int = 730,
    backfill_months: int = 3,
    models: Sequence[str] | None = None,
    run_id: str | None = None,
    log: Log = lambda _: None,
) -> ForecastRun:
    """Forecast daily cost per series to the end of the month ``horizon_months`` ahead; write ml tables."""
    import time

    from python_models import forecasting

    started = time.monotonic()
    store.ensure_tables()
    frame = read_series(store, FORECAST_LEVELS)
    result = ForecastRun()
    if frame.empty:
        log("no cost in the marts: nothing to forecast")
        return result
    latest = frame["ds"].max().date()
    made_at = _now()
    for origin in forecast_origins(store, latest, backfill_months):
        history = recent_history(frame, origin, history_days)
        if history.empty:
            continue
        horizon = (month_end(origin, horizon_months) - origin).days
        data = history[["unique_id", "ds", "y"]]
        predicted = forecasting.forecast(data, horizon, levels=tuple(levels), freq="D", models=models)
        per_series = pd.DataFrame(columns=["unique_id"])
        if origin == latest:  # the backtest (3 more forecasts) describes the forecast people act on
            try:
                backtest = forecasting.backtest(data, BACKTEST_HORIZON, levels=tuple(levels), freq="D",
                                                models=models)  # fmt: skip
                per_series = backtest.per_series
                result.accuracy = {k: float(v) for k, v in backtest.overall.iloc[0].items()}
            except ValueError as exc:  # history too short for one backtest window
                log(f"no backtest as of {origin}: {exc}")
            result.series = predicted["unique_id"].nunique()
            result.rows = len(predicted)
            result.models = predicted.groupby("unique_id")["model"].first().value_counts().to_dict()
        _write_forecast(store, origin, predicted, per_series, made_at=made_at, backfill=origin != latest,
                        run_id=run_id)  # fmt: skip
        result.forecast_dates.append(origin)
        log(f"forecast as of {origin}: {predicted['unique_id'].nunique()} series, {horizon} days ahead")
    result.seconds = time.monotonic() - started
    return result


BACKTEST_HORIZON = 30  # days: three rolling origins a month apart, each scored on the next 30 days


def _write_forecast(store: MlStore, origin: date, predicted: pd.DataFrame, per_series: pd.DataFrame, *, made_at, backfill,
                    run_id) -> None:  # fmt: skip
    rows = _split_id(predicted).assign(
        forecast_date=origin, is_backfill=backfill, made_at=made_at, run_id=run_id,
        ds=pd.to_datetime(predicted["ds"]).dt.date,
    )  # fmt: skip
    chosen = predicted.groupby("unique_id")["model"].first()
    backtests = _split_id(per_series).assign(forecast_date=origin, made_at=made_at)
    backtests["model"] = backtests["unique_id"].map(chosen).fillna("")
    for column in ("mase", "smape", "wape", "bias", "coverage_80", "coverage_95"):
        if column not in backtests:
            backtests[column] = None
    store.replace_slices({"cost_forecasts": rows, "forecast_backtests": backtests}, origin)


# --- anomalies ----------------------------------------------------------------------------------------

# Root-cause dimensions: (name, SQL over marts.fct_focus_charges).
ROOT_CAUSE_DIMENSIONS = {
    "resource": "coalesce(ResourceId, '(no resource)')",
    "usage_type": "coalesce(SkuMeter, ChargeDescription, '(none)')",
    "region": "coalesce(RegionId, '(global)')",
    "team": "coalesce(x_team, '(untagged)')",
}


@dataclass
class AnomalyRun:
    series: int = 0
    points: int = 0
    episodes: int = 0
    open_episodes: int = 0
    total_impact: float = 0.0
    seconds: float = 0.0


def _detail(store: MlStore, start: date, end: date) -> pd.DataFrame:
    """Daily cost of every service-in-account series by root-cause dimension, from ``start`` to ``end``."""
    dims = ", ".join(f"{sql} AS {name}" for name, sql in ROOT_CAUSE_DIMENSIONS.items())
    frame = store.frame(
        "SELECT 'service_account|' || coalesce(ServiceName, 'unknown') || ' @ ' || coalesce(SubAccountId, '-') "
        f"|| '|' || coalesce(BillingCurrency, '') AS unique_id, CAST(ChargePeriodStart AS DATE) AS ds, {dims}, "
        "CAST(sum(EffectiveCost) AS DOUBLE) AS y FROM marts.fct_focus_charges "
        f"WHERE {USAGE} AND CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ? "
        f"GROUP BY {', '.join(str(i) for i in range(1, len(ROOT_CAUSE_DIMENSIONS) + 3))}",
        [start, end],
    )
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def run_anomalies(
    store: MlStore,
    *,
    min_abs_impact: float = 20.0,
    min_pct_impact: float = 20.0,
    z: float = 5.0,
    history_days: int = 730,
    top_root_causes: int = 5,
    run_id: str | None = None,
    log: Log = lambda _: None,
) -> AnomalyRun:
    """Score every service-in-account daily cost series, merge anomalies into episodes, rank root causes."""
    import time

    from python_models import anomaly

    started = time.monotonic()
    store.ensure_tables()
    frame = read_series(store, ANOMALY_LEVELS)
    result = AnomalyRun()
    scored_at = _now()
    rows = []
    if not frame.empty:
        latest = frame["ds"].max()
        history = frame[frame["ds"] > latest - pd.Timedelta(days=history_days)]
        scored = anomaly.score(history[["unique_id", "ds", "y"]], freq="D", min_abs_impact=min_abs_impact,
                               min_pct_impact=min_pct_impact, z=z)  # fmt: skip
        result.series, result.points = scored["unique_id"].nunique(), len(scored)
        found = anomaly.episodes(scored)
        if not found.empty:
            detail = _detail(store, history["ds"].min().date(), latest.date())
            causes = anomaly.root_causes(found, detail, list(ROOT_CAUSE_DIMENSIONS), top_n=top_root_causes, z=z)
            last_day = scored.groupby("unique_id")["ds"].max()
            by_episode = {key: group for key, group in causes.groupby(["unique_id", "start"], sort=False)}
            for episode in found.to_dict("records"):
                key = (episode["unique_id"], pd.Timestamp(episode["start"]))
                ranked = by_episode.get(key, causes.iloc[0:0])
                rows.append(_episode_row(episode, ranked, last_day[episode["unique_id"]], scored_at, run_id))
    _write_anomalies(store, rows)
    result.episodes = len(rows)
    result.open_episodes = sum(1 for r in rows if r["status"] == "open")
    result.total_impact = float(sum(r["impact"] for r in rows))
    result.seconds = time.monotonic() - started
    log(f"anomalies: {result.series} series, {result.points} points scored, {result.episodes} episode(s)")
    return result


# Dimensions from the narrowest to the broadest. A resource that explains the whole spike says more than
# the region it runs in, which explains it just as well (the demo's NAT gateway spike: the region
# eu-west-1 carried 101% of the impact, the gateway 98%).
SPECIFICITY = ("resource", "usage_type", "region", "team")
EXPLAINS = 0.8


def narrowest_first(causes: pd.DataFrame) -> pd.DataFrame:
    """Root causes in reading order: the values that explain at least 80% of the episode's impact, the
    narrowest dimension first, then the others by the size of their contribution."""
    if causes.empty:
        return causes
    explains = causes["share"].fillna(0) >= EXPLAINS
    order = causes["dimension"].map({d: i for i, d in enumerate(SPECIFICITY)}).fillna(len(SPECIFICITY))
    keyed = causes.assign(_explains=~explains, _narrow=order.where(explains, 0), _size=-causes["contribution"].abs())
    return keyed.sort_values(["_explains", "_narrow", "_size"], kind="stable").drop(
        columns=["_explains", "_narrow", "_size"]
    )


def _episode_row(episode: dict, causes: pd.DataFrame, last_day, scored_at, run_id) -> dict:
    level, key, currency = episode["unique_id"].split("|", 2)
    start, end = pd.Timestamp(episode["start"]), pd.Timestamp(episode["end"])
    ranked = [
        {"dimension": c["dimension"], "value": str(c["value"]), "impact": round(float(c["contribution"]), 6),
         "share": None if pd.isna(c["share"]) else round(float(c["share"]), 6)}
        for c in narrowest_first(causes).to_dict("records")
    ]  # fmt: skip
    anomaly_id = hashlib.sha256(f"{episode['unique_id']}|{start.date()}".encode()).hexdigest()[:16]
    expected = float(episode["expected"])
    return {
        "anomaly_id": anomaly_id,
        "series_level": level,
        "series_key": key,
        "currency": currency,
        "start_date": start.date(),
        "end_date": end.date(),
        "days": int((end - start).days) + 1,
        "actual_cost": float(episode["actual"]),
        "expected_cost": expected,
        "impact": float(episode["total_impact"]),
        "impact_pct": None if pd.isna(episode["impact_pct"]) else float(episode["impact_pct"]),
        "peak_date": pd.Timestamp(episode["peak_ds"]).date(),
        "peak_impact": float(episode["peak_impact"]),
        "max_score": float(episode["max_score"]),
        "direction": str(episode["direction"]),
        "severity": str(episode["severity"]),
        "status": "open" if end >= last_day else "closed",
        "root_causes": json.dumps(ranked, ensure_ascii=False),
        "first_detected_at": scored_at,
        "scored_at": scored_at,
        "run_id": run_id,
    }


def _write_anomalies(store: MlStore, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows, columns=ML_TABLES["cost_anomalies"].column_names)
    # An episode seen before keeps the time it was first detected.
    seen = store.frame("SELECT anomaly_id, first_detected_at FROM ml.cost_anomalies")
    if len(frame) and len(seen):
        first = frame["anomaly_id"].map(dict(zip(seen["anomaly_id"], seen["first_detected_at"], strict=True)))
        frame["first_detected_at"] = first.where(first.notna(), frame["first_detected_at"])
    store.replace_table("cost_anomalies", frame)


# --- what the data-quality checks read ----------------------------------------------------------------


def forecast_frame_for_checks(store: MlStore) -> pd.DataFrame:
    """The latest forecast's rows, with the count of NaN values per row computed in SQL."""
    return store.frame(
        """
        SELECT series_level, series_key, currency, ds, mean, lo_80, hi_80, lo_95, hi_95, model,
               CAST(isnan(mean) AS INT) + CAST(isnan(lo_80) AS INT) + CAST(isnan(hi_80) AS INT)
               + CAST(isnan(lo_95) AS INT) + CAST(isnan(hi_95) AS INT) AS nan_count
        FROM ml.cost_forecasts
        WHERE forecast_date = (SELECT max(forecast_date) FROM ml.cost_forecasts)
        """
    )


def anomaly_frame_for_checks(store: MlStore) -> pd.DataFrame:
    """Every episode, with impact - (actual - expected) and the number of root causes computed in SQL."""
    return store.frame(
        """
        SELECT anomaly_id, start_date, end_date, actual_cost, expected_cost, impact, severity, status, direction,
               impact - (actual_cost - expected_cost) AS impact_residual,
               json_array_length(root_causes) AS root_cause_count
        FROM ml.cost_anomalies
        """
    )
