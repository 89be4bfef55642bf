"""Tests on incremental models check the rows written since the test last passed (dbt_project/macros/tests_since_passed.sql).

A duplicate key written after the test passed fails `unique`, also against an older row; a failure keeps failing
on the next runs until it is fixed; a duplicate among rows the test already passed on is found only by
full-table tests; in the models whose changed_at stays older when a row is rewritten, the rows written since
are found by written_at. A relationships test to an incremental model reads the rows written since and the
children of the keys the parent deleted since (dbt_project/macros/deleted_keys.sql); one that warns every night
and stores its failures also reads the rows of the keys it found without a parent last time, and counts the whole
table's. The components' convergence test follows the same rule.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import data_paths
from tests.conftest import dbt_target_dir, delete_customers_as_the_model_does, run_dbt, warehouse_connection

pytestmark = pytest.mark.slow

UNIQUE_EVENT_ID = "unique_stg_web__events_event_id"


def _dbt_test(root: Path, selector: str, *extra: str) -> subprocess.CompletedProcess:
    return run_dbt(root, "test", "--select", selector, *extra)


def _add_event_row(root: Path, event_from: str, stamped: str) -> str:
    """Insert a second row for an event_id staged by the first or the last build. Stamped "first" it is as old as
    the rows the test has passed on; stamped "new" it is what a later build writes."""
    with duckdb.connect(str(data_paths(root).warehouse)) as con:
        first, last = con.execute("select min(staged_at), max(staged_at) from stg_web__events").fetchone()
        assert last > first, "the two nights should have staged events in two builds"
        event_id = con.execute(
            "select min(event_id) from stg_web__events where staged_at = ?",
            [{"first": first, "last": last}[event_from]]).fetchone()[0]
        stamp = "(select max(passed_through) + interval 1 second from tests_passed_through)" if stamped == "new" else "?"
        con.execute(
            f"insert into stg_web__events select * replace ({stamp} as staged_at) from stg_web__events "
            "where event_id = ?", ([] if stamped == "new" else [first]) + [event_id],
        )
    return event_id


@pytest.mark.parametrize("event_from", ["last", "first"])
def test_a_duplicate_written_since_the_test_passed_fails(warehouse_copy, event_from):
    """A new row repeating a key of the last build, or of an older row the test passed on long ago."""
    assert _dbt_test(warehouse_copy, UNIQUE_EVENT_ID).returncode == 0
    _add_event_row(warehouse_copy, event_from=event_from, stamped="new")
    failed = _dbt_test(warehouse_copy, UNIQUE_EVENT_ID)
    assert failed.returncode != 0 and "Got 1 result" in failed.stdout, failed.stdout


def test_a_failure_is_checked_again_until_it_is_fixed(warehouse_copy):
    """A night whose test failed is not forgotten by the next night: its rows are checked until they pass."""
    event_id = _add_event_row(warehouse_copy, event_from="last", stamped="new")
    assert _dbt_test(warehouse_copy, UNIQUE_EVENT_ID).returncode != 0
    assert _dbt_test(warehouse_copy, UNIQUE_EVENT_ID).returncode != 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute("delete from stg_web__events where event_id = ? and staged_at = "
                    "(select max(staged_at) from stg_web__events)", [event_id])
    assert _dbt_test(warehouse_copy, UNIQUE_EVENT_ID).returncode == 0


def test_rows_the_test_passed_on_are_checked_again_only_in_full_table_tests(warehouse_copy):
    _add_event_row(warehouse_copy, event_from="first", stamped="first")
    assert _dbt_test(warehouse_copy, UNIQUE_EVENT_ID).returncode == 0
    full = _dbt_test(warehouse_copy, UNIQUE_EVENT_ID, "--vars", "{full_table_tests: true}")
    assert full.returncode != 0 and "Got 1 result" in full.stdout, full.stdout


# Models that keep a row's changed_at when a build rewrites the row unchanged, or have no other stamp (the ERP
# documents): their tests find the rows written since they passed by written_at, the stamp of every row a build
# writes. Each with its uniqueness test and the first column of that test's key.
WRITTEN_AT_MODELS = {
    "int_identifiers_resolved": ("unique_int_identifiers_resolved_identifier_key", "identifier_key"),
    "int_erp_documents_aggregated": ("unique_int_erp_documents_aggregated_erp_document_number", "erp_document_number"),
    "int_customer_profiles_survived": ("unique_int_customer_profiles_survived_customer_id", "customer_id"),
    "int_customer_channels_assessed": (
        "unique_combination_int_customer_channels_assessed_customer_id__channel", "customer_id"),
}


def test_the_models_stamp_every_row_they_write(two_nights):
    """written_at is on every stored row, never older than changed_at, and moves with every write: after the
    second night each model holds rows of more than one build (other tests may run further nights on the same
    warehouse), and those with a changed_at hold rows written again with the same values (written_at newer than
    changed_at), which changed_at alone would hide from the tests."""
    with warehouse_connection(two_nights.root) as con:
        for model in WRITTEN_AT_MODELS:
            columns = {name for (name,) in con.execute(
                "select column_name from information_schema.columns where table_name = ?", [model]).fetchall()}
            unstamped, builds = con.execute(
                f"select count(*) filter (where written_at is null), count(distinct written_at) from {model}"
            ).fetchone()
            assert unstamped == 0, f"{model}: {unstamped} rows without written_at"
            assert builds >= 2, f"{model}: the rows of {builds} build(s) only"
            if "changed_at" in columns:
                older, newer = con.execute(
                    f"select count(*) filter (where written_at < changed_at), "
                    f"count(*) filter (where written_at > changed_at) from {model}").fetchone()
                assert older == 0, f"{model}: {older} rows written before their values last changed"
                assert newer > 0, f"{model}: no row written again with the same values"


@pytest.mark.parametrize("model", sorted(WRITTEN_AT_MODELS))
def test_a_row_written_since_the_test_passed_is_found_by_its_write_stamp(warehouse_copy, model):
    """The test reads only the rows written since it passed, and still finds a stored row written again (here a
    second copy of a first-night row, as a failed delete would leave it, with its first-night changed_at)."""
    test, key = WRITTEN_AT_MODELS[model]
    assert _dbt_test(warehouse_copy, test).returncode == 0
    assert "written_at > cast('" in _compiled_code(warehouse_copy, test)
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        first_build = con.execute(f"select min(written_at) from {model}").fetchone()[0]
        row_key = con.execute(f"select min({key}) from {model} where written_at = ?", [first_build]).fetchone()[0]
        con.execute(
            f"insert into {model} select * replace ((select max(passed_through) + interval 1 second "
            f"from tests_passed_through) as written_at) from {model} where {key} = ? "
            f"order by all limit 1", [row_key],
        )
    failed = _dbt_test(warehouse_copy, test)
    assert failed.returncode != 0 and "Got 1 result" in failed.stdout, failed.stdout


def _compiled_code(root: Path, test: str) -> str:
    """The SQL the last dbt run on `root` ran for `test` (dbt shortens the file names of long test names)."""
    results = json.loads((dbt_target_dir(root) / "run_results.json").read_text())["results"]
    return next(r["compiled_code"] for r in results if r["unique_id"].split(".")[2] == test)


ITEMS_TO_ORDERS = "stg_shop__order_items,test_name:relationships"
ITEMS_TO_ORDERS_TEST = "relationships_stg_shop__order_items_shop_order_id__shop_order_id__ref_stg_shop__orders_"
ORPHAN_ITEMS = """
    select items.shop_order_id
    from stg_shop__order_items as items
    anti join stg_shop__orders as orders on items.shop_order_id = orders.shop_order_id
    where items.shop_order_id is not null
