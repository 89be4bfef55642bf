"""How long the quality gate keeps its validation results and their Data Docs pages, and how many the index lists.

Every validation stores its result under <data>/quality/gx/uncommitted/validations/ and a page under
<data>/quality/data_docs/validations/, and each validation session rebuilds the Data Docs index from the stored
results. Kept forever, each validation would cost more the longer the platform runs (at ~3,100 stored
results, about 200 nights, one validation took 1.45 s against 0.46 s with 49) and the folder would grow
without bound. So results older than CDP_QUALITY_HISTORY_DAYS (default 90) are deleted, with their pages,
before each validation session. The failure reports under <data>/exports/gate_failures are not touched: they
are the record people act on.

Within the retention the cost still grew with the results kept, as GX reads back every result the index
lists (the index alone: about 3.3 s with 900 results, 0.35 s with 160; a night stores about a dozen). So the
index lists the newest CDP_DATA_DOCS_INDEX_RESULTS results (default 200, about two weeks of nights; 0 lists
every kept one); an older result keeps its page under data_docs/validations/ until the retention deletes it.

GX names each result's folder after the validation's UTC run time (``20261202T140917.887471Z``); folders whose
name does not parse as one are left alone.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from orchestration.settings import whole_number_setting

HISTORY_DAYS_ENV = "CDP_QUALITY_HISTORY_DAYS"
DEFAULT_HISTORY_DAYS = 90
MAX_HISTORY_DAYS = 36_500  # a century: beyond it the cutoff date would not exist
RUN_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"


INDEX_RESULTS_ENV = "CDP_DATA_DOCS_INDEX_RESULTS"
DEFAULT_INDEX_RESULTS = 200
MAX_INDEX_RESULTS = 1_000_000


class HistorySettingError(ValueError):
    """CDP_QUALITY_HISTORY_DAYS is not a whole number of days from 1 to MAX_HISTORY_DAYS, or
    CDP_DATA_DOCS_INDEX_RESULTS is not a whole number from 0 to MAX_INDEX_RESULTS."""


def history_days() -> int:
    return whole_number_setting(HISTORY_DAYS_ENV, DEFAULT_HISTORY_DAYS, 1, MAX_HISTORY_DAYS,
                                "the number of days of validation results to keep", "1", HistorySettingError)


def index_results() -> int | None:
    """How many of the newest validation results the Data Docs index lists; None lists every kept one."""
    results = whole_number_setting(INDEX_RESULTS_ENV, DEFAULT_INDEX_RESULTS, 0, MAX_INDEX_RESULTS,
                                   "how many of the newest validation results the Data Docs index lists",
                                   "0 (every kept result)", HistorySettingError)
    return results or None


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
