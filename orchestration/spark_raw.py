"""The raw layer of a tfm warehouse as parquet that Apache Spark reads as external tables.

On DuckDB, the dbt sources are the tables ingest writes in the schema ``raw`` (bills, business inputs) and
the Python models' tables in ``ml``. On Spark (the dbt profile's ``spark`` output), the raw sources are parquet
datasets registered as external tables under the same names; the ``ml`` tables are written on Spark by the
Python models themselves (``orchestration.spark``). This module writes the raw layer from a DuckDB warehouse
and registers it:

- ``export_raw_layer(warehouse, out)`` writes every table of that schema to ``<out>/<schema>/<table>/``: a
  table with ingest's ``_billing_period`` column is partitioned by it, one folder per billing period
  (``_billing_period=YYYY-MM-01/``, the unit ingest replaces whole), so a restated period is one folder to
  replace. The partition column is ingest's own lineage column, so the table Spark reads has exactly the
  columns of the DuckDB table, and no column a file brings (an invoice's ``billing_period``) can collide
  with it. Other tables (and empty ones, which need a file to carry their schema) are one plain dataset.
  Every column keeps its type (DECIMAL stays DECIMAL, maps and lists stay nested) but JSON, written as text.
- ``register_raw_tables(tables, ...)`` runs the dbt macro ``create_raw_tables`` (``dbt run-operation``
  against the ``spark`` target), which creates ``<schema>.<table> USING parquet LOCATION ...`` in the Spark
  session's catalog and registers the partitions found.

Table and column names come from the warehouse's catalog and are quoted; paths are escaped as literals.

    python -m orchestration.spark_raw --warehouse WAREHOUSE.duckdb --out DIR [--register]
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import duckdb

from orchestration.quoting import lit, q

RAW_SCHEMAS = ("raw",)
PERIOD_COLUMN = "_billing_period"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RawTable:
    schema: str
    name: str
    location: str
    partitioned: bool
    rows: int


def _column(name: str, data_type: str) -> str:
    """A column as Spark reads it: JSON as text (Spark has no JSON type); a TIMESTAMP, which holds UTC wall time,
    as the UTC instant (Spark reads a timestamp without time zone as TIMESTAMP_NTZ, which its TIMESTAMP columns
    do not compare with)."""
    if data_type == "JSON":
        return f"cast({q(name)} as varchar) as {q(name)}"
    if data_type == "TIMESTAMP":
        return f"cast({q(name)} as timestamptz) as {q(name)}"
    return q(name)


def _select_list(columns: list[tuple[str, str]]) -> str:
    return ", ".join(_column(name, data_type) for name, data_type in columns)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str]]:
    """The columns of a table of the connection's database, in order: (name, DuckDB type)."""
    return con.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_catalog = current_database() and table_schema = ? and table_name = ?"
        " order by ordinal_position",
        [schema, name],
    ).fetchall()


def select_rows(schema: str, name: str, columns: list[tuple[str, str]], *, period: date | None = None) -> str:
    """The query of a table's rows as Spark reads them; with ``period``, of that billing period only, without
    the partition column (its value is the partition folder's name, as in a partitioned dataset)."""
    relation = f"{q(schema)}.{q(name)}"
    if period is None:
        return f"select {_select_list(columns)} from {relation}"
    kept = [(column, data_type) for column, data_type in columns if column != PERIOD_COLUMN]
    return f"select {_select_list(kept)} from {relation} where {q(PERIOD_COLUMN)} = date {lit(period.isoformat())}"


def partition_folder(table_folder: Path, period: date) -> Path:
    """The folder of one billing period in a partitioned dataset: ``_billing_period=YYYY-MM-01``."""
    return table_folder / f"{PERIOD_COLUMN}={period.isoformat()}"


def write_dataset(
    con: duckdb.DuckDBPyConnection, select: str, target: Path, *, partitioned: bool = False
) -> int:
    """Write the rows of ``select`` as the parquet folder ``target``, atomically; the number of rows written.

    One file (``part_0.parquet``), or with ``partitioned`` one folder per billing period (the select's
    ``_billing_period`` column). The folder is written beside ``target`` (``.<name>.writing``, which readers
    skip) and swapped in by rename: a reader sees the old folder or the new one, never part of either, and a
    write that fails leaves the old one as it was.
    """
    staging = target.with_name(f".{target.name}.writing")
    _remove(staging)
    staging.mkdir(parents=True)
    try:
        if partitioned:
            written = con.execute(
                f"copy ({select}) to {lit(staging)}"
                f" (format parquet, partition_by ({q(PERIOD_COLUMN)}), filename_pattern 'part_{{i}}')"
            ).fetchone()[0]
        else:
            written = con.execute(
                f"copy ({select}) to {lit(staging / 'part_0.parquet')} (format parquet)"
            ).fetchone()[0]
        swap_in(staging, target)
    finally:
        _remove(staging)
    return written


