"""Score identity resolution against the sample retailer's ground truth.

Pairwise precision and recall over source records: of all pairs of records put under one customer_id, the
share that truly are one person (precision), and of all pairs that truly are one person, the share put
together (recall). Pairs are counted from cluster sizes (n choose 2), never enumerated, so scoring scales to
tens of millions of records. Only records that carry a usable identifier are scored; anonymous till
receipts cannot be resolved by anyone and are reported as coverage instead.

    python -m orchestration.quality.identity_scoring [data_dir]
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from orchestration.settings import data_paths

# record_id prefix used by int_identifiers_observed -> how to find the true person for it.
TRUTH_SQL = """
select 'shop_customer:' || user_id as record_id, person_id from read_parquet('{gt}/shop_customers.parquet')
union all
select 'shop_order:' || order_id, person_id from read_parquet('{gt}/shop_orders.parquet')
union all
select 'erp_document:' || document_number, person_id from read_parquet('{gt}/erp_documents.parquet')
union all
select 'pos_receipt:' || store_code || '-' || receipt_year || '-' || receipt_no, person_id
from read_parquet('{gt}/pos_receipts.parquet')
union all
select 'loyalty_member:' || member_id, person_id from read_parquet('{gt}/loyalty_members.parquet')
"""


@dataclass(frozen=True)
class IdentityScore:
    records_scored: int
    customers: int
    true_persons: int
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    unscored_records_missing_truth: int

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def score_identity(data_dir: Path | None = None) -> IdentityScore:
    paths = data_paths(data_dir)
    con = duckdb.connect()
    con.execute(f"attach '{paths.warehouse}' as warehouse (read_only)")
    con.execute(f"create temp view truth as {TRUTH_SQL.format(gt=paths.ground_truth)}")
    records_table = _find_table(con, "int_records_resolved")
    con.execute(
        f"""
        create temp table scored as
        select resolved.record_id, resolved.customer_id, truth.person_id
        from {records_table} as resolved
        left join truth on resolved.record_id = truth.record_id
        where resolved.record_source <> 'web_login'
        """
    )
    missing = con.execute("select count(*) from scored where person_id is null").fetchone()[0]
    row = con.execute(
        """
        with scored_known as (select * from scored where person_id is not null),
        cells as (select customer_id, person_id, count(*) as n from scored_known group by all),
        by_customer as (select customer_id, count(*) as n from scored_known group by all),
        by_person as (select person_id, count(*) as n from scored_known group by all)
        select
            (select count(*) from scored_known),
            (select count(*) from by_customer),
            (select count(*) from by_person),
            (select coalesce(sum(n * (n - 1) / 2), 0) from by_person)::hugeint,
            (select coalesce(sum(n * (n - 1) / 2), 0) from by_customer)::hugeint,
            (select coalesce(sum(n * (n - 1) / 2), 0) from cells)::hugeint
        """
    ).fetchone()
    records, customers, persons, true_pairs, predicted_pairs, correct_pairs = (int(v) for v in row)
    return IdentityScore(
        records_scored=records,
        customers=customers,
        true_persons=persons,
        precision=correct_pairs / predicted_pairs if predicted_pairs else 1.0,
        recall=correct_pairs / true_pairs if true_pairs else 1.0,
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct_pairs,
        unscored_records_missing_truth=missing,
    )


def _find_table(con: duckdb.DuckDBPyConnection, name: str) -> str:
    rows = con.execute(
        "select schema_name from duckdb_tables() where database_name = 'warehouse' and table_name = ?", [name]
    ).fetchall()
    if not rows:
        raise LookupError(f"{name} not found in the warehouse: run the dbt build first (make nightly)")
    return f'warehouse."{rows[0][0]}"."{name}"'


if __name__ == "__main__":
    print(score_identity(Path(sys.argv[1]) if len(sys.argv) > 1 else None).as_json())
