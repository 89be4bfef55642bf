"""Ingestion of the realistic sample retailer through real Dagster runs: nothing lost, nothing silent."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from orchestration.ingest.assets import ACCOUNTING_CHECK, raw_asset_key
from orchestration.ingest.contracts import CONTRACTS
from orchestration.ingest.partitions import complete_dump_dates
from orchestration.sample_data import MALFORMED_DEFECTS
from orchestration.settings import data_paths
from tests.conftest import materialize_ingest

pytestmark = pytest.mark.slow


def lake(root, what):
    return f"read_parquet('{data_paths(root).lake}/{what}/*/*/*/*.parquet', hive_partitioning = false)"


def test_every_file_balances_lines_read_loaded_quarantined(ingested_root):
    rows = duckdb.connect().execute(
        f"select source_file, lines_read, rows_loaded, lines_quarantined from {lake(ingested_root, 'file_ledger')}"
    ).fetchall()
    landed = list(data_paths(ingested_root).landing.glob("*/*/*.*"))
    assert len(rows) == len(landed), "every landed file is in the ledger"
    assert all(read == loaded + quarantined for _, read, loaded, quarantined in rows)
    assert sum(read for _, read, _, _ in rows) > 50_000


def test_quarantine_holds_exactly_the_injected_malformed_lines(ingested_root):
    con = duckdb.connect()
    truth = data_paths(ingested_root).ground_truth / "injected_defects.parquet"
    malformed = ", ".join(f"'{d}'" for d in MALFORMED_DEFECTS)
    expected = set(con.execute(
        f"select dump_date || '/' || source || '/' || file, line_number from read_parquet('{truth}') "
        f"where defect in ({malformed})").fetchall())
    quarantined = set(con.execute(
        f"select source_file, line_number from {lake(ingested_root, 'quarantine')} "
        "where reason not like 'duplicate delivery%'").fetchall())
    assert expected, "the sample must contain malformed lines"
    assert quarantined == expected
    reasons = [r for (r,) in con.execute(f"select distinct reason from {lake(ingested_root, 'quarantine')}").fetchall()]
    assert all(reason and len(reason) > 5 for reason in reasons)


def test_redelivered_files_are_not_loaded_twice(ingested_root):
    con = duckdb.connect()
    truth = data_paths(ingested_root).ground_truth / "injected_defects.parquet"
    redelivered = con.execute(
        f"select dump_date || '/' || source || '/' || file from read_parquet('{truth}') where defect = 'file_redelivery'"
    ).fetchall()
    assert redelivered
    for (file,) in redelivered:
        duplicate_of, loaded = con.execute(
            f"select duplicate_of, rows_loaded from {lake(ingested_root, 'file_ledger')} where source_file = ?", [file]
        ).fetchone()
        assert duplicate_of is not None and loaded == 0


def test_accounting_checks_passed_for_every_asset_and_partition(ingested_root, dagster_instance):
    dump_dates = complete_dump_dates(data_paths(ingested_root))
    for contract in CONTRACTS:
        key = raw_asset_key(contract)
        materialized = dagster_instance.get_materialized_partitions(key)
        assert set(dump_dates) <= materialized, contract.key
        record = dagster_instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(key, ACCOUNTING_CHECK)])[dg.AssetCheckKey(key, ACCOUNTING_CHECK)]
        assert record.status.value == "SUCCEEDED", contract.key


def test_rerunning_a_partition_through_dagster_changes_no_row(ingested_root, dagster_instance):
    dump_date = complete_dump_dates(data_paths(ingested_root))[-1]
    paths = data_paths(ingested_root)

    def fingerprints():
        con = duckdb.connect()
        result = {}
        for contract in CONTRACTS:
            part = paths.raw_partition(contract.source, contract.table, dump_date)
            result[contract.key] = con.execute(
                f"select count(*), sum(hash(columns(* exclude (_loaded_at)))) from read_parquet('{part}/*.parquet')"
            ).fetchall()
        return result

    before = fingerprints()
    assert all(r.success for r in materialize_ingest(ingested_root, dagster_instance, [dump_date]))
    assert fingerprints() == before
