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
import shutil

import pytest

from orchestration.console import dbt_results_of
from orchestration.quoting import lit
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT
from orchestration.spark import SparkFolders, build, compare_marts, comparison_lines, java_missing, run_dbt
from orchestration.spark_raw import export_raw_layer, register_raw_tables
from tests.conftest import built_warehouse

pytestmark = pytest.mark.skipif(java_missing() is not None, reason=java_missing() or "")


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    """(DuckDB settings, Spark folders, dbt's results on Spark): the samples and a generated month built on both."""
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
            folders = SparkFolders(home / "spark")
            results = build(settings.warehouse, folders, raw_dir=raw_dir)
            yield settings, folders, results


def spark_error(message: str) -> str:
    """A failed node's message without the JVM's stack (dbt's message is one line): up to its first frame."""
    for frame in (" at org.", " at java.", " at scala.", " at sun."):
        message = message.split(frame, 1)[0]
    return message[:800]


def test_every_model_seed_and_data_test_passes_on_spark(both_engines):
    settings, _, results = both_engines
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


def test_every_public_mart_has_the_same_rows_and_money_on_both_engines(both_engines):
    settings, folders, results = both_engines
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

    settings, folders, _ = both_engines
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

    settings, folders, _ = both_engines
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


def _spark_periods(folders, table: str, column: str) -> set[str]:
    return {p.name.split("=", 1)[1] for p in (folders.warehouse / "marts.db" / table).glob(f"{column}=*")}


def test_a_billing_period_whose_rows_all_disappear_is_removed_on_spark(both_engines, tmp_path):
    """Spark's insert overwrite replaces only the partitions its new rows fall in: a period whose raw rows are gone
    must go from the incremental models too, when its period is listed and when every period is rebuilt.
    The last test of the module: it changes the Spark build."""
    import duckdb

    settings, folders, _ = both_engines
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
