"""Where runtime data lives. One git-ignored directory, ``./data`` by default, ``CDP_DATA_DIR`` to move it.

dbt's profile and every Dagster resource read the same variable, so the warehouse file, the lake and the
exports can never drift apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The one Dagster pool (limit 1, dagster.yaml) for every step that writes the lake or the warehouse: ingestion
# and the dbt build never overlap. DuckDB allows one writing process per file, and the incremental models rely
# on it: every partition a build can see was loaded before it, so "loaded after the newest load a table has
# read" is exactly what the table has not read yet (dbt_project/macros/incremental.sql).
WAREHOUSE_POOL = "duckdb_warehouse"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "CDP_DATA_DIR"


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def landing(self) -> Path:
        """Raw dumps exactly as the source systems deliver them; never modified."""
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def raw(self) -> Path:
        """Typed Parquet: lake/raw/<source>/<table>/dump_date=<date>/data-NNNNNN.parquet."""
        return self.lake / "raw"

    @property
    def quarantine(self) -> Path:
        """Lines that could not be loaded: lake/quarantine/<source>/<table>/dump_date=<date>/..."""
        return self.lake / "quarantine"

    @property
    def file_ledger(self) -> Path:
        """One row per landed file: checksum, size, line accounting, duplicate deliveries."""
        return self.lake / "file_ledger"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "cdp.duckdb"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def ground_truth(self) -> Path:
        """Written by the sample generator for scoring; the pipeline never reads it."""
        return self.root / "ground_truth"

    def raw_partition(self, source: str, table: str, dump_date: str) -> Path:
        return self.raw / source / table / f"dump_date={dump_date}"

    def quarantine_partition(self, source: str, table: str, dump_date: str) -> Path:
        return self.quarantine / source / table / f"dump_date={dump_date}"

    def ledger_partition(self, source: str, table: str, dump_date: str) -> Path:
        return self.file_ledger / source / table / f"dump_date={dump_date}"


def whole_number_setting(variable: str, default: int, lowest: int, highest: int, meaning: str, lowest_text: str,
                         error: type[ValueError] = ValueError) -> int:
    """The environment variable as a whole number from ``lowest`` to ``highest``; ``default`` when unset.
    Anything else raises ``error`` naming the variable, what it means and the values it takes."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lowest - 1
    if not lowest <= value <= highest:
        raise error(
            f"{variable}={raw!r}: give {meaning}, a whole number from {lowest_text} to {highest} (default {default})"
        )
    return value


def data_dir() -> Path:
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured).resolve() if configured else PROJECT_ROOT / "data"


def data_paths(root: Path | None = None) -> DataPaths:
    return DataPaths(root=Path(root).resolve() if root else data_dir())
