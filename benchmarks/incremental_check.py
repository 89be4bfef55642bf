"""After the incremental night: do the identity components, kept up night by night, equal a full recomputation?

`int_identifiers_clustered` recomputes only the components around candidate nodes found from upstream stamps
(docs/performance.md, section S). tests/test_incremental.py proves the whole warehouse equal to a full build on
the sample retailer; this repeats the check for the components at the benchmark's scale. The model's
full-build SQL, as `dbt compile --full-refresh` renders it, runs read-only against the warehouse's own links,
and its rows are compared with the stored ones (node, component and both fingerprints) in both directions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "int_identifiers_clustered"
COMPARED_COLUMNS = "node, component, neighbour_count, neighbour_hash_sum"


def full_build_sql(model: str) -> str:
    """The model's SQL as a full build runs it (no incremental branch), compiled by dbt into a scratch folder."""
    from orchestration.dbt.project import DBT_PROJECT_DIR, TELEMETRY_OFF

    with tempfile.TemporaryDirectory(prefix="bench-compile-") as target:
        completed = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "compile", "--quiet", "--full-refresh", "--select", model,
             "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", target],
            cwd=DBT_PROJECT_DIR, env={**os.environ, **TELEMETRY_OFF}, capture_output=True, text=True,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"dbt compile of {model} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
        compiled = list(Path(target, "compiled").rglob(f"{model}.sql"))
        if len(compiled) != 1:
            raise RuntimeError(f"dbt compile of {model} left {len(compiled)} files named {model}.sql in {target}")
        return compiled[0].read_text(encoding="utf-8")


def components_match_full_recomputation(warehouse: Path) -> dict:
    import duckdb

    started = time.perf_counter()
    sql = full_build_sql(MODEL)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set enable_progress_bar = false")
        con.execute(f"create temp table recomputed as select {COMPARED_COLUMNS} from ({sql}) as full_build")
        only_recomputed, only_stored = (
            con.execute(f"select count(*) from (select {COMPARED_COLUMNS} from {left} "
                        f"except all select {COMPARED_COLUMNS} from {right})").fetchone()[0]
            for left, right in (("recomputed", MODEL), (MODEL, "recomputed"))
        )
        nodes, components = con.execute("select count(*), count(distinct component) from recomputed").fetchone()
    return {"model": MODEL, "nodes": nodes, "components": components, "rows_only_in_full_recomputation": only_recomputed,
            "rows_only_stored": only_stored, "equal": only_recomputed == 0 and only_stored == 0,
            "seconds": round(time.perf_counter() - started, 2)}
