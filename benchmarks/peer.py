"""The peer: the same RFM scoring and segment selection in pandas, written the way analysts usually write it.

Input is what the warehouse's own RFM and segment models start from: the unified orders (one row per real
order, with its customer_id from identity resolution), the customers' contactability and the RFM segment map.
pandas reads them from the warehouse, then: groupby per customer, `qcut` into five buckets per dimension, the
R x F segment map merged in, and the segment rules of dbt_project/models/segments as boolean filters.

`qcut` over `rank(method="first")` is the common idiom; it splits ties by row order, so its scores can
differ from the warehouse's tie-safe scores (rfm_score macro). The agreement is reported, not required.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from orchestration.settings import PROJECT_ROOT

BUCKETS = 5


def _vars() -> dict:
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    return project.get("vars", {})


def run_peer(warehouse: Path) -> dict:
    settings = _vars()
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schema = con.execute(
            "select schema_name from duckdb_tables() where table_name = 'rfm_segment_map' limit 1").fetchone()[0]
        orders = con.execute(
            "select order_id, customer_id, is_purchase, net_amount, ordered_date from int_orders_unified "
            "where customer_id is not null").df()
        customers = con.execute(
            "select customer_id, is_email_contactable, is_sms_contactable, is_push_contactable from customers").df()
        segment_map = con.execute(f'select * from "{schema}".rfm_segment_map').df()
        as_of = pd.Timestamp(con.execute("select as_of_date from int_as_of_date").fetchone()[0])
    loaded = time.perf_counter()

    orders["ordered_date"] = pd.to_datetime(orders["ordered_date"])
    orders = orders[orders["ordered_date"] <= as_of]
    purchases = orders[orders["is_purchase"]]
    rfm = purchases.groupby("customer_id").agg(
        first_order_date=("ordered_date", "min"),
        last_order_date=("ordered_date", "max"),
        frequency=("order_id", "count"),
    )
    rfm["monetary"] = orders.groupby("customer_id")["net_amount"].sum()
    two_years_ago = as_of - pd.DateOffset(years=2)
    rfm["net_revenue_2y"] = orders[orders["ordered_date"] >= two_years_ago].groupby("customer_id")["net_amount"].sum()
    rfm["net_revenue_2y"] = rfm["net_revenue_2y"].fillna(0)
    rfm["recency_days"] = (as_of - rfm["last_order_date"]).dt.days
    labels = list(range(1, BUCKETS + 1))
    rfm["recency_score"] = pd.qcut(rfm["recency_days"].rank(method="first", ascending=False), BUCKETS, labels=labels).astype(int)
    rfm["frequency_score"] = pd.qcut(rfm["frequency"].rank(method="first"), BUCKETS, labels=labels).astype(int)
    rfm["monetary_score"] = pd.qcut(rfm["monetary"].rank(method="first"), BUCKETS, labels=labels).astype(int)
    cells = pd.DataFrame(
        [(r, f, row.segment) for row in segment_map.itertuples()
         for r in range(int(row.r_min), int(row.r_max) + 1) for f in range(int(row.f_min), int(row.f_max) + 1)],
        columns=["recency_score", "frequency_score", "rfm_segment"],
    )
    rfm = rfm.reset_index().merge(cells, on=["recency_score", "frequency_score"], how="left")
    rfm = rfm.merge(customers, on="customer_id", how="left")
    reachable = rfm[["is_email_contactable", "is_sms_contactable", "is_push_contactable"]].fillna(False).any(axis=1)
    rfm = rfm[reachable]
    segments = {
        "rfm": rfm,
        "inactive": rfm[rfm["recency_days"] > int(settings.get("inactive_days", 180))],
        "loyal_high_value": rfm[(rfm["recency_days"] <= int(settings.get("loyal_recency_days", 90)))
                                & (rfm["net_revenue_2y"] > float(settings.get("loyal_min_spend_2y", 10000)))],
        "new_customers": rfm[(as_of - rfm["first_order_date"]).dt.days <= int(settings.get("new_customer_days", 30))],
        "win_back": rfm[(rfm["recency_days"] > int(settings.get("win_back_days", 180)))
                        & ((rfm["frequency"] >= int(settings.get("win_back_min_orders", 3)))
                           | (rfm["net_revenue_2y"] > float(settings.get("win_back_min_spend_2y", 10000))))],
    }
    sizes = {name: int(len(frame)) for name, frame in segments.items()}
    finished = time.perf_counter()

    agreement = _agreement(warehouse, rfm, sizes)
    return {
        "seconds": finished - started,
        "load_seconds": loaded - started,
        "compute_seconds": finished - loaded,
        "orders": int(len(orders)),
        "customers_scored": int(len(rfm)),
        "segment_sizes": sizes,
        **agreement,
    }


def _agreement(warehouse: Path, rfm: pd.DataFrame, sizes: dict[str, int]) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ours = con.execute(
            "select customer_id, recency_score, frequency_score, monetary_score from customer_rfm").df()
        warehouse_sizes = {
            name: con.execute(f"select count(*) from segment_{name}").fetchone()[0] for name in sizes
        }
    merged = rfm.merge(ours, on="customer_id", suffixes=("", "_warehouse"))
    same = (
        (merged["recency_score"] == merged["recency_score_warehouse"])
        & (merged["frequency_score"] == merged["frequency_score_warehouse"])
        & (merged["monetary_score"] == merged["monetary_score_warehouse"])
    )
    return {
        "rfm_scores_equal_share": round(float(same.mean()), 4) if len(merged) else None,
        "warehouse_segment_sizes": warehouse_sizes,
    }
