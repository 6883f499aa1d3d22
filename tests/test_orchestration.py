"""Dagster definitions load, and ingest + staging materialize end to end on a temporary warehouse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import dagster as dg
from click.testing import CliRunner

from orchestration.cli import main, run_build, run_ingest
from orchestration.ingest.warehouse import connect
from orchestration.settings import Settings, dbt_target
from tests.conftest import ATHENA_NOV, FOCUS_CSV, LEGACY_CSV, dbt_children, put


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


def test_the_ui_shows_named_groups_jobs_and_checks_and_no_orphan_assets(tfm_home):
    """Groups say what they hold; every asset is one tfm materializes (no external asset a dbt source or test
    invents); every dbt test that proves a model is an asset check on it, with a description; the jobs are
    named; what runs by itself is what the README says."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(tfm_home)
    graph = defs.resolve_asset_graph()
    nodes = [graph.get(key) for key in graph.get_all_asset_keys()]
    assert [n.key.to_user_string() for n in nodes if not n.is_materializable] == []
    groups = {n.group_name for n in nodes}
    assert groups == {"ingest", "staging", "intermediate", "marts", "models", "quality", "reference", "publish",
                      "close"}  # fmt: skip
    assert graph.get(dg.AssetKey(["main", "ownership"])).group_name == "reference"
    assert graph.get(dg.AssetKey(["ml", "cost_forecasts"])).group_name == "models"
    checks = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert all(spec.description for spec in checks.values())
    proved = {key.name: key.asset_key.to_user_string() for key in checks if key.name.startswith("assert_")}
    assert proved == {
        "assert_focus_charges_conserve_cost": "marts/fct_focus_charges",
        "assert_commitments_amortize_to_their_cost": "marts/fct_focus_charges",
        "assert_cost_allocation_conserves_focus_cost": "marts/fct_cost_allocation",
        "assert_team_statements_add_up_to_focus_total": "marts/fct_chargeback_monthly",
        "assert_shared_pools_split_exactly": "intermediate/int_shared_pools_split",
        "assert_allocation_reference_data_is_consistent": "main/allocation_rules",
        "assert_tag_masking_rules_spare_allocation_keys": "main/tag_masking_rules",
        "assert_aws_cur_staging_models_share_columns": "staging/stg_aws_cur2__line_items",
        "assert_line_items_appear_once_per_billing_period": "intermediate/int_aws_cur_line_items_unioned",
    }
    focus = dg.AssetKey(["marts", "fct_focus_charges"])
    not_null = checks[dg.AssetCheckKey(focus, "not_null_fct_focus_charges_BilledCost")]
    assert not_null.description == "`BilledCost` is never null. Fails the build." and not_null.blocking
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"ingest", "build", "models", "close"}
    models = defs.resolve_job_def("models").asset_layer.selected_asset_keys
    assert {key.to_user_string() for key in models} == {"ml/cost_forecasts", "ml/cost_anomalies"}
    running = dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("landing_sensor").default_status == running
    assert defs.resolve_sensor_def("build_after_ingest").default_status == running
    assert defs.resolve_schedule_def("daily_ingest_schedule").default_status == dg.DefaultScheduleStatus.STOPPED


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


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    """The metadata of an asset's latest materialization (of one partition)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0].asset_materialization.metadata if records else None


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
        focus_rows, focus_billed = con.execute(
            "SELECT count(*), sum(BilledCost) FROM marts.fct_focus_charges"
        ).fetchone()
        loaded = {f"{p:%Y-%m}" for (p,) in con.execute("SELECT DISTINCT billing_period FROM meta.file_ledger").fetchall()}
    finally:
        con.close()
    # The partitions are the billing periods loaded, keyed as the command line writes them.
    instance = dg.DagsterInstance.get()
    assert set(instance.get_dynamic_partitions("billing_period")) == loaded == {"2023-11", "2024-09", "2024-10"}
    materialized = instance.get_materialized_partitions(dg.AssetKey(["raw", "focus"]))
    assert {"2024-09", "2024-10"} <= set(materialized)
    # A raw partition's materialization says what the warehouse holds for the period.
    legacy = _latest(instance, dg.AssetKey(["raw", "aws_cur_legacy"]), "2023-11")
    assert legacy["status"].value == "replaced" and legacy["dagster/row_count"].value == 1281
    assert legacy["billed_cost_exact"].value == str(raw[1]) and legacy["currency"].value == "USD"
    # The command line's runs are the named jobs' runs.
    assert {r.dagster_run.job_name for r in instance.get_run_records()} == {"ingest", "build"}
    # A mart's materialization carries its rows, its cost per billing period, a preview and its tests.
    mart = _latest(instance, dg.AssetKey(["marts", "fct_focus_charges"]))
    assert mart["dagster/row_count"].value == focus_rows
    assert mart["BilledCost"].value == f"{focus_billed:,.2f} USD"
    assert "| 2024-10 | USD |" in mart["by_billing_period"].value
    assert mart["preview"].value.count("\n|") >= 5 and f"of {focus_rows:,} rows" in mart["preview"].value
    tests = re.fullmatch(r"(\d+) passed, (\d+) warned, 0 failed", mart["dbt_tests"].value)
    assert tests and int(tests.group(1)) > 20, mart["dbt_tests"].value
    assert "dbt_tests" in _latest(instance, dg.AssetKey(["published_warehouse"]))
    # A second ingest over unchanged files launches nothing.
    runs_before = len(instance.get_run_records())
    assert run_ingest(tfm_home) == []
    assert len(instance.get_run_records()) == runs_before


def _evaluate(sensor, instance, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = sensor(context)
        if isinstance(result, dg.SensorResult) and result.cursor is not None:
            return result, result.cursor
        return result, context.cursor


def test_landing_sensor_starts_from_the_ledger_and_requests_only_what_changed(tfm_home):
    from orchestration.defs.ingest import landing_sensor

    put(tfm_home.landing, LEGACY_CSV)
    put(tfm_home.landing, ATHENA_NOV)
    instance = dg.DagsterInstance.get()
    # Nothing loaded yet: both periods are requested, and become partitions.
    result, cursor = _evaluate(landing_sensor, instance)
    by_partition = {r.partition_key: {k.to_user_string() for k in r.asset_selection} for r in result.run_requests}
    assert by_partition == {"2023-11": {"raw/aws_cur_legacy"}, "2018-11": {"raw/aws_cur_athena"}}
    [added] = result.dynamic_partitions_requests
    assert added.partitions_def_name == "billing_period" and set(added.partition_keys) == {"2023-11", "2018-11"}
    assert isinstance(_evaluate(landing_sensor, instance, cursor)[0], dg.SkipReason)
    # tfm ingest loads them: a sensor starting afresh (tfm ui on this warehouse) requests nothing.
    assert run_ingest(tfm_home) == []
    fresh, cursor = _evaluate(landing_sensor, instance)
    assert fresh.run_requests == [] and fresh.dynamic_partitions_requests == []
    # A file touched but not changed launches nothing either.
    legacy = tfm_home.landing / LEGACY_CSV.name
    stat = legacy.stat()
    os.utime(legacy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched, cursor = _evaluate(landing_sensor, instance, cursor)
    assert touched.run_requests == []
    # A removed file asks for its period again; a new file for its own.
    legacy.unlink()
    put(tfm_home.landing, FOCUS_CSV)
    changed, _ = _evaluate(landing_sensor, instance, cursor)
    assert {r.partition_key: {k.to_user_string() for k in r.asset_selection} for r in changed.run_requests} == {
        "2023-11": {"raw/aws_cur_legacy"}, "2024-09": {"raw/focus"}, "2024-10": {"raw/focus"},
    }  # fmt: skip
    assert set(changed.dynamic_partitions_requests[0].partition_keys) == {"2024-09", "2024-10"}


def test_landing_sensor_waits_while_the_warehouse_is_written(tfm_home):
    from orchestration.defs.ingest import landing_sensor

    put(tfm_home.landing, LEGACY_CSV)
    assert run_ingest(tfm_home) == []
    put(tfm_home.landing, FOCUS_CSV)
    # Another process writes the warehouse: the sensor does not wait for it, and looks again next time.
    holder = "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(120)"
    writer = subprocess.Popen([sys.executable, "-c", holder, str(tfm_home.warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "held"
        result, cursor = _evaluate(landing_sensor, dg.DagsterInstance.get())
    finally:
        writer.kill()
        writer.wait()
    assert isinstance(result, dg.SkipReason) and "being written" in result.skip_message and cursor is None
    result, _ = _evaluate(landing_sensor, dg.DagsterInstance.get())
    assert {r.partition_key for r in result.run_requests} == {"2024-09", "2024-10"}


def test_an_ingest_run_that_loads_nothing_reports_what_the_period_holds(tfm_home):
    """The sensor or the UI may run a period that is already loaded: its materialization says so, with the
    period's rows and cost, never 0."""
    from orchestration.definitions import build_definitions

    put(tfm_home.landing, LEGACY_CSV)
    assert run_ingest(tfm_home) == []
    job = build_definitions(tfm_home).resolve_job_def("ingest")
    instance = dg.DagsterInstance.get()
    result = job.execute_in_process(
        partition_key="2023-11", asset_selection=[dg.AssetKey(["raw", "aws_cur_legacy"])], instance=instance,
        tags={"tfm/trigger": "landing_sensor"},
    )  # fmt: skip
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["status"].value == "unchanged" and metadata["rows"].value == 1281
    assert metadata["billed_cost"].value.endswith(" USD") and not metadata["billed_cost"].value.startswith("0.00")


