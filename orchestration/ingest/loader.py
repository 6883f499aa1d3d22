"""Scan the landing folder and load billing periods into the raw tables, one period at a time.

The landing folder is the truth: the rows of a (source family, billing period) are the rows that the files
currently in the landing folder hold for that period. ``scan_landing`` records what each file is (its
family, format, checksum and billing periods) in ``meta.landing_files``; a period needs loading when the
set of (file, checksum) it would be built from differs from the set the ledger (``meta.file_ledger``) says
is loaded. ``load_period`` replaces the period in one transaction, so a period is never half loaded; a bad
file is recorded as rejected, and the period it belongs to keeps its old rows until the file is fixed or
removed.

A period is first tried in one pass (``_load_in_one_pass``): each file is read once, by the INSERT that
converts its columns and checks every converted value, and its cost and currencies are read back from the
inserted rows before the commit. Anything short of a clean load rolls back, and the careful path reads and
validates every file on a staging table first (``_validate``), which names the file, line or row and column
of the first problem; both paths accept and reject exactly the same files.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.ingest.errors import (
    BadFileError,
    LandingFolderError,
    NotBillingDataError,
    PeriodBlockedError,
)
from orchestration.ingest.formats import (
    FAMILIES,
    DetectedFile,
    SourceFamily,
    _first_line,
    detect,
    is_data_file,
)
from orchestration.ingest.warehouse import ensure_schema, raw_columns
from orchestration.quoting import lit, q

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def file_checksum(path: Path, chunk: int = 1 << 20, *, verify_gzip: bool = False) -> str:
    """The SHA-256 of a file; with ``verify_gzip``, also inflate it to the end and check every member.

    A gzip file cut short at a row boundary decompresses to fewer, perfectly valid rows: DuckDB's reader
    loaded 700 of 1,281 rows of such a file without an error. Only reading to the end of the stream (the
    end-of-stream marker, the CRC-32 and the length of every member) proves the file is whole.
    """
    digest = hashlib.sha256()
    inflater = zlib.decompressobj(31) if verify_gzip else None
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            while inflater is not None and block:
                try:
                    inflater.decompress(block)
                except zlib.error as exc:
                    raise BadFileError(path, f"corrupt gzip stream ({exc})") from exc
                block = inflater.unused_data if inflater.eof else b""
                if inflater.eof and block.strip(b"\x00"):
                    inflater = zlib.decompressobj(31)  # the next member of a multi-member gzip
                elif inflater.eof:
                    block = b""
    if inflater is not None and not inflater.eof:
        raise BadFileError(path, "gzip stream ends before its end marker: the file is cut short (truncated)")
    return digest.hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- reading one file -------------------------------------------------------------------------------


@dataclass
class _Source:
    """A file opened for SQL: the relation to select from, and how a row position is reported."""

    detected: DetectedFile
    relation: str
    row_expr: str  # 1-based position of a row in the file
    position: str  # "line" (CSV, counting the header) or "row" (parquet)
    temp_table: str | None = None


def _csv_relation(detected: DetectedFile) -> str:
    names = (detected.physical(i) for i in range(len(detected.source_columns)))
    columns = "{" + ", ".join(f"{lit(name)}: 'VARCHAR'" for name in names) + "}"
    nulls = "['', 'NULL']" if detected.family.name == "focus" else "['']"
    compression = "gzip" if detected.file_format.startswith("gzip") else "none"
    return (
        f"read_csv({lit(str(detected.path))}, columns = {columns}, header = true, auto_detect = false, "
        f"delim = ',', quote = '\"', escape = '\"', nullstr = {nulls}, strict_mode = true, "
        f"compression = {lit(compression)})"
    )


def _open(con: duckdb.DuckDBPyConnection, detected: DetectedFile, *, materialize: bool) -> _Source:
    if detected.container == "parquet":
        relation = (
            f"read_parquet({lit(str(detected.path))}, hive_partitioning = false, file_row_number = true)"
        )
        return _Source(detected, relation, "(file_row_number + 1)", "row")
    relation = _csv_relation(detected)
    if not materialize:
        return _Source(detected, relation, "NULL", "line")
    # Materialised in file order so that rowid gives the line of every row, for error messages.
    name = "_tfm_src_" + hashlib.md5(str(detected.path).encode()).hexdigest()[:12]
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {relation}")
    except duckdb.Error as exc:
        raise _reader_error(detected.path, exc) from exc
    return _Source(detected, name, "(rowid + 2)", "line", temp_table=name)


def _reader_error(path: Path, exc: duckdb.Error) -> BadFileError:
    """Turn a DuckDB reader error into a one-line error that keeps the line number the reader reported."""
    text = str(exc)
    line = None
    for part in text.splitlines():
        if "Line:" in part:
            digits = part.split("Line:")[1].strip().split()[0].rstrip(".,")
            line = int(digits) if digits.isdigit() else None
            break
    first = _first_line(exc)
    lowered = text.lower()
    if "gzip" in lowered or "zlib" in lowered or "decompress" in lowered:
        cause = f"corrupt gzip stream ({first})"
    elif "expected" in lowered and "columns" in lowered or "too many columns" in lowered:
        cause = "row has a different number of columns than the header"
    else:
        cause = first
    return BadFileError(path, cause, line=line)


def _position(source: _Source, value: int | None) -> dict:
    return {source.position: value} if value is not None else {}


def _period_expr(detected: DetectedFile) -> str:
    return f"CAST(date_trunc('month', {detected.plan(detected.family.period_column).expression}) AS DATE)"


def _first_bad_row(con: duckdb.DuckDBPyConnection, source: _Source, condition: str) -> int | None:
    """The position of the first row matching a condition (an error path: a streaming CSV is re-read)."""
    if source.temp_table or source.detected.container == "parquet":
        sql = f"SELECT min({source.row_expr}) FROM {source.relation} WHERE {condition}"
    else:
        sql = (
            f"SELECT min(_line) FROM (SELECT row_number() OVER () + 1 AS _line, * FROM {source.relation}) "
            f"WHERE {condition}"
        )
    return con.execute(sql).fetchone()[0]


def _first_bad_value(
    con: duckdb.DuckDBPyConnection, source: _Source, condition: str, physical: str | None
) -> tuple[int | None, str | None]:
    """The position and the text of a column of the first row matching a condition (an error path)."""
    value = f"CAST({q(physical)} AS VARCHAR)" if physical else "NULL"
    if source.temp_table or source.detected.container == "parquet":
        sql = f"SELECT {source.row_expr}, {value} FROM {source.relation} WHERE {condition} ORDER BY 1 LIMIT 1"
    else:
        sql = (
            f"SELECT _line, {value} FROM (SELECT row_number() OVER () + 1 AS _line, * FROM {source.relation}) "
            f"WHERE {condition} ORDER BY 1 LIMIT 1"
        )
    row = con.execute(sql).fetchone()
    return (row[0], row[1]) if row else (None, None)


def file_periods(con: duckdb.DuckDBPyConnection, detected: DetectedFile) -> list[date]:
    """The billing periods (first day of each month) a file holds, validating the period column."""
    source = _open(con, detected, materialize=False)
    family = detected.family
    plan = detected.plan(family.period_column)
    try:
        rows = con.execute(
            f"SELECT {_period_expr(detected)} AS p, count(*) FROM {source.relation} GROUP BY p ORDER BY p"
        ).fetchall()
    except duckdb.Error as exc:
        raise _reader_error(detected.path, exc) from exc
    if not rows:
        raise BadFileError(
            detected.path, "no data rows (a header only): an empty file never replaces the rows of a period"
        )
    periods = [p for p, _ in rows if p is not None]
    if len(periods) < len(rows) and family.business:
        bad, value = _first_bad_value(con, source, f"({plan.expression}) IS NULL", plan.physical)
        shown = f"{value!r} is not a valid {plan.expected}" if value and value.strip() else "an empty value"
        raise BadFileError(
            detected.path,
            f"{shown}: the column gives the row's month",
            column=plan.source,
            **_position(source, bad),
        )
    if len(periods) < len(rows):
        condition = plan.check or f"{plan.expression} IS NULL"
        bad = _first_bad_row(con, source, condition)
        value = "an empty value" if plan.check is None else "an unparseable date"
        raise BadFileError(
            detected.path, f"{value} for the billing period", column=plan.source, **_position(source, bad)
        )
    if family.one_period_per_file and len(periods) > 1:
        bad = _first_bad_row(con, source, f"{_period_expr(detected)} <> DATE {lit(str(periods[0]))}")
        raise BadFileError(
            detected.path,
            f"mixes billing periods {periods[0]:%Y-%m} and {periods[1]:%Y-%m}; a {family.description} file "
            "holds exactly one",
            column=plan.source,
            **_position(source, bad),
        )
    return periods


# --- scanning the landing folder --------------------------------------------------------------------


@dataclass
class ScanReport:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # path -> error, for files rejected by this scan
    duplicates: dict[str, str] = field(default_factory=dict)  # path -> the file whose content it repeats
    unchanged: int = 0


def period_hint(path: Path, landing: Path | None = None) -> date | None:
    """The billing period a file's folders name, if they name one (the innermost such folder wins).

    CUR 2.0 and FOCUS exports write ``BILLING_PERIOD=YYYY-MM/``, the Athena layout ``year=YYYY/month=M/``,
    legacy CUR ``yyyymmdd-yyyymmdd/``. Only folders below the landing folder count.
    """
    try:
        parts = path.relative_to(landing).parts[:-1] if landing else path.parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        found = None
        if match := re.fullmatch(r"BILLING_PERIOD=(\d{4})-(\d{2})", part):
            found = match.groups()
        elif (match := re.fullmatch(r"month=(\d{1,2})", part)) and index > 0:
            year = re.fullmatch(r"year=(\d{4})", parts[index - 1])
            found = (year.group(1), match.group(1)) if year else None
        elif match := re.fullmatch(r"(\d{4})(\d{2})01-\d{8}", part):
            found = match.groups()
        if found:
            try:
                return date(int(found[0]), int(found[1]), 1)
            except ValueError:
                return None
    return None


def _check_period_hint(detected: DetectedFile, periods: list[date], hint: date | None) -> None:
    """A file whose rows are for another month than the folder it was delivered in is rejected."""
    if hint is None or hint in periods and (len(periods) == 1 or not detected.family.one_period_per_file):
        return
    found = ", ".join(f"{p:%Y-%m}" for p in periods)
    raise BadFileError(
        detected.path,
        f"its rows are for billing period {found} but it lies in a folder for {hint:%Y-%m}: "
        "a file delivered for the wrong period",
        column=detected.plan(detected.family.period_column).source,
    )


def delivery_manifests(landing: Path) -> Iterator[tuple[Path, dict, Path, list[str]]]:
    """Every delivery manifest below ``landing``: its path, its content, the folder of the data files it lists,
    and their keys.

    Legacy CUR writes every refresh to a new ``<yyyymmdd-yyyymmdd>/<assemblyId>/`` folder and points
    ``<report>-Manifest.json`` (``reportKeys``) at the current one; CUR 2.0 and FOCUS exports in create-new
    mode keep older executions under ``data/BILLING_PERIOD=.../`` and list the current files in
    ``metadata/BILLING_PERIOD=.../<export>-Manifest.json`` (``dataFiles``).
    """
    if not landing.exists():
        return
    for manifest in sorted(landing.rglob("*anifest.json")):
        try:
            body = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(body, dict):
            continue
        if isinstance(body.get("reportKeys"), list):
            yield manifest, body, manifest.parent, [str(key) for key in body["reportKeys"]]
        elif isinstance(body.get("dataFiles"), list) and manifest.parent.parent.name == "metadata":
            root = manifest.parent.parent.parent / "data" / manifest.parent.name
            yield manifest, body, root, [str(key) for key in body["dataFiles"]]


def superseded_files(landing: Path) -> dict[str, str]:
    """Data files that their delivery manifest leaves out: older deliveries kept beside the current one.

    Loading the older deliveries too would count a restated month twice (see :func:`delivery_manifests`).
    Returns ``{resolved path: reason}``.
    """
    superseded: dict[str, str] = {}
    for manifest, _, root, keys in delivery_manifests(landing):
        listed: set[str] = set()
        for key in keys:
            parts = key.split("/")
            listed.update("/".join(parts[i:]) for i in range(len(parts)))
        for path in root.rglob("*") if root.is_dir() else ():
            if path.is_file() and is_data_file(path) and path.relative_to(root).as_posix() not in listed:
                superseded[str(path.resolve())] = (
                    f"{path}: superseded, the delivery manifest {manifest.name} lists a newer delivery"
                )
    return superseded


def scan_landing(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    log: Log = _quiet,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Record what every data file in the landing folder is. Files unchanged since the last scan are skipped.

    ``progress(done, total)`` is called as each file is looked at.
    """
    ensure_schema(con)
    if not landing.is_dir():
        what = "is not a folder" if landing.exists() else "does not exist"
        raise LandingFolderError(
            f"landing folder {landing} {what}: check --landing or TFM_LANDING (is the share mounted?); "
            "nothing was scanned and every loaded period is kept"
        )
    report = ScanReport()
    known = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT path, size_bytes, mtime_ns, checksum, status FROM meta.landing_files"
        ).fetchall()
    }
    superseded = superseded_files(landing)
    present: set[str] = set()
    files = sorted(p for p in landing.rglob("*") if p.is_file() and is_data_file(p))
    for done, path in enumerate(files):
        if progress is not None:
            progress(done, len(files))
        key = str(path.resolve())
        present.add(key)
        try:
            stat = path.stat()
        except OSError:
            present.discard(key)  # gone between the listing and now: a removed file
            continue
        previous = known.get(key)
        if key in superseded:
            if not previous or previous[3] != "superseded":
                log(f"ignored {superseded[key]}")
                _record(con, key, stat, "", None, "superseded", superseded[key])
            continue
        if previous and previous[3] != "superseded" and previous[:2] == (stat.st_size, stat.st_mtime_ns):
            report.unchanged += 1
            continue

        def reject(
            exc: BadFileError, checksum: str, detected: DetectedFile | None, key=key, stat=stat, path=path
        ):
            report.rejected[key] = exc.describe()
            log(f"rejected {exc.describe()}")
            _record(
                con,
                key,
                stat,
                checksum,
                detected,
                "rejected",
                exc.describe(),
                hint=period_hint(path, landing),
            )

        try:
            with _unreadable_as_bad(path):
                checksum = file_checksum(path, verify_gzip=_starts_with_gzip_magic(path))
        except BadFileError as exc:
            reject(exc, "", None)
            continue
        if previous and previous[3] != "superseded" and previous[2] == checksum:
            con.execute("UPDATE meta.landing_files SET mtime_ns = ? WHERE path = ?", [stat.st_mtime_ns, key])
            report.unchanged += 1
            continue
        (report.changed if previous else report.new).append(key)
        twin = con.execute(
            "SELECT path, source_family, file_format, focus_version, billing_periods FROM meta.landing_files "
            "WHERE checksum = ? AND status IN ('ready', 'duplicate') AND path <> ? ORDER BY path LIMIT 1",
            [checksum, key],
        ).fetchone()
        if twin:  # the same bytes as a file already known: recorded, resolved below, never read twice
            _record_values(con, key, stat, checksum, twin[1], twin[2], twin[3], twin[4], "duplicate", None)
            continue
        log(f"scanning {path}")
        detected = None
        try:
            with _unreadable_as_bad(path):
                detected = detect(con, path)
                periods = file_periods(con, detected)
            _check_period_hint(detected, periods, period_hint(path, landing))
            _record(con, key, stat, checksum, detected, "ready", None, periods)
        except NotBillingDataError as exc:
            log(f"ignored {exc}")
            _record(con, key, stat, checksum, None, "ignored", str(exc))
        except BadFileError as exc:
            reject(exc, checksum, detected)
    if progress is not None:
        progress(len(files), len(files))
    for key in sorted(set(known) - present):
        report.removed.append(key)
        con.execute("DELETE FROM meta.landing_files WHERE path = ?", [key])
    report.duplicates = _resolve_duplicates(con, log)
    return report


