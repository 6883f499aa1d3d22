"""Ingestion assets: one monthly-partitioned raw table per source family (bills and business inputs), a sensor
and a daily schedule.

No `from __future__ import annotations` here: Dagster inspects the context annotations at definition time.
"""


import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from orchestration.defs.resources import TfmWarehouse
from orchestration.ingest.errors import BadFileError, NotBillingDataError, PeriodBlockedError
from orchestration.ingest.formats import FAMILIES, SourceFamily, is_data_file
from orchestration.ingest.loader import inspect_file, load_period, scan_landing
from orchestration.settings import Settings

# Billing periods are calendar months. end_offset=1 includes the month in progress, which providers
# refresh several times a day.
billing_months = dg.MonthlyPartitionsDefinition(start_date="2015-01-01", end_offset=1)


def partition_key(period: date) -> str:
    """The partition key of a billing period (its first day)."""
    return period.replace(day=1).isoformat()


def raw_asset_key(family: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", family])


def _build_raw_asset(family: SourceFamily) -> dg.AssetsDefinition:
    rows = f"{family.description}, a business input" if family.business else f"{family.description} billing rows"
    partition = f"month (of the rows' {family.period_column})" if family.business else "billing period"

    @dg.asset(
        key=raw_asset_key(family.name),
        group_name="ingest",
        partitions_def=billing_months,
        kinds={"duckdb"},
        description=(
            f"{rows}: every source column typed, plus lineage columns. Each partition is "
            f"one {partition}, replaced as a whole from the files in the landing folder."
        ),
        metadata={"table": family.raw_table},
        pool="warehouse",
    )
    def _raw(context: dg.AssetExecutionContext, warehouse: TfmWarehouse) -> dg.MaterializeResult:
        period = date.fromisoformat(context.partition_key)
        with warehouse.connect() as con:
            scan_landing(con, warehouse.landing, log=context.log.info)
            try:
                result = load_period(
                    con, family.name, period, run_id=context.run.run_id, log=context.log.info,
                    warn=context.log.warning,
                )  # fmt: skip
            except PeriodBlockedError as exc:
                raise dg.Failure(description=str(exc)) from exc
        return dg.MaterializeResult(
            metadata={
                "replaced": result.replaced,
                "rows": result.rows,
                "replaced_rows": result.replaced_rows,
                **(
                    {"billed_cost": float(result.billed_cost), "billed_cost_exact": str(result.billed_cost)}
                    if result.billed_cost is not None
                    else {}
                ),
                **(
                    {"restated_close_version": result.restated_close_version}
                    if result.restated_close_version is not None
                    else {}
                ),
                "files": dg.MetadataValue.json(result.files),
                "seconds": round(result.seconds, 3),
            }
        )

    return _raw


raw_assets = [_build_raw_asset(family) for family in FAMILIES.values()]

ingest_job = dg.define_asset_job(
    "ingest_billing_period",
    selection=dg.AssetSelection.assets(*raw_assets),
    description="Load one billing period (month) of every source family from the landing folder.",
)


def _fingerprint(path) -> list:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Request a run for every billing period whose files are new, changed or removed in the landing folder."""
    landing = Settings.from_env().landing
    cursor: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    current: dict[str, list] = {}
    touched: dict[str, set[str]] = {}  # partition key -> families
    files = sorted(p for p in landing.rglob("*") if p.is_file() and is_data_file(p)) if landing.exists() else []
    for path in files:
        key = str(path.resolve())
        fingerprint = _fingerprint(path)
        previous = cursor.get(key)
        if previous and previous[:2] == fingerprint:
            current[key] = previous
            continue
        try:
            family, periods = inspect_file(path)
        except NotBillingDataError:
            current[key] = fingerprint + [None, []]
            continue
        except BadFileError as exc:
            context.log.warning(f"rejected {exc.describe()}")
            current[key] = fingerprint + [None, []]
            continue
        current[key] = fingerprint + [family, [p.isoformat() for p in periods]]
        for period in periods:
            touched.setdefault(partition_key(period), set()).add(family)
        if previous and previous[2]:  # the file's old periods change too
            for old in previous[3]:
                touched.setdefault(old, set()).add(previous[2])
    for key in set(cursor) - set(current):
        if cursor[key][2]:
            for old in cursor[key][3]:
                touched.setdefault(old, set()).add(cursor[key][2])
    state = json.dumps(current, sort_keys=True)
    digest = hashlib.sha256(state.encode()).hexdigest()[:12]
    for key in sorted(touched):
        yield dg.RunRequest(
            run_key=f"{key}:{digest}",
            partition_key=key,
            asset_selection=[raw_asset_key(f) for f in sorted(touched[key])],
            tags={"tfm/trigger": "landing_sensor"},
        )
    context.update_cursor(state)


@dg.schedule(job=ingest_job, cron_schedule="0 6 * * *", execution_timezone="UTC")
def daily_ingest_schedule(context: dg.ScheduleEvaluationContext):
    """Every morning, reload the month in progress and the month before (providers restate both)."""
    now = context.scheduled_execution_time or datetime.now(UTC)
    this_month = now.date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    for period in (last_month, this_month):
        yield dg.RunRequest(run_key=f"daily:{now:%Y-%m-%d}:{period}", partition_key=partition_key(period))
