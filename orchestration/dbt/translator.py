"""How dbt nodes appear in the Dagster graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class CdpDbtTranslator(DagsterDbtTranslator):
    """dbt sources are the ingest assets (one lineage graph); models are grouped by their dbt folder."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = _node(manifest, unique_id)
        if node["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey(["raw", node["source_name"], node["name"]]))
        if node["resource_type"] in ("model", "seed", "snapshot"):
            folder = node["fqn"][1] if len(node["fqn"]) > 2 else "settings"
            return spec.replace_attributes(group_name=folder, key=dg.AssetKey([folder, node["name"]]))
        return spec


def _node(manifest: Mapping[str, Any], unique_id: str) -> Mapping[str, Any]:
    for section in ("nodes", "sources", "exposures"):
        if unique_id in manifest.get(section, {}):
            return manifest[section][unique_id]
    raise KeyError(unique_id)
