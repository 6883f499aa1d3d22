"""The Dagster code location: ``dagster dev -m orchestration.definitions``."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.automation import build_after_ingest
from orchestration.defs.close import build_job, close_assets, close_job, models_job
from orchestration.defs.dbt import dbt_resource, tfm_dbt_models
from orchestration.defs.ingest import daily_ingest_schedule, ingest_job, landing_sensor, raw_assets
from orchestration.defs.predictions import prediction_assets
from orchestration.defs.quality import quality_checks
from orchestration.defs.resources import TfmWarehouse
from orchestration.processes import fail_dead_runs
from orchestration.settings import Settings


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_runs_sensor(context: dg.SensorEvaluationContext):
    """Fail the runs a killed process left in progress, so that the runs queued behind them can start.

    Dagster's run monitoring cannot see these: ``tfm ingest`` and ``tfm build`` execute their runs in their
    own process, and the default run launcher does not check on its run workers.
    """
    failed = fail_dead_runs(context.instance, log=context.log.warning)
    return dg.SkipReason(f"marked {len(failed)} run(s) failed" if failed else "no run outlived its process")


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    settings.prepare()
    return dg.Definitions(
        assets=[*raw_assets, tfm_dbt_models, *prediction_assets, *close_assets],
        asset_checks=quality_checks,
        jobs=[ingest_job, build_job, models_job, close_job],
        sensors=[landing_sensor, build_after_ingest, dead_runs_sensor],
        schedules=[daily_ingest_schedule],
        resources={"warehouse": TfmWarehouse.from_settings(settings), "dbt": dbt_resource()},
        # One process writes to DuckDB at a time: steps of a run execute one after another.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