@contextmanager
def _unreadable_as_bad(path: Path | str) -> Iterator[None]:
    """A file that cannot be read (permissions, or gone while being read) is a bad file, rejected like one."""
    try:
        yield
    except OSError as exc:
        raise BadFileError(path, f"cannot read: {exc.strerror or exc}") from exc


def _starts_with_gzip_magic(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _resolve_duplicates(con: duckdb.DuckDBPyConnection, log: Log) -> dict[str, str]:
    """Of files with the same content, one is loaded; the others are ignored with a warning.

    The same file delivered under a second name would count every line item twice. The file kept is the
    one already loaded (if any), else the first by path; when it goes, the next one takes its place.
    """
    rows = con.execute(
        """
        SELECT f.path, f.checksum, f.status, EXISTS (
            SELECT 1 FROM meta.file_ledger l WHERE l.path = f.path AND l.checksum = f.checksum
        ) AS loaded
        FROM meta.landing_files f
        WHERE f.status IN ('ready', 'duplicate') AND f.checksum <> ''
        ORDER BY f.checksum, loaded DESC, f.path
        """
    ).fetchall()
    duplicates: dict[str, str] = {}
    keeper: dict[str, str] = {}
    for path, checksum, status, _loaded in rows:
        if checksum not in keeper:
            keeper[checksum] = path
            if status != "ready":
                con.execute(
                    "UPDATE meta.landing_files SET status = 'ready', error = NULL WHERE path = ?", [path]
                )
            continue
        message = (
            f"{path}: the same content as {keeper[checksum]} (checksum {checksum[:12]}); not loaded twice"
        )
        duplicates[path] = keeper[checksum]
        con.execute(
            "UPDATE meta.landing_files SET status = 'duplicate', error = ? WHERE path = ?", [message, path]
        )
    for path, original in duplicates.items():
        log(f"ignored {path}: the same content as {original}")
    return duplicates


def _record(
    con: duckdb.DuckDBPyConnection,
    key: str,
    stat,
    checksum: str,
    detected: DetectedFile | None,
    status: str,
    error: str | None,
    periods: list[date] | None = None,
    *,
    hint: date | None = None,
) -> None:
    """Record what a file is. A rejected file's periods, if its folder names one, let it block that period."""
    if periods is None and hint is not None:
        periods = [hint]
    _record_values(
        con, key, stat, checksum,
        detected.family.name if detected else None, detected.file_format if detected else None,
        detected.focus_version if detected else None, periods, status, error,
    )  # fmt: skip


def _record_values(
    con, key, stat, checksum, family, file_format, focus_version, periods, status, error
) -> None:
    con.execute("DELETE FROM meta.landing_files WHERE path = ?", [key])
    con.execute(
        "INSERT INTO meta.landing_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [key, stat.st_size, stat.st_mtime_ns, checksum, family, file_format, focus_version, periods, status,
         error, _now()],
    )  # fmt: skip


