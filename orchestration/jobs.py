"""Jobs: what runs together. Ingest is partitioned by dump date; the warehouse build reads every partition."""

import dagster as dg

from orchestration.ingest.assets import INGEST_GROUP

INGEST_JOB_NAME = "ingest_dump"
WAREHOUSE_JOB_NAME = "build_warehouse"

ingest_dump_job = dg.define_asset_job(
    INGEST_JOB_NAME,
    selection=dg.AssetSelection.groups(INGEST_GROUP),
    description="Load every source table of one dump date into the lake.",
)

build_warehouse_job = dg.define_asset_job(
    WAREHOUSE_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(INGEST_GROUP),
    description="dbt build over the whole lake: staging, identity resolution, marts, segments, with their tests.",
)
