"""The dbt project, built once for the code location."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DATA_DIR_ENV, PROJECT_ROOT, DataPaths

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


def dbt_environment(paths: DataPaths) -> dict[str, str]:
    """Variables dbt needs so its profile points at the same data directory as Dagster."""
    return {DATA_DIR_ENV: str(paths.root), **TELEMETRY_OFF}


def apply_dbt_environment(paths: DataPaths) -> None:
    # dbt runs in this process (dagster-dbt) and reads its profile's env_var() from os.environ.
    os.environ.update(dbt_environment(paths))
    paths.warehouse.parent.mkdir(parents=True, exist_ok=True)


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()
    if not project.manifest_path.exists():
        parse_project()
    return project


def parse_project() -> Path:
    """`dbt parse`: writes target/manifest.json without touching the warehouse."""
    env = {**os.environ, **TELEMETRY_OFF}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"dbt parse failed in {DBT_PROJECT_DIR}:\n{completed.stdout}\n{completed.stderr}")
    return DBT_PROJECT_DIR / "target" / "manifest.json"
