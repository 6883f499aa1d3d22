"""The raw layer as parquet, written by ingest beside the warehouse (``TFM_RAW_PARQUET_DIR``, ``--parquet-dir``).

DuckDB stays the loader that validates every file and keeps the ledger; the parquet folder follows it. After
each load, and at the end of ``tfm ingest``, :func:`sync_raw_parquet` compares what the ledger says is loaded
(``meta.file_ledger``: each period's files, checksums, rows and ``loaded_at``) with what it wrote before
(``meta.parquet_partitions``) and writes what differs:

- A raw table with loaded billing periods is one folder per period, ``<dir>/raw/<table>/_billing_period=
  YYYY-MM-01/``, in exactly the layout and column conversions of ``orchestration.spark_raw`` (the Spark export):
  a period loaded or restated since it was written is written again, the other periods' folders are not
  touched, and the folder of a period no longer loaded (pruned) is deleted.
- A table is written whole, and swapped in whole, when its layout changes (its first period arrives, its last
  one is pruned), when its columns changed (a file brought a new column: every period's file must have every
  column), and when it has no billing periods (one file that carries its schema).
- Every folder is written beside its place and swapped in by rename (``spark_raw.write_dataset``): a reader
  sees a period as it was or as it is, never half written.

The warehouse's commit comes first: a write that fails (a full disk) changes nothing in the warehouse. It is
reported, naming the table, the period and the folder, and since what was written is recorded only after
the write, the next sync finds the period behind and writes it again. A folder that went missing is
written again the same way.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from orchestration.ingest.formats import FAMILIES
from orchestration.quoting import q
from orchestration.spark_raw import (
    PERIOD_COLUMN,
    RawTable,
    partition_folder,
    remove_dataset,
    select_rows,
    table_columns,
    write_dataset,
    write_table,
)

SCHEMA = "raw"
RECORDS_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
-- What the parquet raw layer (TFM_RAW_PARQUET_DIR) holds: one row per folder written, table and billing period
-- (NULL: the table written whole, as one dataset), with the ledger state it reflects.
CREATE TABLE IF NOT EXISTS meta.parquet_partitions (
    table_name VARCHAR NOT NULL,
    billing_period DATE,
    loaded_at TIMESTAMP,              -- the period's latest loaded_at in meta.file_ledger
    ledger_checksum VARCHAR NOT NULL, -- SHA-256 of the period's ledger rows (path, checksum, rows); of the
                                      -- table's rows for a table written whole
    columns_checksum VARCHAR NOT NULL,-- SHA-256 of the table's columns and types
    row_count BIGINT NOT NULL,
    location VARCHAR NOT NULL,        -- the folder written
    written_at TIMESTAMP NOT NULL
);
"""

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class _State:
    """What a folder reflects: compared with what was recorded to tell whether it is behind."""

    loaded_at: datetime | None
    ledger_checksum: str
    columns_checksum: str


@dataclass
class _TablePlan:
    name: str
    folder: Path
    periods: dict[date, _State]  # the loaded periods (empty: the table is one dataset)
    whole: _State | None = None  # write the table whole, reflecting this (with periods: each period's state)
    write: list[date] = field(default_factory=list)  # periods to write again, one folder each
    remove: list[date] = field(default_factory=list)  # period folders to delete
    forget: list[date | None] = field(default_factory=list)  # records of folders that are gone

    @property
    def pending(self) -> bool:
        return bool(self.whole or self.write or self.remove or self.forget)


@dataclass
class MirrorReport:
    written: list[str] = field(default_factory=list)  # "raw.table YYYY-MM" (or "raw.table") written
    removed: list[str] = field(default_factory=list)  # period folders deleted
    failures: list[str] = field(default_factory=list)  # one line each: table, period, folder, cause


