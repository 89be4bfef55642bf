"""The one Definitions object of the code location: `dagster dev` from the repository root loads it."""

import dagster as dg

from orchestration.dbt.assets import dbt_resource, warehouse_models
from orchestration.ingest.assets import ingest_assets
from orchestration.ingest.sensors import landing_sensor
from orchestration.jobs import build_warehouse_job, ingest_dump_job
from orchestration.resources import DataDirResource

defs = dg.Definitions(
    assets=[*ingest_assets, warehouse_models],
    jobs=[ingest_dump_job, build_warehouse_job],
    sensors=[landing_sensor],
    resources={"data_dir": DataDirResource(), "dbt": dbt_resource()},
)
