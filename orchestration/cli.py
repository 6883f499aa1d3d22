"""The ``tfm`` command line: ingest, build, generate, query, and a demo that does it all on bundled data.

Every command prints what it is doing, progress bars on a terminal and a summary; a failure ends in a one-line
cause and exits non-zero. Dagster's and dbt's own logs go to $TFM_HOME/logs/tfm.log (``tfm -v`` shows them too):
see :mod:`orchestration.console`.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import date
from pathlib import Path

import click

from orchestration import console
from orchestration.settings import SAMPLES_DIR, Settings

EXIT_FAILED = 1
# Dagster's console logger at INFO: the steps' own progress lines, without the engine's debug events.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _say(message: str) -> None:
    console.say(message)


def _fail(message: str) -> None:
    console.stop()
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_FAILED)


def _settings() -> Settings:
    from orchestration.settings import HomeError

    settings = Settings.from_env()
    try:
        settings.prepare()
    except HomeError as exc:
        _fail(str(exc))
    return settings


class _Tfm(click.Group):
    """Every failure ends in one line, ``error: <cause>; <what to do>``; the trace goes to $TFM_HOME/logs/tfm.log."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            console.stop()
            rolled_back = "the period or model being written was rolled back"
            click.echo(f"error: interrupted; {rolled_back}: run the command again", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 (the last line of defence: one line, never a traceback)
            _fail(_describe_failure(exc))


def _describe_failure(exc: BaseException) -> str:
    """One line for an exception no command handled: its root cause and what to do."""
    import os
    import traceback

    import duckdb

    from orchestration.processes import WarehouseLockedError
    from orchestration.settings import HomeError

    settings = Settings.from_env()
    logged = None
    try:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        with settings.log_file.open("a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} tfm {' '.join(sys.argv[1:])}\n")
            log.write("".join(traceback.format_exception(exc)))
        logged = settings.log_file
    except OSError:
        pass
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    where = "set TFM_HOME to a writable folder (or make this one writable)"
    for error in chain:
        if isinstance(error, (HomeError, WarehouseLockedError)):
            return str(error)
    for error in chain:
        if isinstance(error, OSError) and error.filename:
            return f"cannot use {error.filename}: {error.strerror or type(error).__name__}; {where}"
    for error in chain:
        module = type(error).__module__
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        # dbt failed outside a run: parsing the project
        if type(error).__name__ == "DagsterDbtCliRuntimeError":
            return "; ".join(_dbt_problems(str(error), limit=2))
        if module.startswith("sqlalchemy"):
            state = "is not writable" if not os.access(settings.dagster_home, os.W_OK) else "cannot be used"
            return (
                f"the Dagster instance in {settings.dagster_home} {state} ({first[:160]}); "
                "make that folder writable, or set TFM_HOME or DAGSTER_HOME to a writable folder"
            )
        if isinstance(error, duckdb.Error):
            return f"the warehouse {settings.warehouse} cannot be used ({first[:200]}); {where}"
    first = (str(exc).strip().splitlines() or [""])[0]
    trace = f"; the full trace is in {logged}" if logged else ""
    return f"{type(exc).__name__}: {first[:200]}{trace}"


@click.group(cls=_Tfm, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v", "--verbose", is_flag=True,
    help="Show Dagster's and dbt's logs as they are written (they always go to $TFM_HOME/logs/tfm.log).",
)  # fmt: skip
def main(verbose: bool) -> None:
    """tfm: a FinOps warehouse from raw cloud bills (AWS CUR, FOCUS) to DuckDB, through Dagster and dbt.

    Files live under $TFM_HOME (default ./.tfm): warehouse.duckdb, landing/, dagster/, dbt/ (dbt's artifacts
    and logs) and logs/tfm.log (Dagster's and dbt's logs of every command, and the trace of each failure).
    Commands that write wait for the warehouse while another process holds it, up to $TFM_LOCK_TIMEOUT
    seconds (default 600).
    """
    console.configure(verbose=verbose)


# --- ingest -------------------------------------------------------------------------------------------


def _parse_period(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a billing period; use YYYY-MM") from None


@console.captured
def run_ingest(settings: Settings, period: date | None = None, *, prune: bool = False) -> list[str]:
    """Scan the landing folder, then materialize the raw partitions that need it. Returns the problems.

    A loaded period whose files have all left the landing folder is kept and reported, unless ``prune``.
    """
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest import (
        add_billing_periods,
        partition_key,
        raw_asset_key,
        sync_billing_periods,
    )
    from orchestration.ingest.errors import LandingFolderError
    from orchestration.ingest.loader import period_states, scan_landing
    from orchestration.ingest.warehouse import connect, ensure_schema
    from orchestration.processes import fail_dead_runs, process_tags

    fail_dead_runs(dg.DagsterInstance.get(), log=_say)
    console.log(f"scanning {settings.landing}")
    con = connect(settings.warehouse, log=_say)
    try:
        ensure_schema(con)
        scanned = console.counter("scan", "scanning the landing folder")
        scan = scan_landing(con, settings.landing, log=console.log, progress=scanned)
        states = period_states(con)
    except LandingFolderError as exc:
        return [str(exc)]
    finally:
        con.close()
        console.finish("scan")
    _say(
        f"landing: {len(scan.new)} new, {len(scan.changed)} changed, {len(scan.removed)} removed, "
        f"{scan.unchanged} unchanged file(s)"
        + (f", {len(scan.duplicates)} duplicate(s) ignored" if scan.duplicates else "")
    )
    for path, original in sorted(scan.duplicates.items()):
        _say(f"warning: ignored {path}: the same content as {original}, which is loaded once")
    todo: dict[str, list[str]] = {}
    for state in states:
        if state.needs_load and (period is None or state.period == period):
            todo.setdefault(partition_key(state.period), []).append(state.family)
    problems: list[str] = []
    instance = dg.DagsterInstance.get()
    # The partitions are the billing periods that exist: the periods about to be loaded are added first.
    add_billing_periods(instance, todo)
    ingest_job = build_definitions(settings).resolve_job_def("ingest") if todo else None
    if not todo:
        _say("nothing to load: every billing period matches the landing folder")
    for index, (key, families) in enumerate(sorted(todo.items()), start=1):
        loading = f"{key[:7]}: {', '.join(sorted(families))}"
        console.progress("periods", f"loading {loading}", completed=index - 1, total=len(todo))
        started = time.monotonic()
        result = ingest_job.execute_in_process(
            asset_selection=[raw_asset_key(f) for f in families],
            partition_key=key,
            instance=instance,
            raise_on_error=False,
            tags={"tfm/trigger": "cli", **process_tags()},
            run_config=RUN_CONFIG,
        )
        if not result.success:
            for event in result.get_step_failure_events():
                if event.step_key.startswith(QUALITY_STEP_PREFIX):
                    continue  # reported with the check's own result, below
                error = event.step_failure_data.error
                problems.append(error.message.strip().splitlines()[0] if error else f"{key[:7]} failed")
        problems += _quality_problems(result, settings)
        outcome = "loaded" if result.success else "failed"
        _say(f"[{index}/{len(todo)}] {outcome} in {time.monotonic() - started:.1f}s: {loading}")
    console.finish("periods")
    problems += _orphaned_periods(settings, period, prune=prune)
    if settings.raw_parquet is not None:
        problems += [line for line in _sync_raw_parquet(settings) if line not in problems]
    # Rejected files and blocked periods stay visible on every run until they are fixed.
    con = connect(settings.warehouse, read_only=True)
    try:
        for path, error in con.execute(
            "SELECT path, error FROM meta.landing_files WHERE status = 'rejected' ORDER BY path"
        ).fetchall():
            line = error or path
            if not any(line in p for p in problems):
                problems.append(f"rejected {line}")
        sync_billing_periods(instance, con)  # a pruned period is a partition no more
    finally:
        con.close()
    return problems


def _sync_raw_parquet(settings: Settings) -> list[str]:
    """Bring the parquet raw layer (``TFM_RAW_PARQUET_DIR``) up to the warehouse: the periods loaded or pruned
    by this ingest, and any an earlier one failed to write. Returns the folders it could not write."""
    from orchestration.ingest.parquet_raw import sync_raw_parquet
    from orchestration.ingest.warehouse import connect

    con = connect(settings.warehouse, log=_say)
    try:
        report = sync_raw_parquet(con, settings.raw_parquet, log=console.log)
    finally:
        con.close()
    if report.written or report.removed:
        _say(
            f"parquet raw layer: {len(report.written)} folder(s) written, {len(report.removed)} removed "
            f"in {settings.raw_parquet}"
        )
    return report.failures


def _orphaned_periods(settings: Settings, period: date | None, *, prune: bool) -> list[str]:
    """Report the loaded periods whose files left the landing folder; with ``prune``, delete them."""
    from orchestration.ingest.errors import PeriodBlockedError
    from orchestration.ingest.formats import FAMILIES
    from orchestration.ingest.loader import orphan_message, orphaned_periods, prune_period
    from orchestration.ingest.warehouse import connect

    con = connect(settings.warehouse)
    try:
        orphans = orphaned_periods(con, period)
        if not orphans:
            return []
        if not prune:
            problems = [orphan_message(state, rows) for state, rows in orphans]
            ready_files = "SELECT count(*) FROM meta.landing_files WHERE status = 'ready'"
            ready = con.execute(ready_files).fetchone()[0]
            if ready == 0:
                problems.insert(
                    0,
                    f"the landing folder {settings.landing} holds no billing files, but {len(orphans)} loaded "
                    "period(s) came from files: is it the right folder, and is it mounted? Nothing was deleted",
                )
            return problems
        problems = []
        doomed = [(state, rows) for state, rows in orphans if not state.closed]
        for state, rows in orphans:
            if state.closed:
                problems.append(orphan_message(state, rows))
        _say(f"--prune: deleting {len(doomed)} period(s) whose files are gone from {settings.landing}:")
        for state, rows in doomed:
            _say(f"  {FAMILIES[state.family].description} {state.period:%Y-%m}: {rows:,} rows "
                 f"from {len(state.loaded)} file(s)")  # fmt: skip
        for state, _rows in doomed:
            try:
                prune_period(con, state.family, state.period, log=_say)
            except PeriodBlockedError as exc:
                problems.append(str(exc))
        return problems
    finally:
        con.close()


@main.command()
@click.option("--landing", type=click.Path(file_okay=False, path_type=Path), help="Landing folder to load.")
@click.option("--period", help="Only this billing period (YYYY-MM).")
@click.option(
    "--prune",
    is_flag=True,
    help="Delete the loaded periods whose files have all left the landing folder (named before deleting; "
    "closed periods are never pruned). Without it such periods are kept and reported.",
)
@click.option(
    "--parquet-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the raw layer as parquet here, one folder per table and billing period (as Spark reads "
    "it); default $TFM_RAW_PARQUET_DIR, unset: none.",
)
def ingest(landing: Path | None, period: str | None, prune: bool, parquet_dir: Path | None) -> None:
    """Load new or changed billing files from the landing folder, one billing period at a time."""
    import os

    if landing is not None:
        if not landing.is_dir():
            _fail(
                f"landing folder {landing} does not exist (or is not a folder); nothing was loaded or deleted"
            )
        os.environ["TFM_LANDING"] = str(landing.resolve())
    if parquet_dir is not None:
        os.environ["TFM_RAW_PARQUET_DIR"] = str(parquet_dir.resolve())
    settings = _settings()
    started = _utc_now()
    problems = run_ingest(settings, _parse_period(period), prune=prune)
    _print_loaded(settings, started)
    _report(problems)


def _utc_now():
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)  # as the ingest ledger records loaded_at


def _print_loaded(settings: Settings, since) -> None:
    """The summary of an ingest: each billing period loaded since ``since``, its rows and billed cost."""
    from orchestration.ingest.formats import FAMILIES
    from orchestration.ingest.warehouse import connect

    if not settings.warehouse.exists():
        return
    con = connect(settings.warehouse, read_only=True, log=_say)
    try:
        loaded = con.execute(
            "SELECT billing_period, source_family, sum(row_count) FROM meta.file_ledger WHERE loaded_at >= ? "
            "GROUP BY ALL ORDER BY ALL",
            [since],
        ).fetchall()
        periods = sorted({p for p, family, _ in loaded if not FAMILIES[family].business})
        bills = _billing_totals(con, periods) if periods else []
    finally:
        con.close()
    if not loaded:
        return
    console.echo("")
    if bills:
        _print_billing_table(bills)
    business: dict[str, list] = {}
    for period, family, rows in loaded:
        if FAMILIES[family].business:
            business.setdefault(family, []).append((period, rows))
    for family, loads in sorted(business.items()):
        months = ", ".join(f"{p:%Y-%m}" for p, _ in loads)
        console.echo(f"{family}: {sum(r for _, r in loads):,} rows ({months})")
    total = sum(rows for _, _, rows in loaded)
    count = len({p for p, _, _ in loaded})
    console.echo(f"loaded {count} billing period(s), {total:,} rows; warehouse: {settings.warehouse}")


def _report(problems: list[str]) -> None:
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        sys.exit(EXIT_FAILED)


# --- build --------------------------------------------------------------------------------------------


@console.captured
def run_build(
    settings: Settings,
    select: str | None = None,
    *,
    close: list[date] | None = None,
    closed_by: str | None = None,
    full_refresh: bool = False,
) -> list[str]:
    """Run the dbt project (dbt build: models and their tests) and the Python models through Dagster.

    A whole build ends by publishing the warehouse (``published_warehouse``), or, with ``close``, by closing
    those billing periods (``period_close``); a ``select``ed build publishes nothing. Waits first for any other
    process holding the warehouse (dbt must have it to itself for the whole build), and fails the runs left in
    progress by killed tfm processes.
    """
    import dagster as dg

    from orchestration.ingest.warehouse import connect
    from orchestration.processes import fail_dead_runs, process_tags

    instance = dg.DagsterInstance.get()
    fail_dead_runs(instance, log=_say)

    from orchestration.definitions import build_definitions
    from orchestration.defs.close import PERIOD_CLOSE, PUBLISHED
    from orchestration.defs.dbt import dbt_selection, stop_abandoned_dbt
    from orchestration.defs.predictions import prediction_assets

    # The whole build runs the Python models between the marts they read and the marts that publish them
    # (Dagster splits the dbt step around them), then publishes or closes; a --select builds only the dbt
    # models it names, and publishes nothing (the published marts must agree with each other).
    selection = dbt_selection(select)
    run_config = dict(RUN_CONFIG)
    run_config["ops"] = {"tfm_dbt_models": {"config": {"full_refresh": True}}} if full_refresh else {}
    if select is None:
        selection = selection | dg.AssetSelection.assets(*prediction_assets)
        if close:
            selection = selection | dg.AssetSelection.assets(PERIOD_CLOSE)
            periods = [f"{p:%Y-%m}" for p in close]
            run_config["ops"]["period_close"] = {
                "config": {"periods": periods, "closed_by": closed_by or "tfm"}
            }
        else:
            selection = selection | dg.AssetSelection.assets(PUBLISHED)
    # The named job (build, or close), on the selected assets with every check on them: the dbt tests, and the
    # Great Expectations checks of the marts, which run after the dbt step that builds them.
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def("close" if close else "build")
    selected = sorted(selection.resolve(definitions.resolve_asset_graph()), key=lambda k: k.to_user_string())
    # Right before dbt starts: no build begins while a reader or a writer holds the file (dbt itself waits
    # too, should one open it in the seconds dbt takes to start).
    connect(settings.warehouse, log=_say).close()
    _say(f"building dbt models ({select or 'all'})")
    started = time.monotonic()
    try:
        result = job.execute_in_process(
            asset_selection=selected,
            instance=instance,
            raise_on_error=False,
            tags={"tfm/trigger": "cli", **process_tags()},
            run_config=run_config,
        )
    finally:
        for pid in stop_abandoned_dbt():
            _say(f"stopped dbt (PID {pid}): its step had failed while it was still building")
    problems = []
    if not result.success:
        for event in result.get_step_failure_events():
            if event.step_key.startswith(QUALITY_STEP_PREFIX):
                continue  # reported with the check's own result, below
            error = event.step_failure_data.error
            if event.step_key == "period_close" and error is not None:
                problems.extend(_close_failures(error.message))
            else:
                problems.extend(_dbt_problems(error.message if error else ""))
    what = "close" if close else "build"
    problems += _quality_problems(result, settings)
    _say(f"{what} {'succeeded' if result.success else 'failed'} in {time.monotonic() - started:.1f}s")
    for line in console.dbt_results(settings.dbt_target_dir, result.run_id).lines():
        console.echo(line)
    if not result.success:
        _say(f"Dagster's and dbt's full logs: {settings.log_file}")
    if result.success and select is None and not close:
        _say(f"published {settings.published} (what tfm sql reads)")
    elif select is not None and result.success:
        _say(
            "a --select build publishes nothing: tfm sql reads the last whole build (tfm sql --live: this one)"
        )
    return problems


def _close_failures(message: str) -> list[str]:
    """The close's own summary lines from the Failure Dagster reports (one per period not closed)."""
    import re

    text = message.strip()
    text = re.sub(r"^dagster\._core\.definitions\.events\.Failure:\s*", "", text)
    first = text.splitlines()[0] if text else "the close failed"
    return [part.strip() for part in first.split(" | ") if part.strip()]


# Step keys of the Great Expectations checks (orchestration.defs.quality): their failures are reported from
# the checks' results, which say what failed.
QUALITY_STEP_PREFIX = "gx_"


def _quality_problems(result, settings: Settings) -> list[str]:
    """The Great Expectations checks that failed in a run: a blocking one is a problem, another a warning."""
    import dagster as dg

    problems = []
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed or not evaluation.check_name.startswith(QUALITY_STEP_PREFIX):
            continue
        summary = evaluation.metadata.get("result")
        text = str(summary.value) if summary is not None else "failed"
        text = text if len(text) <= 400 else text[:397] + "..."
        line = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}: {text}"
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            problems.append(f"quality check failed: {line}; see {settings.data_docs / 'index.html'}")
        else:
            _say(f"warning: quality check {line}")
    return problems


