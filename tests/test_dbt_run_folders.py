"""The warehouse build keeps the target folders of its newest CDP_DBT_RUN_FOLDERS_KEPT dbt runs, not every
night's forever."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from orchestration.dbt.run_folders import (
    DEFAULT_RUN_FOLDERS_KEPT,
    RUN_FOLDERS_KEPT_ENV,
    RunFoldersSettingError,
    prune_run_folders,
    run_folders_kept,
)
from tests.conftest import materialize_warehouse


def _folder(parent: Path, name: str, age_seconds: int) -> Path:
    folder = parent / name
    (folder / "compiled").mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    stamp = time.time() - age_seconds
    os.utime(folder, (stamp, stamp))
    return folder


def test_only_the_newest_folders_of_the_build_are_kept(tmp_path):
    older = [_folder(tmp_path, f"warehouse_models-run{age:04d}-abcdefg", age_seconds=age) for age in (500, 400, 300)]
    newer = _folder(tmp_path, "warehouse_models-run0200-abcdefg", age_seconds=200)
    current = _folder(tmp_path, "warehouse_models-run0000-abcdefg", age_seconds=0)
    other_step = _folder(tmp_path, "gate-run0900-abcdefg", age_seconds=900)
    stray_file = tmp_path / "warehouse_models-notes.txt"
    stray_file.write_text("not a folder")

    deleted = prune_run_folders(current, "warehouse_models", keep=3)

    assert deleted == older[:2]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [older[2].name, newer.name, current.name, other_step.name, stray_file.name])


def test_this_runs_folder_is_kept_even_when_keeping_one(tmp_path):
    current = _folder(tmp_path, "warehouse_models-run0000-abcdefg", age_seconds=1000)  # an old clock on this one
    newer = _folder(tmp_path, "warehouse_models-run0001-abcdefg", age_seconds=0)
    assert prune_run_folders(current, "warehouse_models", keep=1) == [newer]
    assert current.is_dir()


def test_the_setting_is_checked(monkeypatch):
    monkeypatch.delenv(RUN_FOLDERS_KEPT_ENV, raising=False)
    assert run_folders_kept() == DEFAULT_RUN_FOLDERS_KEPT
    monkeypatch.setenv(RUN_FOLDERS_KEPT_ENV, "7")
    assert run_folders_kept() == 7
    for wrong in ("0", "-3", "a week", "2.5"):
        monkeypatch.setenv(RUN_FOLDERS_KEPT_ENV, wrong)
        with pytest.raises(RunFoldersSettingError, match=RUN_FOLDERS_KEPT_ENV):
            run_folders_kept()


@pytest.mark.slow
def test_a_build_deletes_the_folders_of_older_runs(built_warehouse, dagster_instance, monkeypatch, tmp_path):
    """A real build through Dagster (one cheap model of the built sample warehouse) in a target folder of its
    own, beside two folders of earlier runs: with two kept, the older one goes."""
    targets = tmp_path / "dbt_targets"
    monkeypatch.setenv("DBT_TARGET_PATH", str(targets))
    monkeypatch.setenv(RUN_FOLDERS_KEPT_ENV, "2")
    oldest = _folder(targets, "warehouse_models-old0001-abcdefg", age_seconds=7200)
    older = _folder(targets, "warehouse_models-old0002-abcdefg", age_seconds=3600)

    result = materialize_warehouse(built_warehouse, dagster_instance, models=["int_as_of_date"])

    assert result.success
    (this_run,) = targets.glob(f"warehouse_models-{result.run_id[:7]}-*")
    assert (this_run / "run_results.json").is_file()
    assert sorted(path.name for path in targets.iterdir()) == sorted([older.name, this_run.name])
    assert not oldest.exists()
