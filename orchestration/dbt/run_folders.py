"""How many target folders of the warehouse build the dbt project keeps.

dagster-dbt gives every dbt command of a run a target folder of its own, ``<op>-<run id>-<random>`` under the dbt
project's target folder (``DBT_TARGET_PATH``, ``dbt_project/target`` by default): the manifest, the compiled
SQL, ``run_results.json`` and the dbt log, about 8 MB whatever the scale (15 MB with the log at dbt's debug level).
Kept forever, a nightly schedule would add some 3 GB a year. So after each successful build only the newest
CDP_DBT_RUN_FOLDERS_KEPT folders of the build (default 30, a month of nights) are kept; what dbt reported for
older runs stays in their Dagster run logs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestration.settings import whole_number_setting

RUN_FOLDERS_KEPT_ENV = "CDP_DBT_RUN_FOLDERS_KEPT"
DEFAULT_RUN_FOLDERS_KEPT = 30
MAX_RUN_FOLDERS_KEPT = 100_000


class RunFoldersSettingError(ValueError):
    """CDP_DBT_RUN_FOLDERS_KEPT is not a whole number from 1 to MAX_RUN_FOLDERS_KEPT."""


def run_folders_kept() -> int:
    return whole_number_setting(RUN_FOLDERS_KEPT_ENV, DEFAULT_RUN_FOLDERS_KEPT, 1, MAX_RUN_FOLDERS_KEPT,
                                "how many target folders of the warehouse build to keep", "1",
                                RunFoldersSettingError)


def prune_run_folders(current: Path, op_name: str, keep: int) -> list[Path]:
    """Deletes the target folders of ``op_name``'s earlier runs beside ``current`` (this run's), all but the
    newest ``keep`` (``current`` always among them). Returns the folders deleted, oldest first."""
    folders = [path for path in current.parent.glob(f"{op_name}-*") if path.is_dir() and path != current]
    # Newest first by modification time; this run's folder is always kept.
    folders.sort(key=lambda path: path.stat().st_mtime, reverse=True)
    deleted = folders[max(keep - 1, 0):]
    for folder in deleted:
        shutil.rmtree(folder, ignore_errors=True)
    return deleted[::-1]