def _dbt_problems(message: str, limit: int = 5) -> list[str]:
    """One line per error dbt reported (at most ``limit``), from dagster-dbt's failure message."""
    import re

    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    log = re.search(r"dbt debug log: (\S+?\.log)", message)
    see = f"; details in {log.group(1)}" if log else ""
    head, _, parsed = message.partition("Errors parsed from dbt logs:")
    errors: list[list[str]] = []
    for line in parsed.splitlines():
        if not line.strip() or re.match(r"\d+ of \d+ ", line):  # blank, or the progress line of the node
            continue
        if not line[0].isspace():
            if errors and errors[-1][0].endswith(":") and len(errors[-1]) == 1:  # "Encountered an error:"
                errors[-1][0] = line.strip()
            else:
                errors.append([line.strip()])
        elif errors:
            errors[-1].append(line.strip())
    lines = []
    for header, *details in errors:
        # dbt repeats the node in its first detail line ("Runtime Error in test x"): the cause comes after.
        causes = [
            d for d in details if not re.match(r"^\w+ Error( in .*)?$", d) and not d.startswith("compiled")
        ]
        cause = ": ".join(causes[:2] if causes and causes[0].endswith("Error") else causes[:1])
        lines.append(f"{header}: {cause}" if cause else header)
    if not lines:
        code = re.search(r"failed with exit code `(-?\d+)`", head)
        if code:
            return [f"dbt failed with exit code {code.group(1)} and reported no error{see}"]
        first = next((line.strip() for line in head.splitlines() if line.strip()), "dbt build failed")
        return [first]
    problems = [f"dbt: {line}" for line in lines[:limit]]
    if len(lines) > limit:
        problems.append(f"dbt: {len(lines) - limit} more error(s)")
    problems[-1] += see
    return problems


