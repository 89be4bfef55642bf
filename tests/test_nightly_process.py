"""`make nightly`'s process keeps the code location out of garbage collections: frozen before its jobs start,
and everything frozen when it is done, so the interpreter's collections at exit have nothing to walk."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from orchestration.settings import PROJECT_ROOT

# Runs the real `python -m orchestration.nightly` entry point in a fresh interpreter, reporting the collector's
# state when the first job starts and when main() returns.
NIGHT_WITH_PROBES = """
import gc, sys
from orchestration import nightly

ingest_dumps = nightly.ingest_dumps

def probed_ingest_dumps(instance, dump_dates):
    print(f"frozen before the jobs: {gc.get_freeze_count()}", flush=True)
    return ingest_dumps(instance, dump_dates)

nightly.ingest_dumps = probed_ingest_dumps
code = nightly.main(sys.argv[1:])
print(f"frozen at the end: {gc.get_freeze_count()}; tracked, not frozen: {len(gc.get_objects())}", flush=True)
sys.exit(code)
"""


@pytest.mark.slow
def test_the_nightly_process_freezes_the_code_location_and_then_its_whole_heap(tmp_path):
    from orchestration.sample_data import GeneratorConfig, generate

    generate(tmp_path / "data", GeneratorConfig(seed=5, persons=200, days=1))
    dump_date = sorted(p.name for p in (tmp_path / "data" / "landing").iterdir())[0]
    (tmp_path / "dagster_home").mkdir()
    env = {**os.environ, "CDP_DATA_DIR": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false"}
    completed = subprocess.run(
        [sys.executable, "-c", NIGHT_WITH_PROBES, "--ingest-only", "--dump-date", dump_date],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    before = int(re.search(r"frozen before the jobs: (\d+)", completed.stdout).group(1))
    at_end = re.search(r"frozen at the end: (\d+); tracked, not frozen: (\d+)", completed.stdout)
    # Dagster, dbt and the project alone are well over 100,000 tracked objects.
    assert before > 100_000, f"the code location was not frozen before the jobs ({before} objects frozen)"
    assert int(at_end.group(1)) > before
    assert int(at_end.group(2)) < 1_000, "objects the night created were left for the collections at exit"