# --- deciding what to load --------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodState:
    family: str
    period: date
    wanted: frozenset[tuple[str, str]]  # (path, checksum) the period is built from now
    loaded: frozenset[tuple[str, str]]  # (path, checksum) the ledger says is loaded
    blocked_by: tuple[str, ...]  # errors of rejected files that belong to the period
    closed: bool = False  # finance closed the period: it is never pruned

    @property
    def orphaned(self) -> bool:
        """Loaded, but none of its files is in the landing folder any more: kept until ``--prune``."""
        return bool(self.loaded) and not self.wanted

    @property
    def needs_load(self) -> bool:
        return self.wanted != self.loaded and not self.blocked_by and not self.orphaned


def period_states(con: duckdb.DuckDBPyConnection) -> list[PeriodState]:
    """Every (family, period) known to the landing folder or the ledger, with what it needs.

    A rejected file blocks the periods it belongs to (read from its rows, or from its folder's name) in its
    source family (in every family, if its family is unknown), and the period whose loaded file it is. A rejected file whose period is unknown blocks, in its source family
    (or in every family, if even that is unknown), any change that would drop a loaded file: a removed file
    plus a corrupt replacement under a new name must not empty the month.
    """
    wanted: dict[tuple[str, date], set] = {}
    for family, period, path, checksum in con.execute(
        "SELECT source_family, unnest(billing_periods), path, checksum FROM meta.landing_files "
        "WHERE status = 'ready'"
    ).fetchall():
        wanted.setdefault((family, period), set()).add((path, checksum))
    loaded: dict[tuple[str, date], set] = {}
    for family, period, path, checksum in con.execute(
        "SELECT source_family, billing_period, path, checksum FROM meta.file_ledger"
    ).fetchall():
        loaded.setdefault((family, period), set()).add((path, checksum))
    rejected = con.execute(
        "SELECT path, source_family, coalesce(billing_periods, []), error FROM meta.landing_files "
        "WHERE status = 'rejected' ORDER BY path"
    ).fetchall()
    closed = {
        row[0] for row in con.execute("SELECT DISTINCT billing_period FROM meta.period_closes").fetchall()
    }
    states = []
    for key in sorted(set(wanted) | set(loaded)):
        family, period = key
        loaded_paths = {p for p, _ in loaded.get(key, ())}
        drops_files = bool(loaded_paths - {p for p, _ in wanted.get(key, ())})
        blockers = tuple(
            error
            for path, rejected_family, periods, error in rejected
            if (period in periods and rejected_family in (None, family))
            or path in loaded_paths
            or (not periods and drops_files and rejected_family in (None, family))
        )
        states.append(
            PeriodState(
                family, period, frozenset(wanted.get(key, ())), frozenset(loaded.get(key, ())), blockers,
                closed=period in closed,
            )
        )  # fmt: skip
    return states


