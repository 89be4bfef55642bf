"""Peak resident memory of this process and every child it starts (dbt runs as a child of Dagster's step)."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import psutil


def process_tree(process: psutil.Process) -> list[psutil.Process]:
    """A process and all its descendants now; empty when the process itself is gone."""
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process and all its descendants, in bytes (processes that vanish mid-read count as 0)."""
    total = 0
    for member in process_tree(process):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


class RssMonitor:
    """Samples the process tree's RSS in a background thread; peaks overall and per named stage."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (epoch seconds, bytes): split by stage afterwards
        self.process = psutil.Process(os.getpid())
        self.peak = 0
        self.stage_peaks: dict[str, int] = {}
        self._stage: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-monitor", daemon=True)

    def __enter__(self) -> "RssMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> int:
        rss = tree_rss(self.process)
        with self._lock:
            self.samples.append((time.time(), rss))
            self.peak = max(self.peak, rss)
            if self._stage is not None:
                self.stage_peaks[self._stage] = max(self.stage_peaks.get(self._stage, 0), rss)
        return rss

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        with self._lock:
            self._stage = name
            self.stage_peaks[name] = 0
        self.sample()
        try:
            yield
        finally:
            self.sample()
            with self._lock:
                self._stage = None
