"""What else the machine did while a night ran: the conditions a benchmark figure was measured under.

On a virtual or shared machine a benchmark measures the machine as much as the code. The same night, run on
the same data minutes apart, has differed by several seconds (docs/performance.md, section AV), and "the
hour" is no explanation. So the benchmark samples the machine's own counters beside each night and reports,
for the night and for its phases (ingestion, dbt's nodes, the rest):

- **the night's CPU**: CPU time of the benchmark's process tree (the night's process, dbt under it);
- **others' CPU**: CPU time the machine spent outside that tree: another job, a test run, the kernel's own
  threads (page reclaim among them);
- **steal**: time the hypervisor ran something else while this machine wanted its CPUs (/proc/stat);
- **stalls** (Linux pressure stall information, /proc/pressure): wall time in which at least one task waited
  for a CPU, for IO, or for memory (the "some" line);
- **page cache reclaimed, and read again** (/proc/vmstat): pages the kernel evicted, and evicted pages
  that had to be read from disk again (refaults): a warehouse file evicted between two nights is read again.

None of these sees a machine that is simply slower for a while: a host busy on the same physical cores, or
clocked down, shows no steal, yet the same work takes more CPU time. So before and after every night the
benchmark also times a fixed piece of work (`speed_probe`): a pure-Python loop on one core, and DuckDB hashing
100M integers on all cores. The same code's nights can then be compared with the machine's speed beside them.

The counters are Linux's; elsewhere the figures are None. They are cumulative, sampled twice a second, and
read at a span's ends by interpolating between samples, so a span shorter than a second is approximate.
A process of the tree that exits unwaited for (re-parented to init) leaves its CPU time in "others' CPU".
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from bisect import bisect_left
from pathlib import Path

import psutil

from benchmarks.monitor import process_tree

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MB = 1024**2

# /proc/stat's cpu line: user nice system idle iowait irq softirq steal guest guest_nice (guest time is already
# counted in user and nice).
BUSY_FIELDS = (0, 1, 2, 5, 6)
STEAL_FIELD = 7
PRESSURES = ("cpu", "io", "memory")
RECLAIMED = ("pgsteal_kswapd", "pgsteal_direct", "pgsteal_khugepaged", "pgsteal_proactive")
REFAULTED = ("workingset_refault_file", "workingset_refault_anon")

# The figures of a span, in the order the report shows them.
FIGURES = ("seconds", "night_cpu_seconds", "others_cpu_seconds", "steal_seconds", "cpu_stall_seconds",
           "io_stall_seconds", "memory_stall_seconds", "reclaimed_mb", "refaulted_mb")


def machine_counters(proc: Path = PROC) -> dict[str, float]:
    """The machine's cumulative counters now, in seconds and MB; empty where /proc does not have them."""
    counters: dict[str, float] = {}
    try:
        fields = [int(v) for v in (proc / "stat").read_text().split("\n", 1)[0].split()[1:]]
        counters["busy_seconds"] = sum(fields[i] for i in BUSY_FIELDS) / CLOCK_TICKS
        counters["steal_seconds"] = fields[STEAL_FIELD] / CLOCK_TICKS if len(fields) > STEAL_FIELD else 0.0
    except (OSError, ValueError, IndexError):
        pass
    for resource in PRESSURES:
        try:
            some = (proc / "pressure" / resource).read_text().split("\n", 1)[0]
            total = next(part for part in some.split() if part.startswith("total="))
            counters[f"{resource}_stall_seconds"] = int(total.split("=", 1)[1]) / 1e6
        except (OSError, ValueError, StopIteration):
            pass
    try:
        vmstat = dict(line.split() for line in (proc / "vmstat").read_text().splitlines() if line.count(" ") == 1)
        counters["reclaimed_mb"] = sum(int(vmstat.get(name, 0)) for name in RECLAIMED) * PAGE_BYTES / MB
        counters["refaulted_mb"] = sum(int(vmstat.get(name, 0)) for name in REFAULTED) * PAGE_BYTES / MB
    except (OSError, ValueError):
        pass
    return counters


