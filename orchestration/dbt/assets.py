"""dbt models as Dagster assets; dbt tests become asset checks (error severity blocks downstream)."""

import importlib.metadata
import os
from collections.abc import Sequence
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from packaging import version
from pydantic import Field

from orchestration.dbt.project import DBT_EXECUTABLE, apply_dbt_environment, dbt_project
from orchestration.dbt.run_folders import RUN_FOLDERS_KEPT_ENV, prune_run_folders, run_folders_kept
from orchestration.dbt.translator import CdpDbtTranslator
from orchestration.quality.gx_runner import import_gx_in_background
from orchestration.resources import DataDirResource
from orchestration.settings import WAREHOUSE_POOL

# dbt's file log (dbt.log in the run's target folder) is written at debug by default: every SQL statement of the
# build and every connection event, 6-8 MB of JSON lines a night whatever the scale, each formatted and written by
# dbt's worker threads, which hold Python's lock beside the models (docs/performance.md, section AV). The
# warehouse build writes it at info (each node's start and result, warnings, errors) unless dbt's own variable
# says otherwise: DBT_LOG_LEVEL_FILE=debug brings every statement back. Each model's SQL is in the folder anyway.
FILE_LOG_LEVEL_ENV = "DBT_LOG_LEVEL_FILE"
DEFAULT_FILE_LOG_LEVEL = "info"


class WarehouseBuildConfig(dg.Config):
    """Run config of the warehouse build (Launchpad: ops.warehouse_models.config)."""

    full_refresh: bool = Field(
        default=False,
        description="Rebuild the incremental models from the whole lake (dbt --full-refresh). Needed after a "
                    "change to an incremental model's SQL or columns, or to drop rows a re-delivered dump no "
                    "longer carries; nightly runs leave it off.",
    )
    unit_tests: bool = Field(
        default=False,
        description="Also run dbt's unit tests. They test the models' SQL on fixed inputs, not the night's data, "
                    "so they belong where the SQL changes: `make test` runs them (tests/test_dbt_unit_tests.py), "
                    "as does a plain `dbt build` in development; nightly runs leave them out.",
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
    folders_kept = run_folders_kept()  # a wrong setting fails before the build, not after it
    args = ["build", "--full-refresh"] if config.full_refresh else ["build"]
    args += file_log_args()
    if not config.unit_tests:
        # 20 unit tests cost 3.7-4.2 s of node time at any scale, every night (docs/performance.md, section T).
        args += ["--exclude-resource-type", "unit_test"]
    # The gate runs next, in this process: its library's import (2.2 s) overlaps the build instead of following it.
    import_gx_in_background()
    invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    deleted = prune_run_folders(invocation.target_path, context.op_execution_context.op.name, folders_kept)
    if deleted:
        context.log.info(f"Deleted the target folders of {len(deleted)} earlier dbt runs under "
                         f"{invocation.target_path.parent} ({RUN_FOLDERS_KEPT_ENV} keeps the newest {folders_kept}).")


def file_log_args() -> list[str]:
    """dbt's flag for the file log's level: the project's default, or nothing when DBT_LOG_LEVEL_FILE is set (dbt
    reads the variable itself, and a flag would override it)."""
    if os.environ.get(FILE_LOG_LEVEL_ENV):
        return []
    return ["--log-level-file", DEFAULT_FILE_LOG_LEVEL]


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two steps it takes before every dbt command, which this project
    never needs (about 5 s of every night's fixed cost, whatever the scale):

    - `dbt --version` in a subprocess (2.2 s), to tell dbt Core from the Fusion engine: the dbt run here is the
      dbt-core installed beside this interpreter (pinned in pyproject.toml), so its version is the package's;
    - a dbt adapter opened in this process (3.0 s): dagster-dbt uses it only to fetch row counts and column
      metadata (`fetch_row_counts()`, `fetch_column_metadata()`), which the warehouse build does not ask for.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


class DbtExecutableMissingError(RuntimeError):
    """The project's dbt script is not installed beside this interpreter."""


def dbt_resource() -> DbtCliResource:
    if not DBT_EXECUTABLE.is_file():
        raise DbtExecutableMissingError(
            f"{DBT_EXECUTABLE} is missing: the warehouse build runs dbt through the project's script `cdp-dbt`, "
            "installed with the project. Run `make install` (or `pip install -e .` in this virtualenv).")
    return WarehouseDbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(dbt_project().profiles_dir),
        dbt_executable=str(DBT_EXECUTABLE),
    )