def test_build_after_ingest_follows_the_runs_dagster_launched(tfm_home):
    from orchestration.definitions import build_definitions
    from orchestration.defs.automation import build_after_ingest

    put(tfm_home.landing, LEGACY_CSV)
    instance = dg.DagsterInstance.get()
    assert run_ingest(tfm_home) == []
    # tfm ingest's runs are left to tfm build.
    skipped, cursor = _evaluate(build_after_ingest, instance)
    assert isinstance(skipped, dg.SkipReason) and "tfm build" in skipped.skip_message
    assert isinstance(_evaluate(build_after_ingest, instance, cursor)[0], dg.SkipReason)
    # A run the sensor launched is followed by one build.
    job = build_definitions(tfm_home).resolve_job_def("ingest")
    ingested = job.execute_in_process(
        partition_key="2023-11", asset_selection=[dg.AssetKey(["raw", "aws_cur_legacy"])], instance=instance,
        tags={"tfm/trigger": "landing_sensor"},
    )  # fmt: skip
    request, cursor = _evaluate(build_after_ingest, instance, cursor)
    assert isinstance(request, dg.RunRequest) and request.run_key == f"after-ingest:{ingested.run_id}"
    assert request.tags["tfm/ingested_periods"] == "2023-11"
    assert isinstance(_evaluate(build_after_ingest, instance, cursor)[0], dg.SkipReason)