@main.command()
@click.option("--select", "select", help="dbt selection, e.g. 'staging' or 'stg_focus__charges+'.")
@click.option(
    "--full-refresh", is_flag=True,
    help="Rebuild every billing period from scratch (by default only the periods whose data changed).",
)  # fmt: skip
def build(select: str | None, full_refresh: bool) -> None:
    """Build the dbt project through Dagster (waits for the warehouse while another process holds it).

    Only the billing periods whose raw data changed since the last whole build are rebuilt in the models with a
    row per charge; everything is, the first time and whenever the dbt project (a model, a seed) changed.
    """
    _duckdb_target()
    settings = _settings()
    if not settings.warehouse.exists():
        _fail(f"no warehouse at {settings.warehouse}; run 'tfm ingest' (or 'tfm demo') first")
    _report(run_build(settings, select, full_refresh=full_refresh))


# --- spark --------------------------------------------------------------------------------------------


def _duckdb_target() -> None:
    """tfm build and close run on the DuckDB warehouse: refuse the profile's spark output instead of half-building."""
    from orchestration.settings import dbt_target

    if dbt_target() == "spark":
        _fail(
            "TFM_DBT_TARGET=spark: tfm build and tfm close build the DuckDB warehouse; build on Spark with "
            "'tfm spark build' (unset TFM_DBT_TARGET for DuckDB)"
        )