def orphan_message(state: PeriodState, rows: int | None = None) -> str:
    what = f"{FAMILIES[state.family].description} {state.period:%Y-%m}"
    size = f" ({rows:,} rows)" if rows is not None else ""
    return (
        f"{what} kept{size}: its {len(state.loaded)} file(s) are no longer in the landing folder; "
        + ("it is closed and is never pruned" if state.closed else
           "if they were removed on purpose, 'tfm ingest --prune' deletes its rows")
    )  # fmt: skip


# --- loading one period -----------------------------------------------------------------------------


@dataclass
class PeriodLoad:
    family: str
    period: date
    replaced: bool
    files: list[str] = field(default_factory=list)
    rows: int = 0
    replaced_rows: int = 0
    billed_cost: Decimal | None = Decimal(
        0
    )  # None for a family without money (unit drivers, SLIs, incidents)
    seconds: float = 0.0
    restated_close_version: int | None = None  # the period was closed (this version) and its rows replaced


def _validate(
    con: duckdb.DuckDBPyConnection, source: _Source, period: date
) -> tuple[Decimal | None, dict[str, str], int]:
    """Check every conversion, the required values and the currency rule for one file's rows of a period.

    Returns its cost (None for a family without money), the currency of each billing account in it, and its
    number of rows in the period.
    """
    detected, family = source.detected, source.detected.family
    checks = [(plan, plan.check, False) for plan in detected.columns if plan.check]
    checks += [(plan, f"({plan.expression}) IS NULL", True) for plan in detected.columns if plan.not_empty]
    cost_sql = f"sum({detected.plan(family.cost_column).expression})" if family.cost_column else "NULL"
    selects = [cost_sql, "count(*)"] + [
        f"min(CASE WHEN {check} THEN {source.row_expr} END)" for _, check, _ in checks
    ]
    in_period = f"{_period_expr(detected)} = DATE {lit(str(period))}"
    try:
        result = con.execute(
            f"SELECT {', '.join(selects)} FROM {source.relation} WHERE {in_period}"
        ).fetchone()
    except duckdb.Error as exc:
        raise _reader_error(detected.path, exc) from exc
    cost, rows, firsts = result[0], result[1], result[2:]
    for (plan, _check, empty), first in zip(checks, firsts):
        if first is not None and empty:
            raise BadFileError(
                detected.path,
                "an empty value: every row needs one in this column",
                column=plan.source or plan.raw_name,
                **{source.position: first},
            )
        if first is not None:
            value = con.execute(
                f"SELECT CAST({q(plan.physical) if plan.physical else 'NULL'} AS VARCHAR) FROM {source.relation} "
                f"WHERE {source.row_expr} = {first} LIMIT 1"
            ).fetchone()
            shown = repr(value[0]) if value else "a value"
            kind = plan.expected or {"TIMESTAMP": "date"}.get(
                plan.raw_type, plan.raw_type.split("(")[0].lower()
            )
            raise BadFileError(
                detected.path,
                f"{shown} is not a valid {kind}",
                column=plan.source or plan.raw_name,
                **{source.position: first},
            )
    names = {p.raw_name for p in detected.columns}
    if family.currency_column and family.currency_column in names and family.account_column in names:
        currency = detected.plan(family.currency_column).expression
        account = detected.plan(family.account_column).expression
        # One pass over the file: each account's currencies (more than one rejects the file).
        per_account = con.execute(
            f"SELECT {account}, list(DISTINCT {currency} ORDER BY {currency}) FROM {source.relation} "
            f"WHERE {_period_expr(detected)} = DATE {lit(str(period))} GROUP BY ALL"
        ).fetchall()
        mixed = next((row for row in per_account if len(row[1]) > 1), None)
        if mixed:
            account_id = mixed[0]
            in_account = (
                f"{account} = {lit(str(account_id))} AND {_period_expr(detected)} = DATE {lit(str(period))}"
            )
            first = con.execute(
                f"SELECT {currency} FROM {source.relation} WHERE {in_account} ORDER BY {source.row_expr} LIMIT 1"
            ).fetchone()[0]
            other_row = _first_bad_row(con, source, f"{in_account} AND {currency} <> {lit(str(first))}")
            other = con.execute(
                f"SELECT {currency} FROM {source.relation} WHERE {in_account} AND {currency} <> {lit(str(first))} "
                f"ORDER BY {source.row_expr} LIMIT 1"
            ).fetchone()[0]
            raise BadFileError(
                detected.path,
                f"billing account {account_id} mixes currencies {first} and {other} in billing period "
                f"{period:%Y-%m}; one account is billed in one currency",
                column=detected.plan(family.currency_column).source,
                **_position(source, other_row),
            )
        currencies = {acct: found[0] for acct, found in per_account if acct is not None and found}
    else:
        currencies = {}
    return (Decimal(cost or 0) if family.cost_column else None), currencies, rows


