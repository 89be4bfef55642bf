"""The gate's library imported ahead of the gate, on a thread of its own (orchestration/quality/gx_runner.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from orchestration.settings import PROJECT_ROOT

IMPORTED_AHEAD = """
import os, sys
from orchestration.quality.gx_runner import import_gx_in_background

assert "great_expectations" not in sys.modules  # loading the gate's code does not import it
thread = import_gx_in_background()
assert thread is not None and thread.daemon
thread.join()
assert "great_expectations" in sys.modules
assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
assert import_gx_in_background() is None  # imported already: no second thread
"""


def test_great_expectations_is_imported_on_a_thread_ahead_of_the_gate():
    # A fresh interpreter: this one has imported GX already, as every gate test does.
    environment = {key: value for key, value in os.environ.items() if key != "GX_ANALYTICS_ENABLED"}
    completed = subprocess.run([sys.executable, "-c", IMPORTED_AHEAD], cwd=PROJECT_ROOT, env=environment,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr


def test_the_warehouse_step_starts_it_before_dbt():
    from orchestration.dbt import assets

    source = (PROJECT_ROOT / "orchestration" / "dbt" / "assets.py").read_text()
    assert assets.import_gx_in_background.__module__ == "orchestration.quality.gx_runner"
    assert source.index("import_gx_in_background()") < source.index("dbt.cli(args")
