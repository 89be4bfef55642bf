"""Counters that run across person chunks, so ids stay unique and sequential over the whole run."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


class Sequences:
    def __init__(self) -> None:
        self._next: dict[str, int] = defaultdict(int)
        self._receipts: dict[tuple[int, int], int] = defaultdict(int)
        self._email_hashes: list[np.ndarray] = []

    def take(self, name: str, count: int) -> int:
        """Reserve ``count`` consecutive numbers of a sequence; returns the first (0-based)."""
        start = self._next[name]
        self._next[name] = start + int(count)
        return start

    def continue_receipts(self, year: int, already_issued: np.ndarray) -> None:
        """Stores traded before the generated history: their numbering that year starts after these."""
        for store, count in enumerate(already_issued):  # one iteration per store
            self._receipts[(store, int(year))] = int(count)

    def receipt_numbers(self, store: np.ndarray, year: np.ndarray) -> np.ndarray:
        """Till receipt numbers, sequential per store and calendar year, starting at 1 every January.
        Receipts must come in the order they are numbered (sorted by time within the chunk)."""
        key = store.astype(np.int64) * 10_000 + year
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
        counts = np.diff(np.r_[starts, len(sorted_key)])
        rank = np.arange(len(sorted_key)) - np.repeat(starts, counts)
        numbers_sorted = np.empty(len(sorted_key), dtype=np.int64)
        for start, count in zip(starts, counts):  # one iteration per store-year
            group = (int(sorted_key[start]) // 10_000, int(sorted_key[start]) % 10_000)
            base = self._receipts[group]
            numbers_sorted[start : start + count] = base + 1 + rank[start : start + count]
            self._receipts[group] = base + int(count)
        numbers = np.empty_like(numbers_sorted)
        numbers[order] = numbers_sorted
        return numbers

    def claim_emails(self, hashes: np.ndarray) -> np.ndarray:
        """Marks emails (by 64-bit hash) already taken earlier in the run or earlier in this batch;
        registers the rest. Returns the bool mask of taken ones."""
        taken = np.zeros(len(hashes), bool)
        for previous in self._email_hashes:
            pos = np.clip(np.searchsorted(previous, hashes), 0, len(previous) - 1)
            taken |= previous[pos] == hashes
        _, first = np.unique(hashes, return_index=True)
        duplicate = np.ones(len(hashes), bool)
        duplicate[first] = False
        taken |= duplicate
        return taken

    def register_emails(self, hashes: np.ndarray) -> None:
        self._email_hashes.append(np.sort(hashes))