@main.group(name="spark")
def spark_group() -> None:
    """The same dbt project on Apache Spark, on a local session (the profile's spark output; on a cluster, run dbt
    itself with TFM_DBT_TARGET=spark)."""


@spark_group.command(name="build")
@click.option(
    "--compare", is_flag=True,
    help="Then compare every public mart with the DuckDB warehouse's (rows, and money to the cent).",
)  # fmt: skip
def spark_build(compare: bool) -> None:
    """Build the dbt project on Spark from the warehouse's raw layer, as tfm build does on DuckDB.

    \b
    The raw layer Spark reads: the parquet folders tfm ingest writes when TFM_RAW_PARQUET_DIR is set (refused,
    naming them, while any is behind the warehouse), else an export of the warehouse's raw tables. Then: dbt
    build of what the Python models read, the Python models (forecasts, anomalies) on Spark, dbt build of the
    rest, and the marts' Great Expectations suites on Spark's tables. Everything is written under
    $TFM_HOME/spark (catalog, tables, dbt's artifacts, quality/data_docs). Exits 1 when a model or test
    fails or a blocking check fails.
    """
    import os

    from orchestration.quality.checks import blocking_failures
    from orchestration.spark import (
        SparkBuildError,
        SparkFolders,
        build,
        check_lines,
        compare_marts,
        comparison_lines,
        java_missing,
        quality_results,
    )

    method = os.environ.get("TFM_SPARK_METHOD", "session")
    if method != "session":
        _fail(
            f"TFM_SPARK_METHOD={method}: tfm spark build runs a local Spark session (its Python models and checks "
            "open one beside dbt's); on a cluster, build with dbt itself (TFM_DBT_TARGET=spark dbt build, README)"
        )
    settings = _settings()
    if not settings.warehouse.exists():
        _fail(f"no warehouse at {settings.warehouse}; run 'tfm ingest' (or 'tfm demo') first")
    reason = java_missing()
    if reason:
        _fail(reason)
    folders = SparkFolders(settings.home / "spark")
    try:
        results = build(settings.warehouse, folders, log=_say, raw_dir=settings.raw_parquet)
    except (SparkBuildError, RuntimeError) as exc:
        _fail(str(exc))
    for line in results.lines():
        _say(line)
    problems = [f"dbt on Spark: {name}: {message.splitlines()[0][:300]}" for name, message in results.errors]
    checks = quality_results(folders)
    for line in check_lines(checks):
        _say(line)
    problems += [
        f"quality check failed on Spark: {r.name} ({r.target}): {r.value}; see {folders.quality / 'data_docs'}"
        for r in blocking_failures(checks)
    ]
    if compare:
        comparisons = compare_marts(settings.warehouse, folders.warehouse)
        for line in comparison_lines(comparisons):
            _say(line)
        problems += [f"{c.table} differs between DuckDB and Spark" for c in comparisons if not c.equal]
    _report(problems)


