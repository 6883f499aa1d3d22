"""Ingestion assets: one raw table per source family (bills and business inputs), partitioned by billing
period; the ``ingest`` job; the sensor that loads what changes in the landing folder, and a daily schedule.

The partitions are the billing periods that exist, keyed ``YYYY-MM`` as the command line writes them: a
dynamic partitions definition to which ``tfm ingest`` adds the periods it is about to load and
``landing_sensor`` the periods the ledger holds or a landed file brings.

No `from __future__ import annotations` here: Dagster inspects the context annotations at definition time.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.resources import TfmWarehouse
from orchestration.ingest.errors import BadFileError, NotBillingDataError, PeriodBlockedError
from orchestration.ingest.formats import FAMILIES, SourceFamily, is_data_file
from orchestration.ingest.loader import file_checksum, inspect_file, load_period, period_states, scan_landing
from orchestration.ingest.parquet_raw import sync_raw_parquet
from orchestration.quoting import q
from orchestration.settings import Settings

BILLING_PERIODS = "billing_period"
# A billing period is a calendar month; only the months that hold data (or a landed file) are partitions.
billing_months = dg.DynamicPartitionsDefinition(name=BILLING_PERIODS)


def partition_key(period: date) -> str:
    """The partition key of a billing period: ``YYYY-MM``, as the command line writes periods."""
    return f"{period:%Y-%m}"


def partition_period(key: str) -> date:
    """The billing period (its first day) of a partition key."""
    return date.fromisoformat(f"{key}-01")


def raw_asset_key(family: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", family])


def add_billing_periods(instance: dg.DagsterInstance, keys) -> list[str]:
    """Add the partitions of these billing periods that do not exist yet; returns those added."""
    existing = set(instance.get_dynamic_partitions(BILLING_PERIODS))
    new = sorted(set(keys) - existing)
    if new:
        instance.add_dynamic_partitions(BILLING_PERIODS, new)
    return new


def known_periods(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The partition keys of the periods that exist: loaded rows (the ledger), or a landed file ready to load."""
    rows = con.execute(
        "SELECT DISTINCT billing_period FROM meta.file_ledger UNION "
        "SELECT DISTINCT unnest(billing_periods) FROM meta.landing_files WHERE status = 'ready'"
    ).fetchall()
    return {partition_key(period) for (period,) in rows if period is not None}


