"""When things happen and which dump carries them.

Times are int64 seconds of a wall clock. ``Emission`` decides, for records that change over time (an order
that is paid, shipped, delivered, returned), which dumps carry a row and in which state: a dump carries a
record when one of its stages falls on a business day the dump covers, in its state at the dump's cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from .config import DAY, Calendar

NEVER = np.iinfo(np.int64).max

# Hourly weights of activity, local time (web: UTC hours are shifted by the caller).
HOURS = {
    "store": np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 6, 6, 5, 5, 6, 7, 9, 9, 7, 4, 0, 0], float),
    "web": np.array([2, 1, .5, .3, .3, .5, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 9, 9, 7, 4], float),
    "phone": np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 6, 7, 7, 6, 6, 6, 6, 6, 5, 4, 2, 0, 0, 0], float),
}


def day_weights(calendar: Calendar) -> np.ndarray:
    """Relative activity of each business day: weekends, the 8 March and December peaks, Black Friday, growth."""
    n = calendar.n_business_days
    start = calendar.first_business_day
    dates = np.arange(np.datetime64(start), np.datetime64(start + timedelta(days=n)))
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
    month = dates.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    weights = np.array([1.0, 0.95, 0.95, 1.0, 1.1, 1.25, 1.15])[weekday]
    weights *= np.where((month == 12) & (dom >= 10), 1.6, 1.0)
    weights *= np.where((month == 3) & (dom <= 7), 1.8, 1.0)
    weights *= np.where((month == 11) & (dom >= 24) & (dom <= 30), 1.5, 1.0)
    weights *= np.linspace(0.85, 1.15, n)
    return weights


@dataclass
class Clock:
    """Samples moments inside each person's activity window, following the day weights."""

    calendar: Calendar

    def __post_init__(self) -> None:
        self._cdf = np.r_[0.0, np.cumsum(day_weights(self.calendar))]

    def days(self, rng: np.random.Generator, start_day: np.ndarray, end_day: np.ndarray) -> np.ndarray:
        lo, hi = self._cdf[start_day], self._cdf[end_day]
        u = lo + rng.random(len(lo)) * (hi - lo)
        days = np.searchsorted(self._cdf, u, side="right") - 1
        return np.clip(days, start_day, end_day - 1)

    def moments(self, rng: np.random.Generator, start_day, end_day, kind: str) -> np.ndarray:
        """Seconds (wall clock) uniformly spread over the window's days and the kind's opening hours."""
        days = self.days(rng, np.asarray(start_day), np.asarray(end_day))
        return self.calendar.epoch0 + days * DAY + time_of_day(rng, len(days), kind)


def time_of_day(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    weights = HOURS[kind] / HOURS[kind].sum()
    hours = np.searchsorted(np.cumsum(weights), rng.random(n), side="right")
    return np.minimum(hours, 23) * 3600 + rng.integers(0, 3600, n)


@dataclass
class Emission:
    """Rows of one dump: which records, in which stage, and whether the row is a late arrival."""

    rows: np.ndarray  # record indices, ascending
    stage: np.ndarray  # latest stage reached at the dump's cutoff
    late: np.ndarray  # bool: carried here only because the record arrived a day late


def arrival(calendar: Calendar, first_stage: np.ndarray, late: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Dump in which each record first arrives, and whether it arrives late. A late record of the last day
    of a dump arrives with the next dump (when there is one); everything else is carried by its day's dump.
    Records of days after the last business day get ``days`` (never delivered)."""
    day = np.floor_divide(first_stage - calendar.epoch0, DAY)
    dump = calendar.dump_of_day(day)
    if late is None:
        return dump, np.zeros(len(dump), bool)
    last_day_of_dump = (dump > 0) | (day == calendar.history_days - 1)
    late = late & last_day_of_dump & (dump < calendar.days - 1)
    return dump + late, late


def emissions(calendar: Calendar, stages: np.ndarray, late: np.ndarray | None = None) -> list[Emission]:
    """For an (n, s) matrix of stage times (NEVER where a stage does not happen; stage 0 always happens),
    the rows each dump carries. A stage is never delivered before the record itself arrived."""
    if stages.ndim == 1:
        stages = stages[:, None]
    n, s = stages.shape
    n_dumps = calendar.days
    first, late = arrival(calendar, stages[:, 0], late)
    dump = np.empty((n, s), dtype=np.int64)
    dump[:, 0] = first
    if s > 1:
        valid = stages[:, 1:] != NEVER
        later_day = np.floor_divide(np.where(valid, stages[:, 1:], calendar.epoch0) - calendar.epoch0, DAY)
        dump[:, 1:] = np.where(valid, np.maximum(calendar.dump_of_day(later_day), first[:, None]), n_dumps)
    out = []
    stage_numbers = np.arange(s)
    for k in range(n_dumps):
        rows = np.flatnonzero((dump == k).any(axis=1))
        reached = np.where(stages[rows] < calendar.cutoff(k), stage_numbers, -1).max(axis=1)
        out.append(Emission(rows=rows, stage=reached, late=late[rows] & (first[rows] == k)))
    return out
