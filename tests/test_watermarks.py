"""An incremental model's watermark is written into its SQL as a literal (dbt_project/macros/incremental.sql:
stored_watermark), read from its stored table when the model is compiled.

The literal must be exactly the newest stamp the table holds (microseconds included: a later load a microsecond
apart must still count as new), 1970-01-01 for an empty table, and converted to UTC where the stored column is
an instant (the change log). No subquery is left for the planner to guess about.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import data_paths
from tests.conftest import dbt_target_dir, run_dbt

pytestmark = pytest.mark.slow

MODELS = ("stg_web__events", "int_web_events_resolved", "identity_change_log")


def _compiled(root: Path) -> dict[str, str]:
    done = run_dbt(root, "compile", "--select", *MODELS)
    assert done.returncode == 0, done.stdout + done.stderr
    compiled = dbt_target_dir(root) / "compiled"
    return {path.stem: path.read_text() for path in compiled.rglob("*.sql") if path.stem in MODELS}


def _literal_after(sql: str, comparison: str) -> str:
    found = re.findall(re.escape(comparison) + r" cast\('([^']+)' as timestamp\)", sql)
    assert found, f"no literal watermark after {comparison!r} in:\n{sql}"
    assert len(set(found)) == 1, found
    return found[0]


def test_the_watermark_is_the_newest_stored_stamp(warehouse_copy):
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse), read_only=True) as con:
        def newest(sql: str) -> str:
            return con.execute(f"select strftime(({sql}), '%Y-%m-%d %H:%M:%S.%f')").fetchone()[0]

        expected = {
            "stg_web__events": newest("select max(loaded_at) from stg_web__events"),
            "int_web_events_resolved": newest("select max(loaded_at) from int_web_events_resolved"),
            "int_web_events_resolved changed": newest("select max(changed_at) from int_web_events_resolved"),
            "identity_change_log": newest("select max(changed_at) at time zone 'UTC' from identity_change_log"),
        }
    compiled = _compiled(warehouse_copy)
    assert _literal_after(compiled["stg_web__events"], "_loaded_at >") == expected["stg_web__events"]
    assert _literal_after(compiled["int_web_events_resolved"], "where loaded_at >") == expected["int_web_events_resolved"]
    assert (_literal_after(compiled["int_web_events_resolved"], "where changed_at >")
            == expected["int_web_events_resolved changed"])
    assert _literal_after(compiled["identity_change_log"], "changed_at >") == expected["identity_change_log"]
    # Microseconds are kept: the builds' stamps carry them.
    assert not expected["stg_web__events"].endswith(".000000")
    for name, sql in compiled.items():
        assert "coalesce(max(" not in sql, f"{name} still reads its watermark in a subquery"


def test_an_empty_table_reads_everything(warehouse_copy):
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute("delete from int_web_events_resolved")
    sql = _compiled(warehouse_copy)["int_web_events_resolved"]
    assert _literal_after(sql, "where loaded_at >") == "1970-01-01 00:00:00.000000"
