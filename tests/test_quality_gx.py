"""The Great Expectations suites (orchestration/quality/expectations) on real and generated data: they pass on
the bundled real samples and a generated quarter's first two months with their business inputs (warning only
where the samples really are odd), each fails naming the expectation on data broken on purpose, the raw checks
run at ingest and a blocking one is reported, the mart checks run in tfm build, the per-period API the close
calls returns CheckResults and writes GX Data Docs, and a failing blocking check stops what depends on the mart
in our Dagster setup (our definitions, our in-process executor, our dbt assets)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.quality.suites import (
    QualityContext,
    TableSuite,
    run_period_suites,
    suite_for_table,
    table_suites,
    validate_table,
)
from tests.conftest import ATHENA_NOV, FOCUS_CSV, LEGACY_CSV, built_warehouse, put, tfm_environment

# The machine's clock does not decide which months are closed in these tests.
TODAY = date(2026, 12, 1)
FEB = date(2026, 2, 1)
# The real samples' own quirks, which the non-blocking period sections report: the legacy CUR sample stops on
# 14 November 2023, and the FOCUS sample's October 2024 is one Oracle charge dated 30 September.
SAMPLE_QUIRK_PERIODS = {"2023-11", "2024-10"}


def _generate(home: Path, landing: Path, *, rows: int, months: int, seed: int, business: bool) -> None:
    from orchestration.generator import GeneratorConfig, generate

    out = home / "generated"
    generate(GeneratorConfig(out=out, fmt="cur2", months=months, rows=rows, seed=seed, start="2026-01"))
    shutil.move(str(out / "cur2"), str(landing / "cur2"))
    if business:
        shutil.move(str(out / "business"), str(landing / "business"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Real samples (legacy CUR CSV, Athena parquet, FOCUS 1.0) and two generated CUR 2.0 months with the same
    company's invoices, unit drivers and SLIs (and the demo's incidents), ingested and built through Dagster:
    the raw checks ran at ingest, the mart checks in the build."""
    from orchestration.cli import DEMO_BUSINESS_DIR

    home = tmp_path_factory.mktemp("quality-gx")

    def populate(settings):
        put(settings.landing, LEGACY_CSV, "legacy/report.csv")
        put(settings.landing, ATHENA_NOV, "athena/year=2018/month=11/nov.parquet")
        put(settings.landing, FOCUS_CSV, "focus/focus.csv")
        _generate(home, settings.landing, rows=1_500, months=2, seed=11, business=True)
        put(settings.landing, DEMO_BUSINESS_DIR / "incidents.csv", "business/incidents.csv")

    with built_warehouse(home, populate) as settings:
        yield settings


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    from orchestration.ingest.warehouse import connect

    return connect(path, read_only=True)


def _failed(outcome, section: str) -> list[tuple[str, str | None]]:
    chosen = next(s for s in outcome.sections if s.section.name == section)
    return [(f["expectation"], f["column"]) for f in chosen.failures]


def _section(outcome, name: str):
    return next(s for s in outcome.sections if s.section.name == name)


# --- the suites pass on real and generated data ---------------------------------------------------------


def test_every_suite_has_a_query_and_a_check_for_each_section():
    from orchestration.defs.quality import quality_checks

    names = {s.name for s in table_suites()}
    landing = {"aws_cur_legacy", "aws_cur_athena", "aws_cur2", "focus", "invoices", "unit_drivers", "sli_daily",
               "incidents"}  # fmt: skip
    marts = {"fct_focus_charges", "fct_cost_allocation", "fct_showback_monthly", "fct_chargeback_monthly",
             "fct_budget_burn", "fct_finops_kpis", "fct_unit_economics"}  # fmt: skip
    assert names == {f"landing_{t}" for t in landing} | {f"mart_{t}" for t in marts}
    keys = {
        (key.asset_key.to_user_string(), key.name) for check in quality_checks for key in check.check_keys
    }
    for suite in table_suites():
        # What the marts' consumers read as the books blocks; the reports (budget burn, KPIs, unit
        # economics) warn on their values.
        books = suite.is_landing or suite.name in {
            "mart_fct_focus_charges",
            "mart_fct_cost_allocation",
            "mart_fct_showback_monthly",
            "mart_fct_chargeback_monthly",
        }
        assert suite.sections["schema"].blocking
        assert suite.sections["values"].blocking is books
        assert "period" not in suite.sections or not suite.sections["period"].blocking
        for section in suite.sections:
            assert ("/".join(suite.asset_key), f"gx_{section}") in keys


