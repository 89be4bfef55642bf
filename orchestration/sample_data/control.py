"""Control totals: each source system's own count and amount of sales per business day.

A system reports what it has exported so far: the totals of day X in dump k count the records of day X that
arrived in dumps 0..k, in their state at dump k's cutoff. Late rows are therefore missing from the first
statement of their day and appear in the restatement the next dump carries.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration.ingest.contracts import CONTROL_TOTALS

from .columns import contract_table, dates, integers
from .config import Calendar


class ControlTotals:
    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self._cuts: dict[tuple[str, str], list[str]] = {}
        self._sums: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = {}

    def add(
        self, system: str, dump: int, day: np.ndarray, amount: np.ndarray,
        cut: str = "total", cut_codes: np.ndarray | None = None, cut_labels: list[str] | None = None,
    ) -> None:
        """Counts records (one per element) of business day ``day`` as known at ``dump``."""
        labels = [""] if cut == "total" else list(cut_labels)
        self._cuts[(system, cut)] = labels
        codes = np.zeros(len(day), np.int64) if cut == "total" else np.asarray(cut_codes, np.int64)
        T = self.calendar.n_business_days
        keep = (day >= 0) & (day < T)
        index = codes[keep] * T + day[keep]
        size = len(labels) * T
        counts = np.bincount(index, minlength=size).astype(np.int64)
        amounts = np.rint(np.bincount(index, weights=amount[keep].astype(np.float64), minlength=size)).astype(np.int64)
        key = (system, cut, dump)
        if key in self._sums:
            old_counts, old_amounts = self._sums[key]
            counts, amounts = counts + old_counts, amounts + old_amounts
        self._sums[key] = (counts, amounts)

    def table(self, dump: int) -> pa.Table:
        """The control file of a dump: every history day (dump 0), or its day and the previous one.
        Rows by system, day, then the total before its cuts; cuts with no sales that day are left out."""
        lo, hi = self.calendar.day_range(dump)
        days = np.arange(lo, hi) if dump == 0 else np.array([lo - 1, lo])
        T = self.calendar.n_business_days
        epoch_day = (self.calendar.first_business_day - date(1970, 1, 1)).days
        parts = []
        for system_rank, system in enumerate(("shop", "erp", "pos")):
            cuts = sorted((cut != "total", cut) for (name, cut) in self._cuts if name == system)
            for cut_rank, (_, cut) in enumerate(cuts):
                if (system, cut, dump) not in self._sums:
                    continue
                labels = self._cuts[(system, cut)]
                counts, amounts = (a.reshape(len(labels), T)[:, days] for a in self._sums[(system, cut, dump)])
                code, day_pos = np.meshgrid(np.arange(len(labels)), np.arange(len(days)), indexing="ij")
                keep = (counts > 0) | (cut == "total")
                parts.append(pd.DataFrame({
                    "rank": system_rank * 1000 + cut_rank, "day": days[day_pos[keep]], "code": code[keep],
                    "system": system, "cut": cut, "label": np.asarray(labels, dtype=object)[code[keep]],
                    "count": counts[keep], "amount": amounts[keep],
                }))
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["rank", "day", "code", "system", "cut", "label", "count", "amount"])
        frame["system_rank"] = frame["rank"] // 1000
        frame = frame.sort_values(["system_rank", "day", "rank", "code"], kind="stable")
        return contract_table(CONTROL_TOTALS, {
            "source_system": pa.array(frame["system"].to_numpy(dtype=object), pa.string()),
            "business_date": dates(epoch_day + frame["day"].to_numpy(dtype=np.int64)),
            "cut": pa.array(frame["cut"].to_numpy(dtype=object), pa.string()),
            "cut_value": pa.array([None] * 0, pa.string()) if frame.empty else pa.array(
                np.where(frame["label"].to_numpy(dtype=object) == "", None, frame["label"].to_numpy(dtype=object)), pa.string()),
            "order_count": integers(frame["count"].to_numpy(dtype=np.int64)),
            "order_amount": integers(frame["amount"].to_numpy(dtype=np.int64)),
        })