def _check_currencies_across_files(
    family: SourceFamily,
    period: date,
    staged: list[tuple[_Source, str, Decimal, int, dict[str, str]]],
    loaded: frozenset[tuple[str, str]],
) -> None:
    """One billing account is billed in one currency for a period, across all the period's files.

    Files already loaded for the period set the currency; the new file that disagrees is the one rejected.
    """
    first: dict[str, tuple[str, Path]] = {}
    already = {path for path, _ in loaded}
    ordered = sorted(staged, key=lambda item: (str(item[0].detected.path.resolve()) not in already,
                                               str(item[0].detected.path)))  # fmt: skip
    for source, *_, currencies in ordered:
        for account, currency in sorted(currencies.items(), key=lambda item: str(item[0])):
            seen = first.setdefault(account, (currency, source.detected.path))
            if seen[0] != currency:
                raise BadFileError(
                    source.detected.path,
                    f"billing account {account} is billed in {currency} here but in {seen[0]} in {seen[1]} "
                    f"for billing period {period:%Y-%m}; one account is billed in one currency per period",
                    column=source.detected.plan(family.currency_column).source,
                )


def _reject(con: duckdb.DuckDBPyConnection, path: str, error: str) -> None:
    con.execute("UPDATE meta.landing_files SET status = 'rejected', error = ? WHERE path = ?", [error, path])


def load_period(
    con: duckdb.DuckDBPyConnection,
    family_name: str,
    period: date,
    *,
    run_id: str | None = None,
    force: bool = False,
    prune: bool = False,
    log: Log = _quiet,
    warn: Log | None = None,
) -> PeriodLoad:
    """Replace one billing period of one source family with what the landing folder holds for it.

    Does nothing when the ledger already matches the landing folder (unless ``force``). Raises
    ``PeriodBlockedError`` when a file of the period is rejected; the period's rows are then unchanged.
    A period whose files are all gone from the landing folder keeps its rows (``PeriodBlockedError``)
    unless ``prune``, and a closed period keeps them even then. A reload whose files hold no rows for a
    period that has rows is refused the same way: only ``prune`` empties a period. Replacing the rows of a
    closed period (``meta.period_closes``) is recorded in ``meta.period_restatements`` and reported through
    ``warn`` (default: ``log``, prefixed ``warning:``).
    """
    started = time.monotonic()
    family = FAMILIES[family_name]
    state = next((s for s in period_states(con) if s.family == family_name and s.period == period), None)
    if state is None:
        return PeriodLoad(family_name, period, replaced=False)
    if state.blocked_by:
        raise PeriodBlockedError(
            f"{family.description} {period:%Y-%m} kept as it was: " + "; ".join(state.blocked_by)
        )
    if state.orphaned:
        if not prune or state.closed:
            raise PeriodBlockedError(orphan_message(state))
    elif not (state.needs_load or force):
        return PeriodLoad(family_name, period, replaced=False, files=sorted(p for p, _ in state.loaded))

    warn = warn or (lambda message: log(f"warning: {message}"))
    result = _load_in_one_pass(con, family, period, state, run_id, log, allow_empty=prune, warn=warn)
    if result is not None:
        return _record_load(con, result, started, run_id)

    staged: list[tuple[_Source, str, Decimal | None, int, dict[str, str]]] = []
    try:
        for path, checksum in sorted(state.wanted):
            file_path = Path(path)
            log(f"reading {path}")
            try:
                with _unreadable_as_bad(path):
                    unchanged = file_path.exists() and file_checksum(file_path) == checksum
                if not unchanged:
                    raise BadFileError(
                        path, "changed or removed since the landing folder was scanned; scan again"
                    )
                detected = detect(con, file_path)
                source = _open(con, detected, materialize=True)
                try:
                    cost, currencies, _rows = _validate(con, source, period)
                except BadFileError:
                    if source.temp_table:
                        con.execute(f"DROP TABLE IF EXISTS {source.temp_table}")
                    raise
                staged.append((source, checksum, cost, file_path.stat().st_size, currencies))
            except BadFileError as exc:
                _reject(con, path, exc.describe())
                raise PeriodBlockedError(
                    f"{family.description} {period:%Y-%m} kept as it was: {exc.describe()}"
                ) from exc
        try:
            _check_currencies_across_files(family, period, staged, state.loaded)
        except BadFileError as exc:
            _reject(con, str(exc.path), exc.describe())
            raise PeriodBlockedError(
                f"{family.description} {period:%Y-%m} kept as it was: {exc.describe()}"
            ) from exc
        result = _replace(
            con, family, period, [item[:4] for item in staged], run_id, log,
            allow_empty=prune, warn=warn,
        )  # fmt: skip
    finally:
        for source, *_ in staged:
            if source.temp_table:
                con.execute(f"DROP TABLE IF EXISTS {source.temp_table}")
    return _record_load(con, result, started, run_id)


