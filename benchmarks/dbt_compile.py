"""One model's SQL as dbt compiles it, for benchmarks that run a model's query outside a dbt build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestration.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_environment
from orchestration.settings import data_paths


def compiled_model_sql(model: str, data_dir: Path, target: Path, full_refresh: bool = False) -> str:
    """`dbt compile` of `model` against the data directory `data_dir`, into the folder `target`.

    With `full_refresh` an incremental model compiles as its full build (no incremental branch).
    """
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), "compile", "--quiet", "--select", model, *(["--full-refresh"] if full_refresh else []),
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)],
        cwd=DBT_PROJECT_DIR, env={**os.environ, **dbt_environment(data_paths(data_dir))}, capture_output=True, text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"dbt compile of {model} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    compiled = list((target / "compiled").rglob(f"{model}.sql"))
    if len(compiled) != 1:
        raise RuntimeError(f"dbt compile of {model} left {len(compiled)} files named {model}.sql in {target}")
    return compiled[0].read_text(encoding="utf-8")
