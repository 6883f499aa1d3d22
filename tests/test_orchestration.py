"""Dagster definitions load, and ingest + staging materialize end to end on a temporary warehouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
from click.testing import CliRunner

from orchestration.cli import main, run_build, run_ingest
from orchestration.ingest.warehouse import connect
from orchestration.settings import Settings, dbt_target
from tests.conftest import ATHENA_NOV, FOCUS_CSV, LEGACY_CSV, put


def test_dbt_target_follows_the_environment():
    assert dbt_target({}) == "dev"
    assert dbt_target({"CI": "true"}) == "ci"
    assert dbt_target({"CI": "true", "TFM_DBT_TARGET": "dev"}) == "dev"


def test_settings_default_under_tfm_home(tmp_path):
    settings = Settings.from_env({"TFM_HOME": str(tmp_path)})
    assert settings.warehouse == tmp_path / "warehouse.duckdb"
    assert settings.landing == tmp_path / "landing"
    assert Settings.from_env({"TFM_HOME": str(tmp_path), "TFM_LANDING": "/data/in"}).landing.as_posix() == "/data/in"


def test_definitions_load_as_one_graph(tfm_home):
    from orchestration.definitions import build_definitions

    defs = build_definitions(tfm_home)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/aws_cur_legacy", "raw/aws_cur_athena", "raw/aws_cur2", "raw/focus"} <= keys
    staging = dg.AssetKey(["staging", "stg_focus__charges"])
    assert staging in graph.get_all_asset_keys()
    assert dg.AssetKey(["raw", "focus"]) in graph.get(staging).parent_keys
    assert graph.get(dg.AssetKey(["raw", "focus"])).partitions_def is not None
    assert defs.resolve_sensor_def("landing_sensor") and defs.resolve_schedule_def("daily_ingest_schedule")
    assert defs.resolve_sensor_def("dead_runs_sensor")
    kpis = dg.AssetKey(["marts", "fct_finops_kpis"])
    assert {key.to_user_string() for key in graph.get(kpis).parent_keys} >= {
        "marts/fct_cost_allocation", "marts/fct_budget_burn", "marts/fct_cost_per_slo", "marts/fct_incident_costs",
        "marts/fct_commitment_kpis", "marts/fct_unit_economics",
    }


def test_every_public_fact_mart_feeds_a_declared_dashboard(tfm_home):
    from pathlib import Path

    from orchestration.defs.dbt import dbt_project

    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    read = {node for exposure in manifest["exposures"].values() for node in exposure["depends_on"]["nodes"]}
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    facts = {uid for uid, node in models.items() if node["name"].startswith("fct_") and node["access"] == "public"}
    assert len(facts) >= 10
    assert facts <= read, facts - read
    assert {models[uid]["schema"] for uid in read} == {"marts"}


def test_ingest_and_staging_materialize_through_dagster(tfm_home):
    put(tfm_home.landing, LEGACY_CSV)
    put(tfm_home.landing, FOCUS_CSV)
    assert run_ingest(tfm_home) == []
    assert run_build(tfm_home) == []
    con = connect(tfm_home.warehouse, read_only=True)
    try:
        raw = con.execute("SELECT count(*), sum(line_item_unblended_cost) FROM raw.aws_cur_legacy").fetchone()
        assert raw[0] == 1281
        staged = con.execute(
            "SELECT count(*) FROM staging.stg_aws_cur_legacy__line_items"
        ).fetchone()
        assert staged[0] == raw[0]
        assert con.execute("SELECT count(*) FROM staging.stg_focus__charges").fetchone()[0] == 1000
    finally:
        con.close()
    # The materializations are recorded per billing period in the Dagster instance.
    instance = dg.DagsterInstance.get()
    materialized = instance.get_materialized_partitions(dg.AssetKey(["raw", "focus"]))
    assert {"2024-09-01", "2024-10-01"} <= set(materialized)
    # A second ingest over unchanged files launches nothing.
    runs_before = len(instance.get_run_records())
    assert run_ingest(tfm_home) == []
    assert len(instance.get_run_records()) == runs_before


def test_landing_sensor_requests_changed_periods_once(tfm_home):
    from orchestration.defs.ingest import landing_sensor

    put(tfm_home.landing, LEGACY_CSV)
    put(tfm_home.landing, ATHENA_NOV)
    context = dg.build_sensor_context()
    requests = list(landing_sensor(context))
    by_partition = {r.partition_key: {k.to_user_string() for k in r.asset_selection} for r in requests}
    assert by_partition == {"2023-11-01": {"raw/aws_cur_legacy"}, "2018-11-01": {"raw/aws_cur_athena"}}
    cursor = context.cursor
    assert list(landing_sensor(dg.build_sensor_context(cursor=cursor))) == []
    # Removing a file asks for its period again.
    (tfm_home.landing / LEGACY_CSV.name).unlink()
    again = list(landing_sensor(dg.build_sensor_context(cursor=cursor)))
    assert [r.partition_key for r in again] == ["2023-11-01"]
    assert json.loads(cursor)


def test_daily_schedule_reloads_current_and_previous_month():
    from orchestration.defs.ingest import daily_ingest_schedule

    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 3, 2, 6, tzinfo=UTC))
    requests = list(daily_ingest_schedule(context))
    assert [r.partition_key for r in requests] == ["2026-02-01", "2026-03-01"]


def test_cli_reports_a_bad_file_and_exits_non_zero(tfm_home):
    put(tfm_home.landing, FOCUS_CSV)
    bad = tfm_home.landing / "broken.csv"
    bad.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == 1
    assert f"error: rejected {bad.resolve()}: unknown file shape" in result.output
    # Nothing is built, so nothing is published: the loaded rows are read live.
    unpublished = CliRunner().invoke(main, ["sql", "SELECT count(*) AS n FROM raw.focus"])
    assert unpublished.exit_code == 1 and "nothing is published yet" in unpublished.output
    ok = CliRunner().invoke(main, ["sql", "--live", "SELECT count(*) AS n FROM raw.focus"])
    assert ok.exit_code == 0 and "1000" in ok.output
    refused = CliRunner().invoke(main, ["sql", "--live", "DELETE FROM raw.focus"])
    assert refused.exit_code == 1 and "read-only" in refused.output.lower()


def test_a_selected_build_on_a_fresh_warehouse_runs_only_the_tests_it_can(tfm_home):
    """`tfm build --select` builds what it names and runs the tests whose every parent it built: a relationships
    test from the masking report to its seed (selected as an ancestor) is not run against a report never built."""
    put(tfm_home.landing, FOCUS_CSV)
    assert run_ingest(tfm_home) == []
    assert run_build(tfm_home, "+fct_showback_monthly") == []
    con = connect(tfm_home.warehouse, read_only=True)
    try:
        marts = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()}  # fmt: skip
        showback = con.execute("SELECT sum(total_cost) FROM marts.fct_showback_monthly").fetchone()[0]
        focus = con.execute("SELECT sum(EffectiveCost) FROM marts.fct_focus_charges").fetchone()[0]
    finally:
        con.close()
    assert {"fct_showback_monthly", "fct_cost_allocation", "fct_focus_charges"} <= marts
    assert "rpt_masked_tag_values" not in marts and "fct_finops_kpis" not in marts
    assert showback == focus
    assert not tfm_home.published.exists()  # a selected build publishes nothing