def test_suites_pass_on_the_real_samples_and_generated_data(built):
    """Every period of every table: the blocking sections pass; the period sections warn only on the samples'
    own gaps (never on a generated month)."""
    con = _connect(built.warehouse)
    context = QualityContext(None)
    try:
        seen = set()
        for suite in table_suites():
            outcome = validate_table(con, suite, context, today=TODAY)
            assert outcome.skipped is None, suite.name
            seen.add(suite.name)
            for section in outcome.sections:
                assert section.error is None, (suite.name, section.error)
                if section.section.blocking:
                    assert section.success, (suite.name, section.section.name, section.summary())
                else:
                    offending = {section.frame.iloc[i]["billing_period"] for i in section.offending_rows}
                    assert offending <= SAMPLE_QUIRK_PERIODS, (suite.name, section.summary())
    finally:
        con.close()
    assert len(seen) == len(table_suites())


def test_the_samples_quirks_are_warned_not_blocked(built):
    con = _connect(built.warehouse)
    context = QualityContext(None)
    try:
        legacy = validate_table(con, suite_for_table("raw.aws_cur_legacy"), context, period=date(2023, 11, 1),
                                today=TODAY)  # fmt: skip
        focus = validate_table(
            con, suite_for_table("raw.focus"), context, period=date(2024, 10, 1), today=TODAY
        )
    finally:
        con.close()
    assert _failed(legacy, "period") == [("expect_column_values_to_be_between", "days_missing_at_end")]
    assert _section(legacy, "period").status == "warn"
    assert _section(legacy, "period").frame.iloc[0]["days_missing_at_end"] == 16  # last charge day: the 14th
    assert set(_failed(focus, "period")) == {
        ("expect_column_values_to_be_between", column)
        for column in ("row_count_ratio", "cost_ratio", "days_missing_at_end", "rows_dated_before_period")
    }
    assert [r.status for r in focus.check_results()] == ["pass", "pass", "warn"]


# --- the per-period API of the close, and the Data Docs ----------------------------------------------------


def test_run_period_suites_returns_check_results_and_writes_data_docs(built):
    con = _connect(built.warehouse)
    try:
        results = run_period_suites(con, FEB, built.data_docs, today=TODAY)
        # A family with no rows in the period is skipped: November 2018 has only the Athena sample.
        landing = [s for s in table_suites() if s.is_landing]
        november = run_period_suites(con, date(2018, 11, 1), None, suites=landing, today=TODAY)
    finally:
        con.close()
    by_name = {r.name: r for r in results}
    # February 2026 has generated bills and business inputs: every landing table but the real samples'.
    expected = {s.name for s in table_suites()} - {"landing_aws_cur_legacy", "landing_aws_cur_athena",
                                                     "landing_focus"}  # fmt: skip
    assert {name.split(":")[1].rsplit(".", 1)[0] for name in by_name} == expected
    for suite in table_suites():
        for section in suite.sections.values():
            result = by_name.get(f"gx:{suite.suite_name(section.name)}")
            if result is None:
                continue
            assert (
                result.layer == "gx" and result.billing_period == "2026-02" and result.target == suite.table
            )
            assert result.blocking is section.blocking and result.description == section.description
            assert result.status == "pass", (result.name, result.value)
            assert result.value and result.threshold and result.sample == []
    assert {r.name.split(":")[1].rsplit(".", 1)[0] for r in november} == {"landing_aws_cur_athena"}
    # GX's own Data Docs: a filesystem site beside the context's stores, listing every suite validated.
    index = built.data_docs / "index.html"
    assert index.is_file() and (built.quality_dir / "gx" / "great_expectations.yml").is_file()
    html = index.read_text(encoding="utf-8")
    for name in by_name:
        assert name.removeprefix("gx:") in html
    assert list((built.data_docs / "validations" / "landing_aws_cur2" / "values").rglob("*.html"))