PROBE_ROUNDS = 3
PROBE_PYTHON_ITERATIONS = 3_000_000  # about 0.2 s on the reference machine
PROBE_DUCKDB_INTEGERS = 100_000_000  # about 0.3 s on its two cores


def speed_probe(rounds: int = PROBE_ROUNDS) -> dict[str, float]:
    """Seconds a fixed piece of work takes now, the median of `rounds`: a Python loop (one core, the interpreter
    as dbt and Dagster use it) and a DuckDB aggregation over all cores (the warehouse's engine)."""
    import duckdb

    def python_work() -> float:
        started = time.perf_counter()
        total = 0
        for i in range(PROBE_PYTHON_ITERATIONS):
            total += i * i % 7
        return time.perf_counter() - started

    with duckdb.connect() as con:
        def duckdb_work() -> float:
            started = time.perf_counter()
            con.execute(f"select sum(hash(range)) from range({PROBE_DUCKDB_INTEGERS})").fetchall()
            return time.perf_counter() - started

        duckdb_work()  # the first query also starts DuckDB's threads
        return {"python_seconds": round(statistics.median(python_work() for _ in range(rounds)), 3),
                "duckdb_seconds": round(statistics.median(duckdb_work() for _ in range(rounds)), 3)}


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of a process and its descendants, the exited ones its members waited for included."""
    total = 0.0
    for member in process_tree(process):
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue  # gone between the listing and the read: its parent's children_* count it once reaped
        total += times.user + times.system + times.children_user + times.children_system
    return total


class MachineMonitor:
    """Samples the machine's counters and the benchmark's process tree's CPU in a background thread."""

    def __init__(self, interval: float = 0.5, proc: Path = PROC) -> None:
        self.interval = interval
        self.proc = proc
        self.process = psutil.Process(os.getpid())
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine-monitor", daemon=True)

    def __enter__(self) -> "MachineMonitor":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        counters = machine_counters(self.proc)
        counters["night_cpu_seconds"] = tree_cpu_seconds(self.process)
        with self._lock:
            self.samples.append((time.time(), counters))

    @property
    def available(self) -> bool:
        return any("busy_seconds" in counters for _, counters in self.samples)

    def during(self, spans: list[tuple[float, float]]) -> dict[str, float | None]:
        """The figures over the union of `spans` (epoch seconds): each counter's growth, rounded."""
        with self._lock:
            samples = list(self.samples)
        merged = merge_spans(spans)
        out: dict[str, float | None] = {"seconds": round(sum(e - s for s, e in merged), 2)}
        names = ("night_cpu_seconds", "busy_seconds", "steal_seconds", *(f"{r}_stall_seconds" for r in PRESSURES),
                 "reclaimed_mb", "refaulted_mb")
        growth = {name: _growth(samples, name, merged) for name in names}
        busy = growth.pop("busy_seconds")
        others = None if busy is None or growth["night_cpu_seconds"] is None \
            else max(busy - growth["night_cpu_seconds"], 0.0)
        growth["others_cpu_seconds"] = others
        for name in FIGURES[1:]:
            value = growth.get(name)
            out[name] = None if value is None else round(value, 1 if name.endswith("_mb") else 2)
        return out


def merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching spans joined (two dbt threads run nodes side by side)."""
    merged: list[list[float]] = []
    for start, end in sorted((s, e) for s, e in spans if e >= s):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _growth(samples: list[tuple[float, dict[str, float]]], name: str,
            spans: list[tuple[float, float]]) -> float | None:
    points = [(t, counters[name]) for t, counters in samples if name in counters]
    if len(points) < 2:
        return None
    times = [t for t, _ in points]
    return sum(_value_at(points, times, end) - _value_at(points, times, start) for start, end in spans)


def _value_at(points: list[tuple[float, float]], times: list[float], when: float) -> float:
    """A cumulative counter at `when`, interpolated between the samples either side (held beyond them)."""
    i = bisect_left(times, when)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (t0, v0), (t1, v1) = points[i - 1], points[i]
    return v0 if t1 == t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)