def _record_load(
    con: duckdb.DuckDBPyConnection, result: PeriodLoad, started: float, run_id: str | None
) -> PeriodLoad:
    result.seconds = time.monotonic() - started
    con.execute(
        "INSERT INTO meta.period_loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [result.family, result.period, len(result.files), result.rows, result.replaced_rows, result.billed_cost,
         _now(), result.seconds, run_id],
    )  # fmt: skip
    return result


class _NotInOnePass(Exception):
    """The one-pass load met something it does not decide itself; nothing changed, the careful path takes over."""


def _load_in_one_pass(
    con: duckdb.DuckDBPyConnection,
    family: SourceFamily,
    period: date,
    state: PeriodState,
    run_id: str | None,
    log: Log,
    *,
    allow_empty: bool,
    warn: Log,
) -> PeriodLoad | None:
    """Load a period reading each file once: convert, check and insert in one statement per file.

    Every check of :func:`_validate` runs inside the insert: a value that does not convert (or a required
    value that is empty) stops the statement, and the rows' cost and currencies are then read back from the
    rows just inserted, still inside the transaction. Anything short of a clean load (a bad value, a reader
    error, mixed currencies, a file changed since the scan) rolls the transaction back and returns None: the
    careful path (:func:`_validate` on a staging table, then :func:`_replace`) then finds and reports the
    first problem exactly as before. A good period is so read once instead of three times.
    """
    scanned = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT path, size_bytes, mtime_ns, checksum, billing_periods FROM meta.landing_files "
            "WHERE status = 'ready'"
        ).fetchall()
    }
    staged: list[tuple[_Source, str, Decimal | None, int]] = []
    for path, checksum in sorted(state.wanted):
        file_path = Path(path)
        try:
            stat = file_path.stat()
            # Unchanged since the scan hashed it, by the scan's own rule (size and modification time).
            known = scanned.get(path)
            if known is None or known[:3] != (stat.st_size, stat.st_mtime_ns, checksum):
                return None
            detected = detect(con, file_path)
        except (OSError, BadFileError, NotBillingDataError):
            return None
        if detected.container == "csv" and list(known[3] or []) != [period]:
            return None  # its rows of this period are numbered by their line among all the file's rows
        log(f"reading {path}")
        staged.append((_open(con, detected, materialize=False), checksum, None, stat.st_size))
    try:
        return _replace(
            con,
            family,
            period,
            staged,
            run_id,
            log,
            allow_empty=allow_empty,
            warn=warn,
            one_pass=state.loaded,
        )
    except _NotInOnePass:
        return None


def _one_pass_select(
    detected: DetectedFile, relation: str, where: str, row_expr: str
) -> tuple[str, list[str], str]:
    """The relation the one-pass insert selects from, each planned column's value in it, and its row expression.

    Each column is converted once, in an inner projection (``_tfm_v<i>``); the row expression stops the
    statement at a row that fails one of :func:`_validate`'s checks (a value that does not convert, an empty
    required value), testing the converted values rather than converting again.
    """
    values = [f"_tfm_v{index}" for index in range(len(detected.columns))]
    inner = ", ".join(f"{plan.expression} AS {value}" for plan, value in zip(detected.columns, values))
    checks = []
    for plan, value in zip(detected.columns, values):
        if plan.check:
            checks.append(plan.check.replace(plan.expression, value))
        if plan.not_empty:
            checks.append(f"{value} IS NULL")
    if checks:
        failed = " OR ".join(f"({check})" for check in checks)
        row_expr = f"CASE WHEN {failed} THEN error('tfm: a row fails a check') ELSE {row_expr} END"
    return f"(SELECT *, {inner} FROM {relation} WHERE {where})", values, row_expr


def _normal_type(sql_type: str) -> str:
    return sql_type.replace(" ", "").upper()


def _check_one_pass_types(
    family: SourceFamily,
    staged: list[tuple[_Source, str, Decimal | None, int]],
    existing: dict[str, str],
    spelled: dict[str, str],
) -> None:
    """The cost, currency and account are read back from the raw table: only when it stores them as planned."""
    for source, *_ in staged:
        for name in (family.cost_column, family.currency_column, family.account_column):
            try:
                plan = source.detected.plan(name) if name else None
            except KeyError:
                continue
            if plan and _normal_type(existing[spelled[plan.raw_name.lower()]]) != _normal_type(plan.raw_type):
                raise _NotInOnePass(f"{name} is stored as {existing[spelled[plan.raw_name.lower()]]}")