# --- close --------------------------------------------------------------------------------------------


@main.command(name="close")
@click.option(
    "--period", "periods", multiple=True, required=True, help="Billing period to close, YYYY-MM (repeatable)."
)
@click.option("--by", "closed_by", help="Who closes it, recorded with the close version (default: the user).")
def close_command(periods: tuple[str, ...], closed_by: str | None) -> None:
    """Close billing periods for finance: build, check, and freeze each period's marts if every check passes.

    \b
    For each period, after a whole build (every dbt test and blocking check):
      - checks: the period has ended; every landed file is loaded (none rejected or pending) and every file
        its delivery manifests list has landed; every source and account of the previous month is present;
        no day is missing; every invoice equals the period's
        billed cost to the cent; allocation, showback and chargeback equal the FOCUS totals; unallocated
        spend and tag coverage are within their thresholds; dbt tests and Great Expectations suites pass.
        Severities (block, warn, off) and thresholds: seeds/close_policy.csv.
      - if no blocking check fails: the period's marts are frozen as close version n+1 (earlier versions
        are kept) and published; analysts read them as schema closed (closed.fct_showback_monthly, ...,
        latest version of each closed period; every version in closed_versions; closed.period_status).
      - otherwise nothing is frozen or published, and the command exits 1.
    Either way a report (Markdown and HTML) is written to $TFM_HOME/close/YYYY-MM/. A provider restating a
    closed period later does not change the closed numbers: closed.period_status and
    $TFM_HOME/close/YYYY-MM/restated.md show the difference until the period is closed again.
    """
    import getpass

    _duckdb_target()
    settings = _settings()
    if not settings.warehouse.exists():
        _fail(f"no warehouse at {settings.warehouse}; run 'tfm ingest' (or 'tfm demo') first")
    parsed = sorted({_parse_period(p) for p in periods})
    problems = run_build(settings, close=parsed, closed_by=closed_by or getpass.getuser())
    if problems and not any("was not closed" in p for p in problems):
        from orchestration.close import build_failure_report

        for period in parsed:
            outcome = build_failure_report(settings, period, problems)
            problems.append(f"{period:%Y-%m} was not closed: the build failed; see {outcome.report_markdown}")
    else:
        _print_closes(settings, parsed)
    _report(problems)


def _print_closes(settings: Settings, periods: list[date]) -> None:
    from orchestration.ingest.warehouse import connect

    con = connect(settings.warehouse, read_only=True, log=_say)
    try:
        for period in periods:
            row = con.execute(
                "SELECT succeeded, close_version, warnings, report FROM meta.close_attempts WHERE billing_period = ? "
                "ORDER BY attempted_at DESC LIMIT 1",
                [period],
            ).fetchone()
            if row and row[0]:
                warned = f", {row[2]} warning(s)" if row[2] else ""
                _say(f"closed {period:%Y-%m} as version {row[1]}{warned}: {row[3]}")
    finally:
        con.close()


