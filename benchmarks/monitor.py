"""Peaks sampled while the benchmark runs: resident memory of this process and every child it starts (dbt runs as a
child of Dagster's step), and the bytes its data directory holds."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
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


class PeakMonitor:
    """Samples a figure in a background thread; its peak overall and per named stage. `measure` says what."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (epoch seconds, value): split by stage afterwards
        self.peak = 0
        self.stage_peaks: dict[str, int] = {}
        self._stage: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def measure(self) -> int:
        raise NotImplementedError

    def __enter__(self) -> "PeakMonitor":
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
        value = self.measure()
        with self._lock:
            self.samples.append((time.time(), value))
            self.peak = max(self.peak, value)
            if self._stage is not None:
                self.stage_peaks[self._stage] = max(self.stage_peaks.get(self._stage, 0), value)
        return value

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


class RssMonitor(PeakMonitor):
    """The process tree's RSS: this process and every child it starts (the nights, and dbt under them)."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(interval)
        self.process = psutil.Process(os.getpid())

    def measure(self) -> int:
        return tree_rss(self.process)


class DiskMonitor(PeakMonitor):
    """Bytes under a folder: the benchmark's data directory (dumps, lake, warehouse with DuckDB's spill files,
    the floor's database, the state kept for the repeated night). Measured there, not as the disk's use, so
    other work on the disk does not count."""

    def __init__(self, folder: Path, interval: float = 1.0) -> None:
        super().__init__(interval)
        self.folder = folder

    def measure(self) -> int:
        return folder_bytes(self.folder)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` now, as the disk holds them: a file linked twice (the kept lake) counts
    once, and a file deleted while it is walked counts as 0."""
    total = 0
    linked: set[tuple[int, int]] = set()
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name), follow_symlinks=False)
            except OSError:
                continue
            if stat.st_nlink > 1:
                if (stat.st_dev, stat.st_ino) in linked:
                    continue
                linked.add((stat.st_dev, stat.st_ino))
            total += stat.st_size
    return total
