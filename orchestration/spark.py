"""The dbt project on Apache Spark, beside DuckDB: build it from a tfm warehouse and compare the public marts.

    python -m orchestration.spark build --warehouse WAREHOUSE.duckdb --dir DIR
    python -m orchestration.spark compare --warehouse WAREHOUSE.duckdb --dir DIR
    python -m orchestration.spark models --dir DIR    (the Python models on DIR's Spark catalog)
    python -m orchestration.spark quality --dir DIR   (the marts' Great Expectations suites on it)

``build`` writes the warehouse's raw layer as parquet partitioned by billing period under ``DIR/raw``
(``orchestration.spark_raw``), registers it in the catalog of the dbt profile's ``spark`` output and builds
there as ``tfm build`` does on DuckDB: ``dbt build`` of everything the Python models do not feed, the Python
models (forecasts and anomalies, ``orchestration.predictions`` through a ``SparkStore``: they read the Spark
marts and write the ``ml`` tables in Spark's catalog), then ``dbt build`` of what reads them, then the Great
Expectations suites of the marts on Spark's tables (``orchestration.quality.engines``: the suites' DuckDB SQL
transpiled by sqlglot; results in ``DIR/quality``). Every model, seed, data test and unit test runs. Then it
compares, and exits 1 when a model or test failed, a blocking check failed, or a mart differs. ``compare``
prints, for every table of the schema ``marts`` in the DuckDB warehouse, its row count on both engines and whether
every DECIMAL column adds up to the same amount to the cent (both sums exact DECIMAL), and exits 1 when a mart is
missing on Spark or differs. ``tfm spark build`` runs ``build`` on ``$TFM_HOME``.

Everything Spark writes stays under ``DIR``: the session's warehouse folder (``DIR/warehouse``, one folder per
table), its Derby catalog (``DIR/metastore``), dbt's target and logs. The local session needs pyspark (the
``spark`` extra) and a Java runtime (Debian: ``openjdk-17-jre-headless``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.console import DbtResults, dbt_results_of
from orchestration.quality.checks import CheckResult, blocking_failures
from orchestration.quoting import lit, q
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.spark_raw import export_raw_layer, register_raw_tables

CENT = Decimal("0.01")
JAVA_PACKAGE = "openjdk-17-jre-headless"


def java_missing() -> str | None:
    """Why a local Spark session cannot start here (no Java runtime), or None when it can."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return None
    if shutil.which("java"):
        return None
    return f"a local Spark session needs a Java runtime: apt-get install {JAVA_PACKAGE}"


@dataclass(frozen=True)
class SparkFolders:
    """Where one local Spark build keeps everything it writes."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def metastore(self) -> Path:
        return self.root / "metastore"

    @property
    def target(self) -> Path:
        return self.root / "dbt-target"

    @property
    def quality(self) -> Path:
        """The Great Expectations checks of the last build: ``results.json``, the GX stores, ``data_docs/``."""
        return self.root / "quality"

    def environment(self, target: Path | None = None) -> dict[str, str]:
        """The process environment that points the profile's ``spark`` output at these folders (dbt's
        artifacts in ``target``, by default ``self.target``)."""
        return {
            **os.environ,
            "TFM_DBT_TARGET": "spark",
            "TFM_SPARK_WAREHOUSE": str(self.warehouse.resolve()),
            "TFM_SPARK_METASTORE": str(self.metastore.resolve()),
            "DBT_TARGET_PATH": str((target or self.target).resolve()),
            "DBT_LOG_PATH": str((self.root / "dbt-logs").resolve()),
        }


def session_parameters(environment: dict[str, str]) -> dict[str, str]:
    """The Spark settings of the dbt profile's ``spark`` output (``server_side_parameters``), rendered with
    ``environment``: a session the Python models open is configured exactly as dbt's."""
    import jinja2
    import yaml

    def env_var(name: str, default: str | None = None) -> str:
        if name in environment:
            return environment[name]
        if default is None:
            raise KeyError(f"profiles.yml needs the environment variable {name}")
        return default

    templates = jinja2.Environment(undefined=jinja2.StrictUndefined)
    templates.globals["env_var"] = env_var
    templates.filters["as_number"] = lambda value: value
    profile = yaml.safe_load((REPO_ROOT / "profiles.yml").read_text())
    parameters = profile["tfm"]["outputs"]["spark"]["server_side_parameters"]
    return {name: templates.from_string(str(value)).render() for name, value in parameters.items()}