# --- generate -----------------------------------------------------------------------------------------


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(["cur2", "cur-legacy-csv", "focus-1.2"]))
@click.option("--months", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--rows", default=100_000, show_default=True, type=click.IntRange(min=1), help="Rows per month."
)
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--start", default="2026-01", show_default=True, help="First billing period (YYYY-MM).")
@click.option(
    "--file-format",
    default="parquet",
    show_default=True,
    type=click.Choice(["parquet", "csv"]),
    help="For cur2 and focus-1.2: parquet or gzip CSV.",
)
def generate(out: Path, fmt: str, months: int, rows: int, seed: int, start: str, file_format: str) -> None:
    """Write synthetic billing files with known truth (trend, commitments, tags, injected anomalies)."""
    from orchestration.generator import GeneratorConfig
    from orchestration.generator import generate as run_generator

    _parse_period(start)
    config = GeneratorConfig(
        out=out, fmt=fmt, months=months, rows=rows, seed=seed, start=start, file_format=file_format
    )
    started = time.monotonic()
    summary = run_generator(config, progress=_progress_printer())
    elapsed = time.monotonic() - started
    total = sum(summary.rows_per_period.values())
    _say(f"wrote {total:,} rows in {len(summary.data_files)} data file(s) to {out} in {elapsed:.1f}s")
    for period, count in sorted(summary.rows_per_period.items()):
        _say(f"  {period}: {count:,} rows, billed cost {summary.cost_per_period[period]:,.2f}")


def _progress_printer():
    """The generator's progress: a bar on a terminal, nothing elsewhere (its summary follows)."""

    def progress(done: int, total: int, message: str) -> None:
        if done >= total:
            console.finish("generate")
        else:
            console.progress("generate", f"generating {message}", completed=done, total=total)

    return progress


# --- sql ----------------------------------------------------------------------------------------------


@main.command()
@click.argument("query", required=False)
@click.option(
    "--max-rows", default=100, show_default=True, type=int, help="Rows to print (0: all). --out writes all."
)
@click.option(
    "--format",
    "fmt",
    metavar="FORMAT",
    help="table (default), csv, json, jsonl or markdown to the terminal; with --out: csv, parquet, json or "
    "jsonl (default: from the file's suffix).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the whole result to this file (not into the landing folder or $TFM_HOME).",
)
@click.option("--force", is_flag=True, help="With --out: overwrite an existing file.")
@click.option(
    "--live",
    is_flag=True,
    help="Read the warehouse as it is now (waits while a command writes it) instead of the last published build.",
)
def sql(query: str | None, max_rows: int, fmt: str | None, out: Path | None, force: bool, live: bool) -> None:
    """Run one read-only SELECT against the published warehouse; print it, or export it with --out.

    QUERY is one SELECT (DESCRIBE, SHOW, SUMMARIZE and PRAGMA show_tables too), or - to read it from stdin.
    It reads $TFM_HOME/published/warehouse.duckdb: the last whole build whose every blocking check passed, never a
    build in progress, without waiting for one. Closed periods are in schema closed. The file is opened
    read-only without file, network or extension access.
    """
    import os

    from orchestration.analyst import AnalystError, run_sql

    if query == "-":
        query = sys.stdin.read()
    settings = Settings.from_env()
    protected = [
        ("the landing folder", settings.landing),
        ("the warehouse's folder", settings.warehouse.parent),
        ("the Dagster instance's folder", settings.dagster_home),
    ]
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() or os.environ.get("COLUMNS") else None
    source = settings.warehouse if live else settings.published
    if not source.exists():
        if settings.warehouse.exists():
            _fail(
                f"nothing is published yet in {settings.home}: run 'tfm build' (tfm sql reads the last build whose "
                "checks all passed), or add --live to read the warehouse as it is"
            )
        _fail(f"no warehouse at {settings.warehouse}; run 'tfm demo', or 'tfm ingest' and 'tfm build', first")
    try:
        run_sql(
            source,
            query or "",
            stdout=sys.stdout.buffer,
            log=_say,
            fmt=fmt,
            out=out,
            force=force,
            max_rows=max_rows,
            protected=protected,
            width=width,
        )
    except AnalystError as exc:
        _fail(str(exc))


# --- ui -----------------------------------------------------------------------------------------------