def sync_billing_periods(instance: dg.DagsterInstance, con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    """Make the partitions the periods that exist: add the missing ones, delete those with neither loaded rows
    nor a landed file (a pruned period). Returns (added, deleted)."""
    periods = known_periods(con)
    added = add_billing_periods(instance, periods)
    deleted = sorted(set(instance.get_dynamic_partitions(BILLING_PERIODS)) - periods)
    for key in deleted:
        instance.delete_dynamic_partition(BILLING_PERIODS, key)
    return added, deleted


def period_contents(con: duckdb.DuckDBPyConnection, family: SourceFamily, period: date) -> dict:
    """What the warehouse holds for one period of one family: rows, cost per currency, files."""
    table = f"raw.{q(family.name)}"
    where = "WHERE _billing_period = ?"
    if family.cost_column and family.currency_column:
        by_currency = con.execute(
            f"SELECT {q(family.currency_column)}, count(*), sum({q(family.cost_column)}) FROM {table} {where} "
            "GROUP BY ALL ORDER BY 1",
            [period],
        ).fetchall()
    elif family.cost_column:
        by_currency = con.execute(
            f"SELECT NULL, count(*), sum({q(family.cost_column)}) FROM {table} {where}", [period]
        ).fetchall()
    else:
        by_currency = con.execute(f"SELECT NULL, count(*), NULL FROM {table} {where}", [period]).fetchall()
    files = [
        path
        for (path,) in con.execute(
            "SELECT path FROM meta.file_ledger WHERE source_family = ? AND billing_period = ? ORDER BY path",
            [family.name, period],
        ).fetchall()
    ]
    rows = sum(count for _, count, _ in by_currency)
    costs = {currency: cost for currency, count, cost in by_currency if count and cost is not None}
    return {"rows": rows, "costs": costs, "files": files}


def _raw_metadata(family: SourceFamily, period: date, result, contents: dict) -> dict:
    """The materialization's metadata: the period as the warehouse holds it after this run, and what it did."""
    metadata = {
        "billing_period": partition_key(period),
        "status": "replaced" if result.replaced else "unchanged",
        "dagster/row_count": contents["rows"],
        "rows": contents["rows"],
    }
    costs = contents["costs"]
    if family.cost_column:
        label = family.cost_column
        if len(costs) == 1 and None not in costs:
            [(currency, cost)] = costs.items()
            metadata["billed_cost"] = dg.MetadataValue.text(f"{cost:,.2f} {currency}")
            metadata["billed_cost_exact"] = str(cost)
            metadata["currency"] = currency
        elif len(costs) == 1:
            [cost] = costs.values()
            metadata[f"sum_{label}"] = dg.MetadataValue.text(f"{cost:,.2f}")
            metadata[f"sum_{label}_exact"] = str(cost)
        elif costs:
            metadata["billed_cost_by_currency"] = dg.MetadataValue.json({c: str(v) for c, v in costs.items()})
    if result.replaced:
        metadata["replaced_rows"] = result.replaced_rows
    if result.restated_close_version is not None:
        metadata["restated_close_version"] = result.restated_close_version
    metadata["files"] = dg.MetadataValue.json(contents["files"])
    metadata["seconds"] = round(result.seconds, 3)
    return metadata


def _build_raw_asset(family: SourceFamily) -> dg.AssetsDefinition:
    rows = (
        f"{family.description}, a business input" if family.business else f"{family.description} billing rows"
    )
    partition = f"month (of the rows' {family.period_column})" if family.business else "billing period"

    @dg.asset(
        key=raw_asset_key(family.name),
        group_name="ingest",
        partitions_def=billing_months,
        kinds={"duckdb"},
        description=(
            f"{rows}: every source column typed, plus lineage columns. Each partition is "
            f"one {partition} (YYYY-MM), replaced as a whole from the files in the landing folder. A "
            "materialization reports the period as the warehouse then holds it (rows, cost), and whether this "
            "run replaced it or found it unchanged."
        ),
        metadata={"table": family.raw_table},
        pool="warehouse",
    )
    def _raw(context: dg.AssetExecutionContext, warehouse: TfmWarehouse) -> dg.MaterializeResult:
        period = partition_period(context.partition_key)
        with warehouse.connect() as con:
            scan_landing(con, warehouse.landing, log=context.log.info)
            try:
                result = load_period(
                    con, family.name, period, run_id=context.run.run_id, log=context.log.info,
                    warn=context.log.warning,
                )  # fmt: skip
            except PeriodBlockedError as exc:
                raise dg.Failure(description=str(exc)) from exc
            contents = period_contents(con, family, period)
            parquet = None
            if warehouse.raw_parquet is not None:
                # After the commit, under the warehouse's lock: the parquet raw layer follows what is loaded.
                parquet = sync_raw_parquet(con, warehouse.raw_parquet, log=context.log.info)
        if not result.replaced:
            context.log.info(
                f"{family.description} {period:%Y-%m} unchanged: {contents['rows']:,} rows already loaded"
            )
        metadata = _raw_metadata(family, period, result, contents)
        if parquet is not None:
            # The load stands; a parquet folder not written is reported and written by the next ingest.
            for failure in parquet.failures:
                context.log.error(failure)
            metadata["parquet_raw"] = dg.MetadataValue.json(
                {"folder": str(warehouse.raw_parquet), "written": parquet.written, "removed": parquet.removed,
                 "failures": parquet.failures}
            )  # fmt: skip
        return dg.MaterializeResult(metadata=metadata)

    return _raw


raw_assets = [_build_raw_asset(family) for family in FAMILIES.values()]

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.assets(*raw_assets),
    description=(
        "Load one billing period (partition, YYYY-MM) of the selected source families from the landing folder, "
        "with the raw tables' Great Expectations checks (what tfm ingest and landing_sensor run)."
    ),
)


# --- what the warehouse already holds --------------------------------------------------------------------


class WarehouseBusy(Exception):
    """Another process writes the warehouse now: look again at the next evaluation."""


@dataclass
class LedgerView:
    """What the warehouse's ledger says about the landing folder, read without waiting for its lock."""

    # path -> (size, mtime_ns, checksum, status, family, billing periods as partition keys)
    files: dict[str, tuple] = field(default_factory=dict)
    pending: dict[str, set[str]] = field(default_factory=dict)  # partition key -> families waiting for a load
    periods: set[str] = field(default_factory=set)  # partition keys that exist (loaded or ready to load)


def read_ledger(warehouse: Path) -> LedgerView:
    """The ledger (``meta.landing_files``, ``meta.file_ledger``) of a warehouse; empty when there is none yet.

    Raises :class:`WarehouseBusy` at once when another process holds the warehouse: a sensor never waits.
    """
    from orchestration.ingest.warehouse import connect
    from orchestration.processes import WarehouseLockedError

    view = LedgerView()
    if not warehouse.exists():
        return view
    try:
        con = connect(warehouse, read_only=True, wait_seconds=0, log=lambda _message: None)
    except WarehouseLockedError as exc:
        raise WarehouseBusy(str(exc)) from None
    try:
        for path, size, mtime_ns, checksum, status, family, periods in con.execute(
            "SELECT path, size_bytes, mtime_ns, checksum, status, source_family, coalesce(billing_periods, []) "
            "FROM meta.landing_files"
        ).fetchall():
            view.files[path] = (size, mtime_ns, checksum, status, family, [partition_key(p) for p in periods])
        for state in period_states(con):
            if state.needs_load:
                view.pending.setdefault(partition_key(state.period), set()).add(state.family)
        view.periods = known_periods(con)
    except duckdb.CatalogException:
        return LedgerView()  # a warehouse without tfm's ledger yet: every file is new
    finally:
        con.close()
    return view


