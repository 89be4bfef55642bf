"""Identity resolution on the sample retailer, scored against the generator's ground truth."""

from __future__ import annotations

import pytest

from orchestration.quality.identity_scoring import TRUTH_SQL, score_identity
from orchestration.settings import data_paths
from tests.conftest import change_log_out_of_date, warehouse_connection

pytestmark = pytest.mark.slow


def test_pairwise_precision_and_recall_meet_the_bar(built_warehouse):
    score = score_identity(built_warehouse)
    print(score.as_json())
    assert score.records_scored > 5_000
    assert score.precision >= 0.99, score
    assert score.recall >= 0.98, score


def truth_connection(root):
    con = warehouse_connection(root)
    con.execute(f"create temp view truth as {TRUTH_SQL.format(gt=data_paths(root).ground_truth)}")
    return con


def test_no_identifier_shared_by_strangers_links_them(built_warehouse):
    """Placeholders and shared values (0000000000, test@test.ru, a store's phone) never link records."""
    con = truth_connection(built_warehouse)
    crowd = con.execute(
        """
        select observed.identifier_key, count(distinct truth.person_id) as persons, bool_and(assessed.is_linking)
        from int_identifiers_observed as observed
        inner join truth on observed.record_id = truth.record_id
        inner join int_identifiers_assessed as assessed on observed.identifier_key = assessed.identifier_key
        group by observed.identifier_key
        having count(distinct truth.person_id) >= 3
        """
    ).fetchall()
    assert crowd, "the sample retailer should contain shared placeholder identifiers"
    assert [row for row in crowd if row[2]] == [], "an identifier shared by 3+ people still links them"
    placeholders = dict(con.execute(
        "select identifier_key, block_reason from identity_blocked_identifiers "
        "where identifier_key in ('phone:+70000000000', 'email:test@test.ru')"
    ).fetchall()) if _has_key_column(con) else dict(con.execute(
        "select identifier_type || ':' || identifier_value, block_reason from identity_blocked_identifiers "
        "where identifier_type || ':' || identifier_value in ('phone:+70000000000', 'email:test@test.ru')"
    ).fetchall())
    assert set(placeholders) == {"phone:+70000000000", "email:test@test.ru"}
    assert all(reason for reason in placeholders.values())


def _has_key_column(con) -> bool:
    columns = [row[0] for row in con.execute("describe identity_blocked_identifiers").fetchall()]
    return "identifier_key" in columns


def test_repeated_receipt_numbers_merge_no_one(built_warehouse):
    """Receipt numbers repeat across stores and years: each real receipt stays its own order and person."""
    con = truth_connection(built_warehouse)
    repeated = con.execute(
        """
        select count(*) from (
            select receipt_no from read_parquet(?)
            group by receipt_no having count(distinct store_code || '-' || receipt_year) > 1
        )
        """,
        [str(data_paths(built_warehouse).ground_truth / "pos_receipts.parquet")],
    ).fetchone()[0]
    assert repeated > 0, "the sample must contain receipt numbers repeated across stores/years"
    # One order per real receipt (store, year, number), none glued together.
    glued = con.execute(
        """
        select order_id from int_orders_unified where source_system = 'pos'
        group by order_id having count(*) > 1
        """
    ).fetchall()
    assert glued == []
    # Two receipts with the same number but different true buyers never share a customer.
    mixed = con.execute(
        """
        with receipts as (
            select orders.order_id, orders.customer_id, split_part(orders.source_order_key, '-', 3) as receipt_no,
                truth.person_id
            from int_orders_unified as orders
            inner join truth on 'pos_receipt:' || orders.source_order_key = truth.record_id
            where orders.source_system = 'pos' and orders.customer_id is not null
        )
        select count(*) from receipts as one
        inner join receipts as other
            on one.receipt_no = other.receipt_no and one.order_id < other.order_id
            and one.customer_id = other.customer_id and one.person_id <> other.person_id
        """
    ).fetchone()[0]
    assert mixed == 0


def test_customer_ids_are_stable_when_a_new_day_arrives(two_nights):
    """Build on the first two dumps, then load the third: existing people keep their customer_id."""
    before = two_nights.identifiers_before
    with warehouse_connection(two_nights.root) as con:
        after = dict(con.execute("select identifier_key, customer_id from int_identifiers_resolved").fetchall())
        # The log is append-only: what the second night added is everything after the first night's rows.
        appended = con.execute(
            "select identifier_key, change_type from identity_change_log order by changed_at, identifier_key "
            "offset ?", [two_nights.change_log_rows_before]
        ).fetchall()

    logged_moves = {key for key, change in appended if change in ("merged", "split", "blocked")}
    logged_new = {key for key, change in appended if change in ("new", "new_blocked")}
    kept = [key for key in before if key in after]
    moved = {key for key in kept if before[key] != after[key]}
    assert len(kept) > 0.95 * len(before)
    assert moved <= logged_moves, f"customer_id changed without a change-log entry: {sorted(moved - logged_moves)[:5]}"
    assert len(moved) <= 0.01 * len(kept), f"{len(moved)} of {len(kept)} identifiers changed customer"
    assert set(after) - set(before) <= logged_new, "every new identifier is logged as new"


def test_the_change_log_ends_at_every_current_assignment(two_nights):
    """The log's latest row per identifier is its current customer_id (null when blocked), after incremental
    nights that log only the identifiers whose assignment could have changed."""
    with warehouse_connection(two_nights.root) as con:
        stale = change_log_out_of_date(con)
        nights = con.execute("select count(distinct invocation_id) from identity_change_log").fetchone()[0]
    assert nights >= 2
    assert stale == []