def test_tfm_ingest_and_build_ran_the_checks(built):
    """The raw checks ran per partition at ingest and the mart checks in tfm build, and passed or warned."""
    import dagster as dg

    with tfm_environment(built.home):
        instance = dg.DagsterInstance.get()
        storage = instance.event_log_storage
        raw = dg.AssetCheckKey(dg.AssetKey(["raw", "aws_cur2"]), "gx_values")
        runs = storage.get_asset_check_execution_history(raw, limit=10)
        assert {r.partition for r in runs} >= {"2026-01", "2026-02"}
        for table in ("fct_focus_charges", "fct_cost_allocation", "fct_showback_monthly", "fct_finops_kpis"):
            key = dg.AssetCheckKey(dg.AssetKey(["marts", table]), "gx_values")
            latest = storage.get_latest_asset_check_execution_by_key([key])[key]
            evaluation = latest.event.dagster_event.event_specific_data
            assert evaluation.passed, (table, evaluation.metadata.get("result"))
            assert evaluation.metadata["rows"].value > 0


# --- each suite fails, naming the expectation, on data broken on purpose -----------------------------------

# (suite, period, section, expectation, column): what each break below must make fail.
BROKEN = [
    ("landing_aws_cur_legacy", "2023-11", "values", "expect_column_values_to_match_regex", "usage_account_id"),
    ("landing_aws_cur_athena", "2018-11", "values", "expect_column_values_to_be_in_set", "line_item_type"),
    ("landing_aws_cur2", "2026-02", "values", "expect_column_values_to_match_regex", "currency"),
    ("landing_aws_cur2", "2026-02", "period", "expect_column_values_to_be_between", "cost_ratio"),
    ("landing_focus", "2024-09", "values", "expect_column_values_to_be_in_set", "charge_category"),
    ("landing_invoices", "2026-02", "values", "expect_column_values_to_be_between", "duplicate_invoice_ids"),
    ("landing_unit_drivers", "2026-02", "values", "expect_column_values_to_be_between", "transactions"),
    ("landing_unit_drivers", "2026-02", "period", "expect_column_values_to_be_between", "days_missing_at_end"),
    ("landing_sli_daily", "2026-02", "values", "expect_column_pair_values_a_to_be_greater_than_b",
     "total_events vs good_events"),
    ("landing_incidents", "2026-02", "values", "expect_column_pair_values_a_to_be_greater_than_b",
     "ended_at vs started_at"),
    ("mart_fct_focus_charges", "2026-02", "values", "expect_column_values_to_be_in_set", "charge_frequency"),
    ("mart_fct_cost_allocation", "2026-02", "values", "expect_column_values_to_be_between",
     "effective_cost_residual"),
    ("mart_fct_showback_monthly", "2026-02", "values", "expect_column_values_to_be_between", "total_residual"),
    ("mart_fct_chargeback_monthly", "2026-02", "schema", "expect_column_distinct_values_to_equal_set", "column"),
    ("mart_fct_budget_burn", "2026-02", "values", "expect_column_values_to_be_in_set", "alert_level"),
    ("mart_fct_finops_kpis", "2026-02", "values", "expect_column_values_to_be_between", "unallocated_pct"),
    ("mart_fct_unit_economics", "2026-02", "values", "expect_column_values_to_be_between", "month_minus_days"),
]  # fmt: skip

BREAKS = """
UPDATE raw.aws_cur_legacy SET line_item_usage_account_id = substr(line_item_usage_account_id, 2)
    WHERE _source_row % 50 = 0;
UPDATE raw.aws_cur_athena SET line_item_line_item_type = 'SurpriseDiscount' WHERE _source_row % 97 = 0;
UPDATE raw.aws_cur2 SET line_item_currency_code = lower(line_item_currency_code)
    WHERE _billing_period = DATE '2026-02-01' AND _source_row % 40 = 0;
UPDATE raw.aws_cur2 SET line_item_unblended_cost = line_item_unblended_cost * 50
    WHERE _billing_period = DATE '2026-02-01';
UPDATE raw.focus SET ChargeCategory = 'Discount' WHERE _billing_period = DATE '2024-09-01' AND _source_row % 30 = 0;
INSERT INTO raw.invoices SELECT * FROM raw.invoices WHERE _billing_period = DATE '2026-02-01' LIMIT 1;
UPDATE raw.unit_drivers SET transactions = -transactions - 1
    WHERE _billing_period = DATE '2026-02-01' AND _source_row % 7 = 0;
DELETE FROM raw.unit_drivers WHERE "date" >= DATE '2026-02-20';
UPDATE raw.sli_daily SET good_events = total_events + 1 WHERE _billing_period = DATE '2026-02-01' AND _source_row % 9 = 0;
UPDATE raw.incidents SET ended_at = started_at - INTERVAL 1 HOUR WHERE _billing_period = DATE '2026-02-01';
UPDATE marts.fct_focus_charges SET ChargeFrequency = 'Usage-based'
    WHERE x_billing_period = DATE '2026-02-01' AND x_source_row % 25 = 0;
UPDATE marts.fct_cost_allocation SET effective_cost = effective_cost + 1
    WHERE billing_period_start = DATE '2026-02-01' AND team = 'platform';
UPDATE marts.fct_showback_monthly SET total_cost = total_cost + 0.01 WHERE billing_period_start = DATE '2026-02-01';
ALTER TABLE marts.fct_chargeback_monthly ALTER total_cost TYPE DOUBLE;
UPDATE marts.fct_budget_burn SET alert_level = 'critical' WHERE billing_period_start = DATE '2026-02-01' AND is_latest;
UPDATE marts.fct_finops_kpis SET unallocated_pct = 150 WHERE billing_period_start = DATE '2026-02-01' AND scope = 'organization';
UPDATE marts.fct_unit_economics SET effective_cost = effective_cost + 5
    WHERE period_grain = 'month' AND period_start = DATE '2026-02-01';
"""