def _landing_files(landing: Path) -> dict[str, list[int]]:
    """Every data file in the landing folder with its size and modification time (what the cursor holds)."""
    found = {}
    if not landing.is_dir():
        return found
    for path in sorted(p for p in landing.rglob("*") if p.is_file() and is_data_file(p)):
        try:
            stat = path.stat()
        except OSError:
            continue  # removed between the listing and now
        found[str(path.resolve())] = [stat.st_size, stat.st_mtime_ns]
    return found


def changed_periods(files: dict[str, list[int]], ledger: LedgerView, log=None) -> dict[str, set[str]]:
    """The periods (partition key -> families) that a load would change: files new, changed or removed since
    the ledger recorded them, and files recorded but not loaded yet. Files the ledger knows unchanged (same
    size and time, or the same content) change nothing."""
    touched: dict[str, set[str]] = {key: set(families) for key, families in ledger.pending.items()}
    for path, (size, mtime_ns) in files.items():
        known = ledger.files.get(path)
        if known and known[3] != "superseded" and (known[0], known[1]) == (size, mtime_ns):
            continue
        if known and known[3] != "superseded" and known[2]:
            try:
                if file_checksum(Path(path)) == known[2]:
                    continue  # touched, not changed
            except OSError:
                pass
        try:
            family, periods = inspect_file(Path(path))
        except NotBillingDataError:
            continue
        except BadFileError as exc:
            if log:
                log(f"rejected {exc.describe()}: the next tfm ingest records it")
            continue
        for period in periods:
            touched.setdefault(partition_key(period), set()).add(family)
        if known and known[4]:  # the file's old periods change too
            for key in known[5]:
                touched.setdefault(key, set()).add(known[4])
    for path, known in ledger.files.items():
        if path not in files and known[3] in ("ready", "duplicate") and known[4]:
            for key in known[5]:
                touched.setdefault(key, set()).add(known[4])
    return touched


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sensor(context: dg.SensorEvaluationContext):
    """Load every billing period whose files are new, changed or removed in the landing folder.

    The cursor is the landing folder's listing (size and time of each file). When it changes, the warehouse's
    ledger says which files are already loaded as they are: only the periods of the others run, so a landing
    folder tfm ingest already loaded launches nothing. Every period the ledger holds is a partition.
    """
    settings = Settings.from_env()
    files = _landing_files(settings.landing)
    listing = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    if context.cursor == listing:
        return dg.SkipReason("no file changed in the landing folder")
    try:
        ledger = read_ledger(settings.warehouse)
    except WarehouseBusy:
        return dg.SkipReason(
            "the warehouse is being written (a run or tfm): looking again at the next evaluation"
        )
    touched = changed_periods(files, ledger, log=context.log.warning)
    new_keys = sorted(
        (ledger.periods | set(touched)) - set(context.instance.get_dynamic_partitions(BILLING_PERIODS))
    )
    requests = [
        dg.RunRequest(
            run_key=f"{key}:{listing[:12]}",
            partition_key=key,
            asset_selection=[raw_asset_key(family) for family in sorted(touched[key])],
            tags={"tfm/trigger": "landing_sensor"},
        )
        for key in sorted(touched)
    ]
    loaded = f"the warehouse holds every landed file as it is ({len(files)} files)"
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[billing_months.build_add_request(new_keys)] if new_keys else [],
        cursor=listing,
        skip_reason=None if requests else loaded,
    )


@dg.schedule(
    job=ingest_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    tags={"tfm/trigger": "daily_ingest_schedule"},
)
def daily_ingest_schedule(context: dg.ScheduleEvaluationContext):
    """At 06:00 UTC, ingest the month in progress and the month before for the source families that have files
    for them (providers restate both). Off by default: landing_sensor loads every change within a minute."""
    now = context.scheduled_execution_time or datetime.now(UTC)
    this_month = now.date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    try:
        ledger = read_ledger(Settings.from_env().warehouse)
    except WarehouseBusy:
        return dg.SkipReason("the warehouse is being written: the next day's run catches up")
    families: dict[str, set[str]] = {}
    for _size, _mtime, _checksum, status, family, keys in ledger.files.values():
        for key in keys:
            if status == "ready" and family:
                families.setdefault(key, set()).add(family)
    existing = set(context.instance.get_dynamic_partitions(BILLING_PERIODS))
    requests = []
    for period in (last_month, this_month):
        key = partition_key(period)
        if key not in families or key not in existing:
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"daily:{now:%Y-%m-%d}:{key}",
                partition_key=key,
                asset_selection=[raw_asset_key(family) for family in sorted(families[key])],
            )
        )
    return requests or dg.SkipReason(
        f"no landed file for {partition_key(last_month)} or {partition_key(this_month)}"
    )
