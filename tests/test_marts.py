"""Known answers from the marts and segments, on the sample retailer built end to end (tests/conftest.py).

The generator's ground truth says which person is behind every order; the warehouse never reads it, these
tests do, to check the answers the marketing segments depend on.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from orchestration.settings import PROJECT_ROOT, data_paths
from tests.conftest import warehouse_connection

pytestmark = pytest.mark.slow

INACTIVE_DAYS = 180  # dbt_project.yml vars: inactive_days
RFM_BUCKETS = 5  # dbt_project.yml vars: rfm_bucket_count


@pytest.fixture(scope="module")
def warehouse(built_warehouse):
    connection = warehouse_connection(built_warehouse)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def ground_truth(built_warehouse) -> Path:
    return data_paths(built_warehouse).ground_truth


def frame(warehouse, sql: str, params: list | None = None) -> pd.DataFrame:
    return warehouse.execute(sql, params or []).df()


def scalar(warehouse, sql: str, params: list | None = None):
    return warehouse.execute(sql, params or []).fetchone()[0]


def test_customers_has_one_row_per_resolved_customer(warehouse):
    counts = frame(warehouse, """
        select
            (select count(*) from customers) as rows,
            (select count(distinct customer_id) from customers) as customers,
            (select count(distinct customer_id) from int_identifiers_resolved) as resolved
    """).iloc[0]
    assert counts["rows"] > 0
    assert counts["rows"] == counts["customers"] == counts["resolved"]
    # Every identified order belongs to a customer of the mart.
    assert scalar(warehouse, """
        select count(*) from orders
        where customer_id is not null and customer_id not in (select customer_id from customers)
    """) == 0


def test_recent_erp_only_buyers_are_not_inactive(warehouse, ground_truth):
    """A person who buys only by phone or in store (ERP documents, never the web shop) and bought recently
    must not be inactive: segments are computed on purchases from every source."""
    buyers = frame(warehouse, f"""
        with document_people as (
            select document_number, person_id from read_parquet('{ground_truth / "erp_documents.parquet"}')
        ),
        person_orders as (
            select
                document_people.person_id,
                orders.order_id,
                orders.source_system,
                orders.sales_channel,
                orders.customer_id,
                orders.is_purchase,
                orders.ordered_date
            from orders
            inner join document_people
                on orders.source_system = 'erp' and orders.source_order_key = document_people.document_number
        ),
        shop_or_till_people as (
            -- People with any shop order or till receipt are not ERP-only.
            select person_id from read_parquet('{ground_truth / "shop_orders.parquet"}')
            union
            select person_id from read_parquet('{ground_truth / "pos_receipts.parquet"}')
        )
        select
            person_orders.person_id,
            min(person_orders.customer_id) as customer_id,
            count(distinct person_orders.customer_id) as customer_ids,
            max(person_orders.ordered_date) filter (where person_orders.is_purchase) as last_purchase
        from person_orders
        where person_orders.person_id not in (select person_id from shop_or_till_people where person_id is not null)
        group by person_orders.person_id
        having bool_and(person_orders.sales_channel in ('phone', 'store'))
    """)
    as_of = scalar(warehouse, "select as_of_date from int_as_of_date")
    recent = buyers[
        buyers["customer_id"].notna()
        & (buyers["customer_ids"] == 1)
        & (pd.to_datetime(buyers["last_purchase"]) >= pd.Timestamp(as_of) - pd.Timedelta(days=INACTIVE_DAYS))
    ]
    assert len(recent) >= 3, "the sample should hold recent ERP-only (phone/store) buyers"
    ids = recent["customer_id"].tolist()
    placeholders = ", ".join("?" for _ in ids)
    profiles = frame(warehouse, f"""
        select customer_id, days_since_last_order, order_count, online_order_count, offline_order_count,
            is_email_contactable or is_sms_contactable or is_push_contactable as is_reachable
        from customers where customer_id in ({placeholders})
    """, ids)
    assert len(profiles) == len(ids)
    assert (profiles["order_count"] > 0).all()
    assert (profiles["days_since_last_order"] <= INACTIVE_DAYS).all(), profiles
    in_segment = scalar(warehouse, f"select count(*) from segment_inactive where customer_id in ({placeholders})", ids)
    assert in_segment == 0
    # The segment holds reachable people only: make sure the check above covered some of them.
    assert profiles["is_reachable"].any(), "no reachable ERP-only buyer in the sample: the check is vacuous"
    # And nobody in the segment bought anywhere within the window.
    assert scalar(warehouse, f"""
        select count(*) from segment_inactive
        inner join orders on segment_inactive.customer_id = orders.customer_id
        where orders.is_purchase and orders.ordered_date > (select as_of_date from int_as_of_date) - {INACTIVE_DAYS}
    """) == 0


def test_rfm_equal_values_get_equal_scores(warehouse):
    rfm = frame(warehouse, "select * from customer_rfm")
    assert len(rfm) > 100
    for value, score in [("recency_days", "recency_score"), ("frequency", "frequency_score"),
                         ("monetary", "monetary_score")]:
        assert rfm.groupby(value)[score].nunique().max() == 1, f"{value}: a tie got different scores"
    # The sample has real ties, so the check above is not vacuous.
    assert rfm["recency_days"].duplicated().any() and rfm["frequency"].duplicated().any()


def test_rfm_scores_match_the_documented_formula(warehouse):
    """Independent of row order: recompute 1 + floor((rank - 1) * N / n), rank with ties at their minimum,
    from the customers mart in pandas, after shuffling, and compare."""
    buyers = frame(warehouse, """
        select customer_id, days_since_last_order, order_count, net_revenue
        from customers where order_count > 0
    """).sample(frac=1.0, random_state=7)
    n = len(buyers)

    def score(values: pd.Series, ascending: bool) -> pd.Series:
        rank = values.rank(method="min", ascending=ascending).astype(int)
        return 1 + (rank - 1) * RFM_BUCKETS // n

    expected = pd.DataFrame({
        "customer_id": buyers["customer_id"],
        "recency_score": score(buyers["days_since_last_order"], ascending=False),
        "frequency_score": score(buyers["order_count"], ascending=True),
        "monetary_score": score(buyers["net_revenue"].astype(float), ascending=True),
    }).set_index("customer_id").sort_index()
    actual = frame(warehouse, "select customer_id, recency_score, frequency_score, monetary_score from customer_rfm")
    actual = actual.set_index("customer_id").sort_index().astype(int)
    pd.testing.assert_frame_equal(actual, expected.astype(int), check_dtype=False)
    assert set(actual["recency_score"]) == set(range(1, RFM_BUCKETS + 1))


def test_every_rfm_customer_has_exactly_one_segment(warehouse):
    seed = PROJECT_ROOT / "seeds" / "rfm_segment_map.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        ranges = list(csv.DictReader(handle))
    for recency in range(1, RFM_BUCKETS + 1):
        for frequency in range(1, RFM_BUCKETS + 1):
            matches = [row["segment"] for row in ranges
                       if int(row["r_min"]) <= recency <= int(row["r_max"])
                       and int(row["f_min"]) <= frequency <= int(row["f_max"])]
            assert len(matches) == 1, f"R{recency}F{frequency} maps to {matches}"
    counts = frame(warehouse, """
        select
            (select count(*) from customer_rfm) as rows,
            (select count(distinct customer_id) from customer_rfm) as customers,
            (select count(*) from customer_rfm where rfm_segment is null) as without_segment,
            (select count(*) from customers where order_count > 0) as buyers
    """).iloc[0]
    assert counts["rows"] == counts["customers"] == counts["buyers"]
    assert counts["without_segment"] == 0
    segments = set(frame(warehouse, "select distinct rfm_segment from customer_rfm")["rfm_segment"])
    assert segments <= {row["segment"] for row in ranges}
    assert len(segments) >= 8, f"suspiciously few segments in use: {sorted(segments)}"


def test_products_keep_offline_only_and_unknown_skus(warehouse, ground_truth):
    flags = frame(warehouse, """
        select
            count(*) filter (where is_offline_only) as offline_only,
            count(*) filter (where is_unknown_sku) as unknown,
            count(*) filter (where is_offline_only and order_line_count > 0) as offline_only_sold,
            count(*) - count(distinct sku) as duplicate_skus
        from products
    """).iloc[0]
    assert flags["offline_only"] > 0 and flags["offline_only_sold"] > 0
    assert flags["unknown"] > 0
    assert flags["duplicate_skus"] == 0
    # Never drop a SKU: every catalog SKU and every SKU sold is a product.
    assert scalar(warehouse, """
        select count(*) from (
            select sku from stg_catalog__erp_products
            union select sku from stg_catalog__web_feed_products
            union select sku from order_lines where sku is not null
        ) as skus
        where sku not in (select sku from products)
    """) == 0
    # The lines the generator sold with an invented SKU end up as unknown products.
    unknown_injected = frame(warehouse, f"""
        select distinct lines.sku, products.is_unknown_sku
        from read_parquet('{ground_truth / "injected_defects.parquet"}') as defects
        inner join stg_erp__sales_lines as lines
            on lines.source_file = defects.dump_date || '/' || defects.source || '/' || defects.file
            and lines.source_line_number = defects.line_number
        left join products on lines.sku = products.sku
        where defects.defect = 'unknown_sku' and defects.source = 'erp'
    """)
    assert len(unknown_injected) > 0
    assert unknown_injected["is_unknown_sku"].fillna(False).all(), unknown_injected


def test_nobody_is_contactable_without_consent(warehouse):
    for channel, address in [("email", "email"), ("sms", "phone"), ("push", "phone")]:
        violations = scalar(warehouse, f"""
            select count(*) from customers
            where is_{channel}_contactable
                and (not has_{channel}_consent or {address} is null or {channel}_suppressed_by is not null)
        """)
        assert violations == 0, channel
    # Consent is the loyalty program's: every email-contactable customer has a loyalty record that consents.
    assert scalar(warehouse, """
        select count(*) from customers
        where is_email_contactable and customer_id not in (
            select records.customer_id
            from stg_loyalty__members as members
            inner join int_records_resolved as records
                on records.record_id = 'loyalty_member:' || members.loyalty_member_id
            where members.has_email_consent
        )
    """) == 0
    # Suppression wins over consent: an unsubscribed address after consent is not contactable.
    suppressed = frame(warehouse, """
        select email_contactability, is_email_contactable, count(*) as customers
        from customers where email_suppressed_by is not null and has_email_consent
        group by all
    """)
    assert not suppressed.empty and not suppressed["is_email_contactable"].any()
    # Segments only ever hold reachable people.
    for segment in ["segment_rfm", "segment_inactive", "segment_birthday", "segment_loyal_high_value",
                    "segment_abandoned_cart", "segment_new_customers", "segment_win_back"]:
        assert scalar(warehouse, f"""
            select count(*) from {segment}
            inner join customers using (customer_id)
            where not (customers.is_email_contactable or customers.is_sms_contactable or customers.is_push_contactable)
        """) == 0, segment
