"""The dbt project, built once for the code location."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DATA_DIR_ENV, PROJECT_ROOT, DataPaths, data_paths

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# The dbt beside this interpreter (the virtualenv's, whether or not it is on PATH), through the project's script
# that keeps dbt's long-lived objects out of garbage collections (orchestration/dbt/dbt_cli.py).
DBT_EXECUTABLE = Path(sys.executable).parent / "cdp-dbt"
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
# The profile's variables each parse was made with, beside the manifest. dbt re-parses the whole project
# (about 4 s more per build) when the profile it renders differs from the one its saved parse state was made
# with, and the warehouse path is part of it. So the code location, when it loads, parses with the values a
# nightly build with the default data directory will have, and parses again when they changed or another dbt
# command (an analyst's `dbt run` in dbt_project/) replaced the saved state since.
PARSE_ENVIRONMENT_FILE = "parse_environment.json"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if manifest_is_stale(project.manifest_path):
        # A stale manifest names tests and models that no longer exist; dagster-dbt then fails obscurely.
        parse_project()
    return project


def profile_variables() -> list[str]:
    """The environment variables profiles.yml reads (its env_var() calls)."""
    text = (DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"env_var\(\s*['\"]([A-Za-z0-9_]+)['\"]", text)))


def parse_environment() -> dict[str, str]:
    """The profile's variables as a build with the default data directory sees them (apply_dbt_environment)."""
    environment = {**os.environ, **dbt_environment(data_paths())}
    return {name: environment[name] for name in profile_variables() if name in environment}


def _parse_stamp(target: Path, variables: dict[str, str]) -> dict:
    state = target / PARTIAL_PARSE_FILE
    mtime_ns = state.stat().st_mtime_ns if state.exists() else None
    return {"profile_variables": variables, "parse_state_mtime_ns": mtime_ns}


def manifest_is_stale(manifest_path: Path) -> bool:
    if not manifest_path.exists():
        return True
    target = manifest_path.parent
    try:
        if json.loads((target / PARSE_ENVIRONMENT_FILE).read_text(encoding="utf-8")) != _parse_stamp(
                target, parse_environment()):
            return True
    except (OSError, ValueError):
        return True
    built = manifest_path.stat().st_mtime
    for name in DBT_INPUTS:
        root = DBT_PROJECT_DIR / name
        paths = [root] if root.is_file() else root.rglob("*") if root.exists() else []
        if any(path.stat().st_mtime > built for path in paths if path.is_file()):
            return True
    return False


def parse_project() -> Path:
    """`dbt parse`: writes target/manifest.json (and dbt's saved parse state, which dagster-dbt hands to every
    build) without touching the warehouse, with the profile a nightly build will render."""
    variables = parse_environment()
    env = {**os.environ, **TELEMETRY_OFF, **variables}
    target = DBT_PROJECT_DIR / "target"
    target.mkdir(exist_ok=True)
    # Processes loading the code location at once (Dagster's step processes) take turns, so the stamp always
    # describes the parse state beside it.
    with (target / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        completed = subprocess.run(
            [str(DBT_EXECUTABLE), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed in {DBT_PROJECT_DIR}:\n{completed.stdout}\n{completed.stderr}")
        stamp = json.dumps(_parse_stamp(target, variables), indent=2, sort_keys=True)
        (target / PARSE_ENVIRONMENT_FILE).write_text(stamp + "\n", encoding="utf-8")
    return target / "manifest.json"
