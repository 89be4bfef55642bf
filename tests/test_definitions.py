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


def test_the_saved_dbt_parse_matches_what_a_nightly_build_renders(monkeypatch, tmp_path):
    """dbt re-parses the whole project when its profile differs from the saved parse state's: the code location
    keeps that state parsed for the build's profile, and sees when the data directory or the state changed."""
    import os

    from orchestration.dbt.project import (
        PARTIAL_PARSE_FILE, dbt_environment, dbt_project, manifest_is_stale, parse_environment, parse_project,
        profile_variables,
    )
    from orchestration.settings import data_paths

    # Builds run in this process point CDP_DATA_DIR at their own data directories (apply_dbt_environment).
    monkeypatch.delenv("CDP_DATA_DIR", raising=False)
    assert {"CDP_DATA_DIR", "CDP_DUCKDB_MEMORY_LIMIT", "CDP_DBT_TARGET"} <= set(profile_variables())
    # What the warehouse build sets (apply_dbt_environment) is what the parse is made with.
    assert parse_environment()["CDP_DATA_DIR"] == dbt_environment(data_paths())["CDP_DATA_DIR"]
    manifest = dbt_project().manifest_path
    parse_project()  # as the code location does when it finds the manifest stale
    assert not manifest_is_stale(manifest)

    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path))
    assert manifest_is_stale(manifest), "another data directory renders another profile"
    monkeypatch.delenv("CDP_DATA_DIR")
    assert not manifest_is_stale(manifest)

    state = manifest.parent / PARTIAL_PARSE_FILE
    before = state.stat()
    try:
        os.utime(state, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
        assert manifest_is_stale(manifest), "another dbt command replaced the saved parse state"
    finally:
        os.utime(state, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not manifest_is_stale(manifest)


def test_dbt_commands_start_without_a_version_probe_or_an_adapter(monkeypatch):
    """Every dbt command of the warehouse build runs without `dbt --version` in a subprocess and without a dbt
    adapter in this process (orchestration/dbt/assets.py: WarehouseDbtCliResource)."""
    import importlib.metadata

    import dagster_dbt.core.resource as dagster_dbt_resource
    from packaging import version

    from orchestration.dbt.assets import dbt_resource

    def probe(*args, **kwargs):
        raise AssertionError(f"dbt was probed in a subprocess: {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", probe)
    resource = dbt_resource()
    assert resource._cli_version == version.parse(importlib.metadata.version("dbt-core"))
    invocation = resource.cli(["ls", "--select", "int_as_of_date", "--quiet"], raise_on_error=True)
    invocation.wait()
    assert invocation.is_successful()
    assert invocation.adapter is None


def test_nightly_jobs_run_their_steps_in_the_run_process():
    """A process per step loads the whole code location first (orchestration/jobs.py): both jobs run in one."""
    from orchestration.definitions import defs
    from orchestration.jobs import INGEST_JOB_NAME, WAREHOUSE_JOB_NAME

    for name in (INGEST_JOB_NAME, WAREHOUSE_JOB_NAME):
        assert defs.resolve_job_def(name).executor_def.name == dg.in_process_executor.name, name
