"""The DuckDB warehouse: connections, and the ``raw`` and ``meta`` tables that ingestion owns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.ingest.formats import FAMILIES, SourceFamily, core_columns, q
from orchestration.processes import WarehouseLockedError, wait_for_lock  # noqa: F401 (raised by connect)

# Lineage columns added to every raw row, after the source's own columns.
LINEAGE_COLUMNS: list[tuple[str, str]] = [
    ("_source_file", "VARCHAR"),
    ("_file_checksum", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_billing_period", "DATE"),
    ("_ingested_at", "TIMESTAMP"),
]
FOCUS_LINEAGE = [("_focus_version", "VARCHAR")]

_META_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS meta;
-- What the last scan of the landing folder found, one row per file (its latest version).
CREATE TABLE IF NOT EXISTS meta.landing_files (
    path VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    checksum VARCHAR NOT NULL,
    source_family VARCHAR,
    file_format VARCHAR,
    focus_version VARCHAR,
    billing_periods DATE[],
    status VARCHAR NOT NULL,          -- ready | rejected | ignored (not billing data) | superseded | duplicate
    error VARCHAR,                    -- one line: file, row, column, cause
    scanned_at TIMESTAMP NOT NULL
);
-- The ledger: which version of which file is loaded into which billing period, one row per file and period.
CREATE TABLE IF NOT EXISTS meta.file_ledger (
    path VARCHAR NOT NULL,
    billing_period DATE NOT NULL,
    source_family VARCHAR NOT NULL,
    file_format VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    checksum VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    billed_cost DECIMAL(38, 18),
    status VARCHAR NOT NULL,          -- loaded
    loaded_at TIMESTAMP NOT NULL,
    run_id VARCHAR
);
-- Billing periods finance has closed (written by the monthly close, one row per close version). A closed
-- period is never pruned.
CREATE TABLE IF NOT EXISTS meta.period_closes (
    billing_period DATE NOT NULL,
    close_version INTEGER NOT NULL,
    closed_at TIMESTAMP NOT NULL,
    closed_by VARCHAR
);
-- A closed period whose rows ingest replaced: one row per (source family, load). The closed numbers stay as
-- the close recorded them until the period is closed again.
CREATE TABLE IF NOT EXISTS meta.period_restatements (
    billing_period DATE NOT NULL,
    source_family VARCHAR NOT NULL,
    restated_at TIMESTAMP NOT NULL,
    previous_rows BIGINT NOT NULL,
    previous_billed_cost DECIMAL(38, 18),   -- NULL for a family without money (unit drivers, SLIs, incidents)
    new_rows BIGINT NOT NULL,
    new_billed_cost DECIMAL(38, 18),
    close_version INTEGER NOT NULL          -- the period's latest close version at the time
);
-- One row per load of a (source family, billing period): the audit trail of replacements.
CREATE TABLE IF NOT EXISTS meta.period_loads (
    source_family VARCHAR NOT NULL,
    billing_period DATE NOT NULL,
    file_count INTEGER NOT NULL,
    row_count BIGINT NOT NULL,
    replaced_row_count BIGINT NOT NULL,
    billed_cost DECIMAL(38, 18),
    loaded_at TIMESTAMP NOT NULL,
    seconds DOUBLE NOT NULL,
    run_id VARCHAR
);
"""

# Parses the datetime spellings real exports use: ISO 8601 with or without T, Z, offsets or seconds.
_MACROS = """
CREATE OR REPLACE TEMP MACRO tfm_parse_timestamp(s) AS CAST(coalesce(
    TRY_CAST(nullif(trim(s), '') AS TIMESTAMPTZ),
    TRY_CAST(try_strptime(trim(s), ['%Y-%m-%dT%H:%MZ', '%Y-%m-%dT%H:%M%z']) AS TIMESTAMPTZ)
) AS TIMESTAMP);
"""


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    wait_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting while another process holds its lock.

    Waits up to ``wait_seconds`` (default ``TFM_LOCK_TIMEOUT``, 600 s), saying once which process it waits
    for (through ``log``, default stderr), then raises :class:`WarehouseLockedError` with one line.
    """
    con = wait_for_lock(
        lambda: duckdb.connect(str(path), read_only=read_only), path, timeout=wait_seconds, log=log
    )
    con.execute("SET TimeZone = 'UTC'")
    apply_memory_settings(con)
    con.execute(_MACROS)
    return con


def apply_memory_settings(con: duckdb.DuckDBPyConnection) -> None:
    """Cap DuckDB's memory at ``TFM_MEMORY_LIMIT``; beyond it DuckDB spills to ``<database>.tmp/``."""
    from orchestration.settings import duckdb_memory_limit

    con.execute("SET memory_limit = ?", [duckdb_memory_limit()])


@contextmanager
def warehouse(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def raw_columns(con: duckdb.DuckDBPyConnection, family: SourceFamily) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
        [family.name],
    ).fetchall()
    return dict(rows)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the meta tables and one raw table per source family with its core columns."""
    con.execute(_META_DDL)
    for family in FAMILIES.values():
        lineage = LINEAGE_COLUMNS + (FOCUS_LINEAGE if family.name == "focus" else [])
        columns = ", ".join(f"{q(name)} {dtype}" for name, dtype in core_columns(family) + lineage)
        con.execute(f"CREATE TABLE IF NOT EXISTS {family.raw_table} ({columns})")
    # The Python models' output tables, empty until they first run, so that the marts reading them build.
    from orchestration.predictions import ensure_ml_tables

    ensure_ml_tables(con)
