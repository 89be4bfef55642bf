"""dbt models as Dagster assets; dbt tests become asset checks (error severity blocks downstream)."""

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.project import apply_dbt_environment, dbt_project
from orchestration.dbt.translator import CdpDbtTranslator
from orchestration.resources import DataDirResource

WAREHOUSE_POOL = "duckdb_warehouse"


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=CdpDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, data_dir: DataDirResource):
    apply_dbt_environment(data_dir.paths())
    yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter: the virtualenv's, whether or not it is on PATH.
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(dbt_project().profiles_dir),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
