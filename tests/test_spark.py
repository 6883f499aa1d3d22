"""The dbt project on a local Apache Spark session, over the real samples and one generated month, against DuckDB.

The warehouse is built by tfm on DuckDB (ingest, dbt, the Python models); ingest also writes the raw layer as
parquet partitioned by billing period (``TFM_RAW_PARQUET_DIR``), and the same dbt project is built on Spark from
those folders, the Python models included. Every public mart must have
the same rows and the same money, to the cent, on both engines.

These are the only tests allowed to skip: on a machine without a Java runtime, with one line naming the
package. pyspark and dbt-spark are the ``spark`` extra of the test command's install: missing, the tests fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.console import dbt_results_of
from orchestration.quality.checks import blocking_failures
from orchestration.quoting import lit
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.spark import (
    SparkFolders,
    check_lines,
    compare_marts,
    comparison_lines,
    java_missing,
    quality_results,
    run_dbt,
)
from orchestration.spark_raw import export_raw_layer, register_raw_tables
from tests.conftest import built_warehouse

TFM = str(Path(sys.executable).with_name("tfm"))

pytestmark = pytest.mark.skipif(java_missing() is not None, reason=java_missing() or "")


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    """(DuckDB settings, Spark folders, dbt's results on Spark, the tfm spark build run): the samples and a generated
    month built by tfm on DuckDB, then by ``tfm spark build --compare`` on Spark, as a user runs them."""
    import pyspark  # noqa: F401  the spark extra: fail here, before building anything, when it is missing

    from orchestration.cli import DEMO_BUSINESS_DIR, _copy_samples
    from orchestration.generator import GeneratorConfig, generate

    home = tmp_path_factory.mktemp("spark")

    def populate(settings):
        _copy_samples(settings)
        generated = home / "generated"
        generate(GeneratorConfig(out=generated, fmt="cur2", months=1, rows=5_000, seed=13, start="2026-02"))
        shutil.move(str(generated / "cur2"), str(settings.landing / "cur2"))
        for source in DEMO_BUSINESS_DIR.iterdir():
            shutil.copy2(source, generated / "business" / source.name)
        shutil.move(str(generated / "business"), str(settings.landing / "business"))

    # Ingest writes the parquet raw layer itself, period by period; Spark reads those folders (no export).
    raw_dir = home / "parquet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFM_RAW_PARQUET_DIR", str(raw_dir))
        with built_warehouse(home / "tfm", populate) as settings:
            environment = {**os.environ, "TFM_HOME": str(settings.home), "TFM_RAW_PARQUET_DIR": str(raw_dir)}
            environment.pop("TFM_DBT_TARGET", None)
            done = subprocess.run(
                [TFM, "spark", "build", "--compare"],
                env=environment, capture_output=True, text=True, check=False, timeout=3000,
            )  # fmt: skip
            folders = SparkFolders(settings.home / "spark")
            steps = [folders.target / "1-before-models", folders.target / "2-after-models"]
            if not all((step / "run_results.json").is_file() for step in steps):
                pytest.fail(
                    f"tfm spark build did not get through dbt:\n{(done.stdout + done.stderr)[-6000:]}"
                )
            yield settings, folders, dbt_results_of(steps), done


def spark_error(message: str) -> str:
    """A failed node's message without the JVM's stack (dbt's message is one line): up to its first frame."""
    for frame in (" at org.", " at java.", " at scala.", " at sun."):
        message = message.split(frame, 1)[0]
    return message[:800]


def test_every_model_seed_and_data_test_passes_on_spark(both_engines):
    settings, _, results, _ = both_engines
    assert results.errors == [], "\n".join(
        f"{name}: {spark_error(message)}" for name, message in results.errors
    )
    assert results.counts.get("PASS", 0) > 400, results.lines()
    assert results.counts.get("SKIP", 0) == 0, results.lines()
    # dbt's unit tests run too, every one of them (their fixtures are written for both engines).
    ran = [r for file in results.files for r in json.loads(file.read_text())["results"]]
    unit_tests = [r["unique_id"] for r in ran if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 25, unit_tests
    # What warns on Spark is what warned in the DuckDB build of the same warehouse (the only dbt run it had).
    duckdb_results = dbt_results_of(sorted(p for p in settings.dbt_target_dir.iterdir() if p.is_dir()))
    assert duckdb_results.errors == [] and duckdb_results.files, duckdb_results.lines()
    assert sorted(name for name, _, _ in results.warnings) == sorted(
        name for name, _, _ in duckdb_results.warnings
    ), results.lines() + duckdb_results.lines()


def test_tfm_spark_build_reports_the_build_the_checks_and_the_comparison(both_engines):
    """``tfm spark build --compare`` exits 0 on a good build, with a line per step, dbt's counts, the quality checks
    and the comparison; nothing is exported (the raw layer is ingest's parquet)."""
    _, folders, _, done = both_engines
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    for step in ("register raw tables", "dbt build before the models", "python models", "quality checks"):
        assert re.search(rf"^step {step}: [\d.]+ s$", output, re.MULTILINE), output[-6000:]
    assert "step export raw layer" not in output and not folders.raw.exists()
    checks = re.search(r"^quality checks: (\d+) of (\d+) passed, 0 blocking failed$", output, re.MULTILINE)
    assert checks and int(checks.group(2)) >= 14, output[-6000:]
    equal = re.search(r"^(\d+) of (\d+) marts equal", output, re.MULTILINE)
    assert equal and equal.group(1) == equal.group(2) and int(equal.group(2)) >= 19, output[-6000:]


def test_tfm_refuses_spark_where_it_drives_duckdb(tmp_path):
    """tfm build and close build the DuckDB warehouse: with the spark target they stop, pointing at tfm spark build;
    tfm spark build runs a local session and points cluster users at dbt."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TFM_", "DAGSTER_HOME", "DBT_"))}
    environment["TFM_HOME"] = str(tmp_path / "tfm")
    for args, extra, expected in (
        (["build"], {"TFM_DBT_TARGET": "spark"}, "build on Spark with 'tfm spark build'"),
        (
            ["close", "--period", "2026-01"],
            {"TFM_DBT_TARGET": "spark"},
            "build on Spark with 'tfm spark build'",
        ),
        (["spark", "build"], {"TFM_SPARK_METHOD": "thrift"}, "on a cluster, build with dbt itself"),
    ):
        done = subprocess.run(
            [TFM, *args], env={**environment, **extra}, capture_output=True, text=True, check=False
        )
        assert done.returncode == 1 and expected in done.stderr, (args, done.stderr)


def test_every_public_mart_has_the_same_rows_and_money_on_both_engines(both_engines):
    settings, folders, results, _ = both_engines
    comparisons = compare_marts(settings.warehouse, folders.warehouse)
    # A mart missing on Spark is one that failed or was skipped there: the failures say why.
    report = "\n".join(
        comparison_lines(comparisons)
        + [f"{name}: {spark_error(message)}" for name, message in results.errors]
    )
    assert len(comparisons) >= 19, report
    assert all(c.equal for c in comparisons), report
    # Not vacuous: the marts carry the samples' and the generated month's rows and money.
    by_table = {c.table: c for c in comparisons}
    assert by_table["fct_focus_charges"].rows_duckdb > 5_000, report
    assert by_table["fct_focus_charges"].money_columns >= 4, report
    assert by_table["fct_cost_allocation"].rows_spark > 0, report


def test_the_python_models_run_on_spark_and_agree_with_duckdb(both_engines):
    """The forecasts and anomalies the Spark build publishes are the Python models' own run on Spark (its ml
    tables, a forecast date per partition), not DuckDB's exported: the same forecasts and episodes."""
    import duckdb

    settings, folders, _, _ = both_engines
    ml = folders.warehouse / "ml.db"
    dates = {p.name.split("=", 1)[1] for p in (ml / "cost_forecasts").glob("forecast_date=*")}
    assert not folders.raw.exists()  # nothing was exported from DuckDB: the raw layer is ingest's
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        duck_dates = {
            str(row[0])
            for row in con.execute("select distinct forecast_date from ml.cost_forecasts").fetchall()
        }
        assert duck_dates and dates == duck_dates, sorted(ml.rglob("*"))
        forecasts = "select forecast_date, series_level, series_key, currency, ds, model, mean, hi_95 from {}"
        duck = con.execute(forecasts.format("ml.cost_forecasts") + " order by all").fetchall()
        spark = con.execute(
            forecasts.format(
                f"read_parquet({lit(str(ml / 'cost_forecasts' / '**' / '*.parquet'))}, hive_partitioning = true)"
            )
            + " order by all"
        ).fetchall()
        anomalies = (
            "select anomaly_id, start_date, end_date, severity, impact, root_causes from {} order by all"
        )
        duck_anomalies = con.execute(anomalies.format("ml.cost_anomalies")).fetchall()
        spark_anomalies = con.execute(
            anomalies.format(f"read_parquet({lit(str(ml / 'cost_anomalies' / '*.parquet'))})")
        ).fetchall()
    finally:
        con.close()
    assert len(duck) > 100 and len(spark) == len(duck)
    for d, s in zip(duck, spark, strict=True):
        assert (
            (str(d[0]), *d[1:6]) == (str(s[0]), *s[1:6])
            and abs(d[6] - s[6]) < 1e-6
            and abs(d[7] - s[7]) < 1e-6
        )
    assert [(a[0], a[3], round(a[4], 6), a[5]) for a in spark_anomalies] == [
        (a[0], a[3], round(a[4], 6), a[5]) for a in duck_anomalies
    ]


def test_the_comparison_notices_a_mart_that_differs(both_engines, tmp_path):
    """The comparison itself can fail: a mart missing on Spark, or a cent moved on every row of one file."""
    import duckdb

    settings, folders, _, _ = both_engines
    altered = tmp_path / "warehouse"
    shutil.copytree(folders.warehouse / "marts.db", altered / "marts.db")
    shutil.rmtree(altered / "marts.db" / "dim_services")
    table = altered / "marts.db" / "fct_focus_charges"
    files = sorted(table.rglob("*.parquet"))
    con = duckdb.connect()
    first = files[0]
    copy = tmp_path / "first.parquet"
    shutil.copy2(first, copy)
    con.execute(
        "copy (select * replace (BilledCost + 0.01 as BilledCost) from read_parquet(?)) to '"
        + str(first).replace("'", "''")
        + "' (format parquet)",
        [str(copy)],
    )
    by_table = {c.table: c for c in compare_marts(settings.warehouse, altered)}
    assert not by_table["fct_focus_charges"].equal
    assert "BilledCost" in by_table["fct_focus_charges"].differing_columns
    assert by_table["dim_services"].rows_spark is None and not by_table["dim_services"].equal


def test_the_marts_great_expectations_suites_run_on_spark_as_on_duckdb(both_engines):
    """The Spark build ends with the marts' GX suites on Spark's tables (the suites' DuckDB SQL transpiled): every
    section ran, the schema contracts hold in Spark's types, and each section ends as it does on DuckDB."""
    import duckdb

    from orchestration.quality.suites import QualityContext, table_suites, validate_table

    settings, folders, _, _ = both_engines
    spark = {r.name: r for r in quality_results(folders)}
    suites = [suite for suite in table_suites() if not suite.is_landing]
    assert len(spark) >= 2 * len(suites) >= 14, sorted(spark)
    assert (folders.quality / "data_docs" / "index.html").is_file()
    errors = [f"{r.name}: {r.value}" for r in spark.values() if r.status == "error"]
    assert errors == [], errors
    assert blocking_failures(list(spark.values())) == [], check_lines(list(spark.values()))
    assert all(spark[f"gx:{suite.name}.schema"].passed for suite in suites), check_lines(list(spark.values()))
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        context = QualityContext(None)
        duck = {r.name: r for suite in suites for r in validate_table(con, suite, context).check_results()}
    finally:
        con.close()
    assert sorted(spark) == sorted(duck)
    differing = [f"{name}: spark {spark[name].value} / duckdb {duck[name].value}" for name in duck
                 if spark[name].status != duck[name].status]  # fmt: skip
    assert differing == []
    assert any(r.status == "warn" for r in duck.values())  # not vacuous: the samples' months warn on volume


def test_a_blocking_check_that_fails_on_spark_fails_the_build(both_engines, tmp_path):
    """One mart's rows altered on Spark (a unit added to every team's total): its values suite fails, blocking."""
    import duckdb

    _, folders, _, _ = both_engines
    table = folders.warehouse / "marts.db" / "fct_showback_monthly"
    files = sorted(table.rglob("*.parquet"))
    assert len(files) == 1, files
    original = tmp_path / "original.parquet"
    shutil.copy2(files[0], original)
    # Spark's local file system checks a file against its .crc beside it: the rewritten file goes without one.
    checksum = files[0].with_name(f".{files[0].name}.crc")
    shutil.copy2(checksum, tmp_path / "original.crc")
    kept = folders.quality / "results.json"
    shutil.copy2(kept, tmp_path / "results.json")
    try:
        checksum.unlink()
        con = duckdb.connect()
        con.execute(
            "copy (select * replace (total_cost + 1 as total_cost) from read_parquet(?)) to "
            + lit(str(files[0]))
            + " (format parquet)",
            [str(original)],
        )
        con.close()
        done = subprocess.run(
            [sys.executable, "-m", "orchestration.spark", "quality", "--dir", str(folders.root)],
            cwd=folders.root, env=folders.environment(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        results = quality_results(folders)
    finally:
        shutil.copy2(original, files[0])
        shutil.copy2(tmp_path / "original.crc", checksum)
        shutil.copy2(tmp_path / "results.json", kept)
    failed = [r.name for r in blocking_failures(results)]
    assert failed == ["gx:mart_fct_showback_monthly.values"], check_lines(results)
    assert any(line.startswith("FAIL gx:mart_fct_showback_monthly.values") for line in check_lines(results))
    assert "total_residual" in next(r.value for r in results if r.name == failed[0])


UNION_PROBE = """
import contextlib, io, json, sys, threading
from orchestration.spark import spark_session

session = spark_session({"TFM_SPARK_WAREHOUSE": sys.argv[2], "TFM_SPARK_METASTORE": sys.argv[3]})
session.sparkContext.setLogLevel("OFF")
sql = open(sys.argv[1]).read()
plan = io.StringIO()
with contextlib.redirect_stdout(plan):
    session.sql(sql).explain()
counts = {"deserialization": 0, "other": [], "ok": 0}
lock = threading.Lock()

def run():
    for _ in range(10):
        try:
            session.sql(sql).collect()
            with lock:
                counts["ok"] += 1
        except Exception as exc:
            with lock:
                if "DefaultSerializationProxy" in str(exc):
                    counts["deserialization"] += 1
                else:
                    counts["other"].append(str(exc)[:300])

threads = [threading.Thread(target=run) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
session.stop()
print(json.dumps({**counts, "plan": plan.getvalue()}))
"""


def test_the_profile_keeps_unions_out_of_whole_stage_codegen(both_engines, tmp_path):
    """Spark 4.3 fuses a union into whole-stage codegen, and a task whose fused plan holds a union then fails now and
    then to deserialize (DefaultSerializationProxy; about half of the runs of this unit test's query with the fusion
    on). The profile turns the fusion off: the query's plan keeps its union outside codegen and 20 runs on two
    threads all pass."""
    _, folders, _, _ = both_engines
    compiled = list((folders.target / "1-before-models" / "compiled").rglob(
        "incident_cost_against_the_same_weekday_baseline.sql"
    ))  # fmt: skip
    assert len(compiled) == 1, compiled
    probe = tmp_path / "probe.py"
    probe.write_text(UNION_PROBE)
    done = subprocess.run(
        [sys.executable, str(probe), str(compiled[0]), str(tmp_path / "warehouse"), str(tmp_path / "metastore")],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    unions = re.findall(r"^[\s:+-]*(\*\(\d+\) )?Union\b", result["plan"], re.MULTILINE)
    assert unions and not any(unions), result["plan"]
    assert (result["deserialization"], result["other"], result["ok"]) == (0, [], 20), result


def _spark_periods(folders, table: str, column: str) -> set[str]:
    return {p.name.split("=", 1)[1] for p in (folders.warehouse / "marts.db" / table).glob(f"{column}=*")}


def test_a_billing_period_whose_rows_all_disappear_is_removed_on_spark(both_engines, tmp_path):
    """Spark's insert overwrite replaces only the partitions its new rows fall in: a period whose raw rows are gone
    must go from the incremental models too, when its period is listed and when every period is rebuilt.
    The last test of the module: it changes the Spark build."""
    import duckdb

    settings, folders, _, _ = both_engines
    before = _spark_periods(folders, "fct_focus_charges", "x_billing_period")
    assert {"2018-10-01", "2018-11-01"} <= before  # the Athena sample's two months
    pruned = tmp_path / "pruned.duckdb"
    shutil.copy2(settings.warehouse, pruned)

    def prune_and_rebuild(period: str, *dbt_vars: str) -> None:
        con = duckdb.connect(str(pruned))
        con.execute("delete from raw.aws_cur_athena where _billing_period = cast(? as date)", [period])
        con.close()
        register_raw_tables(
            export_raw_layer(pruned, folders.raw),
            project_dir=DBT_PROJECT_DIR,
            profiles_dir=REPO_ROOT,
            env=folders.environment(),
            cwd=folders.root,
        )
        done = run_dbt(folders, "run", "--select", "+fct_focus_charges", "+fct_cost_allocation", *dbt_vars)
        assert done.returncode == 0, done.stdout[-4000:]

    # A listed period (tfm_periods): its partitions are dropped before the insert.
    prune_and_rebuild("2018-11-01", "--vars", "{tfm_periods: ['2018-11']}")
    assert _spark_periods(folders, "fct_focus_charges", "x_billing_period") == before - {"2018-11-01"}
    assert "2018-11-01" not in _spark_periods(folders, "fct_cost_allocation", "billing_period_start")
    # Every period (no list): the whole table is overwritten.
    prune_and_rebuild("2018-10-01")
    assert _spark_periods(folders, "fct_focus_charges", "x_billing_period") == before - {
        "2018-10-01",
        "2018-11-01",
    }
    assert "2018-10-01" not in _spark_periods(folders, "fct_cost_allocation", "billing_period_start")
