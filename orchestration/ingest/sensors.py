"""Start ingestion when a dump set has finished landing."""


import dagster as dg

from orchestration.ingest.partitions import complete_dump_dates, dump_date_partitions
from orchestration.jobs import ingest_dump_job
from orchestration.resources import DataDirResource



@dg.sensor(
    job=ingest_dump_job,
    minimum_interval_seconds=60,
    description=(
        "Registers each landing/<dump_date>/ folder whose _SUCCESS marker exists as a partition and requests "
        "its ingestion once (run key = dump date)."
    ),
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def landing_sensor(context: dg.SensorEvaluationContext, data_dir: DataDirResource) -> dg.SensorResult:
    landed = complete_dump_dates(data_dir.paths())
    known = set(context.instance.get_dynamic_partitions(dump_date_partitions.name))
    new = [d for d in landed if d not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=d, partition_key=d) for d in new],
        dynamic_partitions_requests=[dump_date_partitions.build_add_request(new)] if new else [],
    )
