"""The analysts' path into the warehouse: one checked, read-only SELECT, printed or exported by tfm.

Three guards, each enough on its own for the cases it covers:

1. **One SELECT, checked before anything runs.** The query goes through DuckDB's own parser
   (``extract_statements``) on the locked connection below; anything but exactly one statement of type
   ``SELECT`` is refused with its cause. ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, ``FROM t`` and the read-only
   pragmas (``PRAGMA show_tables``, ``PRAGMA table_info(...)``) parse as SELECT and are accepted; ``COPY``,
   ``EXPORT``, ``ATTACH``, ``SET``, ``CREATE`` (temporary too), ``INSERT``, ``CALL``, ``INSTALL``/``LOAD``,
   other ``PRAGMA``s, ``EXPLAIN`` (``EXPLAIN ANALYZE`` runs the statement it explains, and the parser does
   not say which statement that is) and several statements are not.
2. **A connection that cannot reach anything but the warehouse.** The warehouse is opened read-only with
   ``enable_external_access = false`` (no file, network or extension access: ``read_csv('/etc/passwd')``,
   ``read_text``, ``glob``, ``COPY``, ``ATTACH``, ``INSTALL`` all fail) and without Python replacement scans,
   then ``lock_configuration = true``, so no statement can turn either back on.
3. **tfm writes the files, not the query.** An export or a csv/json print streams the result as Arrow
   record batches into a second, in-memory DuckDB connection that runs only tfm's own ``COPY``, whose one
   allowed path is a fresh temporary file next to the target; the file is then moved into place, never over
   an existing file unless asked, never into the landing folder or the warehouse's own folder.

JSON columns (``Tags``, ``SkuPriceDetails``) are written to parquet as text, since the FinOps Foundation's
validator reads parquet's JSON logical type as invalid JSON; decimals stay DECIMAL. Every failure is an
``AnalystError`` whose message is one line.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa

ONE_SELECT = "tfm sql runs one read-only SELECT"

# Where terminal output may go, and what --out can write.
TERMINAL_FORMATS = ("table", "csv", "json", "jsonl", "markdown")
FILE_FORMATS = ("csv", "parquet", "json", "jsonl")
FORMATS = ("table", "csv", "json", "jsonl", "markdown", "parquet")
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

# tfm's own COPY options per file format (constants: nothing from the user goes into them).
_COPY_OPTIONS = {
    "csv": "FORMAT csv, HEADER true",
    "parquet": "FORMAT parquet",
    "json": "FORMAT json, ARRAY true",
    "jsonl": "FORMAT json",
}

# Why each kind of statement is refused (keys are duckdb.StatementType names).
_REFUSED = {
    "COPY": "COPY writes files: use --out FILE",
    "EXPORT": "EXPORT DATABASE writes files: use --out FILE to export a query's result",
    "COPY_DATABASE": "COPY FROM DATABASE copies the warehouse into another database",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the session's databases",
    "SET": "SET, RESET and USE change the session's settings",
    "VARIABLE_SET": "SET VARIABLE changes the session's state",
    "CREATE": "CREATE makes objects, temporary ones included",
    "CREATE_FUNC": "CREATE MACRO/FUNCTION makes objects",
    "INSERT": "INSERT changes data",
    "UPDATE": "UPDATE changes data",
    "DELETE": "DELETE changes data",
    "MERGE_INTO": "MERGE INTO changes data",
    "ALTER": "ALTER changes the warehouse's tables",
    "DROP": "DROP removes objects",
    "LOAD": "INSTALL and LOAD add extensions",
    "EXTENSION": "extension statements add code",
    "CALL": "CALL runs a procedure: table functions read with SELECT * FROM function(...)",
    "PRAGMA": "this PRAGMA changes the session (the read-only ones, like PRAGMA show_tables, are accepted)",
    "EXPLAIN": "EXPLAIN is not run (EXPLAIN ANALYZE executes the statement it explains)",
    "TRANSACTION": "BEGIN, COMMIT and ROLLBACK are not needed for one query",
    "PREPARE": "PREPARE keeps a statement for later",
    "EXECUTE": "EXECUTE runs a prepared statement",
    "VACUUM": "VACUUM and ANALYZE maintain the warehouse",
    "ANALYZE": "VACUUM and ANALYZE maintain the warehouse",
}

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.+?)(?:\. See also|$)")


class AnalystError(Exception):
    """A refused request or a failed query; ``str()`` is the one-line cause shown after ``error:``."""


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- the statement ------------------------------------------------------------------------------------


def check_query(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.Statement:
    """Parse ``query`` with DuckDB's parser; return its one SELECT statement or raise ``AnalystError``.

    Call it on the locked connection of :func:`connect_readonly`: DuckDB's parser itself reads files for
    some statements (``IMPORT DATABASE`` reads the folder's ``schema.sql``).
    """
    if not query or not query.strip():
        raise AnalystError(f'no query given; {ONE_SELECT}: tfm sql "SELECT ..."')
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise AnalystError(f"{_one_line(exc)}; nothing was run") from None
    if not statements:
        raise AnalystError(f"the query holds no SQL statement; {ONE_SELECT}")
    if len(statements) > 1:
        kinds = ", ".join(s.type.name for s in statements)
        raise AnalystError(f"{ONE_SELECT}; got {len(statements)} statements ({kinds}); nothing was run")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        cause = _REFUSED.get(
            statement.type.name, f"{statement.type.name} statements are not read-only queries"
        )
        raise AnalystError(f"{ONE_SELECT}; {cause}")
    return statement


# --- the connections ----------------------------------------------------------------------------------

# Set when the database starts, before any statement can run.
_ANALYST_CONFIG = {
    "enable_external_access": False,
    "python_enable_replacements": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def connect_readonly(
    path: Path | str, *, wait_seconds: float = 60.0, log: Callable[[str], None] | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only for analysts: no file, network or extension access, settings locked.

    Waits (up to ``wait_seconds``) while a writer holds the warehouse's lock, saying once who holds it.
    """
    deadline = time.monotonic() + wait_seconds
    said = False
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True, config=dict(_ANALYST_CONFIG))
            break
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" not in message.lower():
                raise AnalystError(f"cannot open the warehouse {path}: {_one_line(exc)}") from None
            match = _LOCK_HOLDER.search(message)
            holder = match.group(1) if match else "another process"
            if time.monotonic() > deadline:
                raise AnalystError(
                    f"the warehouse {path} is still locked by {holder} after {wait_seconds:.0f}s; "
                    "try again when it finishes"
                ) from None
            if not said and log is not None:
                log(f"waiting for the warehouse: it is locked by {holder}")
                said = True
            time.sleep(0.5)
    try:
        # The ICU time zone cannot be given in the connect config; set it, then lock every setting.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _writer(allowed_file: Path | None = None) -> duckdb.DuckDBPyConnection:
    """tfm's own in-memory connection that turns Arrow batches into text or files.

    It only ever runs tfm's statements; its one reachable path is ``allowed_file``.
    """
    # allowed_paths can only be set while external access is on: it goes off just below, before any use.
    con = duckdb.connect(":memory:", config={**_ANALYST_CONFIG, "enable_external_access": True})
    try:
        con.execute("SET TimeZone = 'UTC'")
        if allowed_file is not None:
            con.execute("SET allowed_paths = ?", [[str(allowed_file)]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


# --- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: duckdb.DuckDBPyType

    @property
    def is_json(self) -> bool:
        return str(self.type) == "JSON"


def run_query(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement) -> duckdb.DuckDBPyRelation:
    """The checked statement as a relation (nothing is computed until it is fetched)."""
    try:
        relation = con.sql(statement)
    except duckdb.Error as exc:
        raise AnalystError(_query_error(exc)) from None
    if relation is None:  # pragma: no cover - check_query lets only SELECT through
        raise AnalystError(f"the statement returned no result; {ONE_SELECT}")
    return relation


def _query_error(exc: BaseException) -> str:
    message = _one_line(exc)
    if isinstance(exc, duckdb.PermissionException):
        return f"{message} (tfm sql reads only the warehouse's own tables)"
    return message


def columns_of(relation: duckdb.DuckDBPyRelation) -> list[Column]:
    return [Column(name, dtype) for name, dtype in zip(relation.columns, relation.types, strict=True)]


def _unique(names: Iterable[str]) -> list[str]:
    """Column names for a file: a repeated name (DuckDB compares them case-insensitively) gets ``_1``..."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate.lower() in seen:
            n += 1
            candidate = f"{name}_{n}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def _positional_schema(schema: pa.Schema) -> pa.Schema:
    # Results may repeat a name, or use any characters: the writer refers to columns as c0, c1, ...
    return pa.schema([field.with_name(f"c{i}") for i, field in enumerate(schema)])


def _positional_reader(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    schema = _positional_schema(reader.schema)
    batches = (pa.RecordBatch.from_arrays(batch.columns, schema=schema) for batch in reader)
    return pa.RecordBatchReader.from_batches(schema, batches)


def _retyped(
    writer: duckdb.DuckDBPyConnection,
    source: pa.Table | pa.RecordBatchReader,
    columns: Sequence[Column],
    names: Sequence[str],
    *,
    json_as_text: bool = False,
    all_text: bool = False,
) -> duckdb.DuckDBPyRelation:
    """The Arrow data as a relation of ``writer``, with the result's names.

    Arrow carries DuckDB's JSON as plain text; it is typed JSON again unless ``json_as_text`` (parquet).
    ``all_text`` gives every value as DuckDB prints it (its cast to VARCHAR).
    """
    positional = [f"c{i}" for i in range(len(columns))]
    if isinstance(source, pa.Table):
        source = source.rename_columns(positional)
    else:
        source = _positional_reader(source)
    relation = writer.from_arrow(source)
    varchar = duckdb.sqltype("VARCHAR")
    expressions = []
    for column, position, name in zip(columns, positional, names, strict=True):
        expression = duckdb.ColumnExpression(position)
        if column.is_json and not json_as_text:
            expression = expression.cast(column.type)
        if all_text:
            expression = expression.cast(varchar)
        expressions.append(expression.alias(name))
    return relation.project(*expressions) if expressions else relation


def _copy(
    relation: duckdb.DuckDBPyRelation, writer: duckdb.DuckDBPyConnection, target: Path, fmt: str
) -> int:
    """Write ``relation`` with DuckDB's own writer to ``target`` (the writer's one allowed path)."""
    relation.create_view("tfm_result", replace=True)
    # The statement is tfm's constant text; the path is bound as a parameter.
    row = writer.execute(f"COPY tfm_result TO ? ({_COPY_OPTIONS[fmt]}, USE_TMP_FILE false)", [str(target)])
    counted = row.fetchone()
    return int(counted[0]) if counted else 0


# --- exports ------------------------------------------------------------------------------------------


def file_format(out: Path, fmt: str | None) -> str:
    """The export format: ``fmt`` if given, else from the file's suffix."""
    if fmt is not None:
        if fmt not in FILE_FORMATS:
            raise AnalystError(f"--out writes {', '.join(FILE_FORMATS)}, not {fmt}")
        return fmt
    suffix = out.suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise AnalystError(
            f"cannot tell the format of {out} from its suffix; name it .csv, .parquet, .json or .jsonl, "
            "or give --format csv|parquet|json|jsonl"
        )
    return SUFFIX_FORMATS[suffix]


def check_target(out: Path, *, force: bool, protected: Sequence[tuple[str, Path]]) -> Path:
    """The resolved export path, or ``AnalystError``: refuses tfm's own folders and existing files.

    ``protected`` names folders (``("the landing folder", path)``) nothing may be written into.
    """
    target = Path(out).expanduser().resolve()
    for label, folder in protected:
        root = Path(folder).expanduser().resolve()
        if target == root or target.is_relative_to(root):
            raise AnalystError(f"{out} is inside {label} ({root}); tfm sql writes exports elsewhere")
    if not target.parent.is_dir():
        raise AnalystError(f"cannot write {out}: folder {target.parent} does not exist")
    if target.is_dir():
        raise AnalystError(f"cannot write {out}: it is a folder")
    if target.exists() and not force:
        raise AnalystError(f"{out} already exists; use --force to overwrite it")
    return target


def _publish(part: Path, target: Path, *, force: bool) -> None:
    if force:
        os.replace(part, target)
        return
    try:
        os.link(part, target)  # fails if the target appeared meanwhile: never overwrite without --force
    except FileExistsError:
        raise AnalystError(f"{target} already exists; use --force to overwrite it") from None
    except OSError:  # pragma: no cover - file systems without hard links
        if target.exists():
            raise AnalystError(f"{target} already exists; use --force to overwrite it") from None
        os.replace(part, target)
        return
    part.unlink()


def export(
    relation: duckdb.DuckDBPyRelation, target: Path, fmt: str, *, force: bool, batch_rows: int = 100_000
) -> int:
    """Write the whole result to ``target`` (checked by :func:`check_target`); return the row count."""
    columns = columns_of(relation)
    names = _unique(c.name for c in columns)
    part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tfm-partial")
    writer = _writer(part)
    try:
        try:
            reader = relation.fetch_record_batch(batch_rows)
            rows = _copy(
                _retyped(writer, reader, columns, names, json_as_text=fmt == "parquet"), writer, part, fmt
            )
        except (duckdb.Error, pa.ArrowException) as exc:
            raise AnalystError(_query_error(exc)) from None
        _publish(part, target, force=force)
        return rows
    finally:
        writer.close()
        part.unlink(missing_ok=True)


# --- the terminal -------------------------------------------------------------------------------------


def fetch_for_terminal(relation: duckdb.DuckDBPyRelation, max_rows: int) -> tuple[pa.Table, bool]:
    """The first ``max_rows`` rows (0: all) as Arrow, and whether the result has more."""
    try:
        table = (relation.limit(max_rows + 1) if max_rows else relation).to_arrow_table()
    except (duckdb.Error, pa.ArrowException) as exc:
        raise AnalystError(_query_error(exc)) from None
    if max_rows and table.num_rows > max_rows:
        return table.slice(0, max_rows), True
    return table, False


def render(
    table: pa.Table, columns: Sequence[Column], fmt: str, stream: BinaryIO, *, width: int | None = None
) -> None:
    """Write fetched rows to ``stream`` as ``fmt`` (table, csv, json, jsonl or markdown).

    ``table`` is DuckDB's box table with no value cut and no column hidden; when it is wider than ``width``
    (the terminal's), each row is printed as a block of ``column | value`` lines instead.
    """
    if fmt not in TERMINAL_FORMATS:
        if fmt == "parquet":
            raise AnalystError("parquet is binary and is not printed; use --out FILE.parquet")
        raise AnalystError(f"--format is one of {', '.join(FORMATS)}, not {fmt}")
    names = [c.name for c in columns]
    if fmt in _COPY_OPTIONS:
        with tempfile.TemporaryDirectory(prefix="tfm-sql-") as folder:
            part = Path(folder) / f"result.{fmt}"
            writer = _writer(part)
            try:
                _copy(_retyped(writer, table, columns, _unique(names), json_as_text=False), writer, part, fmt)
            finally:
                writer.close()
            with part.open("rb") as result:
                shutil.copyfileobj(result, stream)
        stream.flush()
        return
    writer = _writer()
    try:
        if fmt == "table":
            text = _box(_retyped(writer, table, columns, names))
            if width is not None and table.num_rows and max(map(len, text.splitlines())) > width:
                text = _expanded(names, _retyped(writer, table, columns, names, all_text=True).fetchall())
        else:
            text = _markdown(names, _retyped(writer, table, columns, names, all_text=True).fetchall())
    finally:
        writer.close()
    stream.write(text.encode())
    stream.flush()


def _box(relation: duckdb.DuckDBPyRelation) -> str:
    import contextlib
    import io

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        relation.show(max_width=10**9, max_rows=10**9, max_col_width=10**9)
    return captured.getvalue().rstrip("\n") + "\n"


def _expanded(names: Sequence[str], rows: Sequence[Sequence[str | None]]) -> str:
    width = max((len(n) for n in names), default=0)
    lines = []
    for number, row in enumerate(rows, start=1):
        lines.append(f"-[ row {number} ]" + "-" * max(0, width - 6))
        for name, value in zip(names, row, strict=True):
            shown = "NULL" if value is None else value.replace("\n", "\\n")
            lines.append(f"{name.ljust(width)} | {shown}")
    return "\n".join(lines) + "\n"


def _markdown(names: Sequence[str], rows: Sequence[Sequence[str | None]]) -> str:
    def cell(value: str | None) -> str:
        if value is None:
            return ""
        return value.replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")

    lines = ["| " + " | ".join(cell(n) for n in names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- the command --------------------------------------------------------------------------------------


def run_sql(
    warehouse: Path,
    query: str,
    *,
    stdout: BinaryIO,
    log: Callable[[str], None],
    fmt: str | None = None,
    out: Path | None = None,
    force: bool = False,
    max_rows: int = 100,
    protected: Sequence[tuple[str, Path]] = (),
    width: int | None = None,
) -> None:
    """``tfm sql``: check everything the user asked for, then run the one SELECT and print or export it.

    Nothing is opened, run or written before the options, the target file and the statement pass.
    """
    if not query or not query.strip():
        raise AnalystError(f'no query given; {ONE_SELECT}: tfm sql "SELECT ..."')
    if max_rows < 0:
        raise AnalystError(f"--max-rows is a number of rows (0: all), not {max_rows}")
    target = None
    if out is not None:
        fmt = file_format(out, fmt)
        target = check_target(out, force=force, protected=protected)
    else:
        if force:
            raise AnalystError("--force only applies with --out FILE")
        fmt = fmt or "table"
        if fmt not in TERMINAL_FORMATS:
            if fmt == "parquet":
                raise AnalystError("parquet is binary and is not printed; use --out FILE.parquet")
            raise AnalystError(f"--format is one of {', '.join(FORMATS)}, not {fmt}")
    if not Path(warehouse).exists():
        raise AnalystError(f"no warehouse at {warehouse}; run 'tfm ingest' or 'tfm demo' first")
    con = connect_readonly(warehouse, log=log)
    try:
        relation = run_query(con, check_query(con, query))
        if target is not None:
            rows = export(relation, target, fmt, force=force)
            log(f"wrote {rows:,} row(s) to {target} ({fmt})")
            return
        table, more = fetch_for_terminal(relation, max_rows)
        render(table, columns_of(relation), fmt, stdout, width=width)
        if more:
            log(
                f"showing the first {max_rows:,} rows; the result has more: "
                "--max-rows N (0: all), or --out FILE to export every row"
            )
        elif fmt == "table":
            log(f"{table.num_rows:,} row(s)")
    finally:
        con.close()
