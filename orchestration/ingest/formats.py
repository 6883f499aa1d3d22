"""Recognise a billing or business file from its content and plan how its columns become typed raw columns.

Eight source families are recognised from headers (CSV) or schemas (parquet), never from file names. Four
are bills:

- ``aws_cur_legacy``: legacy AWS Cost and Usage Report as CSV (plain or gzip), ``lineItem/...`` headers and
  dynamic ``resourceTags/...`` columns;
- ``aws_cur_athena``: legacy CUR in the Athena parquet layout (snake_case, ``resource_tags_user_*`` columns);
- ``aws_cur2``: CUR 2.0 (AWS Data Exports), parquet or gzip CSV, with the map columns ``product``,
  ``resource_tags``, ``discount`` and ``cost_category``;
- ``focus``: FOCUS 1.0, 1.1 or 1.2 from any provider, CSV or parquet.

Four are the business inputs a company delivers beside its bills (``schema.BUSINESS_INPUTS``), CSV (plain or
gzip) or parquet: ``invoices``, ``unit_drivers``, ``sli_daily`` and ``incidents``. A file of one has at least
that input's columns; each of its rows belongs to the month of its period column, and one file may hold
several months.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest.errors import BadFileError, NotBillingDataError
from orchestration.ingest.schema import (
    BUSINESS_INPUTS,
    CUR_MAP_COLUMNS,
    CUR_NUMERIC_COLUMNS,
    CUR_STRING_COLUMNS,
    CUR_TIMESTAMP_COLUMNS,
    FOCUS_COLUMNS,
    MONEY_TYPE,
    MONTH_KIND,
    business_column_type,
    cur_column_type,
    focus_column_type,
    focus_version,
    snake_case_cur_header,
)
from orchestration.quoting import lit, q

DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet")


@dataclass(frozen=True)
class SourceFamily:
    """One kind of input, loaded into its own raw table, one month (period) at a time."""

    name: str
    description: str
    period_column: str  # raw column whose month is the row's period
    currency_column: str | None  # with account_column: one account is billed in one currency per period
    account_column: str | None  # the billing (payer) account
    cost_column: str | None  # the cash cost that is reported back (sum per period); None: no money
    one_period_per_file: bool  # CUR files never span billing periods; FOCUS exports and business files may
    business: bool = False  # a business input (schema.BUSINESS_INPUTS), not a bill

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"


_CUR = {
    "period_column": "bill_billing_period_start_date",
    "currency_column": "line_item_currency_code",
    "account_column": "bill_payer_account_id",
    "cost_column": "line_item_unblended_cost",
    "one_period_per_file": True,
}
FAMILIES: dict[str, SourceFamily] = {
    f.name: f
    for f in (
        SourceFamily("aws_cur_legacy", "AWS CUR (legacy CSV)", **_CUR),
        SourceFamily("aws_cur_athena", "AWS CUR (legacy Athena parquet)", **_CUR),
        SourceFamily("aws_cur2", "AWS CUR 2.0 (Data Exports)", **_CUR),
        SourceFamily(
            "focus",
            "FOCUS 1.0-1.2 export",
            period_column="BillingPeriodStart",
            currency_column="BillingCurrency",
            account_column="BillingAccountId",
            cost_column="BilledCost",
            one_period_per_file=False,
        ),
        *(
            SourceFamily(
                b.name,
                b.description,
                period_column=b.period_column,
                currency_column=None,
                account_column=None,
                cost_column=b.cost_column,
                one_period_per_file=False,
                business=True,
            )
            for b in BUSINESS_INPUTS.values()
        ),
    )
}


@dataclass(frozen=True)
class ColumnPlan:
    """How one raw column is computed from the file."""

    raw_name: str
    raw_type: str
    expression: str  # SQL over the source relation
    source: str | None = None  # the source column, when one column maps to one column
    physical: str | None = None  # its name in the SQL relation (CSV columns are read by position)
    check: str | None = None  # SQL that is true on a row whose source value could not be converted
    expected: str | None = None  # what a valid value is, for the error message ("whole number", ...)
    not_empty: bool = False  # a row must fill it: an empty value rejects the file


@dataclass
class DetectedFile:
    path: Path
    family: SourceFamily
    container: str  # "csv" or "parquet"
    source_columns: list[str]
    source_types: dict[str, str] = field(default_factory=dict)
    focus_version: str | None = None
    columns: list[ColumnPlan] = field(default_factory=list)

    @property
    def file_format(self) -> str:
        compressed = "gzip " if self.container == "csv" and _is_gzip(self.path) else ""
        return f"{compressed}{self.container}"

    def physical(self, index: int) -> str:
        """The name the SQL relation gives the index-th source column.

        CSV columns are read by position (``c0000``...): headers may repeat or differ only in case
        (``resourceTags/user:Env`` and ``resourceTags/user:env``), which SQL names cannot.
        """
        return f"c{index:04d}" if self.container == "csv" else self.source_columns[index]

    def plan(self, name: str) -> ColumnPlan:
        for column in self.columns:
            if column.raw_name == name:
                return column
        raise KeyError(name)


def is_data_file(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith((".", "_")) and name.endswith(DATA_SUFFIXES)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _csv_header(path: Path) -> list[str]:
    """The header row of a CSV file, plain or gzip, without a byte-order mark."""
    try:
        raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # noqa: SIM115
        with raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            header = next(csv.reader(text), [])
    except (OSError, EOFError, zlib.error) as exc:
        raise BadFileError(path, f"cannot read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise BadFileError(path, f"not UTF-8 text (byte {exc.start} of the header)") from exc
    except csv.Error as exc:
        raise BadFileError(path, f"unreadable CSV header: {exc}", line=1) from exc
    return [h.strip() for h in header]


def _parquet_schema(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    try:
        rows = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))}, hive_partitioning = false)"
        ).fetchall()
    except duckdb.Error as exc:
        raise BadFileError(path, f"unreadable parquet: {_first_line(exc)}") from exc
    return {name: dtype for name, dtype, *_ in rows}


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# Names tfm gives its lineage columns; a file's own column of that name would overwrite them.
RESERVED_COLUMNS = frozenset(
    {"_source_file", "_file_checksum", "_source_row", "_billing_period", "_ingested_at", "_focus_version"}
)
MAX_COLUMN_NAME = 255


def _check_column_names(path: Path, columns: list[str], container: str) -> None:
    """Column names become column names of the raw tables: they are data, but not every string is one.

    Names are kept as the file spells them (quotes, semicolons and any script included: they are always
    quoted with escaping), but a name that is empty, longer than 255 characters, holds a control character
    (a newline, a NUL) or takes a lineage column's name rejects the file.
    """
    position = {"line": 1} if container == "csv" else {}
    for index, name in enumerate(columns, start=1):
        problem = None
        if not name:
            problem = "has no name"
        elif len(name) > MAX_COLUMN_NAME:
            problem = f"has a name of {len(name)} characters (at most {MAX_COLUMN_NAME})"
        elif any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
            problem = "has a control character (a newline, tab or NUL) in its name"
        elif name.lower() in RESERVED_COLUMNS:
            problem = "takes the name of a lineage column tfm adds to every row"
        if problem:
            shown = name if len(name) <= 60 else name[:57] + "..."
            raise BadFileError(path, f"column {index} ({shown!r}) {problem}", **position)


def detect(con: duckdb.DuckDBPyConnection, path: Path) -> DetectedFile:
    """Recognise the source family of a file from its header or schema and plan its columns."""
    if path.stat().st_size == 0:
        raise BadFileError(path, "empty file")
    if _is_parquet(path):
        types = _parquet_schema(con, path)
        columns, container = list(types), "parquet"
    else:
        columns, types, container = _csv_header(path), {}, "csv"
        if not any(columns):
            raise BadFileError(path, "no header row", line=1)
    _check_column_names(path, columns, container)
    names = set(columns)
    if names == {"status"}:
        raise NotBillingDataError(f"{path}: the CUR status table written beside the data, not billing rows")
    if {"BilledCost", "ChargePeriodStart", "BillingAccountId"} <= names:
        family = FAMILIES["focus"]
    elif any(c.startswith("lineItem/") for c in columns) and "bill/BillingPeriodStartDate" in names:
        family = FAMILIES["aws_cur_legacy"]
    elif {"line_item_unblended_cost", "bill_billing_period_start_date"} <= names:
        is_cur2 = bool(names & {"product", "resource_tags", "bill_payer_account_name"})
        family = FAMILIES["aws_cur2" if is_cur2 else "aws_cur_athena"]
    else:
        family = _business_family(path, names, columns)
    detected = DetectedFile(path, family, container, columns, types)
    if family.name == "focus":
        detected.focus_version = focus_version(names)
        detected.columns = _focus_plan(detected)
    elif family.business:
        detected.columns = _business_plan(detected)
    else:
        detected.columns = _cur_plan(detected)
    return detected


def _business_family(path: Path, names: set[str], columns: list[str]) -> SourceFamily:
    """The business input whose columns a file has; a file with none's (or two's) is of unknown shape."""
    matches = [b.name for b in BUSINESS_INPUTS.values() if b.shape <= names]
    if len(matches) == 1:
        return FAMILIES[matches[0]]
    shown = ", ".join(columns[:6]) + (", ..." if len(columns) > 6 else "")
    if matches:
        raise BadFileError(path, f"its columns ({shown}) fit several business inputs ({', '.join(matches)})")
    raise BadFileError(
        path, f"unknown file shape: its columns ({shown}) match no billing format and no business input"
    )


# --- conversions -----------------------------------------------------------------------------------


def _convert(src: str, source_type: str, target: str) -> tuple[str, str | None]:
    """SQL converting one source expression to the target type, and the SQL flagging a failed conversion."""
    source_type = source_type.upper()
    if source_type == target.upper():
        return src, None
    if target == "VARCHAR":
        return f"CAST({src} AS VARCHAR)", None
    if target.startswith("MAP("):
        if source_type.startswith("MAP("):
            expr = f"TRY_CAST({src} AS {target})"
            return expr, f"({src} IS NOT NULL AND {expr} IS NULL)"
        expr = f"TRY_CAST(TRY_CAST(nullif(trim({src}), '') AS JSON) AS {target})"
        return expr, f"(nullif(trim({src}), '') IS NOT NULL AND {expr} IS NULL)"
    if target == "TIMESTAMP":
        if source_type.startswith("TIMESTAMP"):
            return f"CAST({src} AS TIMESTAMP)", None  # TIMESTAMPTZ -> UTC wall time (session zone is UTC)
        expr = f"tfm_parse_timestamp({src})"
        return expr, f"(nullif(trim({src}), '') IS NOT NULL AND {expr} IS NULL)"
    if source_type == "VARCHAR":
        text = f"nullif(trim({src}), '')"
        if target == MONEY_TYPE:  # TRY_CAST's value, far faster (see warehouse._MACROS)
            expr = f"tfm_money({text})"
        elif target.startswith("DECIMAL"):  # 5.2E-9 -> 0.0000000052 first: far faster, the same value
            expr = f"TRY_CAST(tfm_plain_number({text}) AS {target})"
        else:
            expr = f"TRY_CAST({text} AS {target})"
        return expr, f"(nullif(trim({src}), '') IS NOT NULL AND {expr} IS NULL)"
    expr = f"TRY_CAST({src} AS {target})"
    return expr, f"({src} IS NOT NULL AND {expr} IS NULL)"


def _column(source: str, physical: str, raw_name: str, target: str, source_type: str) -> ColumnPlan:
    expr, check = _convert(q(physical), source_type, target)
    return ColumnPlan(raw_name, target, expr, source=source, physical=physical, check=check)


def _tag_map(entries: list[tuple[str, str]]) -> str:
    """SQL building a MAP(VARCHAR, VARCHAR) from flattened tag columns, keeping only tags with a value."""
    if not entries:
        return "CAST(NULL AS MAP(VARCHAR, VARCHAR))"
    packs = ", ".join(f"struct_pack(k := {lit(key)}, v := CAST({q(col)} AS VARCHAR))" for key, col in entries)
    return f"map_from_entries(list_filter([{packs}], e -> e.v IS NOT NULL AND e.v <> ''))"


# Flattened key/value column groups of the legacy layouts: (CSV prefix, Athena prefix, raw map column).
_FLATTENED_MAPS = (
    ("resourceTags/", "resource_tags_", "resource_tags"),
    ("costCategory/", "cost_category_", "cost_category"),
)


def _cur_plan(detected: DetectedFile) -> list[ColumnPlan]:
    legacy_csv = detected.family.name == "aws_cur_legacy"
    plans: list[ColumnPlan] = []
    flattened: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    for index, source in enumerate(detected.source_columns):
        physical = detected.physical(index)
        map_column = None
        for csv_prefix, athena_prefix, target in _FLATTENED_MAPS:
            if legacy_csv and source.startswith(csv_prefix):
                map_column, key = target, source[len(csv_prefix) :]
            elif detected.family.name == "aws_cur_athena" and source.startswith(athena_prefix):
                map_column, key = target, source[len(athena_prefix) :]
        if map_column:
            flattened.setdefault(map_column, []).append((key, physical))
            continue
        raw_name = snake_case_cur_header(source) if legacy_csv else source
        if raw_name in seen:
            raise BadFileError(detected.path, f"column {source!r} appears twice")
        seen.add(raw_name)
        source_type = detected.source_types.get(source, "VARCHAR")
        target = cur_column_type(raw_name)
        if target == "VARCHAR" and source_type not in ("VARCHAR", "BLOB") and detected.container == "parquet":
            target = MONEY_TYPE if source_type in ("DOUBLE", "FLOAT") else source_type
        plans.append(_column(source, physical, raw_name, target, source_type))
    for map_column, entries in flattened.items():
        plans.append(ColumnPlan(map_column, CUR_MAP_COLUMNS[map_column], _tag_map(entries)))
    return plans


def _focus_plan(detected: DetectedFile) -> list[ColumnPlan]:
    plans = []
    seen: set[str] = set()
    for index, source in enumerate(detected.source_columns):
        if source.lower() in seen:
            raise BadFileError(detected.path, f"column {source!r} appears twice")
        seen.add(source.lower())
        source_type = detected.source_types.get(source, "VARCHAR")
        if source in FOCUS_COLUMNS:
            target = focus_column_type(source)
        elif source_type in ("DOUBLE", "FLOAT"):
            target = MONEY_TYPE
        else:
            target = source_type if detected.container == "parquet" else "VARCHAR"
        plans.append(_column(source, detected.physical(index), source, target, source_type))
    return plans


_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT")  # fmt: skip
_NUMBER_TYPES = ("DOUBLE", "FLOAT", "DECIMAL")


def _business_convert(src: str, source_type: str, kind: str) -> tuple[str, str | None, str | None]:
    """SQL converting a business column to its kind, the SQL flagging a value that does not convert, and what a
    valid value is. Counts are whole numbers, never rounded (``12.5`` is rejected, not 13); a date is a day
    (``2026-01-31``, not a time of day); a month is ``YYYY-MM``."""
    source_type = source_type.upper()
    numeric = source_type.startswith(_INTEGER_TYPES + _NUMBER_TYPES)
    temporal = source_type == "DATE" or source_type.startswith("TIMESTAMP")
    text = f"trim(CAST({src} AS VARCHAR))"
    not_blank = f"nullif({text}, '') IS NOT NULL"
    if kind == "BIGINT":
        if source_type.startswith(_INTEGER_TYPES):
            expr = f"TRY_CAST({src} AS BIGINT)"
            return expr, f"({src} IS NOT NULL AND {expr} IS NULL)", "whole number"
        if numeric:
            expr = f"TRY_CAST({src} AS BIGINT)"
            return expr, f"({src} IS NOT NULL AND ({expr} IS NULL OR {expr} <> {src}))", "whole number"
        expr = f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
        return expr, f"({not_blank} AND {expr} IS NULL)", "whole number"
    if kind == "DATE":
        if temporal:
            expr = f"CAST({src} AS DATE)"
            return (
                expr,
                f"({src} IS NOT NULL AND CAST({src} AS TIMESTAMP) <> CAST({expr} AS TIMESTAMP))",
                "date",
            )
        expr = f"CAST(try_strptime({text}, '%Y-%m-%d') AS DATE)"
        return expr, f"({not_blank} AND {expr} IS NULL)", "date (YYYY-MM-DD)"
    if kind == MONTH_KIND:
        if temporal:
            start = f"CAST({src} AS TIMESTAMP)"
            expr = f"CASE WHEN {start} = date_trunc('month', {start}) THEN CAST({src} AS DATE) END"
            return expr, f"({src} IS NOT NULL AND {expr} IS NULL)", "month (the first day of a month)"
        expr = f"CAST(try_strptime({text}, '%Y-%m') AS DATE)"
        return expr, f"({not_blank} AND {expr} IS NULL)", "month (YYYY-MM)"
    expr, check = _convert(src, source_type, kind)  # text (ids stay text), TIMESTAMP (UTC) or MONEY
    return expr, check, {"TIMESTAMP": "date and time", MONEY_TYPE: "number"}.get(kind)


def _business_plan(detected: DetectedFile) -> list[ColumnPlan]:
    """The business input's columns typed by their kind; other columns a file brings are kept (text in CSV,
    their own type in parquet, a floating-point number as DECIMAL)."""
    business = BUSINESS_INPUTS[detected.family.name]
    kinds = dict(business.columns)
    plans = []
    seen: set[str] = set()
    for index, source in enumerate(detected.source_columns):
        if source.lower() in seen:
            raise BadFileError(detected.path, f"column {source!r} appears twice")
        seen.add(source.lower())
        source_type = detected.source_types.get(source, "VARCHAR")
        physical = detected.physical(index)
        if source in kinds:
            kind = kinds[source]
            expr, check, expected = _business_convert(q(physical), source_type, kind)
            plans.append(
                ColumnPlan(
                    source, business_column_type(kind), expr, source=source, physical=physical, check=check,
                    expected=expected, not_empty=source in business.not_empty,
                )
            )  # fmt: skip
            continue
        if source_type in ("DOUBLE", "FLOAT"):
            target = MONEY_TYPE
        else:
            target = source_type if detected.container == "parquet" else "VARCHAR"
        plans.append(_column(source, physical, source, target, source_type))
    return plans


def core_columns(family: SourceFamily) -> list[tuple[str, str]]:
    """The columns every raw table of a family has from the start, so staging can rely on them."""
    if family.name == "focus":
        return [(c, focus_column_type(c)) for c in FOCUS_COLUMNS]
    if family.business:
        return [(c, business_column_type(kind)) for c, kind in BUSINESS_INPUTS[family.name].columns]
    names = sorted(CUR_NUMERIC_COLUMNS | CUR_STRING_COLUMNS | CUR_TIMESTAMP_COLUMNS | set(CUR_MAP_COLUMNS))
    return [(c, cur_column_type(c)) for c in names]
