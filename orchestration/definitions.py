"""The one Definitions object of the code location: `dagster dev` from the repository root loads it."""

import dagster as dg

from orchestration.dbt.assets import dbt_resource, warehouse_models
from orchestration.exports.assets import export_assets
from orchestration.ingest.assets import ingest_assets
from orchestration.ingest.sensors import landing_sensor
from orchestration.jobs import build_warehouse_job, ingest_dump_job
from orchestration.quality.checks import gate_checks
from orchestration.resources import DataDirResource
from orchestration.schedules import nightly_schedule, warehouse_after_ingest

defs = dg.Definitions(
    assets=[*ingest_assets, warehouse_models, *export_assets],
    asset_checks=gate_checks,
    jobs=[ingest_dump_job, build_warehouse_job],
    schedules=[nightly_schedule],
    sensors=[landing_sensor, warehouse_after_ingest],
    resources={"data_dir": DataDirResource(), "dbt": dbt_resource()},
)