def spark_session(environment: dict[str, str] | None = None):
    """A local Spark session configured as the profile's ``spark`` output (same catalog, warehouse, UTC)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("tfm-models").enableHiveSupport()
    for name, value in session_parameters(dict(os.environ if environment is None else environment)).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()


def run_models(log=print) -> None:
    """The Python models (forecasts, anomalies) on the Spark catalog this process's environment points at."""
    from orchestration.ml_store import SparkStore
    from orchestration.predictions import run_anomalies, run_forecasts

    session = spark_session()
    try:
        store = SparkStore(session)
        forecasts = run_forecasts(store, log=log)
        log(f"forecasts: {forecasts.series} series, {forecasts.rows} rows, in {forecasts.seconds:.1f} s")
        anomalies = run_anomalies(store, log=log)
        log(f"anomalies: {anomalies.episodes} episode(s), in {anomalies.seconds:.1f} s")
    finally:
        session.stop()


def run_quality(folders: SparkFolders, log=print) -> list[CheckResult]:
    """Every Great Expectations suite of a table dbt or the Python models build (the public marts), over every
    billing period it holds, on the Spark catalog this process's environment points at; the results are written
    to ``folders.quality / "results.json"`` and rendered as Data Docs in ``folders.quality / "data_docs"``. The
    landing tables' suites are not run: ingest validated those rows on DuckDB before writing them as parquet."""
    from orchestration.quality.engines import SparkTables
    from orchestration.quality.suites import QualityContext, table_suites, validate_table

    session = spark_session()
    try:
        session.sparkContext.setLogLevel("ERROR")
        tables = SparkTables(session)
        context = QualityContext(folders.quality / "data_docs")
        results: list[CheckResult] = []
        for suite in table_suites():
            if suite.is_landing:
                continue
            outcome = validate_table(tables, suite, context, run_name="spark build")
            for section in outcome.sections:
                log(f"{suite.suite_name(section.section.name)}: {section.status}: {section.summary()[:300]}")
            results.extend(outcome.check_results())
        context.build_data_docs()
    finally:
        session.stop()
    (folders.quality / "results.json").write_text(
        json.dumps([asdict(result) for result in results], indent=1, default=str) + "\n"
    )
    return results


def quality_results(folders: SparkFolders) -> list[CheckResult]:
    """The Great Expectations results of the last Spark build in ``folders`` (empty when none ran)."""
    path = folders.quality / "results.json"
    if not path.is_file():
        return []
    return [CheckResult(**result) for result in json.loads(path.read_text())]


def run_dbt(folders: SparkFolders, *args: str, target: Path | None = None) -> subprocess.CompletedProcess:
    """One dbt command against the ``spark`` output, in a process of its own (the session lives in it)."""
    folders.root.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(REPO_ROOT),
        "--target",
        "spark",
    ]
    # The session's derby.log and any folder Spark defaults to land in the build's own folder.
    return subprocess.run(
        command,
        cwd=folders.root,
        env=folders.environment(target),
        capture_output=True,
        text=True,
        check=False,
    )


class SparkBuildError(RuntimeError):
    pass


def build(
    warehouse: Path,
    folders: SparkFolders,
    log: Callable[[str], None] = lambda _: None,
    *,
    raw_dir: Path | None = None,
) -> DbtResults:
    """Export ``warehouse``'s raw layer, register it and build the project on Spark; dbt's results.

    With ``raw_dir``, the raw layer tfm ingest wrote there (``TFM_RAW_PARQUET_DIR``) is registered instead of
    an export; a ``RuntimeError`` names its folders that are behind the warehouse. ``log`` receives one line
    per step as it ends (``step <name>: <seconds> s``). Raises ``SparkBuildError`` (with the end of dbt's
    output) when dbt or the Python models cannot run at all; a model or test that fails is in the returned
    results (``errors``)."""
    timer = _StepTimer(log)
    folders.root.mkdir(parents=True, exist_ok=True)
    if raw_dir is not None:
        from orchestration.ingest.parquet_raw import parquet_raw_tables

        tables = parquet_raw_tables(warehouse, raw_dir)
    else:
        with timer("export raw layer"):
            tables = export_raw_layer(warehouse, folders.raw)
    with timer("register raw tables"):
        register_raw_tables(
            tables, project_dir=DBT_PROJECT_DIR, profiles_dir=REPO_ROOT, env=folders.environment(),
            cwd=folders.root,
        )  # fmt: skip
    if folders.target.exists():
        shutil.rmtree(folders.target)
    # As tfm build on DuckDB: what the Python models read, the models, then what reads their tables.
    before, after = folders.target / "1-before-models", folders.target / "2-after-models"
    with timer("dbt build before the models"):
        _dbt_step(folders, before, "build", "--exclude", f"source:{ML_SOURCE}+", log=log)
    with timer("python models"):
        _subprocess_step(folders, "models", "the Python models")
    with timer("dbt build after the models"):
        _dbt_step(folders, after, "build", "--select", f"source:{ML_SOURCE}+", log=log)
    # As tfm build's asset checks: the Great Expectations suites of the marts, on Spark's tables.
    (folders.quality / "results.json").unlink(missing_ok=True)
    with timer("quality checks"):
        _subprocess_step(folders, "quality", "the Great Expectations checks")
    return dbt_results_of([before, after])


