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

# tfm_parse_timestamp parses the datetime spellings real exports use: ISO 8601 with or without T, Z, offsets or
# seconds.
#
# tfm_plain_number rewrites a number written with a negative exponent (``5.2E-9``, as AWS writes small costs)
# in plain notation (``0.0000000052``) before it is cast to DECIMAL(38, 18): DuckDB's cast of an exponent into
# a 128-bit decimal takes ~10 microseconds a value (a repeated 128-bit division), and half the cost columns of
# a real CUR are written so, which made the casts most of a load. Only a mantissa of at most 18 digits whose
# result needs at most 18 decimals is rewritten, so the rewritten text converts to exactly the value the
# exponent form converts to (tests/test_ingest_numbers.py compares the two); any other text is left as it is.
#
# tfm_money converts text to DECIMAL(38, 18) as TRY_CAST does, to the same value: a number of at most 18 digits
# in plain notation is read as a 64-bit integer and scaled by an exact power of ten (tfm_scaled), since DuckDB's
# own parse of text into a 128-bit decimal takes ~5 microseconds a value; any other text goes to TRY_CAST.
_MACROS = r"""
CREATE OR REPLACE TEMP MACRO tfm_parse_timestamp(s) AS CAST(coalesce(
    TRY_CAST(nullif(trim(s), '') AS TIMESTAMPTZ),
    TRY_CAST(try_strptime(trim(s), ['%Y-%m-%dT%H:%MZ', '%Y-%m-%dT%H:%M%z']) AS TIMESTAMPTZ)
) AS TIMESTAMP);
CREATE OR REPLACE TEMP MACRO tfm_plain_number(s) AS CASE
    WHEN NOT regexp_full_match(s, '[+-]?[0-9]*\.?[0-9]*[eE]-[0-9]{1,2}') THEN s
    ELSE list_transform(
        [regexp_extract(s, '^([+-]?)([0-9]*)\.?([0-9]*)[eE](-[0-9]+)$', ['sign', 'ip', 'fp', 'e'])],
        _tfm_m -> list_transform(
            [{'d': _tfm_m.ip || _tfm_m.fp, 'p': length(_tfm_m.ip) + CAST(_tfm_m.e AS INTEGER)}],
            _tfm_n -> CASE
                WHEN _tfm_n.d = '' OR length(_tfm_n.d) > 18 OR length(_tfm_n.d) - _tfm_n.p > 18 THEN s
                WHEN _tfm_n.p <= 0 THEN _tfm_m.sign || '0.' || repeat('0', -_tfm_n.p) || _tfm_n.d
                WHEN _tfm_n.p >= length(_tfm_n.d) THEN _tfm_m.sign || _tfm_n.d
                ELSE _tfm_m.sign || left(_tfm_n.d, _tfm_n.p) || '.' || substr(_tfm_n.d, _tfm_n.p + 1)
            END
        )[1]
    )[1]
END;
CREATE OR REPLACE TEMP MACRO tfm_scaled(n, f) AS CASE f
    WHEN 0 THEN CAST(CAST(n AS DECIMAL(18, 0)) AS DECIMAL(38, 18))
    WHEN 1 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-1' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 2 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-2' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 3 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-3' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 4 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-4' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 5 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-5' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 6 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-6' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 7 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-7' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 8 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-8' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 9 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-9' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 10 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-10' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 11 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-11' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 12 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-12' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 13 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-13' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 14 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-14' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 15 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-15' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 16 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-16' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 17 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-17' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
    WHEN 18 THEN CAST(CAST(n AS DECIMAL(18, 0)) * CAST('1E-18' AS DECIMAL(19, 18)) AS DECIMAL(38, 18))
END;
CREATE OR REPLACE TEMP MACRO tfm_money(s) AS CASE
    WHEN s IS NULL THEN NULL
    WHEN regexp_full_match(s, '[+-]?[0-9]{1,18}(\.[0-9]{0,18})?')
        AND length(s) - CAST(s[1] IN ('+', '-') AS INTEGER) - CAST(contains(s, '.') AS INTEGER) <= 18
        THEN tfm_scaled(
            CAST(replace(s, '.', '') AS BIGINT), CASE WHEN contains(s, '.') THEN length(s) - strpos(s, '.') ELSE 0 END
        )
    ELSE TRY_CAST(tfm_plain_number(s) AS DECIMAL(38, 18))
END;
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
    from orchestration.incremental import ensure_state_table
    from orchestration.predictions import ensure_ml_tables

    ensure_ml_tables(con)
    # What incremental builds compare against (meta.dbt_period_state, meta.dbt_build_plan).
    ensure_state_table(con)