@main.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Open the Dagster UI (dagster dev) on this warehouse."""
    import os

    import dagster as dg

    from orchestration.processes import fail_dead_runs

    settings = _settings()
    fail_dead_runs(dg.DagsterInstance.get(), log=_say)
    _say(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={settings.dagster_home})")
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions", "-p", str(port)],
    )


# --- demo ---------------------------------------------------------------------------------------------

DEMO_CLOSE = ("2026-01", "2026-02", "2026-03")
DEMO_GENERATED = {
    "fmt": "cur2",
    "months": 3,
    "rows": 20_000,
    "seed": 42,
    "start": "2026-01",
    "file_format": "parquet",
}


def _copy_samples(settings: Settings) -> None:
    target = settings.landing / "samples"
    for source in sorted(p for p in SAMPLES_DIR.rglob("*") if p.is_file()):
        destination = target / source.relative_to(SAMPLES_DIR)
        if destination.exists() and destination.stat().st_size == source.stat().st_size:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


# The demo company's business inputs that the generator does not write: its incidents, written by hand to line
# up with the generated quarter's reliability dips. They land beside the generator's own business files.
DEMO_BUSINESS_DIR = Path(__file__).resolve().parent / "demo" / "business"


def _generate_demo_cur2(settings: Settings) -> None:
    """A generated CUR 2.0 quarter (no real CUR 2.0 sample is public) and the same company's business inputs
    (the generator's invoices, unit drivers and SLIs, and the bundled incidents), landed in
    ``generated-cur2/`` with the business files under ``generated-cur2/business/``."""
    from orchestration.generator import GeneratorConfig
    from orchestration.generator import generate as run_generator

    out = settings.home / "generated" / "cur2"
    landing_target = settings.landing / "generated-cur2"
    business_target = landing_target / "business"
    if business_target.exists():
        return
    _say("generating a CUR 2.0 quarter (synthetic, seed 42)")
    if out.exists():
        shutil.rmtree(out)
    summary = run_generator(GeneratorConfig(out=out, **DEMO_GENERATED), progress=_progress_printer())
    exports = {Path(f).relative_to(out).parts[0] for f in summary.data_files + summary.manifest_files}
    landing_target.mkdir(parents=True, exist_ok=True)
    for export in exports:
        if not (landing_target / export).exists():  # an earlier demo landed the bills without business inputs
            shutil.move(str(out / export), str(landing_target / export))
    for source in sorted(p for p in DEMO_BUSINESS_DIR.iterdir() if p.is_file()):
        shutil.copy2(source, out / "business" / source.name)
    shutil.move(str(out / "business"), str(business_target))  # last: a landed business folder is complete


# Line items and billed cost per billing period, provider and source family, from the raw bills.
_BILLING_TOTALS = """
    SELECT provider, source_family, strftime(billing_period, '%Y-%m') AS period,
           count(*) AS line_items, sum(billed_cost) AS billed_cost, any_value(currency) AS currency
    FROM (
        SELECT 'AWS' AS provider, 'aws_cur_legacy' AS source_family, _billing_period AS billing_period,
               line_item_unblended_cost AS billed_cost, line_item_currency_code AS currency
        FROM raw.aws_cur_legacy
        UNION ALL
        SELECT 'AWS', 'aws_cur_athena', _billing_period, line_item_unblended_cost, line_item_currency_code
        FROM raw.aws_cur_athena
        UNION ALL
        SELECT 'AWS', 'aws_cur2', _billing_period, line_item_unblended_cost, line_item_currency_code
        FROM raw.aws_cur2
        UNION ALL
        SELECT coalesce(ProviderName, '?'), 'focus', _billing_period, BilledCost, BillingCurrency
        FROM raw.focus
    )
    {where}
    GROUP BY ALL ORDER BY period, provider, source_family
"""


def _billing_totals(con, periods: list[date] | None = None) -> list[tuple]:
    """``(provider, family, 'YYYY-MM', line items, billed cost, currency)``, for ``periods`` or every period."""
    if periods is None:
        return con.execute(_BILLING_TOTALS.format(where="")).fetchall()
    where = "WHERE list_contains(?, billing_period)"
    return con.execute(_BILLING_TOTALS.format(where=where), [periods]).fetchall()


def _print_billing_table(rows: list[tuple]) -> None:
    header = f"{'period':<8} {'provider':<10} {'source':<15} {'line items':>11} {'billed cost':>16}"
    console.echo(f"{header} currency")
    for provider, family, period, count, cost, currency in rows:
        console.echo(f"{period:<8} {provider:<10} {family:<15} {count:>11,} {cost:>16,.2f} {currency or ''}")


def _summary(settings: Settings) -> None:
    from orchestration.ingest.warehouse import connect

    con = connect(settings.warehouse, read_only=True)
    try:
        rows = _billing_totals(con)
        files = con.execute("SELECT count(*) FROM meta.file_ledger").fetchone()[0]
        rejected = con.execute(
            "SELECT count(*) FROM meta.landing_files WHERE status = 'rejected'"
        ).fetchone()[0]
    finally:
        con.close()
    click.echo("")
    _print_billing_table(rows)
    periods = len({r[2] for r in rows})
    total_rows = sum(r[3] for r in rows)
    click.echo("")
    click.echo(
        f"{periods} billing periods, {total_rows:,} line items from {files} loaded file-period(s)"
        + (f", {rejected} rejected file(s) (see meta.landing_files)" if rejected else "")
    )
    click.echo(f"warehouse: {settings.warehouse}")
    click.echo('query it:  tfm sql "SELECT * FROM meta.file_ledger"')
    click.echo(
        'closed months: tfm sql "SELECT * FROM closed.period_status"; reports in '
        + str(settings.close_reports)
    )
    if rows:
        click.echo(
            f"monthly report: tfm report --period {max(r[2] for r in rows)}   (dbt docs: tfm docs --out DIR)"
        )
    click.echo(
        f"Dagster UI: tfm ui   (or DAGSTER_HOME={settings.dagster_home} dagster dev -m orchestration.definitions)"
    )


@main.command()
def demo() -> None:
    """Ingest the bundled real samples and a generated CUR 2.0 quarter, build everything, print a summary."""
    settings = _settings()
    started = time.monotonic()
    _copy_samples(settings)
    _generate_demo_cur2(settings)
    problems = run_ingest(settings)
    if not problems:
        # One build that ends in the close of the generated quarter, as finance would close it (the bundled
        # samples are excerpts without invoices: their months cannot close).
        closing = [_parse_period(p) for p in DEMO_CLOSE]
        _say(f"the build ends by closing {', '.join(DEMO_CLOSE)} (tfm close)")
        problems = run_build(settings, close=closing, closed_by="tfm demo")
        if not problems:
            _print_closes(settings, closing)
    _summary(settings)
    _say(f"demo finished in {time.monotonic() - started:.1f}s")
    _report(problems)


# --- export and docs ----------------------------------------------------------------------------------


def _analyst_folders(settings: Settings) -> list[tuple[str, Path]]:
    """Where exports and the docs site are never written: tfm's own folders."""
    return [
        ("the landing folder", settings.landing),
        ("$TFM_HOME", settings.home),
        ("the Dagster instance's folder", settings.dagster_home),
    ]


def _readable_warehouse(settings: Settings, live: bool) -> Path:
    source = settings.warehouse if live else settings.published
    if not source.exists():
        if settings.warehouse.exists():
            _fail(
                f"nothing is published yet in {settings.home}: run 'tfm build', or add --live to read the "
                "warehouse as it is"
            )
        _fail(f"no warehouse at {settings.warehouse}; run 'tfm demo', or 'tfm ingest' and 'tfm build', first")
    return source


_OUT = click.Path(file_okay=False, path_type=Path)
_LIVE_HELP = (
    "Read the warehouse as it is now (waits while a command writes it) instead of the last published build."
)


@main.group(name="export")
def export_group() -> None:
    """Write a billing period's FOCUS dataset, or any public mart, as parquet and CSV files.

    Files are read from the published warehouse (as tfm sql reads it), written to a temporary file and renamed
    into place: never over an existing file without --force, never into the landing folder or $TFM_HOME.
    Money stays exact (DECIMAL in parquet, every digit in CSV); JSON columns are text.
    """


@export_group.command(name="focus")
@click.option("--period", required=True, help="Billing period, YYYY-MM.")
@click.option("--out", required=True, type=_OUT, help="Folder to write to.")
@click.option("--force", is_flag=True, help="Overwrite files of an earlier export.")
@click.option("--validate", is_flag=True, help="Run the FinOps Foundation's focus-validator on the parquet.")
@click.option("--live", is_flag=True, help=_LIVE_HELP)
def export_focus_command(period: str, out: Path, force: bool, validate: bool, live: bool) -> None:
    """The period's FOCUS 1.2 dataset: focus_YYYY-MM.parquet and focus_YYYY-MM.csv in OUT.

    The 57 FOCUS columns, then tfm's x_ columns; Tags, SkuPriceDetails and the x_ maps as JSON text, which
    the FinOps Foundation's validator reads. --validate runs it (in its own Python 3.12 environment, made on
    first use) and keeps its report beside the files; rules it cannot pass on any data are listed in
    dbt_project/focus_validator_exceptions.yml.
    """
    from orchestration.analyst import AnalystError
    from orchestration.export import export_focus, validate_focus

    settings = Settings.from_env()
    try:
        files = export_focus(
            _readable_warehouse(settings, live),
            period,
            out,
            force=force,
            protected=_analyst_folders(settings),
            log=_say,
        )
    except AnalystError as exc:
        _fail(str(exc))
    if validate:
        parquet = next(f.path for f in files if f.fmt == "parquet")
        result = validate_focus(parquet, parquet.with_name(f"{parquet.stem}.validator-report.txt"))
        _say(result.summary())
        if result.unexpected:
            sys.exit(EXIT_FAILED)


@export_group.command(name="mart")
@click.argument("name")
@click.option("--period", help="Only this billing period's rows (YYYY-MM).")
@click.option("--out", required=True, type=_OUT, help="Folder to write to.")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["parquet", "csv"]),
    help="parquet or csv, repeatable (default: both).",
)
@click.option("--force", is_flag=True, help="Overwrite files of an earlier export.")
@click.option("--live", is_flag=True, help=_LIVE_HELP)
def export_mart_command(
    name: str, period: str | None, out: Path, formats: tuple[str, ...], force: bool, live: bool
) -> None:
    """A public mart (marts.NAME, or closed.NAME for the closed versions) as NAME[_YYYY-MM].parquet, .csv."""
    from orchestration.analyst import AnalystError
    from orchestration.export import EXPORT_FORMATS, export_table

    settings = Settings.from_env()
    try:
        export_table(
            _readable_warehouse(settings, live),
            name,
            out,
            period=period,
            formats=formats or EXPORT_FORMATS,
            force=force,
            protected=_analyst_folders(settings),
            log=_say,
        )
    except AnalystError as exc:
        _fail(str(exc))