def _check_inserted(
    con: duckdb.DuckDBPyConnection,
    family: SourceFamily,
    period: date,
    source: _Source,
    path: str,
    rows: int,
    spelled: dict[str, str],
) -> tuple[Decimal | None, dict[str, str]]:
    """After a one-pass insert: number CSV rows by their line, and read the file's cost and currencies back.

    The rows of one insert are appended in file order (insertion order is preserved), so a CSV row's position
    among them is its data row, as the staging table's rowid gives it on the careful path.
    """
    mine = f"_billing_period = DATE {lit(str(period))} AND _source_file = {lit(path)}"
    if source.position == "line":
        first, last, count = con.execute(
            f"SELECT min(rowid), max(rowid), count(*) FROM {family.raw_table} WHERE {mine}"
        ).fetchone()
        if count != rows or (rows and last - first + 1 != rows):
            raise _NotInOnePass("the inserted rows are not contiguous")
        if rows:
            con.execute(f"UPDATE {family.raw_table} SET _source_row = rowid - {int(first)} + 1 WHERE {mine}")
    names = {plan.raw_name for plan in source.detected.columns}
    cost = None
    if family.cost_column:
        total = con.execute(
            f"SELECT sum({q(spelled[family.cost_column.lower()])}) FROM {family.raw_table} WHERE {mine}"
        ).fetchone()[0]
        cost = Decimal(total or 0)
    currencies: dict[str, str] = {}
    if family.currency_column and family.currency_column in names and family.account_column in names:
        account = q(spelled[family.account_column.lower()])
        currency = q(spelled[family.currency_column.lower()])
        per_account = con.execute(
            f"SELECT {account}, list(DISTINCT {currency} ORDER BY {currency}) FROM {family.raw_table} "
            f"WHERE {mine} GROUP BY ALL"
        ).fetchall()
        if any(len(found) > 1 for _, found in per_account):
            raise _NotInOnePass("an account mixes currencies")
        currencies = {acct: found[0] for acct, found in per_account if acct is not None and found}
    return cost, currencies


def _replace(
    con: duckdb.DuckDBPyConnection,
    family: SourceFamily,
    period: date,
    staged: list[tuple[_Source, str, Decimal | None, int]],
    run_id: str | None,
    log: Log,
    *,
    allow_empty: bool,
    warn: Log,
    one_pass: frozenset[tuple[str, str]] | None = None,
) -> PeriodLoad:
    """Delete the period's rows and insert the staged files' rows, in one transaction.

    With ``one_pass`` (the files the ledger has loaded), the staged files are not validated yet: each insert
    checks its rows (see :func:`_load_in_one_pass`) and raises ``_NotInOnePass`` after a rollback when a check
    fails.

    Refused (``PeriodBlockedError``, nothing changed) when the period has rows and the files bring none, unless
    ``allow_empty`` (a prune). A closed period's replacement is recorded in ``meta.period_restatements``.
    """
    result = PeriodLoad(
        family.name, period, replaced=True, billed_cost=Decimal(0) if family.cost_column else None
    )
    loaded_at = _now()
    one_pass_staged: list[tuple[_Source, str, Decimal | None, int, dict[str, str]]] = []
    # Rows carry their file position in _source_row, so the raw table need not keep insertion order. Letting
    # DuckDB write parquet rows in any order loads a 1M-row CUR 2.0 month ~20% faster (bench/bench_ingest.py);
    # from CSV staging tables it measured no faster, so they keep the default.
    if all(source.detected.container == "parquet" for source, *_ in staged):
        con.execute("SET preserve_insertion_order = false")
    con.execute("BEGIN TRANSACTION")
    try:
        existing = raw_columns(con, family)
        # SQL names are case-insensitive: a file's "x_Region" is the column "x_region" an earlier file added.
        spelled = {name.lower(): name for name in existing}
        for source, *_ in staged:
            for plan in source.detected.columns:
                if plan.raw_name.lower() not in spelled:
                    con.execute(
                        f"ALTER TABLE {family.raw_table} ADD COLUMN {q(plan.raw_name)} {plan.raw_type}"
                    )
                    existing[plan.raw_name] = plan.raw_type
                    spelled[plan.raw_name.lower()] = plan.raw_name
        if one_pass is not None:
            _check_one_pass_types(family, staged, existing, spelled)
        close_version = con.execute(
            "SELECT max(close_version) FROM meta.period_closes WHERE billing_period = ?", [period]
        ).fetchone()[0]
        previous_cost = None
        if close_version is not None and family.cost_column:
            previous_cost = con.execute(
                f"SELECT coalesce(sum({q(family.cost_column)}), 0) FROM {family.raw_table} WHERE _billing_period = ?",
                [period],
            ).fetchone()[0]
        result.replaced_rows = con.execute(
            f"DELETE FROM {family.raw_table} WHERE _billing_period = ?", [period]
        ).fetchone()[0]
        con.execute(
            "DELETE FROM meta.file_ledger WHERE source_family = ? AND billing_period = ?",
            [family.name, period],
        )
        for source, checksum, cost, size in staged:
            detected = source.detected
            path = str(detected.path.resolve())
            row_expr = "(rowid + 1)" if source.temp_table else source.row_expr  # data row, 1-based
            relation, where = source.relation, f"{_period_expr(detected)} = DATE {lit(str(period))}"
            values = [plan.expression for plan in detected.columns]
            if one_pass is not None:
                # CSV rows get their row from their place in the table, below; a row failing a check stops here.
                row_expr = "CAST(NULL AS BIGINT)" if source.position == "line" else row_expr
                relation, values, row_expr = _one_pass_select(detected, relation, where, row_expr)
                where = "true"
            columns = [
                f"CAST({value} AS {existing[spelled[plan.raw_name.lower()]]}) AS {q(spelled[plan.raw_name.lower()])}"
                for plan, value in zip(detected.columns, values)
            ]
            lineage = [
                f"{lit(path)} AS _source_file",
                f"{lit(checksum)} AS _file_checksum",
                f"{row_expr} AS _source_row",
                f"DATE {lit(str(period))} AS _billing_period",
                f"TIMESTAMP {lit(loaded_at.isoformat(sep=' '))} AS _ingested_at",
            ]
            if family.name == "focus":
                lineage.append(f"{lit(detected.focus_version or '')} AS _focus_version")
            insert = (
                f"INSERT INTO {family.raw_table} BY NAME SELECT {', '.join(columns + lineage)} "
                f"FROM {relation} WHERE {where}"
            )
            if one_pass is None:
                rows = con.execute(insert).fetchone()[0]
            else:
                try:
                    rows = con.execute(insert).fetchone()[0]
                except duckdb.Error as exc:
                    raise _NotInOnePass(str(exc)) from exc
                cost, currencies = _check_inserted(con, family, period, source, path, rows, spelled)
                one_pass_staged.append((source, checksum, cost, size, currencies))
            con.execute(
                "INSERT INTO meta.file_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'loaded', ?, ?)",
                [
                    path,
                    period,
                    family.name,
                    detected.file_format,
                    size,
                    checksum,
                    rows,
                    cost,
                    loaded_at,
                    run_id,
                ],
            )
            result.files.append(path)
            result.rows += rows
            if cost is not None and result.billed_cost is not None:
                result.billed_cost += cost
            log(f"{family.name} {period:%Y-%m}: {rows:,} rows from {detected.path.name}")
        if one_pass is not None:
            try:
                _check_currencies_across_files(family, period, one_pass_staged, one_pass)
            except BadFileError as exc:
                raise _NotInOnePass(str(exc)) from exc
        if result.rows == 0 and result.replaced_rows > 0 and not allow_empty:
            raise PeriodBlockedError(
                f"{family.description} {period:%Y-%m} kept as it was ({result.replaced_rows:,} rows): its files "
                "hold no rows for it, and a reload never empties a period; if its rows should go, remove its "
                "files and run 'tfm ingest --prune'"
            )
        if close_version is not None:
            con.execute(
                "INSERT INTO meta.period_restatements VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [period, family.name, loaded_at, result.replaced_rows, previous_cost, result.rows, result.billed_cost,
                 close_version],
            )  # fmt: skip
            result.restated_close_version = close_version
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("RESET preserve_insertion_order")  # CSV staging tables rely on it for their line numbers
    if result.restated_close_version is not None:
        warn(
            f"{family.description}: period {period:%Y-%m} was closed (version {result.restated_close_version}) and is restated by the "
            "provider: the closed numbers stay until it is re-closed"
        )
    return result


