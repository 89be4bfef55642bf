"""The documented and dbt-declared source layouts are the enforced ones."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestration.ingest.contract_docs import render
from orchestration.ingest.contracts import CONTRACTS, LOAD_METADATA_COLUMNS
from orchestration.settings import PROJECT_ROOT


def test_docs_sources_page_is_current():
    page = (PROJECT_ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert page == render(), "docs/sources.md is stale: python -m orchestration.ingest.contract_docs > docs/sources.md"


def test_dbt_sources_declare_every_contract_column_in_order():
    declared = {}
    for path in Path(PROJECT_ROOT / "dbt_project" / "models" / "staging").glob("*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]:
            for table in source["tables"]:
                declared[(source["name"], table["name"])] = table
    assert set(declared) == {(c.source, c.table) for c in CONTRACTS}
    for contract in CONTRACTS:
        table = declared[(contract.source, contract.table)]
        columns = [column["name"] for column in table["columns"]]
        assert columns == [*contract.column_names, *LOAD_METADATA_COLUMNS], contract.key
        location = table["config"]["meta"]["external_location"]
        assert f"/lake/raw/{contract.source}/{contract.table}/" in location


def test_every_export_destination_is_a_dbt_exposure():
    from orchestration.exports.config import load_destinations

    path = PROJECT_ROOT / "dbt_project" / "models" / "exports" / "_exports__exposures.yml"
    exposures = {e["name"]: e for e in yaml.safe_load(path.read_text(encoding="utf-8"))["exposures"]}
    assert set(exposures) == {d.name for d in load_destinations()}
    for exposure in exposures.values():
        assert exposure["depends_on"] == ["ref('export_audience')"]
