"""Dump dates are the partitions of every ingest asset.

They are dynamic because the landing folder, not a calendar, says which dumps exist: a retailer may skip a
day, or bring years of history in one dump.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from orchestration.ingest.contracts import READY_MARKER
from orchestration.settings import DataPaths

dump_date_partitions = dg.DynamicPartitionsDefinition(name="dump_date")


def complete_dump_dates(paths: DataPaths) -> list[str]:
    """Dump folders whose delivery finished (the ready marker is written last), oldest first."""
    if not paths.landing.exists():
        return []
    dates = []
    for folder in paths.landing.iterdir():
        if folder.is_dir() and _is_iso_date(folder.name) and (folder / READY_MARKER).exists():
            dates.append(folder.name)
    return sorted(dates)


def _is_iso_date(name: str) -> bool:
    try:
        return date.fromisoformat(name).isoformat() == name
    except ValueError:
        return False
