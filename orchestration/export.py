"""``tfm export``: a public mart, or a billing period's FOCUS dataset, as files other tools read.

- ``tfm export focus --period YYYY-MM --out DIR`` writes the period's rows of ``marts.fct_focus_charges`` as
  ``focus_YYYY-MM.parquet`` and ``focus_YYYY-MM.csv``: the 57 FOCUS 1.2 columns, then tfm's ``x_`` columns.
  Money stays ``DECIMAL(38,18)`` (exact in both files), datetimes are UTC instants, and the JSON and nested
  columns (``Tags``, ``SkuPriceDetails``, ``x_tags``, ``x_raw_tags``, ``x_source_extras``) are JSON text, which
  the FinOps Foundation's validator reads as it stands (parquet's JSON logical type it reads as invalid JSON).
- ``tfm export mart NAME [--period YYYY-MM] --out DIR`` writes any table of the public schemas (``marts``, and
  ``closed`` for the frozen close versions) the same way; nested columns stay nested in parquet and are JSON
  text in CSV.

Everything goes through the analysts' path (:mod:`orchestration.analyst`): the published warehouse opened
read-only without file or network access, tfm's own writer, a temporary file renamed into place, never over an
existing file without ``force``, never inside the landing folder or ``$TFM_HOME``. A mart name is looked up in
the warehouse's catalog and used only as the quoted identifier found there; the period is bound as a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from orchestration.analyst import AnalystError, check_target, connect_readonly, export
from orchestration.quoting import q

PUBLIC_SCHEMAS = ("marts", "closed")
FOCUS_MART = ("marts", "fct_focus_charges")
EXPORT_FORMATS = ("parquet", "csv")
# The column whose month is a row's billing period, the first a mart has: FOCUS charges, monthly marts,
# SLO and incident months, unit economics, daily series, forecasts (the day forecast), dates.
PERIOD_COLUMNS = (
    "x_billing_period",
    "billing_period_start",
    "month_start",
    "period_start",
    "usage_date",
    "forecast_day",
    "date_day",
)
_NESTED = {"map", "struct", "list", "array", "union"}

Log = Callable[[str], None]


class ExportError(AnalystError):
    """A refused or failed export; ``str()`` is the one-line cause."""


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    fmt: str
    rows: int


def parse_period(text: str) -> date:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text or ""):
        raise ExportError(f"{text!r} is not a billing period; use YYYY-MM")
    return date.fromisoformat(f"{text}-01")


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def public_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every table and view of the public schemas, sorted."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND list_contains(?, table_schema) ORDER BY 1, 2",
        [list(PUBLIC_SCHEMAS)],
    ).fetchall()
    return [(schema, table) for schema, table in rows]


def resolve_mart(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, str]:
    """``name`` (``fct_x`` or ``schema.fct_x``) as the (schema, table) the warehouse holds, or ``ExportError``."""
    schema, _, table = (name or "").strip().rpartition(".")
    schema = schema or "marts"
    if schema.lower() not in PUBLIC_SCHEMAS:
        raise ExportError(f"{name!r} is not in a public schema ({', '.join(PUBLIC_SCHEMAS)}); export a mart")
    tables = public_tables(con)
    for found in tables:
        if (found[0].lower(), found[1].lower()) == (schema.lower(), table.lower()):
            return found
    listed = ", ".join(t for s, t in tables if s == "marts")
    raise ExportError(f"no mart {name!r} in the warehouse; the marts are: {listed}")


def _columns(
    con: duckdb.DuckDBPyConnection, schema: str, table: str
) -> list[tuple[str, duckdb.DuckDBPyType]]:
    relation = con.table(f"{q(schema)}.{q(table)}")
    return list(zip(relation.columns, relation.types, strict=True))


def period_column(columns: Sequence[tuple[str, duckdb.DuckDBPyType]]) -> str | None:
    names = {name for name, _ in columns}
    return next((c for c in PERIOD_COLUMNS if c in names), None)


def _select(
    schema: str,
    table: str,
    columns: Sequence[tuple[str, duckdb.DuckDBPyType]],
    *,
    nested_as_json: bool,
    period: str | None,
) -> str:
    """tfm's SELECT over one mart: every column (nested ones as JSON text if asked), one period's rows."""
    select = []
    for name, kind in columns:
        expression = q(name)
        if nested_as_json and kind.id in _NESTED:
            expression = f"to_json({expression})"
        select.append(f"{expression} AS {q(name)}")
    sql = f"SELECT {', '.join(select)} FROM {q(schema)}.{q(table)}"
    if period is not None:
        sql += f" WHERE {q(period)} >= ? AND {q(period)} < ?"
    return sql


def _out_dir(out: Path, protected: Sequence[tuple[str, Path]]) -> Path:
    folder = Path(out).expanduser().resolve()
    for label, root in protected:
        root = Path(root).expanduser().resolve()
        if folder == root or folder.is_relative_to(root):
            raise ExportError(f"{out} is inside {label} ({root}); tfm export writes elsewhere")
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"cannot write into {out}: it is a file")
    return folder


def export_table(
    warehouse: Path,
    name: str,
    out: Path,
    *,
    period: str | None = None,
    formats: Sequence[str] = EXPORT_FORMATS,
    force: bool = False,
    protected: Sequence[tuple[str, Path]] = (),
    stem: str | None = None,
    log: Log | None = None,
) -> list[ExportedFile]:
    """Write a public mart (one period's rows, with ``period``) to ``out`` in each of ``formats``.

    Nothing is written until the name, the period, the folder and every target file pass; a failure removes the
    files this call wrote.
    """
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise ExportError(
            f"tfm export writes {' and '.join(EXPORT_FORMATS)}, not {', '.join(unknown) or 'nothing'}"
        )
    month = parse_period(period) if period is not None else None
    folder = _out_dir(out, protected)
    if not Path(warehouse).exists():
        raise ExportError(
            f"no warehouse at {warehouse}; run 'tfm demo', or 'tfm ingest' and 'tfm build', first"
        )
    con = connect_readonly(warehouse, log=log)
    written: list[ExportedFile] = []
    try:
        schema, table = resolve_mart(con, name)
        columns = _columns(con, schema, table)
        column = None
        params: list[date] = []
        if month is not None:
            column = period_column(columns)
            if column is None:
                raise ExportError(
                    f"{schema}.{table} has no billing period column ({', '.join(PERIOD_COLUMNS)}); export it without --period"
                )
            params = [month, _next_month(month)]
        focus = (schema, table) == FOCUS_MART
        base = stem or ("focus" if focus else (table if schema == "marts" else f"{schema}_{table}"))
        if month is not None:
            base += f"_{month:%Y-%m}"
        folder.mkdir(parents=True, exist_ok=True)
        targets = {
            fmt: check_target(folder / f"{base}.{fmt}", force=force, protected=protected) for fmt in formats
        }
        if (
            month is not None
            and not con.execute(
                f"SELECT EXISTS (SELECT 1 FROM {q(schema)}.{q(table)} WHERE {q(column)} >= ? AND {q(column)} < ?)",
                params,
            ).fetchone()[0]
        ):
            raise ExportError(f"{schema}.{table} has no rows for {month:%Y-%m}; nothing was written")
        for fmt, target in targets.items():
            # The FOCUS dataset's nested columns are JSON text in both files; a mart keeps them nested in parquet.
            sql = _select(schema, table, columns, nested_as_json=focus or fmt == "csv", period=column)
            relation = con.sql(sql, params=params)
            rows = export(relation, target, fmt, force=force)
            written.append(ExportedFile(target, fmt, rows))
            if log:
                log(f"wrote {rows:,} row(s) of {schema}.{table} to {target}")
    except BaseException:
        for file in written:
            file.path.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return written


def export_focus(
    warehouse: Path,
    period: str,
    out: Path,
    *,
    force: bool = False,
    protected: Sequence[tuple[str, Path]] = (),
    log: Log | None = None,
) -> list[ExportedFile]:
    """The FOCUS 1.2 dataset of a billing period: ``focus_YYYY-MM.parquet`` and ``focus_YYYY-MM.csv``."""
    return export_table(
        warehouse, ".".join(FOCUS_MART), out, period=period, force=force, protected=protected, log=log
    )


@dataclass(frozen=True)
class Validation:
    total: int
    passed: int
    failed: int
    skipped: int
    excepted: list[str]  # failed rules listed, with their reasons, in focus_validator_exceptions.yml
    unexpected: list[str]  # failed rules that are not: the dataset does not conform
    report: Path

    def summary(self) -> str:
        verdict = "accepted" if not self.unexpected else f"REJECTED on {', '.join(self.unexpected)}"
        return (
            f"focus-validator: {verdict}: {self.total} rules, {self.passed} passed, {self.failed} failed "
            f"({len(self.excepted)} of them listed exceptions or rules that failed only through one), "
            f"{self.skipped} skipped; report {self.report}"
        )


def validate_focus(parquet: Path, report: Path, *, tools_dir: Path | None = None) -> Validation:
    """Run the FinOps Foundation's validator on an exported parquet file; keep its console report at ``report``.

    ``excepted`` lists every failed rule that ``dbt_project/focus_validator_exceptions.yml`` excuses (with
    the composite rules that failed only through them); ``unexpected`` the others.
    """
    import shutil
    import tempfile

    from orchestration.conformance.focus_validator import (
        load_exceptions,
        run_focus_validator,
        unexpected_failures,
    )

    with tempfile.TemporaryDirectory(prefix="tfm-focus-validator-") as work:
        result = run_focus_validator(Path(parquet), tools_dir=tools_dir, report_dir=Path(work))
        shutil.copyfile(result.raw_report, report)
    unexpected = [failure.rule_id for failure in unexpected_failures(result, load_exceptions())]
    return Validation(
        total=result.total,
        passed=result.passed,
        failed=result.failed,
        skipped=result.skipped,
        excepted=sorted(result.failed_rule_ids - set(unexpected)),
        unexpected=unexpected,
        report=Path(report),
    )
