"""The DuckDB uniqueness tests and staging deduplication find repeated keys by sorting their hashes
(dbt_project/macros/repeated_keys.sql). They must give exactly what the plain SQL gives: the same failing
keys, the same surviving rows, with null keys and keys repeated two, three or more times among many that are not.
"""

from __future__ import annotations

import duckdb
import pytest

from orchestration.settings import data_paths
from tests.conftest import run_dbt

pytestmark = pytest.mark.slow

TABLE = "keys_under_test"
ROWS = 300_000
SEPARATOR = "-- next query"
# The project's macros, and in the same order the SQL any engine runs (the plain group by and window).
QUERIES = {
    "unique": (
        f"{{{{ duckdb__test_unique('{TABLE}', 'a') }}}}",
        f"{{{{ default__test_unique('{TABLE}', 'a') }}}}",
    ),
    "unique_combination": (
        f"{{{{ duckdb__test_unique_combination('{TABLE}', ['a', 'b']) }}}}",
        f"{{{{ default__test_unique_combination('{TABLE}', ['a', 'b']) }}}}",
    ),
    "deduplicate": (
        f"{{{{ duckdb__deduplicate('{TABLE}', 'a, b', 'version desc') }}}}",
        f"{{{{ default__deduplicate('{TABLE}', 'a, b', 'version desc') }}}}",
    ),
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Each query as the project compiles it: one dbt compile for all of them."""
    root = tmp_path_factory.mktemp("repeated_keys")
    paths = data_paths(root)
    paths.warehouse.parent.mkdir(parents=True)
    inline = f"\n{SEPARATOR}\n".join(query for pair in QUERIES.values() for query in pair)
    result = run_dbt(root, "compile", "--quiet", "--inline", inline)
    assert result.returncode == 0, result.stdout + result.stderr
    sql = [part.strip() for part in result.stdout.split(SEPARATOR)]
    assert len(sql) == 2 * len(QUERIES), result.stdout
    return {name: (sql[2 * i], sql[2 * i + 1]) for i, name in enumerate(QUERIES)}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    """Keys as sources deliver them: mostly once, some two to five times, some null in either column; and a
    version and lineage that order every row, as latest_delivery_first() does."""
    con = duckdb.connect()
    con.execute("select setseed(0.42)")
    con.execute(f"""
        create table {TABLE} as
        with drawn as (
            select
                i as version,
                case when random() < 0.98 then i else floor(random() * {ROWS})::bigint end as key_number,
                random() as null_draw
            from range({ROWS}) as numbers(i)
        )
        select
            case when null_draw < 0.01 then null else 'key-' || (key_number // 3) end as a,
            case when null_draw between 0.01 and 0.02 then null else key_number % 3 end as b,
            version,
            'file.csv' as source_file,
            version + 1 as source_line_number,
            date '2026-11-20' as dump_date,
            timestamp '2026-11-20 01:00:00' as loaded_at
        from drawn
    """)
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


@pytest.mark.parametrize("query", list(QUERIES))
def test_the_same_result_as_the_plain_sql(compiled, con, query):
    hashed, plain = compiled[query]
    assert "hash(" in hashed and "hash(" not in plain
    expected = _rows(con, plain)
    assert _rows(con, hashed) == expected


def test_the_data_has_what_the_queries_must_tell_apart(compiled, con):
    """Repeated keys with and without nulls, and rows that only the deduplication keeps or drops."""
    _, unique_sql = compiled["unique"]
    _, combination_sql = compiled["unique_combination"]
    assert len(_rows(con, unique_sql)) > 1000
    combinations = _rows(con, combination_sql)
    assert any(a is None for a, _, _ in combinations) and any(b is None for _, b, _ in combinations)
    assert max(count for *_, count in combinations) >= 3
    kept = len(_rows(con, compiled["deduplicate"][1]))
    assert 0 < ROWS - kept < ROWS // 10
