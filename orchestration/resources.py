"""Dagster resources shared by every concern (ingest, dbt, quality, exports)."""


from pathlib import Path

import dagster as dg

from orchestration.settings import DataPaths, data_paths


class DataDirResource(dg.ConfigurableResource):
    """The runtime data directory. Empty means CDP_DATA_DIR, or ./data when that is unset."""

    data_dir: str = ""

    def paths(self) -> DataPaths:
        return data_paths(Path(self.data_dir) if self.data_dir else None)
