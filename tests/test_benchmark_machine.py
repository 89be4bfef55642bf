"""The benchmark's record of what else the machine did while a night ran (benchmarks/machine.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.machine import CLOCK_TICKS, FIGURES, PAGE_BYTES, MachineMonitor, machine_counters, merge_spans

# Burns one second of CPU time, however busy the machine is, then writes the file named in argv[1].
BURN = ("import pathlib, sys, time\nwhile time.process_time() < 1.0: pass\n"
        "pathlib.Path(sys.argv[1]).write_text('done')\n")


def _fake_proc(root: Path, busy_ticks: int, steal_ticks: int, cpu_us: int, io_us: int, memory_us: int,
               reclaimed_pages: int, refaulted_pages: int) -> Path:
    (root / "pressure").mkdir(parents=True, exist_ok=True)
    # user nice system idle iowait irq softirq steal guest guest_nice: busy = user + nice + system + irq + softirq
    (root / "stat").write_text(f"cpu  {busy_ticks - 3} 1 1 5000 40 0 1 {steal_ticks} 7 0\ncpu0 1 2 3\n")
    for name, total in (("cpu", cpu_us), ("io", io_us), ("memory", memory_us)):
        (root / "pressure" / name).write_text(
            f"some avg10=0.00 avg60=0.00 avg300=0.00 total={total}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n")
    (root / "vmstat").write_text(
        f"nr_free_pages 10\npgsteal_kswapd {reclaimed_pages - 2}\npgsteal_direct 2\npgscan_kswapd 999\n"
        f"workingset_refault_file {refaulted_pages}\nworkingset_refault_anon 0\n")
    return root


def test_counters_are_read_from_the_kernels_files(tmp_path):
    proc = _fake_proc(tmp_path, busy_ticks=1000, steal_ticks=50, cpu_us=2_500_000, io_us=1_000_000,
                      memory_us=250_000, reclaimed_pages=512, refaulted_pages=256)
    counters = machine_counters(proc)
    assert counters["busy_seconds"] == pytest.approx(1000 / CLOCK_TICKS)
    assert counters["steal_seconds"] == pytest.approx(50 / CLOCK_TICKS)
    assert (counters["cpu_stall_seconds"], counters["io_stall_seconds"], counters["memory_stall_seconds"]) == (
        2.5, 1.0, 0.25)
    assert counters["reclaimed_mb"] == pytest.approx(512 * PAGE_BYTES / 1024**2)
    assert counters["refaulted_mb"] == pytest.approx(256 * PAGE_BYTES / 1024**2)
    assert machine_counters(tmp_path / "no_proc_here") == {}, "a machine without the files has no figures"


def test_a_span_reads_each_counter_between_samples(tmp_path):
    monitor = MachineMonitor(proc=tmp_path)
    # Counters growing by 1 a second (steal by 0.5), sampled at t = 100, 102 and 104; the night's tree used 0.25
    # of each second the machine was busy.
    for t in (100.0, 102.0, 104.0):
        counters = {name: t for name in ("busy_seconds", "cpu_stall_seconds", "io_stall_seconds",
                                         "memory_stall_seconds", "reclaimed_mb", "refaulted_mb")}
        monitor.samples.append((t, {**counters, "steal_seconds": t / 2, "night_cpu_seconds": t / 4}))
    figures = monitor.during([(101.0, 103.0)])
    assert set(figures) == set(FIGURES)
    assert figures["seconds"] == 2.0 and figures["io_stall_seconds"] == 2.0 and figures["steal_seconds"] == 1.0
    assert figures["night_cpu_seconds"] == 0.5 and figures["others_cpu_seconds"] == 1.5
    # Two dbt threads' overlapping nodes count once; beyond the last sample a counter holds its last value.
    assert monitor.during([(100.0, 102.0), (101.0, 103.0), (103.0, 110.0)])["io_stall_seconds"] == 4.0
    assert merge_spans([(3.0, 4.0), (1.0, 2.0), (1.5, 3.0)]) == [(1.0, 4.0)]


def test_no_counters_no_figures(tmp_path):
    with MachineMonitor(interval=0.05, proc=tmp_path / "nothing") as monitor:
        time.sleep(0.15)
    assert not monitor.available
    figures = monitor.during([(time.time() - 1, time.time())])
    assert figures["steal_seconds"] is None and figures["others_cpu_seconds"] is None
    assert figures["night_cpu_seconds"] is not None, "the process tree's CPU is psutil's, not /proc's"


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="the machine's counters are Linux's")
def test_cpu_is_told_apart_between_the_night_and_everything_else(tmp_path):
    # One second of CPU burnt by a child (the night's tree), then one by a process outside the tree: a shell
    # starts it in the background and exits, so it is re-parented away from this process.
    with MachineMonitor(interval=0.1) as monitor:
        started = time.time()
        subprocess.run([sys.executable, "-c", BURN, str(tmp_path / "child")], check=True)
        ours = (started, time.time())
        time.sleep(0.3)
        outside_started = time.time()
        done = tmp_path / "outside"
        subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" "$1" >/dev/null 2>&1 &', BURN, str(done)],
                       check=True)
        deadline = time.time() + 60
        while not done.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a sample after the process is gone
        outside = (outside_started, time.time())
    assert done.exists(), "the process outside the tree did not finish in a minute"
    night = monitor.during([ours])
    elsewhere = monitor.during([outside])
    assert monitor.available
    assert night["night_cpu_seconds"] >= 0.8, night
    assert elsewhere["others_cpu_seconds"] >= 0.8, elsewhere
    assert elsewhere["night_cpu_seconds"] < 0.4, elsewhere
