"""The Dagster code location: ``dagster dev -m orchestration.definitions``."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt import dbt_resource, tfm_dbt_models
from orchestration.defs.ingest import daily_ingest_schedule, ingest_job, landing_sensor, raw_assets
from orchestration.defs.resources import TfmWarehouse
from orchestration.settings import Settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    settings.prepare()
    return dg.Definitions(
        assets=[*raw_assets, tfm_dbt_models],
        jobs=[ingest_job],
        sensors=[landing_sensor],
        schedules=[daily_ingest_schedule],
        resources={"warehouse": TfmWarehouse.from_settings(settings), "dbt": dbt_resource()},
        # One process writes to DuckDB at a time: steps of a run execute one after another.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
