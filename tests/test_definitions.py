"""The Dagster code location loads and its graph is the intended one."""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.contracts import CONTRACTS


def test_definitions_load_with_one_lineage_graph():
    from orchestration.definitions import defs

    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for contract in CONTRACTS:
        key = dg.AssetKey(["raw", contract.source, contract.table])
        assert key in specs, f"no ingest asset for {contract.key}"
        spec = specs[key]
        assert spec.group_name == "ingest" and spec.description and "parquet" in spec.kinds
    staging = [spec for spec in specs.values() if spec.group_name == "staging"]
    assert len(staging) >= len(CONTRACTS)
    # dbt sources are the ingest assets: every staging model depends on a raw/* key.
    for spec in staging:
        assert {dep.asset_key.path[0] for dep in spec.deps} == {"raw"}, spec.key
    assert {"ingest_dump", "build_warehouse"} <= {job.name for job in defs.resolve_all_job_defs()}


def test_ingest_assets_carry_the_accounting_check():
    from orchestration.definitions import defs

    check_keys = {key for key in defs.resolve_asset_graph().asset_check_keys}
    for contract in CONTRACTS:
        assert dg.AssetCheckKey(dg.AssetKey(["raw", contract.source, contract.table]), "lines_accounted_for") in check_keys


def test_warehouse_writers_share_the_single_writer_pool():
    from orchestration.dbt.assets import WAREHOUSE_POOL, warehouse_models
    from orchestration.ingest.assets import ingest_assets

    assert warehouse_models.op.pool == WAREHOUSE_POOL
    # Ingestion shares it: the incremental models' watermark assumes no partition lands during a build.
    assert {asset.op.pool for asset in ingest_assets} == {WAREHOUSE_POOL}


def test_the_gate_guards_every_export():
    from orchestration.definitions import defs

    checks = {key for key in defs.resolve_asset_graph().asset_check_keys}
    gate = {
        dg.AssetCheckKey(dg.AssetKey(["marts", "reconciliation_orders_daily"]), "reconciliation_within_tolerance"),
        dg.AssetCheckKey(dg.AssetKey(["marts", "customers"]), "profile_integrity"),
    }
    assert gate <= checks
    for spec in defs.resolve_all_asset_specs():
        if spec.group_name == "exports" and spec.key.path[1] != "export_audience":
            assert {key.asset_key for key in gate} <= {dep.asset_key for dep in spec.deps}, spec.key
