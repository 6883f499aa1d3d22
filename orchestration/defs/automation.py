"""The pipeline runs itself: after the landing sensor's ingest runs succeed, the build follows.

``build_after_ingest`` watches the ``ingest`` job's runs. Once an ingest run that Dagster launched (the landing
sensor, the schedule, the UI) has succeeded and no other ingest run is queued or running, it requests one
``build`` run: dbt and the Python models with their checks, then the publication. The build rebuilds only the
billing periods whose loaded files changed since the last whole build (orchestration/incremental.py). Runs of
``tfm ingest`` are left to the command line, which builds when asked (``tfm build``, ``tfm demo``).
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.defs.close import build_job
from orchestration.defs.ingest import ingest_job

CLI_TRIGGER = "cli"
_PENDING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _pending(instance: dg.DagsterInstance, job_name: str, statuses=None) -> bool:
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=statuses or _PENDING), limit=1
    )
    return bool(records)


@dg.sensor(
    job=build_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Builds (dbt, the Python models, their checks, then publish) after the ingest runs Dagster launched "
        "have succeeded, once no ingest run is queued or running. Only the billing periods that changed are "
        "rebuilt. tfm ingest's runs are left to tfm build."
    ),
)
def build_after_ingest(context: dg.SensorEvaluationContext):
    """Request a build once the ingest runs launched since the last one have succeeded."""
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    succeeded = [
        record
        for record in context.instance.get_run_records(
            filters=dg.RunsFilter(
                job_name=ingest_job.name, statuses=[dg.DagsterRunStatus.SUCCESS], updated_after=since
            ),
            order_by="update_timestamp",
            ascending=True,
        )
        if since is None or _utc(record.update_timestamp) > since
    ]
    if not succeeded:
        return dg.SkipReason("no ingest run succeeded since the last build")
    launched = [r for r in succeeded if r.dagster_run.tags.get("tfm/trigger") != CLI_TRIGGER]
    latest = _utc(succeeded[-1].update_timestamp).isoformat()
    if not launched:
        context.update_cursor(latest)
        return dg.SkipReason("only tfm ingest loaded data: the command line builds when asked (tfm build)")
    if _pending(context.instance, ingest_job.name):
        return dg.SkipReason("another ingest run is queued or running: the build follows the last one")
    context.update_cursor(latest)
    if _pending(
        context.instance, build_job.name, [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]
    ):
        return dg.SkipReason("a build is already queued: it builds these periods too")
    periods = sorted({r.dagster_run.tags.get("dagster/partition", "?") for r in launched})
    return dg.RunRequest(
        run_key=f"after-ingest:{launched[-1].dagster_run.run_id}",
        tags={"tfm/trigger": "build_after_ingest", "tfm/ingested_periods": ",".join(periods)},
    )