def _checksum(lines) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update("\t".join(str(value) for value in line).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _ledger(con: duckdb.DuckDBPyConnection) -> dict[str, dict[date, tuple[datetime, str]]]:
    """Per source family and loaded period: its latest loaded_at and the checksum of its ledger rows."""
    rows: dict[tuple[str, date], list] = {}
    for family, period, path, checksum, row_count, loaded_at in con.execute(
        "SELECT source_family, billing_period, path, checksum, row_count, loaded_at FROM meta.file_ledger "
        "ORDER BY ALL"
    ).fetchall():
        rows.setdefault((family, period), []).append((path, checksum, row_count, loaded_at))
    ledger: dict[str, dict[date, tuple[datetime, str]]] = {}
    for (family, period), lines in rows.items():
        ledger.setdefault(family, {})[period] = (max(line[3] for line in lines), _checksum(lines))
    return ledger


def _records(con: duckdb.DuckDBPyConnection) -> dict[str, dict[date | None, tuple]]:
    """What was written: table -> period (None: whole) -> (state, location)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'meta' AND table_name = 'parquet_partitions'"
    ).fetchone()[0]
    if not exists:
        return {}
    records: dict[str, dict[date | None, tuple]] = {}
    for table, period, loaded_at, ledger_checksum, columns_checksum, location in con.execute(
        "SELECT table_name, billing_period, loaded_at, ledger_checksum, columns_checksum, location "
        "FROM meta.parquet_partitions"
    ).fetchall():
        records.setdefault(table, {})[period] = (
            _State(loaded_at, ledger_checksum, columns_checksum),
            location,
        )
    return records


def _period_folders(folder: Path) -> dict[date, Path]:
    """The partition folders on disk (``_billing_period=YYYY-MM-01``); other names are left alone."""
    found = {}
    if folder.is_dir():
        for child in folder.iterdir():
            name, _, value = child.name.partition("=")
            if child.is_dir() and name == PERIOD_COLUMN:
                try:
                    found[date.fromisoformat(value)] = child
                except ValueError:
                    continue
    return found


def _plan(con: duckdb.DuckDBPyConnection, out: Path) -> list[_TablePlan]:
    """What the parquet layer under ``out`` needs, table by table, to hold what the warehouse holds."""
    tables = [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
            [SCHEMA],
        ).fetchall()
    ]
    ledger = _ledger(con)
    records = _records(con)
    plans = []
    for name in tables:
        columns = table_columns(con, SCHEMA, name)
        columns_checksum = _checksum(columns)
        folder = (out / SCHEMA / name).resolve()
        recorded = records.get(name, {})
        by_period = name in FAMILIES and any(column == PERIOD_COLUMN for column, _ in columns)
        periods = {
            period: _State(loaded_at, checksum, columns_checksum)
            for period, (loaded_at, checksum) in (ledger.get(name, {}) if by_period else {}).items()
        }
        plan = _TablePlan(name, folder, periods)
        if not periods:
            count, content = con.execute(
                f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {q(SCHEMA)}.{q(name)} t"
            ).fetchone()
            state = _State(None, f"rows {count} {content}", columns_checksum)
            if set(recorded) != {None} or recorded[None] != (state, str(folder)) or not folder.is_dir():
                plan.whole = state
                plan.forget = [period for period in recorded if period is not None]
            plans.append(plan)
            continue
        on_disk = _period_folders(folder)
        # Written whole before (no period then, or another writer's layout), or never: written whole now.
        layout_changed = (
            not recorded
            or None in recorded
            or not folder.is_dir()
            or any(child.is_file() and child.suffix == ".parquet" for child in folder.iterdir())
        )
        if layout_changed or any(
            state.columns_checksum != columns_checksum for state, _ in recorded.values()
        ):
            plan.whole = _State(None, "", columns_checksum)
            plan.forget = [period for period in recorded if period not in periods]
        else:
            plan.write = [
                period
                for period, state in sorted(periods.items())
                if recorded.get(period) != (state, str(partition_folder(folder, period)))
                or period not in on_disk
            ]
            plan.remove = sorted(period for period in on_disk if period not in periods)
            plan.forget = sorted(period for period in recorded if period not in periods)
        plans.append(plan)
    return plans


def _clear_leftovers(folder: Path) -> None:
    """Delete the staging folders a write that was killed left behind (readers skip them; this keeps the disk)."""
    if not folder.is_dir():
        return
    for table in [folder, *(child for child in folder.iterdir() if child.is_dir())]:
        for child in table.iterdir():
            if child.name.startswith(".") and child.name.endswith((".writing", ".replaced", ".removed")):
                shutil.rmtree(child) if child.is_dir() else child.unlink()


def _record(
    con: duckdb.DuckDBPyConnection,
    table: str,
    period: date | None,
    state: _State,
    rows: int,
    location: Path,
) -> None:
    _forget(con, table, [period])
    con.execute(
        "INSERT INTO meta.parquet_partitions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [table, period, state.loaded_at, state.ledger_checksum, state.columns_checksum, rows, str(location),
         _now()],
    )  # fmt: skip


def _forget(con: duckdb.DuckDBPyConnection, table: str, periods) -> None:
    for period in periods:
        con.execute(
            "DELETE FROM meta.parquet_partitions WHERE table_name = ? AND billing_period IS NOT DISTINCT FROM ?",
            [table, period],
        )


def _failure(table: str, period: date | None, folder: Path, exc: BaseException) -> str:
    what = f"{SCHEMA}.{table}" + (f" {period:%Y-%m}" if period else "")
    cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (
        f"{what}: the parquet raw layer was not written to {folder} ({type(exc).__name__}: {cause[:200]}); "
        "the warehouse keeps its loaded rows, and the next tfm ingest writes the folder again"
    )


def sync_raw_parquet(con: duckdb.DuckDBPyConnection, out: Path, *, log: Log = _quiet) -> MirrorReport:
    """Bring the parquet raw layer under ``out`` up to what the warehouse holds (see the module's doc).

    Never raises for a folder that cannot be written: each failure is one line in the report's ``failures``,
    and the warehouse's tables are never changed (only ``meta.parquet_partitions``, after a folder is written).
    """
    con.execute(RECORDS_DDL)
    report = MirrorReport()
    _clear_leftovers(out / SCHEMA)
    for plan in _plan(con, out):
        if not plan.pending:
            continue
        name, folder = plan.name, plan.folder
        _forget(con, name, plan.forget)
        if plan.whole is not None:
            try:
                table = write_table(con, SCHEMA, name, folder)
            except Exception as exc:  # noqa: BLE001 (reported; the warehouse is untouched)
                report.failures.append(_failure(name, None, folder, exc))
                continue
            counts = {}
            if plan.periods:
                counts = dict(
                    con.execute(
                        f"SELECT {q(PERIOD_COLUMN)}, count(*) FROM {q(SCHEMA)}.{q(name)} GROUP BY ALL"
                    ).fetchall()
                )
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute("DELETE FROM meta.parquet_partitions WHERE table_name = ?", [name])
                for period, state in plan.periods.items():
                    _record(con, name, period, state, counts.get(period, 0), partition_folder(folder, period))
                if not plan.periods:
                    _record(con, name, None, plan.whole, table.rows, folder)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            report.written.append(f"{SCHEMA}.{name}")
            log(f"parquet: wrote {SCHEMA}.{name} whole ({table.rows:,} rows) to {folder}")
            continue
        columns = table_columns(con, SCHEMA, name)
        for period in plan.write:
            target = partition_folder(folder, period)
            try:
                rows = write_dataset(con, select_rows(SCHEMA, name, columns, period=period), target)
            except Exception as exc:  # noqa: BLE001 (reported; the warehouse is untouched)
                report.failures.append(_failure(name, period, target, exc))
                continue
            _record(con, name, period, plan.periods[period], rows, target)
            report.written.append(f"{SCHEMA}.{name} {period:%Y-%m}")
            log(f"parquet: wrote {SCHEMA}.{name} {period:%Y-%m} ({rows:,} rows) to {target}")
        for period in plan.remove:
            target = partition_folder(folder, period)
            try:
                remove_dataset(target)
            except OSError as exc:
                report.failures.append(_failure(name, period, target, exc))
                continue
            report.removed.append(f"{SCHEMA}.{name} {period:%Y-%m}")
            log(f"parquet: removed {SCHEMA}.{name} {period:%Y-%m} (no longer loaded) from {target}")
    return report


def pending_folders(con: duckdb.DuckDBPyConnection, out: Path) -> list[str]:
    """The tables and periods whose parquet folders under ``out`` are behind the warehouse (read-only)."""
    return _pending(_plan(con, out))


def _pending(plans: list[_TablePlan]) -> list[str]:
    pending = []
    for plan in plans:
        if plan.whole is not None:
            pending.append(f"{SCHEMA}.{plan.name}")
        pending += [f"{SCHEMA}.{plan.name} {period:%Y-%m}" for period in plan.write + plan.remove]
    return pending


def parquet_raw_tables(warehouse: Path, out: Path) -> list[RawTable]:
    """The raw tables as ingest wrote them under ``out``, to register in Spark's catalog.

    Raises ``RuntimeError`` naming what is behind when the folders do not hold what the warehouse holds
    (a write that failed, or a load since): ``tfm ingest`` with the same folder writes them.
    """
    from orchestration.ingest.warehouse import connect

    con = connect(warehouse, read_only=True)
    try:
        plans = _plan(con, out)  # once: a table without periods is hashed whole to plan it
        behind = _pending(plans)
        if behind:
            shown = ", ".join(behind[:5]) + (f" and {len(behind) - 5} more" if len(behind) > 5 else "")
            raise RuntimeError(
                f"the parquet raw layer in {out} is behind the warehouse {warehouse} ({shown}); "
                f"run tfm ingest with TFM_RAW_PARQUET_DIR={out} to write it"
            )
        tables = []
        for plan in plans:
            rows = con.execute(
                "SELECT coalesce(sum(row_count), 0) FROM meta.parquet_partitions WHERE table_name = ?",
                [plan.name],
            ).fetchone()[0]
            partitioned = bool(_period_folders(plan.folder))
            tables.append(RawTable(SCHEMA, plan.name, str(plan.folder), partitioned, int(rows)))
        return tables
    finally:
        con.close()
