"""The event log storage of the project's Dagster instance: Dagster's SQLite files, written through kept
connections (orchestration/event_log_storage.py)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from orchestration import event_log_storage
from orchestration.event_log_storage import OPEN_FILES_KEPT, PooledSqliteEventLogStorage, storage_settings
from orchestration.settings import PROJECT_ROOT

CHECKS = 30


@dg.asset(check_specs=[dg.AssetCheckSpec(f"check_{n}", asset="checked") for n in range(CHECKS)])
def checked():
    """An asset with as many checks as a small dbt project has tests."""
    yield dg.MaterializeResult()
    for n in range(CHECKS):
        yield dg.AssetCheckResult(check_name=f"check_{n}", passed=True)


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(overrides=storage_settings(str(tmp_path / "storage"))) as instance:
        yield instance


@pytest.fixture
def sqlite_connects():
    """The file of every SQLite connection an engine opens while the test runs."""
    opened = []

    def count(dbapi_connection, connection_record):
        opened.append(Path(dbapi_connection.execute("pragma database_list").fetchone()[2]).name)

    event.listen(Engine, "connect", count)
    yield opened
    event.remove(Engine, "connect", count)


def dagster_own_reader(storage: PooledSqliteEventLogStorage) -> SqliteEventLogStorage:
    return SqliteEventLogStorage(storage._base_dir)


def event_types(records) -> list[str]:
    return [record.dagster_event.event_type_value for record in records if record.dagster_event]


def test_the_project_instance_takes_these_settings():
    configured = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    expected = storage_settings("data/dagster_home/storage")
    assert {key: configured.get(key) for key in expected} == expected
    assert "storage" not in configured  # the three storages above replace it


def test_the_instance_uses_the_pooled_event_log(instance):
    assert type(instance.event_log_storage) is PooledSqliteEventLogStorage


def test_a_run_stores_its_events_through_one_connection_per_file(instance, sqlite_connects):
    result = dg.materialize([checked], instance=instance)
    assert result.success
    stored = instance.all_logs(result.run_id)
    # Every check is planned, then evaluated (each also mirrored in the index file): Dagster's own storage opens
    # about five connections an event, here ~330.
    assert len(stored) > 2 * CHECKS
    # (The run storage, runs.db, is Dagster's own: it opens a connection per run event, a few a run.)
    event_log_connects = [name for name in sqlite_connects if name != "runs.db"]
    assert len(event_log_connects) <= 4, f"{len(event_log_connects)} connections for {len(stored)} events"

    # The files are Dagster's own: its storage reads back every event, and the index knows the checks.
    reader = dagster_own_reader(instance.event_log_storage)
    assert event_types(reader.get_logs_for_run(result.run_id)) == event_types(stored)
    assert event_types(stored).count("ASSET_CHECK_EVALUATION") == CHECKS
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("checked"), "check_7")])
    assert evaluation[dg.AssetCheckKey(dg.AssetKey("checked"), "check_7")].status.value == "SUCCEEDED"


def test_wipe_closes_the_kept_connections_before_deleting_the_files(instance):
    storage = instance.event_log_storage
    result = dg.materialize([checked], instance=instance)
    run_events = storage.get_logs_for_run(result.run_id)
    storage.wipe()
    assert dagster_own_reader(storage).get_logs_for_run(result.run_id) == []

    # Written again after the wipe: into a new file, which Dagster's own storage then reads. A connection kept
    # across the wipe would write into the deleted file, and the reader would find nothing.
    storage.store_event(run_events[0])
    assert len(dagster_own_reader(storage).get_logs_for_run(result.run_id)) == 1


def test_only_the_most_recently_used_files_keep_a_connection(instance):
    storage = instance.event_log_storage
    runs = [dg.materialize([checked], instance=instance).run_id for _ in range(OPEN_FILES_KEPT + 2)]
    assert len(storage._engines) == OPEN_FILES_KEPT
    assert {"index", runs[-1]} <= set(storage._engines)
    assert runs[0] not in storage._engines
    for run_id in runs:  # the files whose connection was closed are read again
        assert len(storage.get_logs_for_run(run_id)) > 2 * CHECKS


def test_a_forked_process_opens_connections_of_its_own(instance, monkeypatch):
    storage = instance.event_log_storage
    dg.materialize([checked], instance=instance)
    inherited = dict(storage._engines)
    assert inherited

    monkeypatch.setattr(event_log_storage.os, "getpid", lambda: -1)
    result = dg.materialize([checked], instance=instance)
    assert result.success
    assert not any(storage._engines[shard] is engine for shard, engine in inherited.items()
                   if shard in storage._engines)


def test_the_benchmark_instance_takes_the_same_settings(tmp_path: Path):
    from benchmarks.run import dagster_instance

    with dagster_instance(tmp_path) as instance:
        assert type(instance.event_log_storage) is PooledSqliteEventLogStorage
        assert Path(instance.event_log_storage._base_dir).is_relative_to(tmp_path)
