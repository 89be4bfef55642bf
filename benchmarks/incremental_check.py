"""After the incremental night: do the identity components, kept up night by night, equal a full recomputation?

`int_identifiers_clustered` recomputes only the components around candidate nodes found from upstream stamps
(docs/performance.md, section S). tests/test_incremental.py proves the whole warehouse equal to a full build on
the sample retailer; this repeats the check for the components at the benchmark's scale. The model's
full-build SQL, as `dbt compile --full-refresh` renders it, runs read-only against the warehouse's own links,
and its rows are compared with the stored ones (node, component and both fingerprints) in both directions.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.dbt_compile import compiled_model_sql

MODEL = "int_identifiers_clustered"
COMPARED_COLUMNS = "node, component, neighbour_count, neighbour_hash_sum"


def components_match_full_recomputation(data_dir: Path) -> dict:
    import duckdb

    from orchestration.settings import data_paths

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as target:
        sql = compiled_model_sql(MODEL, data_dir, Path(target), full_refresh=True)
    warehouse = data_paths(data_dir).warehouse
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