def _subprocess_step(folders: SparkFolders, command: str, what: str) -> None:
    """``python -m orchestration.spark <command> --dir ...``: a process of its own, since the catalog (Derby)
    admits one JVM at a time and dbt's session has ended."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.spark", command, "--dir", str(folders.root)],
        cwd=folders.root, env=folders.environment(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SparkBuildError(f"{what} failed on Spark (exit {done.returncode}):\n{tail}")


class _StepTimer:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log

    @contextmanager
    def __call__(self, name: str):
        started = time.monotonic()
        yield
        self.log(f"step {name}: {time.monotonic() - started:.1f} s")


ML_SOURCE = "ml"  # the dbt source the Python models write


def _dbt_step(folders: SparkFolders, target: Path, *args: str, log: Callable[[str], None] = print) -> None:
    """``dbt <args>`` into ``target``; nodes that failed on Spark's task deserialization bug are built again once."""
    done = run_dbt(folders, *args, target=target)
    if not (target / "run_results.json").is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise SparkBuildError(
            f"dbt {' '.join(args)} on Spark wrote no results (exit {done.returncode}):\n{tail}"
        )
    _retry_deserialization_failures(folders, target, args, log)


# Spark 4.3 with a union fused into whole-stage codegen now and then fails a task whose plan holds it: "cannot
# assign instance of scala.collection.generic.DefaultSerializationProxy to field ...UnionExec.children". The profile
# turns the fusion off (spark.sql.codegen.wholeStage.union.enabled), which ends it; should it come back, the node is
# built again once (the same query passes when run again). No other failure is retried.
SPARK_DESERIALIZATION_BUG = "DefaultSerializationProxy"


def _retry_deserialization_failures(folders: SparkFolders, target: Path, args: tuple[str, ...], log) -> None:
    """Build again, once, the models whose node failed on ``SPARK_DESERIALIZATION_BUG`` (a model, or one of its
    unit tests) and everything after them in the step; their new results replace the failed and skipped ones in
    ``target/run_results.json`` (the first attempt's file is kept beside it)."""
    results_file = target / "run_results.json"
    first = json.loads(results_file.read_text())
    models = sorted(
        {
            result["unique_id"].split(".")[2]
            for result in first["results"]
            if result["status"] in ("error", "fail")
            and SPARK_DESERIALIZATION_BUG in str(result.get("message") or "")
            and result["unique_id"].split(".")[0] in ("model", "unit_test")
        }
    )
    if not models:
        return
    log(f"retrying {', '.join(models)} and what follows them: Spark failed a task on its deserialization bug")
    selected = " ".join(f"{model}+" for model in models)
    step_select = args[args.index("--select") + 1] if "--select" in args else None
    if step_select:  # within the step's own selection
        selected = " ".join(f"{step_select},{model}+" for model in models)
    exclude = args[args.index("--exclude") + 1 :] if "--exclude" in args else ()
    exclude = tuple(word for word in exclude if not word.startswith("--"))
    retry_target = target.with_name(target.name + "-retry")
    if retry_target.exists():
        shutil.rmtree(retry_target)
    run_dbt(
        folders,
        "build",
        "--select",
        selected,
        *(("--exclude", *exclude) if exclude else ()),
        target=retry_target,
    )
    retry_file = retry_target / "run_results.json"
    if not retry_file.is_file():
        return  # the first attempt's results stand
    again = {result["unique_id"]: result for result in json.loads(retry_file.read_text())["results"]}
    (target / "run_results.first-attempt.json").write_text(results_file.read_text())
    first["results"] = [again.get(result["unique_id"], result) for result in first["results"]]
    results_file.write_text(json.dumps(first))
    still = [r["unique_id"] for r in again.values() if r["status"] in ("error", "fail")]
    log(f"retry: {len(again)} nodes built again, {len(still)} failed")


@dataclass(frozen=True)
class MartComparison:
    table: str
    rows_duckdb: int
    rows_spark: int | None  # None: Spark has no such table
    money_columns: int
    largest_difference: Decimal | None  # the largest |sum on DuckDB - sum on Spark| over the DECIMAL columns
    differing_columns: tuple[str, ...]

    @property
    def equal(self) -> bool:
        return self.rows_spark == self.rows_duckdb and not self.differing_columns