"""


def _failing_keys(con: duckdb.DuckDBPyConnection, test: str) -> set[str]:
    return {key for (key,) in con.execute(
        "select key_text from tests_failing_keys where test_id like ?", [f"%.{test}.%"]).fetchall()}


def test_a_relationships_test_that_warns_keeps_its_failing_keys_and_counts_the_whole_table(warehouse_copy):
    """The order items' link warns every night (items whose order row was quarantined). It stores its failures,
    so it is marked when it warns and keeps the order ids it found without an order: the next run reads the
    items written since and those of the kept ids, and counts as many as the whole table holds."""
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        orphans = con.execute(f"select count(*), count(distinct shop_order_id) from ({ORPHAN_ITEMS})").fetchone()
        assert orphans[0] > 0, "the sample should have items whose order was quarantined"
        assert _failing_keys(con, ITEMS_TO_ORDERS_TEST) == {
            str(key) for (key,) in con.execute(f"select distinct shop_order_id from ({ORPHAN_ITEMS})").fetchall()}
    assert _warned_count(_dbt_test(warehouse_copy, ITEMS_TO_ORDERS)) == orphans[0]
    narrowed = _compiled_code(warehouse_copy, ITEMS_TO_ORDERS_TEST)
    assert "staged_at > cast('" in narrowed and "tests_failing_keys" in narrowed, narrowed
    full = _dbt_test(warehouse_copy, ITEMS_TO_ORDERS, "--vars", "{full_table_tests: true}")
    assert _warned_count(full) == orphans[0]
    assert "tests_failing_keys" not in _compiled_code(warehouse_copy, ITEMS_TO_ORDERS_TEST)


def test_an_order_that_arrives_late_clears_its_items_from_the_failing_keys(warehouse_copy):
    """A kept failing key is checked again: once its order is staged, its items no longer count and the key is
    dropped. An item written since that points at no order counts, and its key is kept."""
    assert _dbt_test(warehouse_copy, ITEMS_TO_ORDERS).returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        before = con.execute(f"select count(*) from ({ORPHAN_ITEMS})").fetchone()[0]
        late_order, late_items = con.execute(
            f"select shop_order_id, count(*) from ({ORPHAN_ITEMS}) group by 1 order by 1 limit 1").fetchone()
        con.execute("insert into stg_shop__orders select * replace (? as shop_order_id, "
                    "(select max(passed_through) + interval 1 second from tests_passed_through) as staged_at) "
                    "from stg_shop__orders limit 1", [late_order])
        stray_order = con.execute("select max(shop_order_id) + 1000 from stg_shop__orders").fetchone()[0]
        con.execute("insert into stg_shop__order_items select * replace (? as shop_order_id, "
                    "(select max(passed_through) + interval 1 second from tests_passed_through) as staged_at) "
                    "from stg_shop__order_items where shop_order_id in (select shop_order_id from stg_shop__orders) "
                    "limit 1", [stray_order])
    assert _warned_count(_dbt_test(warehouse_copy, ITEMS_TO_ORDERS)) == before - late_items + 1
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        kept = _failing_keys(con, ITEMS_TO_ORDERS_TEST)
    assert str(late_order) not in kept and str(stray_order) in kept


def test_a_full_build_of_a_parent_without_deleting_hooks_starts_its_record_over(warehouse_copy, two_nights):
    """The till receipts and the shop orders delete no keys between full builds, so they keep an empty record
    and the tests on their lines are narrowed. A full build can drop any key unrecorded: the next test reads
    the whole table (here finding the items of an order then deleted by hand); between full builds a key deleted
    by hand is found only by full_table_tests."""
    assert _dbt_test(warehouse_copy, ITEMS_TO_ORDERS).returncode == 0
    assert "tests_failing_keys" in _compiled_code(warehouse_copy, ITEMS_TO_ORDERS_TEST)
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        before = con.execute(f"select count(*) from ({ORPHAN_ITEMS})").fetchone()[0]
        first_build = con.execute("select min(staged_at) from stg_shop__order_items").fetchone()[0]
        order_id, items = con.execute(
            "select shop_order_id, count(*) from stg_shop__order_items where staged_at = ? and shop_order_id in "
            "(select shop_order_id from stg_shop__orders) group by 1 order by 1 limit 1", [first_build]).fetchone()
        con.execute("delete from stg_shop__orders where shop_order_id = ?", [order_id])
    assert _warned_count(_dbt_test(warehouse_copy, ITEMS_TO_ORDERS)) == before
    assert _warned_count(_dbt_test(
        warehouse_copy, ITEMS_TO_ORDERS, "--vars", "{full_table_tests: true}")) == before + items

    data_paths(warehouse_copy).lake.symlink_to(data_paths(two_nights.root).lake)  # read by the full build
    assert run_dbt(warehouse_copy, "run", "--select", "stg_shop__orders", "--full-refresh").returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        record = con.execute("select count(*), count(deleted_key), max(deleted_at) from deleted_keys "
                             "where model_id like '%.stg_shop__orders'").fetchone()
        rebuilt_at = con.execute("select max(staged_at) from stg_shop__orders").fetchone()[0]
        con.execute("delete from stg_shop__orders where shop_order_id = ?", [order_id])
    assert record == (1, 0, rebuilt_at)
    assert _warned_count(_dbt_test(warehouse_copy, ITEMS_TO_ORDERS)) == before + items
    assert "staged_at > cast('" not in _compiled_code(warehouse_copy, ITEMS_TO_ORDERS_TEST)


ORDERS_TO_CUSTOMERS = "int_orders_unified,test_name:relationships"
ORDERS_TO_CUSTOMERS_TEST = "relationships_int_orders_unified_customer_id__customer_id__ref_int_customers_assembled_"


def _customer_of_first_night_orders(con: duckdb.DuckDBPyConnection, rank: int) -> tuple[str, int]:
    """A customer whose orders were all written by the first build (none since), and how many they have."""
    return con.execute(
        """
        select customer_id, count(*)
        from int_orders_unified
        where customer_id is not null
        group by customer_id
        having max(changed_at) = (select min(changed_at) from int_orders_unified)
        order by customer_id
        limit 1 offset ?
        """, [rank]).fetchone()


def test_every_hook_that_deletes_rows_records_their_keys(two_nights):
    """Every hook that deletes rows goes through delete_stored_rows, the one macro that deletes stored rows and
    records their keys: a hook deleting otherwise would leave the narrowed relationships tests blind to its
    deletes. After the two sample nights, each incremental model with a one-column key that a relationships
    test points at has a record reaching back to those tests' passes, whether it deletes (the orders, the
    customers) or not (the till receipts, the shop orders: an empty record); no other model has one."""
    from orchestration.dbt.project import DBT_PROJECT_DIR, parse_project

    nodes = json.loads(parse_project().read_text())["nodes"].values()
    recording_hooks = ("delete_tombstones(", "delete_rows_of_replaced_deliveries(")
    hooks = [hook["sql"] for node in nodes
             for hook in node["config"].get("post-hook", []) + node["config"].get("pre-hook", [])]
    record_start = "start_deleted_keys_record()"  # every model's hook: starts the record, deletes no stored row
    assert all(any(call in hook for call in recording_hooks)
               for hook in hooks if "delete" in hook.lower() and record_start not in hook)
    assert all(any(record_start in hook["sql"] for hook in node["config"]["post-hook"])
               for node in nodes if node["resource_type"] == "model")
    macros = "".join(path.read_text() for path in (DBT_PROJECT_DIR / "macros").rglob("*.sql"))
    assert len(re.findall(r"delete\s+from\s+\{\{\s*this\b", macros, re.IGNORECASE)) == 1

    single_key_incremental = {
        node["unique_id"] for node in nodes
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
        and isinstance(node["config"]["unique_key"], str) and "," not in node["config"]["unique_key"]
    }
    readers = {}
    for node in nodes:
        if (node.get("test_metadata") or {}).get("name") == "relationships":
            for parent in set(node["depends_on"]["nodes"]) - {node["attached_node"]}:
                readers.setdefault(parent, []).append(node["unique_id"])
    parents = {"model.retail_cdp.int_orders_unified", "model.retail_cdp.int_customers_assembled",
               "model.retail_cdp.stg_pos__receipts", "model.retail_cdp.stg_shop__orders"}
    assert parents <= single_key_incremental & set(readers)
    with warehouse_connection(two_nights.root) as con:
        recorded = dict(con.execute(
            "select model_id, deleted_at from deleted_keys where deleted_key is null").fetchall())
        passes = dict(con.execute("select test_id, passed_through from tests_passed_through").fetchall())
    assert set(recorded) == single_key_incremental & set(readers)
    for parent, since in recorded.items():
        assert since <= min(passes[test] for test in readers[parent]), parent


def test_relationships_find_the_children_of_a_key_the_parent_deleted(warehouse_copy):
    """A customer merged away upstream (its profile deleted and recorded, as the profiles do) is deleted from
    int_customers_assembled by its post-hook, which records the key; the orders' test then finds that customer's
    orders although none was written since it passed."""
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    assert "changed_at > cast('" in _compiled_code(warehouse_copy, ORDERS_TO_CUSTOMERS_TEST)
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        customer_id, orders = _customer_of_first_night_orders(con, rank=0)
        delete_customers_as_the_model_does(con, "int_customer_profiles_survived", [customer_id])
    assert run_dbt(warehouse_copy, "run", "--select", "int_customers_assembled").returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        recorded = con.execute(
            "select count(*) from deleted_keys where model_id like '%.int_customers_assembled' and deleted_key = ?",
            [customer_id]).fetchone()[0]
    assert recorded == 1
    failed = _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS)
    assert failed.returncode != 0 and f"Got {orders} result" in failed.stdout, failed.stdout
    narrowed = _compiled_code(warehouse_copy, ORDERS_TO_CUSTOMERS_TEST)
    assert "changed_at > cast('" in narrowed and "deleted_keys" in narrowed, narrowed


def test_the_record_keeps_only_what_a_test_will_read(warehouse_copy):
    """After a run, a parent's keys deleted before the oldest pass of the tests pointing at it are dropped and
    its record starts at that pass; a model no test points at keeps no record. A test whose pass is older than
    the record's start (one that comes back after it was removed) reads its whole table."""
    parent, unread = "model.retail_cdp.int_customers_assembled", "model.retail_cdp.int_identity_edges"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.executemany("insert into deleted_keys values (?, ?, ?)", [
            (parent, "deleted long ago", "2000-01-01"), (parent, "deleted later", "2100-01-01"),
            (unread, "read by no test", "2100-01-01")])
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    assert "changed_at > cast('" in _compiled_code(warehouse_copy, ORDERS_TO_CUSTOMERS_TEST)
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        kept = con.execute("select model_id, deleted_key from deleted_keys where deleted_key is not null "
                           "and model_id in (?, ?) order by all", [parent, unread]).fetchall()
        since = con.execute("select deleted_at from deleted_keys where model_id = ? and deleted_key is null",
                            [parent]).fetchone()[0]
        passed = con.execute("select passed_through from tests_passed_through where test_id like ?",
                             [f"%.{ORDERS_TO_CUSTOMERS_TEST}%"]).fetchone()[0]
        assert kept == [(parent, "deleted later")]
        assert since == passed  # the only test pointing at int_customers_assembled
        con.execute("update tests_passed_through set passed_through = passed_through - interval 1 hour "
                    "where test_id like ?", [f"%.{ORDERS_TO_CUSTOMERS_TEST}%"])
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    assert "changed_at > cast('" not in _compiled_code(warehouse_copy, ORDERS_TO_CUSTOMERS_TEST)


