"""The warehouse build writes dbt's file log at info (each node's start and result), not every SQL statement;
DBT_LOG_LEVEL_FILE, dbt's own variable, still chooses another level."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from orchestration.dbt.assets import DEFAULT_FILE_LOG_LEVEL, FILE_LOG_LEVEL_ENV, file_log_args
from tests.conftest import materialize_warehouse


def test_the_flag_gives_way_to_the_variable(monkeypatch):
    monkeypatch.delenv(FILE_LOG_LEVEL_ENV, raising=False)
    assert file_log_args() == ["--log-level-file", DEFAULT_FILE_LOG_LEVEL]
    monkeypatch.setenv(FILE_LOG_LEVEL_ENV, "debug")
    assert file_log_args() == []


def _file_log_levels(built_warehouse: Path, instance: dg.DagsterInstance, targets: Path) -> dict[str, int]:
    """Builds one cheap model of the built sample warehouse through Dagster into a target folder of its own and
    counts the lines of that run's dbt.log by level."""
    result = materialize_warehouse(built_warehouse, instance, models=["int_as_of_date"])
    assert result.success
    (this_run,) = targets.glob(f"warehouse_models-{result.run_id[:7]}-*")
    levels: dict[str, int] = {}
    for line in (this_run / "dbt.log").read_text(encoding="utf-8").splitlines():
        level = json.loads(line)["info"]["level"]
        levels[level] = levels.get(level, 0) + 1
    return levels


@pytest.mark.slow
@pytest.mark.parametrize("variable", [None, "debug"])
def test_the_builds_file_log_holds_what_its_level_asks_for(built_warehouse, dagster_instance, monkeypatch,
                                                           tmp_path, variable):
    targets = tmp_path / "dbt_targets"
    monkeypatch.setenv("DBT_TARGET_PATH", str(targets))
    if variable is None:
        monkeypatch.delenv(FILE_LOG_LEVEL_ENV, raising=False)
    else:
        monkeypatch.setenv(FILE_LOG_LEVEL_ENV, variable)

    levels = _file_log_levels(built_warehouse, dagster_instance, targets)

    assert levels.get("info", 0) > 0, f"no info lines in dbt.log: {levels}"
    if variable is None:
        assert "debug" not in levels, f"the build's file log holds debug lines: {levels}"
    else:
        assert levels.get("debug", 0) > levels["info"], f"DBT_LOG_LEVEL_FILE=debug was not honoured: {levels}"
