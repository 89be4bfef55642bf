"""When the nightly runs: on a schedule, and when a complete dump set lands; the warehouse build follows ingest."""

import os

import dagster as dg

from orchestration.ingest.partitions import complete_dump_dates, dump_date_partitions
from orchestration.jobs import build_warehouse_job, ingest_dump_job
from orchestration.resources import DataDirResource

NIGHTLY_CRON_ENV = "CDP_NIGHTLY_CRON"
DEFAULT_NIGHTLY_CRON = "0 3 * * *"


@dg.schedule(
    job=ingest_dump_job,
    cron_schedule=os.environ.get(NIGHTLY_CRON_ENV, DEFAULT_NIGHTLY_CRON),
    execution_timezone=os.environ.get("CDP_TIMEZONE", "Europe/Moscow"),
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Nightly (default 03:00, CDP_NIGHTLY_CRON to change): ingests every complete dump not yet ingested; "
        "`warehouse_after_ingest` then builds the warehouse, runs the gate and publishes the exports."
    ),
)
def nightly_schedule(context: dg.ScheduleEvaluationContext, data_dir: DataDirResource):
    landed = complete_dump_dates(data_dir.paths())
    known = set(context.instance.get_dynamic_partitions(dump_date_partitions.name))
    new = [d for d in landed if d not in known]
    if new:
        context.instance.add_dynamic_partitions(dump_date_partitions.name, new)
    if not new:
        return dg.SkipReason(f"no new complete dump under {data_dir.paths().landing}")
    return [dg.RunRequest(run_key=f"nightly-{d}", partition_key=d) for d in new]


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_dump_job],
    request_job=build_warehouse_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After a dump is ingested successfully: dbt build, quality gate, exports (one run).",
)
def warehouse_after_ingest(context: dg.RunStatusSensorContext):
    return dg.RunRequest(run_key=f"warehouse-after-{context.dagster_run.run_id}")
