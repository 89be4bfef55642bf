"""Reading the warehouse for the gate: always read-only, so checks never take DuckDB's single write lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from orchestration.settings import DataPaths

if TYPE_CHECKING:
    import pandas as pd


class WarehouseNotReadyError(RuntimeError):
    """The warehouse file or a table the gate reads is missing: build the warehouse first."""


def read_frame(paths: DataPaths, sql: str, parameters: list | dict | None = None) -> "pd.DataFrame":
    if not paths.warehouse.exists():
        raise WarehouseNotReadyError(f"{paths.warehouse}: no warehouse yet; run the dbt build (make nightly) first")
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        try:
            return con.execute(sql, parameters or []).df()
        except duckdb.CatalogException as error:
            raise WarehouseNotReadyError(
                f"{paths.warehouse}: {error}. Build the warehouse (dbt build) so the gate has its tables."
            ) from error


def as_of_date(paths: DataPaths) -> str | None:
    """The warehouse's as-of date (int_as_of_date), or None when it cannot be read."""
    try:
        frame = read_frame(paths, "select cast(max(as_of_date) as varchar) as as_of_date from int_as_of_date")
    except (WarehouseNotReadyError, duckdb.Error):
        return None
    value = frame["as_of_date"].iloc[0] if not frame.empty else None
    return None if value is None or value != value else str(value)
