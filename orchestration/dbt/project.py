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


# What `dbt parse` reads: when any of it is newer than the manifest, the manifest is stale.
DBT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests", "analyses", "../seeds")


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if manifest_is_stale(project.manifest_path):
        # A stale manifest names tests and models that no longer exist; dagster-dbt then fails obscurely.
        parse_project()
    return project


def manifest_is_stale(manifest_path: Path) -> bool:
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    for name in DBT_INPUTS:
        root = DBT_PROJECT_DIR / name
        paths = [root] if root.is_file() else root.rglob("*") if root.exists() else []
        if any(path.stat().st_mtime > built for path in paths if path.is_file()):
            return True
    return False


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
