"""How long the quality gate keeps its validation results and their Data Docs pages.

Every checkpoint run stores its result under <data>/quality/gx/uncommitted/validations/ and a page under
<data>/quality/data_docs/validations/, and rebuilds the Data Docs index from every stored result. Kept forever,
each validation would cost more the longer the platform runs (at ~3,100 stored results, about 200 nights, one
validation took 1.45 s against 0.46 s with 49; a night runs nine) and the folder would grow without bound.
So results older than CDP_QUALITY_HISTORY_DAYS (default 90) are deleted, with their pages, before each
validation session. The failure reports under <data>/exports/gate_failures are not touched: they are the
record people act on.

GX names each result's folder after the validation's UTC run time (``20261202T140917.887471Z``); folders whose
name does not parse as one are left alone.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

HISTORY_DAYS_ENV = "CDP_QUALITY_HISTORY_DAYS"
DEFAULT_HISTORY_DAYS = 90
MAX_HISTORY_DAYS = 36_500  # a century: beyond it the cutoff date would not exist
RUN_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"


class HistorySettingError(ValueError):
    """CDP_QUALITY_HISTORY_DAYS is not a whole number of days from 1 to MAX_HISTORY_DAYS."""


def history_days() -> int:
    raw = os.environ.get(HISTORY_DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_HISTORY_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_HISTORY_DAYS:
        raise HistorySettingError(
            f"{HISTORY_DAYS_ENV}={raw!r}: give the number of days of validation results to keep, a whole number "
            f"from 1 to {MAX_HISTORY_DAYS} (default {DEFAULT_HISTORY_DAYS})"
        )
    return days


def run_time(folder_name: str) -> datetime | None:
    try:
        return datetime.strptime(folder_name, RUN_TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def prune_validation_history(quality_root: Path, keep_days: int, now: datetime | None = None) -> int:
    """Deletes the validation results, and their Data Docs pages, of runs older than ``keep_days``.

    quality_root: <data>/quality. Returns how many run folders were deleted (results and pages together).
    """
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=keep_days)
    deleted = 0
    for tree in (quality_root / "gx" / "uncommitted" / "validations", quality_root / "data_docs" / "validations"):
        if not tree.is_dir():
            continue
        for folder, subfolders, _files in os.walk(tree):
            old = [name for name in subfolders if (when := run_time(name)) is not None and when < cutoff]
            for name in old:
                shutil.rmtree(Path(folder) / name)
                subfolders.remove(name)
                deleted += 1
    return deleted
