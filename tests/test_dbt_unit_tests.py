"""dbt's unit tests: the models' SQL on fixed inputs. The nightly build leaves them out (they do not depend on
the night's data: orchestration/dbt/assets.py), so this is where they run, on every `make test`."""

import json
import os

import pytest

from tests.conftest import dbt_target_dir, run_dbt

pytestmark = pytest.mark.slow


def test_every_dbt_unit_test_passes(built_warehouse):
    done = run_dbt(built_warehouse, "test", "--select", "test_type:unit")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    target = dbt_target_dir(built_warehouse)
    declared = {uid for uid in json.loads((target / "manifest.json").read_text())["unit_tests"]}
    results = [r for r in json.loads((target / "run_results.json").read_text())["results"]
               if r["unique_id"].startswith("unit_test.")]
    assert declared, "the project declares unit tests"
    assert {r["unique_id"] for r in results} == declared, "a unit test did not run"
    assert all(r["status"] == "pass" for r in results)


def test_the_nightly_build_leaves_the_unit_tests_out(built_warehouse, dagster_instance):
    """The built warehouse comes from the nightly's dbt asset: its runs in this session ran models and data tests
    only (dagster-dbt gives each run the target folder warehouse_models-<run id>-... under DBT_TARGET_PATH, by
    default target/ in the dbt project)."""
    from orchestration.dbt.project import DBT_PROJECT_DIR

    targets = DBT_PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target")  # an absolute path stays as it is
    runs = [path for run in dagster_instance.get_runs()
            for path in targets.glob(f"warehouse_models-{run.run_id[:7]}-*/run_results.json")]
    assert runs, "no run of the nightly's dbt asset in this session"
    for run_results in runs:
        kinds = {result["unique_id"].split(".")[0] for result in json.loads(run_results.read_text())["results"]}
        assert "unit_test" not in kinds, run_results
    assert any("model" in {r["unique_id"].split(".")[0] for r in json.loads(path.read_text())["results"]}
               for path in runs)