def swap_in(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` in the place of ``target`` by rename (``staging`` is gone afterwards).

    On Linux the two folders are exchanged in one step (``renameat2(RENAME_EXCHANGE)``); elsewhere, or on a
    file system without it, ``target`` is moved aside and ``staging`` renamed into its place, two renames
    apart. The replaced folder is then deleted.
    """
    if not target.exists():
        staging.rename(target)
        return
    replaced = target.with_name(f".{target.name}.replaced")
    _remove(replaced)
    if _exchange(staging, target):
        staging.rename(replaced)
    else:
        target.rename(replaced)
        staging.rename(target)
    _remove(replaced)


def remove_dataset(target: Path) -> None:
    """Delete a parquet folder: renamed out of readers' sight in one step, then deleted."""
    if not target.exists():
        return
    removed = target.with_name(f".{target.name}.removed")
    _remove(removed)
    target.rename(removed)
    _remove(removed)


def _remove(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)


def _exchange(first: Path, second: Path) -> bool:
    """Exchange two paths atomically (Linux ``renameat2``); False where that is not available."""
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):  # not supported here
        return False
    raise OSError(error, os.strerror(error), str(first), None, str(second))


def write_table(con: duckdb.DuckDBPyConnection, schema: str, name: str, target: Path) -> RawTable:
    """Write one table as the parquet folder ``target`` (see :func:`write_dataset`): partitioned by billing
    period when it has ingest's ``_billing_period`` column and rows, else one file that carries its schema."""
    columns = table_columns(con, schema, name)
    rows = con.execute(f"select count(*) from {q(schema)}.{q(name)}").fetchone()[0]
    partitioned = rows > 0 and any(column == PERIOD_COLUMN for column, _ in columns)
    write_dataset(con, select_rows(schema, name, columns), target, partitioned=partitioned)
    return RawTable(schema, name, str(target.resolve()), partitioned, rows)


def export_raw_layer(warehouse: Path, out: Path) -> list[RawTable]:
    """Write the raw tables of ``warehouse`` under ``out`` (replacing what an earlier export wrote there)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")  # timestamps are UTC wall time
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_catalog = current_database() and table_type = 'BASE TABLE'"
            " and table_schema in (select unnest(?)) order by table_schema, table_name",
            [list(RAW_SCHEMAS)],
        ).fetchall()
        # Each table is written beside the dataset and swapped in whole: a failed export leaves the earlier one.
        return [write_table(con, schema, name, out / schema / name) for schema, name in tables]
    finally:
        con.close()


def register_raw_tables(
    tables: list[RawTable],
    *,
    project_dir: Path,
    profiles_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Create the external tables in the Spark catalog of the dbt profile's ``spark`` output (``env``: the
    process environment that configures it, this process's by default)."""
    args = json.dumps({"tables": [asdict(table) for table in tables]})
    subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "run-operation",
            "create_raw_tables",
            "--args",
            args,
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(profiles_dir),
            "--target",
            "spark",
        ],
        check=True,
        env={**(os.environ if env is None else env), "TFM_DBT_TARGET": "spark"},
        cwd=cwd,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="the DuckDB warehouse to read")
    parser.add_argument("--out", type=Path, required=True, help="the folder the parquet datasets go to")
    parser.add_argument(
        "--register", action="store_true", help="create the external tables in Spark's catalog"
    )
    options = parser.parse_args(argv)
    tables = export_raw_layer(options.warehouse, options.out)
    for table in tables:
        layout = f"partitioned by {PERIOD_COLUMN}" if table.partitioned else "one dataset"
        print(f"{table.schema}.{table.name}: {table.rows} rows, {layout}")
    if options.register:
        register_raw_tables(tables, project_dir=PROJECT_ROOT / "dbt_project", profiles_dir=PROJECT_ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
