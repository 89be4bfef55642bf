"""Connected components (macros/connected_components.sql) on a synthetic identity graph of N identifiers.

The sample retailer at M has about 3.4 million identifiers; L (10 million persons) cannot be generated on a
small disk. This runs the very SQL dbt compiles for int_identifiers_clustered on a graph shaped like the
real one (each person a star: one hub identifier tied to three others; one person in a thousand also shares
an identifier with the next, so some components are chains of stars), with identifier-like keys.

    python -m benchmarks.identity_scale --identifiers 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.dbt_compile import compiled_model_sql
from orchestration.ingest.parsing import sql_literal

PER_PERSON = 4


def compiled_clustering_sql(target: Path) -> str:
    """dbt's compiled SQL of int_identifiers_clustered, reading a table named synthetic_edges instead."""
    (target / "warehouse").mkdir(parents=True, exist_ok=True)
    compiled = compiled_model_sql("int_identifiers_clustered", target, target / "dbt")
    return re.sub(r'"[^"]+"\."[^"]+"\."int_identity_edges"', "synthetic_edges", compiled)


def run(identifiers: int, memory_limit: str | None = None) -> dict:
    persons = identifiers // PER_PERSON
    with tempfile.TemporaryDirectory(prefix="identity-scale-") as scratch:
        sql = compiled_clustering_sql(Path(scratch))
        con = duckdb.connect(str(Path(scratch) / "graph.duckdb"))
        con.execute("set enable_progress_bar = false")
        if memory_limit:
            con.execute(f"set memory_limit = {sql_literal(memory_limit)}")
        con.execute(
            f"""
            create table synthetic_edges as
            with members as (
                select person, member, 'key:' || md5(cast(person * {PER_PERSON} + member as varchar)) as node
                from range({persons}) as p(person), range({PER_PERSON}) as m(member)
            )
            select hub.node as node_a, members.node as node_b
            from members join members as hub on hub.person = members.person and hub.member = 0
            union all
            -- one person in a thousand shares an identifier with the next person: chains of stars
            select a.node, b.node from members as a join members as b
                on b.person = a.person + 1 and a.member = 1 and b.member = 1 and a.person % 1000 = 0
            """
        )
        edges = con.execute("select count(*) from synthetic_edges").fetchone()[0]
        started = time.perf_counter()
        con.execute(f"create table clustered as {sql}")
        seconds = time.perf_counter() - started
        nodes, components = con.execute("select count(*), count(distinct component) from clustered").fetchone()
        unsettled = con.execute(
            """select count(*) from synthetic_edges e join clustered a on e.node_a = a.node
               join clustered b on e.node_b = b.node where a.component <> b.component"""
        ).fetchone()[0]
        con.close()
    return {"identifiers": nodes, "edges": edges, "components": components, "seconds": round(seconds, 2),
            "converged": unsettled == 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identifiers", type=int, default=10_000_000)
    parser.add_argument("--memory-limit", default=os.environ.get("CDP_DUCKDB_MEMORY_LIMIT"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.identifiers, args.memory_limit), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