@main.command()
@click.option("--out", type=_OUT, help="Write the site here (default: $TFM_HOME/docs).")
@click.option("--force", is_flag=True, help="With --out: overwrite an earlier site in that folder.")
@click.option("--serve", is_flag=True, help="Serve the site on http://127.0.0.1:PORT once written.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def docs(out: Path | None, force: bool, serve: bool, port: int) -> None:
    """Generate the dbt docs (every model, column, test and lineage, with the published warehouse's catalog).

    The site is one self-contained index.html (with manifest.json and catalog.json beside it) that opens
    from disk; --serve serves it.
    """
    from orchestration.docs import DocsError, generate_docs
    from orchestration.docs import serve as serve_site

    settings = _settings()
    protected = _analyst_folders(settings) if out is not None else []
    folder = out if out is not None else settings.home / "docs"
    try:
        site = generate_docs(
            _readable_warehouse(settings, False),
            folder,
            force=force or out is None,
            protected=protected,
            log_file=settings.log_file,
            log=_say,
        )
    except DocsError as exc:
        _fail(str(exc))
    _say(f"dbt docs of {site.marts} marts: {site.index}")
    if site.undocumented:
        shown = ", ".join(site.undocumented[:10])
        _say(f"warning: {len(site.undocumented)} mart(s) or column(s) have no description: {shown}")
    if serve:
        try:
            serve_site(site.folder, port, log=_say)
        except DocsError as exc:
            _fail(str(exc))


# --- report -------------------------------------------------------------------------------------------

from orchestration.report import report_command  # the monthly cost report (orchestration/report.py)

main.add_command(report_command)


if __name__ == "__main__":  # pragma: no cover
    main()