def test_a_parent_whose_tests_never_passed_keeps_no_deleted_keys(warehouse_copy):
    """With no pass of the tests pointing at a parent (they read whole tables), a run drops the parent's keys
    deleted so far and starts its record at that run, even one that runs other tests only."""
    parent = "model.retail_cdp.int_customers_assembled"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute("delete from tests_passed_through where test_id like ?", [f"%.{ORDERS_TO_CUSTOMERS_TEST}%"])
        con.execute("insert into deleted_keys select ?, 'deleted before the run', max(passed_through) "
                    "from tests_passed_through", [parent])
    assert _dbt_test(warehouse_copy, UNIQUE_EVENT_ID).returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        record = con.execute("select deleted_key, deleted_at from deleted_keys where model_id = ?",
                             [parent]).fetchall()
        run_started = con.execute("select max(passed_through) from tests_passed_through").fetchone()[0]
    assert record == [(None, run_started)]


def test_relationships_miss_a_parent_deleted_by_hand_until_full_table_tests(warehouse_copy):
    """What the narrowing relies on: a key deleted outside the model's hooks leaves no record, so only
    full_table_tests (or a full rebuild of the parent) finds its children (docs/runbook.md)."""
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        customer_id, orders = _customer_of_first_night_orders(con, rank=1)
        con.execute("delete from int_customers_assembled where customer_id = ?", [customer_id])
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    full = _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS, "--vars", "{full_table_tests: true}")
    assert full.returncode != 0 and f"Got {orders} result" in full.stdout, full.stdout


