"""`cdp-dbt`, the dbt the warehouse build runs: dbt's own command line, with dbt's objects kept out of the
garbage collector's reach once it is imported and when the command returns."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from orchestration.dbt import assets
from orchestration.dbt.assets import DbtExecutableMissingError, dbt_resource
from orchestration.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_environment
from orchestration.settings import data_paths
from tests.conftest import run_dbt


def _run(executable: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([executable, *args], capture_output=True, text=True, timeout=120)


def test_the_build_runs_the_projects_dbt():
    assert DBT_EXECUTABLE.name == "cdp-dbt"
    assert DBT_EXECUTABLE.is_file(), f"{DBT_EXECUTABLE} is missing: reinstall the project (make install)"
    assert dbt_resource().dbt_executable == str(DBT_EXECUTABLE)


def test_a_virtualenv_without_it_is_told_to_reinstall(monkeypatch, tmp_path):
    monkeypatch.setattr(assets, "DBT_EXECUTABLE", tmp_path / "cdp-dbt")
    with pytest.raises(DbtExecutableMissingError, match="make install"):
        dbt_resource()


def test_its_output_and_exit_codes_are_dbts():
    plain_dbt = str(DBT_EXECUTABLE.parent / "dbt")
    ours = {args: _run(str(DBT_EXECUTABLE), *args) for args in (("--help",), ("no-such-command",))}
    for args, completed in ours.items():
        assert completed.returncode == _run(plain_dbt, *args).returncode, (args, completed.stderr)
    assert ours[("no-such-command",)].returncode != 0
    assert "Usage: cdp-dbt" in ours[("--help",)].stdout


def test_dbts_objects_are_frozen_before_the_interpreter_exits(tmp_path):
    # `dbt parse` into a scratch target folder builds the whole manifest after dbt is imported: what the
    # collections at exit would walk, unless frozen. Reported from an exit handler, which runs after main() has
    # raised SystemExit.
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), 'tracked', len(gc.get_objects())))\n"
        f"sys.argv = ['cdp-dbt', 'parse', '--quiet', '--profiles-dir', {str(DBT_PROJECT_DIR)!r}]\n"
        "from orchestration.dbt.dbt_cli import main\n"
        "main()\n"
    )
    env = {**os.environ, **dbt_environment(data_paths(tmp_path)), "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_LOG_PATH": str(tmp_path / "logs")}
    completed = subprocess.run([sys.executable, "-c", probe], cwd=DBT_PROJECT_DIR, env=env, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert (tmp_path / "target" / "manifest.json").is_file()
    _, frozen, _, tracked = completed.stdout.strip().splitlines()[-1].split()
    assert int(frozen) > 150_000, completed.stdout[-500:]  # dbt's imports and the manifest
    assert int(tracked) < 1_000, completed.stdout[-500:]


def test_the_warehouse_is_closed_and_checkpointed_when_dbt_exits(tmp_path):
    # DuckDB folds its write-ahead log into the database file when the database is closed. dbt-duckdb closes it
    # at exit by dropping its last reference. Were the connection caught in a reference cycle, only a collection
    # could close it, and cdp-dbt's frozen heap is out of every collection's reach: the log would stay behind, to
    # be replayed by every later open of the warehouse (the gate's, the exports', the next night's). With a cycle
    # made on purpose in cdp-dbt, this test fails (docs/performance.md, section AW).
    paths = data_paths(tmp_path)
    paths.warehouse.parent.mkdir(parents=True)
    completed = run_dbt(tmp_path, "seed")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    wal = paths.warehouse.with_name(paths.warehouse.name + ".wal")
    assert not wal.exists() or wal.stat().st_size == 0, f"{wal} left behind: {wal.stat().st_size:,} bytes"
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from main_settings.identity_rules").fetchall()[0][0] > 0