@pytest.fixture(scope="module")
def broken(built, tmp_path_factory) -> Path:
    """A copy of the built warehouse with one thing broken in each table (BREAKS)."""
    copy = tmp_path_factory.mktemp("quality-gx-broken") / "warehouse.duckdb"
    shutil.copy2(built.warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute(BREAKS)
    finally:
        con.close()
    return copy


@pytest.mark.parametrize("suite_name, period, section, expectation, column", BROKEN,
                         ids=[f"{b[0]}.{b[2]}" for b in BROKEN])  # fmt: skip
def test_each_suite_fails_on_data_broken_on_purpose(broken, suite_name, period, section, expectation, column):
    suite: TableSuite = next(s for s in table_suites() if s.name == suite_name)
    con = _connect(broken)
    try:
        outcome = validate_table(con, suite, QualityContext(None), period=date.fromisoformat(f"{period}-01"),
                                 today=TODAY)  # fmt: skip
    finally:
        con.close()
    checked = _section(outcome, section)
    assert (expectation, column) in _failed(outcome, section), checked.summary()
    assert checked.status == ("fail" if checked.section.blocking else "warn")
    result = next(r for r in outcome.check_results() if r.name == f"gx:{suite_name}.{section}")
    assert result.status == checked.status and result.blocks is checked.section.blocking
    assert column.split(" vs ")[0] in result.threshold and column.split(" vs ")[0] in result.value
    if section == "schema":  # the column whose type changed, as the table has it
        assert "total_cost DOUBLE" in result.value and "total_cost DECIMAL(38,18)" in result.threshold
        assert [(row["column_name"], row["data_type"]) for row in result.sample] == [("total_cost", "DOUBLE")]
    else:  # the offending groups or rows, as dicts
        assert result.sample and all(row["billing_period"] == period for row in result.sample)


# --- a blocking check at ingest, and one that stops what depends on a mart ---------------------------------


def _lose_leading_digit(path: Path, column: str) -> None:
    """Rewrite a CUR 2.0 parquet file with ``column`` cut to 11 digits (a spreadsheet dropping a leading 0)."""
    con = duckdb.connect()
    try:
        temporary = path.with_name(path.name + ".tmp")
        con.execute(
            f"COPY (SELECT * REPLACE (substr({column}, 2) AS {column}) FROM read_parquet(?)) TO '{temporary}' "
            "(FORMAT parquet)",
            [str(path)],
        )
    finally:
        con.close()
    temporary.replace(path)


def test_a_failing_blocking_raw_check_is_reported_by_tfm_ingest(tmp_path):
    from orchestration.cli import run_ingest

    with tfm_environment(tmp_path / "home") as settings:
        _generate(tmp_path, settings.landing, rows=1_100, months=1, seed=3, business=False)
        files = sorted((settings.landing / "cur2").rglob("*.parquet"))
        assert files
        _lose_leading_digit(files[0], "bill_payer_account_id")
        problems = run_ingest(settings)
    failed = [p for p in problems if p.startswith("quality check failed: raw/aws_cur2 gx_values")]
    assert len(failed) == 1 and "payer_account_id" in failed[0], problems
    assert str(settings.data_docs / "index.html") in failed[0]
    assert "landing_aws_cur2.values" in (settings.data_docs / "index.html").read_text(encoding="utf-8")


def test_a_failing_blocking_mart_check_stops_what_depends_on_the_mart(built, tmp_path):
    """Our definitions and executor: a payer account that lost its leading digit reaches
    marts.fct_focus_charges (dbt's tests pass: none reads that id), whose blocking GX check fails, so the
    anomaly model that reads the mart is not materialized."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.defs.dbt import dbt_resource, dbt_selection, tfm_dbt_models
    from orchestration.defs.predictions import ANOMALIES, prediction_assets
    from orchestration.defs.quality import checks_for, mart_quality_checks
    from orchestration.defs.resources import TfmWarehouse

    home = tmp_path / "home"
    with tfm_environment(home) as settings:
        shutil.copy2(built.warehouse, settings.warehouse)
        con = duckdb.connect(str(settings.warehouse))
        try:
            con.execute("UPDATE raw.aws_cur2 SET bill_payer_account_id = substr(bill_payer_account_id, 2) "
                        "WHERE _billing_period = DATE '2026-02-01'")  # fmt: skip
        finally:
            con.close()
        assets = [tfm_dbt_models, *prediction_assets]
        resources = {"dbt": dbt_resource(), "warehouse": TfmWarehouse.from_settings(settings)}
        # The dbt models from CUR 2.0's staging view to the FOCUS mart, and the anomaly model reading the
        # mart; with the GX checks of the marts selected, as tfm build selects them (each model with its own
        # checks: not a conservation test on a mart outside the selection that reads the FOCUS mart).
        dbt = dbt_selection("stg_aws_cur2__line_items+,+fct_focus_charges")
        selection = dbt | dg.AssetSelection.assets(ANOMALIES)
        selection = selection | checks_for(selection, assets, resources)
        # The code location's jobs run the checks too: the sensor's and schedule's ingest, tfm ui's build.
        definitions = build_definitions(settings)
        for job, kind in (("ingest", "landing_"), ("build", "mart_")):
            nodes = {node.name for node in definitions.resolve_job_def(job).nodes}
            assert {f"gx_{s.name}" for s in table_suites() if s.name.startswith(kind)} <= nodes, job
        result = dg.materialize(
            [*assets, *mart_quality_checks],
            selection=selection,
            instance=dg.DagsterInstance.get(),
            resources=resources,
            raise_on_error=False,
            # raw was edited behind the ingest ledger's back: an incremental build would not see it
            run_config={"ops": {"tfm_dbt_models": {"config": {"full_refresh": True}}}},
        )
        plan = dg.DagsterInstance.get().get_execution_plan_snapshot(
            result.dagster_run.execution_plan_snapshot_id
        )
    focus = dg.AssetKey(["marts", "fct_focus_charges"])
    # The run was planned to build them all: the dbt models to the FOCUS mart, its checks, the anomaly model.
    planned = {step.key for step in plan.steps}
    assert planned == {"tfm_dbt_models", "gx_mart_fct_focus_charges", "ml__cost_anomalies"}
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert focus in materialized
    evaluations = {(e.asset_key, e.check_name): e for e in result.get_asset_check_evaluations()}
    values = evaluations[(focus, "gx_values")]
    assert not values.passed and values.severity == dg.AssetCheckSeverity.ERROR
    failing = values.metadata["failing_expectations"].value
    assert [(f["expectation"], f["column"]) for f in failing] == [
        ("expect_column_values_to_match_regex", "cur_billing_account_id")
    ]
    assert evaluations[(focus, "gx_schema")].passed
    # Blocked: the model reading the mart did not run.
    assert ANOMALIES not in materialized
    started = {event.step_key for event in result.all_events if event.event_type_value == "STEP_START"}
    assert started == {"tfm_dbt_models", "gx_mart_fct_focus_charges"}
    assert not result.success


def test_great_expectations_imports_in_a_process_without_a_main_file():
    """pyspark (the spark extra) ends a process whose __main__ has no file (python -c, pytest-xdist's workers) with
    exit status 0 when Great Expectations imports its Connect DataFrame and Connect's dependencies are missing:
    every suite would silently stop the build. The spark extra installs them (pyspark[connect])."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import great_expectations, orchestration.quality.suites; print('imported')"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "imported", done.stderr[-2000:]