def test_a_full_build_of_the_parent_starts_its_record_over(warehouse_copy):
    """A full build can drop any key without a record: the next test reads the whole child table, and the
    record of the parent's deleted keys starts at that build."""
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    assert run_dbt(warehouse_copy, "run", "--select", "int_customers_assembled", "--full-refresh").returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        record = con.execute(
            "select count(*), count(deleted_key), max(deleted_at) from deleted_keys "
            "where model_id like '%.int_customers_assembled'").fetchone()
        rebuilt_at = con.execute("select max(changed_at) from int_customers_assembled").fetchone()[0]
    assert record == (1, 0, rebuilt_at)
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    assert "changed_at > cast('" not in _compiled_code(warehouse_copy, ORDERS_TO_CUSTOMERS_TEST)
    assert _dbt_test(warehouse_copy, ORDERS_TO_CUSTOMERS).returncode == 0
    assert "changed_at > cast('" in _compiled_code(warehouse_copy, ORDERS_TO_CUSTOMERS_TEST)


SKU_TO_PRODUCTS = "int_order_lines_unified,test_name:relationships"
SKU_TO_PRODUCTS_TEST = "relationships_int_order_lines_unified_sku__sku__ref_int_products_assembled_"


def test_a_parent_that_rewrites_every_row_without_a_full_build_keeps_the_test_narrowed(warehouse_copy):
    """The products rewrite every SKU with a new stamp on any night something they read changed (here one catalog
    price), without a full build and without losing a key: the order lines' test stays narrowed. The parent's
    stamps cannot tell such a night from a full build, so only a full build starts the record over."""
    assert _dbt_test(warehouse_copy, SKU_TO_PRODUCTS).returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute("update stg_catalog__erp_products set price = coalesce(price, 0) + 1 "
                    "where sku = (select min(sku) from stg_catalog__erp_products)")
    assert run_dbt(warehouse_copy, "run", "--select", "int_products_assembled").returncode == 0
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        rewritten_at, passed = con.execute(
            "select (select min(changed_at) from int_products_assembled), "
            "(select passed_through from tests_passed_through where test_id like ?)",
            [f"%.{SKU_TO_PRODUCTS_TEST}%"]).fetchone()
    assert rewritten_at > passed  # every SKU was written again since the test passed
    assert _dbt_test(warehouse_copy, SKU_TO_PRODUCTS).returncode == 0
    assert "changed_at > cast('" in _compiled_code(warehouse_copy, SKU_TO_PRODUCTS_TEST)


