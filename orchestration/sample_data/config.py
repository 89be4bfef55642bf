"""What to generate: size, seed, calendar and defect rates."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Mapping

import numpy as np

SCALES: dict[str, int] = {"demo": 5_000, "S": 100_000, "M": 1_000_000, "L": 10_000_000}

# Default rate of every injected defect. Row-level rates are per record (or per line for the file defects),
# file-level rates (file_redelivery, truncated_last_line) are per eligible file, at least one file when > 0.
DEFECT_RATES: dict[str, float] = {
    "email_case_spaces": 0.08,  # a typed email in other case or with leading/trailing spaces
    "phone_formats": 0.5,  # a typed phone in a non-E.164 format
    "name_typos": 0.02,  # a typed name with a typo (swap, drop, Latin look-alike, case)
    "placeholder_identifiers": 0.02,  # 0000000000, test@test.ru, a store's own phone for walk-in buyers
    "shared_family_email": 0.01,  # a person who uses a relative's email
    "duplicate_rows": 0.002,  # an exact duplicate line later in the same file
    "file_redelivery": 0.1,  # a later dump carries the previous dump's file again, byte-identical
    "cancelled_and_returned": 0.06,  # orders/documents/receipts cancelled or returned
    "late_rows": 0.05,  # rows of day D-2 arriving in the dump for D-1
    "wrong_column_count": 0.001,
    "bad_date": 0.001,
    "non_numeric_amount": 0.001,
    "invalid_json": 0.001,
    "truncated_last_line": 0.05,
    "unknown_sku": 0.002,  # a sale line whose SKU is in neither catalog
}

# Lines ingestion must quarantine.
MALFORMED_DEFECTS = ("wrong_column_count", "bad_date", "non_numeric_amount", "invalid_json", "truncated_last_line")

# Store tills, the shop and the ERP run on Moscow time; the tracker and the messaging platform log UTC.
LOCAL_UTC_OFFSET_HOURS = 3
DAY = 86_400


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    persons: int = SCALES["demo"]
    days: int = 3  # number of daily dumps
    history_days: int = 730  # business days carried by the first dump
    end_date: date = date(2026, 11, 20)  # date of the last dump
    defect_rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFECT_RATES))
    chunk_size: int = 250_000  # persons generated (and held in memory) at a time

    def __post_init__(self) -> None:
        if self.persons < 10:
            raise ValueError(f"persons must be at least 10, got {self.persons}")
        if self.days < 1 or self.history_days < 2:
            raise ValueError(f"need days >= 1 and history_days >= 2, got {self.days} and {self.history_days}")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        unknown = sorted(set(self.defect_rates) - set(DEFECT_RATES))
        if unknown:
            raise ValueError(f"unknown defect(s) {unknown}; known: {sorted(DEFECT_RATES)}")
        for name, rate in self.defect_rates.items():
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"defect rate {name}={rate} is outside [0, 1]")
        # Rates not given keep their defaults.
        object.__setattr__(self, "defect_rates", {**DEFECT_RATES, **{k: float(v) for k, v in self.defect_rates.items()}})

    @classmethod
    def for_scale(cls, scale: str, **overrides) -> "GeneratorConfig":
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        return cls(persons=SCALES[scale], **overrides)

    def rate(self, defect: str) -> float:
        return self.defect_rates[defect]

    def with_defects(self, **rates: float) -> "GeneratorConfig":
        return replace(self, defect_rates={**self.defect_rates, **rates})

    def without_defects(self) -> "GeneratorConfig":
        return replace(self, defect_rates={name: 0.0 for name in DEFECT_RATES})

    @property
    def calendar(self) -> "Calendar":
        return Calendar(self.end_date, self.days, self.history_days)

    def as_dict(self) -> dict:
        return {
            "seed": self.seed,
            "persons": self.persons,
            "days": self.days,
            "history_days": self.history_days,
            "end_date": self.end_date.isoformat(),
            "chunk_size": self.chunk_size,
            "defect_rates": dict(sorted(self.defect_rates.items())),
        }


@dataclass(frozen=True)
class Calendar:
    """Business days and dumps.

    Business day index 0 is the first history day. Dump k is dated ``dump_dates[k]`` and carries business
    day ``dump_date - 1``; dump 0 carries the whole history ``[0, history_days)``. Times are held as integer
    seconds of the wall clock (local for shop/ERP/POS/loyalty, UTC for web/ESP); ``epoch0`` is midnight of day 0.
    """

    end_date: date
    days: int
    history_days: int

    @property
    def dump_dates(self) -> list[date]:
        return [self.end_date - timedelta(days=self.days - 1 - k) for k in range(self.days)]

    @property
    def first_business_day(self) -> date:
        return self.dump_dates[0] - timedelta(days=self.history_days)

    @property
    def n_business_days(self) -> int:
        return self.history_days + self.days - 1

    @property
    def epoch0(self) -> int:
        first = self.first_business_day
        return int((datetime(first.year, first.month, first.day) - datetime(1970, 1, 1)).total_seconds())

    @property
    def span_end(self) -> int:
        """Seconds at the end of the last business day."""
        return self.epoch0 + self.n_business_days * DAY

    def day_range(self, dump: int) -> tuple[int, int]:
        """Business day indices [lo, hi) carried by a dump."""
        if dump == 0:
            return 0, self.history_days
        return self.history_days + dump - 1, self.history_days + dump

    def cutoff(self, dump: int) -> int:
        """The moment a dump is exported: end of its last business day."""
        return self.epoch0 + self.day_range(dump)[1] * DAY

    def dump_of_day(self, day_index):
        """Dump that carries each business day index; days before the history go to dump 0, days after
        the last business day to ``days`` (never delivered)."""
        day_index = np.asarray(day_index)
        return np.clip(day_index - self.history_days + 1, 0, self.days)

    def business_date(self, day_index: int) -> date:
        return self.first_business_day + timedelta(days=int(day_index))

    def file_label(self, dump: int) -> str:
        """YYYYMMDD of the (last) business day a dump covers, used in dated file names."""
        return (self.dump_dates[dump] - timedelta(days=1)).strftime("%Y%m%d")