def compare_marts(warehouse: Path, spark_warehouse: Path) -> list[MartComparison]:
    """Every table of the schema ``marts``: row counts and DECIMAL column sums, DuckDB against Spark."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_catalog = current_database()"
                " and table_schema = 'marts' and table_type = 'BASE TABLE' order by table_name"
            ).fetchall()
        ]
        comparisons = []
        for table in tables:
            decimals = [
                name
                for name, data_type in con.execute(
                    "select column_name, data_type from information_schema.columns where table_catalog ="
                    " current_database() and table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
                if data_type.startswith("DECIMAL")
            ]
            sums = "".join(f", sum({q(name)})" for name in decimals)
            duck = con.execute(f"select count(*){sums} from marts.{q(table)}").fetchone()
            folder = spark_warehouse / "marts.db" / table
            if not folder.is_dir():
                comparisons.append(MartComparison(table, duck[0], None, len(decimals), None, tuple(decimals)))
                continue
            if any(folder.rglob("*.parquet")):
                # Spark names a partition folder column=value.
                files = lit(str(folder / "**" / "*.parquet"))
                spark = con.execute(
                    f"select count(*){sums} from read_parquet({files}, hive_partitioning = true)"
                ).fetchone()
            else:  # Spark writes no file for an empty table
                spark = (0,) + (None,) * len(decimals)
            differences = [abs((a or 0) - (b or 0)) for a, b in zip(duck[1:], spark[1:], strict=True)]
            differing = tuple(
                name
                for name, a, b, difference in zip(decimals, duck[1:], spark[1:], differences, strict=True)
                if difference >= CENT or (a is None) != (b is None)
            )
            comparisons.append(
                MartComparison(
                    table, duck[0], spark[0], len(decimals), max(differences, default=Decimal(0)), differing
                )
            )
        return comparisons
    finally:
        con.close()


def comparison_lines(comparisons: list[MartComparison]) -> list[str]:
    lines = [
        f"{'mart':<32} {'rows duckdb':>12} {'rows spark':>12} {'money cols':>10} {'max |diff|':>14}  result"
    ]
    for c in comparisons:
        spark_rows = "missing" if c.rows_spark is None else str(c.rows_spark)
        difference = "" if c.largest_difference is None else f"{c.largest_difference:.6f}"
        result = (
            "ok"
            if c.equal
            else "FAIL" + (f" ({', '.join(c.differing_columns)})" if c.differing_columns else "")
        )
        lines.append(
            f"{c.table:<32} {c.rows_duckdb:>12} {spark_rows:>12} {c.money_columns:>10} {difference:>14}  {result}"
        )
    equal = sum(c.equal for c in comparisons)
    lines.append(f"{equal} of {len(comparisons)} marts equal (row counts; DECIMAL sums to the cent)")
    return lines


def check_lines(results: list[CheckResult]) -> list[str]:
    """The Great Expectations results of a Spark build, as ``tfm build`` reports them: a line per section that did
    not pass (a blocking one first), then how many passed."""
    lines = [
        f"{'FAIL' if r.blocks else 'warn'} {r.name} ({r.target}): {r.value}"
        for r in sorted(results, key=lambda r: (not r.blocks, r.name))
        if not r.passed
    ]
    passed = sum(r.passed for r in results)
    lines.append(
        f"quality checks: {passed} of {len(results)} passed, {len(blocking_failures(results))} blocking failed"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("build", "compare", "models", "quality"))
    parser.add_argument("--warehouse", type=Path, help="the DuckDB warehouse (built by tfm): build, compare")
    parser.add_argument("--dir", type=Path, required=True, help="the folder the Spark build writes to")
    parser.add_argument(
        "--raw-dir", type=Path, help="the parquet raw layer tfm ingest wrote (TFM_RAW_PARQUET_DIR)"
    )
    options = parser.parse_args(argv)
    folders = SparkFolders(options.dir)
    if options.command in ("models", "quality"):
        os.environ.update(folders.environment())
        if options.command == "models":
            run_models()
        else:
            run_quality(folders)
        return 0
    if options.warehouse is None:
        parser.error(f"{options.command} needs --warehouse")
    failed = False
    if options.command == "build":
        reason = java_missing()
        if reason:
            print(reason, file=sys.stderr)
            return 2
        results = build(
            options.warehouse, folders, log=lambda line: print(line, flush=True), raw_dir=options.raw_dir
        )
        print("\n".join(results.lines()))
        for name, message in results.errors:
            print(f"  ERROR {name}: {message}")
        checks = quality_results(folders)
        print("\n".join(check_lines(checks)))
        failed = bool(results.errors) or bool(blocking_failures(checks))
    comparisons = compare_marts(options.warehouse, folders.warehouse)
    print("\n".join(comparison_lines(comparisons)))
    return 0 if all(c.equal for c in comparisons) and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