def _warned_count(result: subprocess.CompletedProcess) -> int:
    assert result.returncode == 0, result.stdout
    for line in result.stdout.splitlines():
        if "Got " in line and " result" in line:
            return int(line.split("Got ")[1].split(" result")[0])
    return 0


CONVERGED = "assert_identity_components_converged"


def _split_a_link(root: Path, build: str) -> None:
    """Give one end of a link written by the first or the last build a component of its own; for the last
    build, as a later build would (stamped now)."""
    with duckdb.connect(str(data_paths(root).warehouse)) as con:
        first, last = con.execute("select min(changed_at), max(changed_at) from int_identity_edges").fetchone()
        stamp = {"first": first, "last": last}[build]
        node = con.execute(
            """
            select min(edges.node_a)
            from int_identity_edges as edges
            inner join int_identifiers_clustered as side_a on edges.node_a = side_a.node
            inner join int_identifiers_clustered as side_b on edges.node_b = side_b.node
            where edges.changed_at = ? and side_a.changed_at = ? and side_b.changed_at = ?
                and edges.node_a <> edges.node_b
            """, [stamp, stamp, stamp]).fetchone()[0]
        assert node is not None, f"no link of the {build} build between nodes it clustered"
        stamp = "(select max(passed_through) + interval 1 second from tests_passed_through)" if build == "last" else "changed_at"
        con.execute(f"update int_identifiers_clustered set component = 'split:' || node, changed_at = {stamp} "
                    "where node = ?", [node])


def test_components_split_since_the_test_passed_fail_convergence(warehouse_copy):
    assert _dbt_test(warehouse_copy, CONVERGED).returncode == 0
    _split_a_link(warehouse_copy, "last")
    assert _dbt_test(warehouse_copy, CONVERGED).returncode != 0


def test_components_the_test_passed_on_are_checked_again_only_in_full_table_tests(warehouse_copy):
    _split_a_link(warehouse_copy, "first")
    assert _dbt_test(warehouse_copy, CONVERGED).returncode == 0
    assert _dbt_test(warehouse_copy, CONVERGED, "--vars", "{full_table_tests: true}").returncode != 0