def test_daily_schedule_ingests_current_and_previous_month(tfm_home):
    from orchestration.defs.ingest import daily_ingest_schedule

    put(tfm_home.landing, FOCUS_CSV)
    assert run_ingest(tfm_home) == []
    instance = dg.DagsterInstance.get()
    morning = datetime(2024, 10, 2, 6, tzinfo=UTC)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=morning) as context:
        requests = daily_ingest_schedule(context)
    assert [(r.partition_key, [k.to_user_string() for k in r.asset_selection]) for r in requests] == [
        ("2024-09", ["raw/focus"]), ("2024-10", ["raw/focus"])
    ]  # fmt: skip
    later = datetime(2026, 3, 2, 6, tzinfo=UTC)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=later) as context:
        assert isinstance(daily_ingest_schedule(context), dg.SkipReason)


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


def test_a_build_that_cannot_record_dbt_events_stops_dbt_and_frees_the_warehouse(tfm_home, monkeypatch):
    """When Dagster fails to record an event of the dbt build (its storage full, say), dbt is still building and
    holds the warehouse: the step stops it (at once, not when dbt is done or the lock wait runs out) and fails."""
    put(tfm_home.landing, FOCUS_CSV)
    assert run_ingest(tfm_home) == []
    monkeypatch.setenv("TFM_LOCK_TIMEOUT", "300")
    original = dg.DagsterInstance.handle_new_event
    dbt_processes: list[int] = []

    def failing(self, event, *args, **kwargs):
        dagster_event = event.dagster_event
        if (
            dagster_event is not None
            and dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
            and "stg_" in dagster_event.asset_key.to_user_string()
        ):
            dbt_processes.extend(dbt_children(tfm_home.home))
            raise OSError(28, "No space left on device (a test's event storage)")
        return original(self, event, *args, **kwargs)

    monkeypatch.setattr(dg.DagsterInstance, "handle_new_event", failing)
    started = datetime.now(UTC)
    failures = run_build(tfm_home)
    seconds = (datetime.now(UTC) - started).total_seconds()
    assert failures, "the build reported no failure"
    assert dbt_processes, "dbt was not running when the event failed"
    assert dbt_children(tfm_home.home) == []
    con = connect(tfm_home.warehouse)  # writable: dbt let go of it
    try:
        marts = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()}  # fmt: skip
    finally:
        con.close()
    assert "fct_focus_charges" not in marts, "dbt went on building after the step failed"
    assert seconds < 120

