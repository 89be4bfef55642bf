"""dbt models as Dagster assets; dbt tests become asset checks (error severity blocks downstream)."""

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from pydantic import Field

from orchestration.dbt.project import apply_dbt_environment, dbt_project
from orchestration.dbt.translator import CdpDbtTranslator
from orchestration.resources import DataDirResource
from orchestration.settings import WAREHOUSE_POOL


class WarehouseBuildConfig(dg.Config):
    """Run config of the warehouse build (Launchpad: ops.warehouse_models.config)."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild the incremental models from the whole lake (dbt --full-refresh). Needed after a "
                    "change to an incremental model's SQL or columns, or to drop rows a re-delivered dump no "
                    "longer carries; nightly runs leave it off.",
    )


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=CdpDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def warehouse_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, data_dir: DataDirResource, config: WarehouseBuildConfig,
):
    apply_dbt_environment(data_dir.paths())
    args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
    yield from dbt.cli(args, context=context).stream()


def dbt_resource() -> DbtCliResource:
    # The dbt beside this interpreter: the virtualenv's, whether or not it is on PATH.
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(dbt_project().profiles_dir),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