def inspect_file(path: Path) -> tuple[str, list[date]]:
    """The source family and billing periods of one file, read without touching the warehouse."""
    from orchestration.ingest.warehouse import connect

    con = connect(":memory:")
    try:
        detected = detect(con, path)
        return detected.family.name, file_periods(con, detected)
    finally:
        con.close()


def load_pending(
    con: duckdb.DuckDBPyConnection,
    *,
    period: date | None = None,
    run_id: str | None = None,
    prune: bool = False,
    log: Log = _quiet,
    warn: Log | None = None,
) -> tuple[list[PeriodLoad], list[str]]:
    """Load every period that needs it (optionally one period); return the loads and the problems.

    A period whose files have all left the landing folder is a problem (kept, reported) unless ``prune``.
    """
    loads, problems = [], []
    for state in period_states(con):
        if period is not None and state.period != period:
            continue
        if state.blocked_by:
            problems.append(
                f"{FAMILIES[state.family].description} {state.period:%Y-%m} kept as it was: "
                + "; ".join(state.blocked_by)
            )
            continue
        if state.orphaned:
            if prune and not state.closed:
                loads.append(prune_period(con, state.family, state.period, run_id=run_id, log=log))
            else:
                problems.append(orphan_message(state, loaded_rows(con, state)))
            continue
        if state.needs_load:
            try:
                loads.append(load_period(con, state.family, state.period, run_id=run_id, log=log, warn=warn))
            except PeriodBlockedError as exc:
                problems.append(str(exc))
    return loads, problems


def loaded_rows(con: duckdb.DuckDBPyConnection, state: PeriodState) -> int:
    return con.execute(
        "SELECT coalesce(sum(row_count), 0) FROM meta.file_ledger WHERE source_family = ? AND billing_period = ?",
        [state.family, state.period],
    ).fetchone()[0]


def orphaned_periods(
    con: duckdb.DuckDBPyConnection, period: date | None = None
) -> list[tuple[PeriodState, int]]:
    """Loaded periods none of whose files is in the landing folder any more, with their loaded rows."""
    return [
        (state, loaded_rows(con, state))
        for state in period_states(con)
        if state.orphaned and (period is None or state.period == period)
    ]


def prune_period(
    con: duckdb.DuckDBPyConnection,
    family_name: str,
    period: date,
    *,
    run_id: str | None = None,
    log: Log = _quiet,
) -> PeriodLoad:
    """Delete a period whose files have all left the landing folder (what ``tfm ingest --prune`` asks for).

    Refused (``PeriodBlockedError``) for a closed period, a period that still has files, and while a
    rejected file might belong to it. The deletion is recorded in ``meta.period_loads`` like any load.
    """
    state = next((s for s in period_states(con) if s.family == family_name and s.period == period), None)
    what = f"{FAMILIES[family_name].description} {period:%Y-%m}"
    if state is None or not state.orphaned:
        raise PeriodBlockedError(
            f"{what} not pruned: it still has files in the landing folder (or is not loaded)"
        )
    if state.closed:
        raise PeriodBlockedError(f"{what} not pruned: the period is closed")
    unattributed = con.execute(
        "SELECT error FROM meta.landing_files WHERE status = 'rejected' "
        "AND (source_family IS NULL OR source_family = ?) "
        "AND (coalesce(len(billing_periods), 0) = 0 OR list_contains(billing_periods, ?)) ORDER BY path LIMIT 1",
        [family_name, period],
    ).fetchone()
    if unattributed:
        raise PeriodBlockedError(f"{what} not pruned: a rejected file may belong to it: {unattributed[0]}")
    log(
        f"pruning {what}: {loaded_rows(con, state):,} rows of {len(state.loaded)} file(s) gone from the landing folder"
    )
    return load_period(con, family_name, period, run_id=run_id, prune=True, log=log)
