"""Benchmark the nightly pipeline at a scale: every stage timed, peak memory, rows per second, identity quality.

    python -m benchmarks.run --scale S --out benchmarks/results/S
    python -m benchmarks.run --scale M --out benchmarks/results/M --memory-limit 12GB
    python -m benchmarks.run --persons 300 --days 2 --out /tmp/bench-smoke     # a tiny run (the smoke test)

What it does (docs/performance.md explains the figures):
1. generates the sample retailer with one dump more than --days and holds the last dump back;
2. the full nightly on the first --days dumps, through the same Dagster jobs `make nightly` runs, in a fresh
   process as `make nightly` runs them (benchmarks/night.py): ingest (every dump), dbt build (split into
   staging, identity, orders, marts_rfm, segments from dbt's own run_results.json), the quality gate, the
   exports, and the rest of the process's time (its start-up, the code location, dbt start-up, Dagster);
3. identity precision and recall against the generator's ground truth;
4. the floor: DuckDB alone loading the same dump files into tables (benchmarks/floor.py);
5. the peer: the same RFM and segments in pandas (benchmarks/peer.py);
6. the incremental night: the held-back dump lands, is ingested, and the warehouse is rebuilt; run
   --incremental-nights times (default 3), each from the same state put back (benchmarks/night_state.py), the
   median night reported beside every round; customer ids of identifiers already known are compared with the
   full run's, and the identity components with a full recomputation (benchmarks/incremental_check.py);
7. a night with nothing new: the same jobs once more with no dump landed, what every night costs at this
   scale whatever it holds; run --unchanged-nights times (default 3), the median night reported beside every
   round, so one slow round is seen as such (skip with --skip-unchanged);
8. beside every night, what else the machine did (benchmarks/machine.py): CPU used outside the night, steal,
   time stalled on CPU, IO and memory, page cache reclaimed and read again; and how fast the machine was just
   before and after it (a fixed piece of Python and DuckDB work timed);
9. writes <out>/benchmark.json, <out>/benchmark.md and <out>/benchmark.png, then deletes the generated data
   unless --keep.

Free disk is checked before generating: a scale that does not fit is refused with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.machine import FIGURES, MachineMonitor, speed_probe
from benchmarks.monitor import DiskMonitor, RssMonitor, folder_bytes

# Measured at M (1M persons, 4 dumps): landing 10.8 KB per person. The factor was set when the warehouse was 1.5x
# the landing; on 2026-12-07 at M (the report's `disk`), the lake was 0.20x, the warehouse 0.48x and the exports
# 0.035x the landing, the floor's database 0.19x while it existed, and the state kept to repeat the incremental
# night 0.50x (the warehouse and exports copied, the lake linked; it is kept after the floor's database is
# gone): the data directory peaked at 1.24x the landing beyond it. The rest of 2.2x is left for DuckDB's spill
# files, which grow with the scale once the data outgrows memory.
LANDING_BYTES_PER_PERSON = 11_500
DERIVED_FACTOR = 2.2  # relative to landing, what the run writes beside the dumps at its peak
DISK_MARGIN_BYTES = 2 * 1024**3

# The bound on the generator: M "in minutes" (read as five at most), L "within about 15 minutes".
GENERATOR_BOUND_SECONDS = {"M": 300, "L": 900}
STAGE_ORDER = ("ingest", "staging", "identity", "orders", "marts_rfm", "segments", "gate", "exports", "overhead")
STAGE_LABELS = {
    "ingest": "ingest (all dumps -> Parquet lake)",
    "staging": "dbt staging (+ seeds)",
    "identity": "dbt identity resolution",
    "orders": "dbt unified orders",
    "marts_rfm": "dbt marts and RFM",
    "segments": "dbt segments (+ export_audience)",
    "gate": "quality gate",
    "exports": "exports",
    "overhead": "start-up (process, code location, dbt), Dagster",
}


def add_data_arguments(p: argparse.ArgumentParser, out_default: str) -> None:
    """The options of the sample retailer generated and of where the run writes (benchmarks.alternate has them too)."""
    from orchestration.sample_data.config import SCALES

    p.add_argument("--scale", choices=list(SCALES), default="S")
    p.add_argument("--persons", type=int, default=None, help="persons (overrides --scale)")
    p.add_argument("--days", type=int, default=3, help="dumps in the full night; one more is generated for the "
                                                       "incremental (one-day) night")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=None, help=f"report folder (default {out_default})")
    p.add_argument("--data-dir", type=Path, default=None, help="data directory (default <out>/data)")
    p.add_argument("--memory-limit", default=None,
                   help="DuckDB memory_limit for dbt and ingestion (CDP_DUCKDB_MEMORY_LIMIT; default 10GB)")
    p.add_argument("--keep", action="store_true", help="keep the generated dumps, lake and warehouse(s)")
    p.add_argument("--reuse-data", action="store_true",
                   help="reuse dumps already generated in the data directory with the same settings")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from orchestration.sample_data.config import SCALES

    p = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(p, "benchmarks/results/<scale>")
    p.add_argument("--skip-floor", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip-peer", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--incremental-nights", type=int, default=3,
                   help="how many times to run the one-day incremental night, each from the state before it; the "
                        "median is reported (default 3)")
    p.add_argument("--skip-unchanged", action="store_true", help="skip the night with nothing new (step 7)")
    p.add_argument("--unchanged-nights", type=int, default=3,
                   help="how many nights with nothing new to run; the median is reported (default 3)")
    args = p.parse_args(argv)
    args.persons = args.persons or SCALES[args.scale]
    args.label = args.scale if args.persons == SCALES[args.scale] else f"{args.persons}p"
    if args.days < 1:
        p.error("--days must be at least 1")
    if args.incremental_nights < 1:
        p.error("--incremental-nights must be at least 1")
    if args.unchanged_nights < 1:
        p.error("--unchanged-nights must be at least 1 (use --skip-unchanged to run none)")
    return args


# ---------------------------------------------------------------- disk


def estimate_bytes(persons: int, days: int) -> dict[str, int]:
    landing = int(persons * LANDING_BYTES_PER_PERSON * (1 + 0.012 * max(days + 1 - 4, 0)))
    derived = int(landing * DERIVED_FACTOR)
    return {"landing": landing, "derived": derived, "total": landing + derived + DISK_MARGIN_BYTES}


def check_disk(data_dir: Path, persons: int, days: int, warehouses: int = 1) -> str | None:
    """None when the run fits on the disk, otherwise the message saying why it is refused. `warehouses`: how many
    warehouses are built beside the one copy of the dumps (benchmarks.alternate builds one per checkout)."""
    probe = data_dir
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    need = estimate_bytes(persons, days)
    derived = need["derived"] * warehouses
    total = need["total"] + derived - need["derived"]
    already = folder_bytes(data_dir) if data_dir.exists() else 0
    if total - already <= free:
        return None
    gb = 1024**3
    derived_text = (f"{derived / gb:,.0f} GB for {warehouses} checkouts' lakes, warehouses, kept states and DuckDB's "
                    f"spill files, {need['derived'] / gb:,.0f} GB each" if warehouses > 1 else
                    f"{derived / gb:,.0f} GB of lake, warehouse, floor database, kept state and DuckDB's spill files")
    return (
        f"Refusing to run: {persons:,} persons with {days + 1} dumps need about {total / gb:,.0f} GB "
        f"({need['landing'] / gb:,.0f} GB of dumps + {derived_text} + margin), but {probe} has {free / gb:,.0f} GB "
        f"free. Use a smaller --scale/--persons, or --data-dir on a disk with room."
    )


# ---------------------------------------------------------------- data


HELD_BACK = "held_back"


def generate(args: argparse.Namespace, data: Path) -> dict:
    summary_file = data / "ground_truth" / "summary.json"
    _restore_held_back(data)
    if args.reuse_data and summary_file.exists():
        config = json.loads(summary_file.read_text())["config"]
        if (config["persons"], config["days"], config["seed"]) == (args.persons, args.days + 1, args.seed):
            return {"seconds": 0.0, "reused": True}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "orchestration.sample_data.cli", "--out", str(data), "--persons", str(args.persons),
         "--days", str(args.days + 1), "--seed", str(args.seed), "--clean"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return {"seconds": time.perf_counter() - started, "reused": False}


def _restore_held_back(data: Path) -> None:
    held = data / HELD_BACK
    if held.exists():
        for dump in held.iterdir():
            target = data / "landing" / dump.name
            if not target.exists():
                dump.rename(target)
        shutil.rmtree(held, ignore_errors=True)


def hold_back_last_dump(data: Path) -> tuple[list[str], str]:
    from orchestration.ingest.partitions import complete_dump_dates
    from orchestration.settings import data_paths

    dumps = complete_dump_dates(data_paths(data))
    last = dumps[-1]
    (data / HELD_BACK).mkdir(exist_ok=True)
    (data / "landing" / last).rename(data / HELD_BACK / last)
    return dumps[:-1], last


def reset_runtime(data: Path) -> None:
    """Everything the pipeline wrote before: a full run starts from dumps only."""
    for name in ("lake", "warehouse", "exports", "quality", "dagster_home", "floor", "bench"):
        shutil.rmtree(data / name, ignore_errors=True)


def landing_bytes(data: Path, dump_dates: list[str]) -> int:
    return sum(folder_bytes(data / "landing" / d) for d in dump_dates)


# ---------------------------------------------------------------- the nightly, stage by stage


def dagster_instance(data: Path):
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    import yaml

    from orchestration.event_log_storage import storage_settings

    home = data / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    # The project's storage (dagster.yaml), under the benchmark's data directory.
    settings = {"telemetry": {"enabled": False}, **storage_settings(str(home / "storage"))}
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def run_nightly(instance, data: Path, dump_dates: list[str], monitor: RssMonitor, machine: MachineMonitor,
                label: str) -> dict:
    """Ingest `dump_dates`, build the warehouse and exports (one Dagster job), run the gate: in a fresh process,
    as `make nightly` runs a night (benchmarks/night.py). Times each stage, and says what else the machine did."""
    from benchmarks.night import run_in_fresh_process, warehouse_steps

    stages: dict[str, dict] = {}
    speed_before = speed_probe()
    with monitor.stage(f"{label}:night"):
        night = run_in_fresh_process(data, dump_dates)
    speed_after = speed_probe()
    total = night["process_seconds"]
    stages["ingest"] = {"seconds": night["ingest_seconds"], **_ingest_rows(data, dump_dates)}

    job_seconds = night["job_seconds"]
    steps = warehouse_steps(instance, night["warehouse_run_id"])
    if steps["dbt_failed"]:
        raise RuntimeError(f"{label}: dbt build failed; see the output above")
    dbt = dbt_breakdown(night["warehouse_run_id"])
    for stage in ("staging", "identity", "orders", "marts_rfm", "segments"):
        stages[stage] = {"seconds": dbt["stages"][stage]}
    if not steps["gate"]:
        raise RuntimeError(f"{label}: the warehouse job ran no quality-gate check; see the output above")
    # The gate's blocking checks run in the warehouse job (orchestration/quality/checks.py).
    stages["gate"] = {"seconds": steps["gate_seconds"], "passed": steps["gate_passed"], "checks": steps["gate"]}
    exports_seconds = steps["exports_seconds"]
    extra_seconds = night["exports_seconds"]
    if night["exports_run_id"]:
        # The gate blocked the exports: the night's process timed them in a run of their own, as the night
        # after the fix would. The report says so.
        exports_seconds = warehouse_steps(instance, night["exports_run_id"])["exports_seconds"]
    stages["exports"] = {"seconds": exports_seconds, "blocked_by_gate": bool(night["exports_run_id"])}
    # The rest of the night: the process's start (Python, Dagster, the code location, the instance), dbt's
    # start-up and Dagster's bookkeeping within the jobs. The stages then add up to the night's wall time.
    stages["overhead"] = {"seconds": max(total - stages["ingest"]["seconds"] - dbt["executed_seconds"]
                                         - steps["gate_seconds"] - exports_seconds, 0.0)}

    # The first night builds from nothing; any later one runs the incremental models on the night's dumps only.
    _attach_rows(data, stages, night_dumps=dump_dates if label != "full" else None)
    conditions = machine_conditions(machine, night, dbt["intervals"])
    _attach_memory(monitor, stages, night, dbt, steps)
    for stage in stages.values():
        rows = stage.get("rows") if stage.get("rows_are_throughput", True) else None
        stage["rows_per_second"] = round(rows / stage["seconds"]) if rows and stage["seconds"] > 0 else None
    return {
        "dump_dates": dump_dates,
        "total_seconds": total,
        "stages": {name: stages[name] for name in STAGE_ORDER},
        "warehouse_job_seconds": job_seconds,
        "warehouse_job_success": night["warehouse_job_success"],
        "process": {
            "pid": night["pid"],
            "code_location_seconds": round(night["code_location_seconds"], 2),
            "outside_the_jobs_seconds": round(total - night["ingest_seconds"] - job_seconds - extra_seconds, 2),
        },
        "dbt": {k: v for k, v in dbt.items() if k != "stages"},
        "peak_rss_bytes": monitor.stage_peaks.get(f"{label}:night", 0),
        "conditions": conditions,
        "speed_probe": {"before": speed_before, "after": speed_after},
    }


def machine_conditions(machine: MachineMonitor, night: dict, dbt_intervals: list[tuple[str, float, float]]) -> dict:
    """What else the machine did during the night and its phases: ingestion, dbt's nodes, the rest (the process's
    start, dbt's start-up, the gate, the exports, Dagster). None everywhere when the machine has no such counters."""
    started = night["started_at"]
    whole = machine.during([(started, started + night["process_seconds"])])
    ingest = machine.during([(night["ingest_started_at"], night["ingest_started_at"] + night["ingest_seconds"])])
    dbt = machine.during([(start, end) for _, start, end in dbt_intervals])
    rest = {name: None if None in (whole[name], ingest[name], dbt[name])
            else round(max(whole[name] - ingest[name] - dbt[name], 0.0), 2) for name in FIGURES}
    return {"night": whole, "ingest": ingest, "dbt": dbt, "rest": rest}


def _ingest_rows(data: Path, dump_dates: list[str]) -> dict:
    import duckdb

    files = [str(p) for d in dump_dates for p in (data / "lake" / "file_ledger").glob(f"*/*/dump_date={d}/files.parquet")]
    if not files:
        return {"rows": 0, "rows_basis": "lines read"}
    with duckdb.connect() as con:
        read, loaded, size = con.execute(
            f"select sum(lines_read), sum(rows_loaded), sum(size_bytes) from read_parquet({files!r})").fetchone()
    return {"rows": int(read), "rows_loaded": int(loaded), "bytes": int(size), "rows_basis": "lines read"}


def _dbt_target_dir(run_id: str, dbt_project_dir: Path | None = None) -> Path:
    from orchestration.dbt.project import DBT_PROJECT_DIR

    target_root = (dbt_project_dir or DBT_PROJECT_DIR) / "target"
    candidates = sorted(target_root.glob(f"warehouse_models-{run_id[:7]}-*"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise RuntimeError(f"no dbt target folder for run {run_id} under {target_root}")
    return candidates[-1]


def dbt_breakdown(run_id: str, dbt_project_dir: Path | None = None) -> dict:
    """What dbt's own run_results.json says of a warehouse run (benchmarks/dbt_timing.py), read from the dbt project
    that ran it (this checkout's by default); the run's target folder is deleted once read."""
    from benchmarks.dbt_timing import stage_seconds

    target = _dbt_target_dir(run_id, dbt_project_dir)
    breakdown = stage_seconds(target)
    shutil.rmtree(target, ignore_errors=True)  # one folder per run: don't let benchmarks fill dbt's target/
    return breakdown


def _attach_rows(data: Path, stages: dict, night_dumps: list[str] | None = None) -> None:
    """Rows each stage processed, cheap to count: what it read (ingest, staging) or wrote (the rest).

    On an incremental night (`night_dumps`) staging reads only those dumps' partitions, and the other dbt
    stages write only what changed: their figure is then the tables' size, with no rows per second.
    """
    import duckdb

    from orchestration.ingest.loader import DATA_FILE_GLOB
    from orchestration.settings import data_paths

    paths = data_paths(data)
    files = sorted(paths.raw.glob(f"*/*/*/{DATA_FILE_GLOB}"))
    if night_dumps is not None:
        files = [f for f in files if f.parent.name.split("=")[-1] in night_dumps]  # dump_date=YYYY-MM-DD
    with duckdb.connect() as con:
        raw = con.execute(
            "select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [[str(f) for f in files]]
        ).fetchone()[0] if files else 0
    basis = ("raw rows read (all dumps)" if night_dumps is None
             else "raw rows read (the night's dump)" if night_dumps else "raw rows read (no dump landed)")
    stages["staging"].update(rows=int(raw), rows_basis=basis)
    groups = {
        "identity": ["int_identifiers_observed_with_removals", "int_identifiers_assessed", "int_identity_edges",
                     "int_identifiers_clustered", "int_identifiers_resolved", "int_records_resolved"],
        "orders": ["int_erp_documents_aggregated", "int_orders_unified", "int_order_lines_unified"],
        "marts_rfm": ["customers", "customer_rfm", "orders", "order_lines", "products"],
        "segments": ["export_audience"],
    }
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        for stage, tables in groups.items():
            rows = 0
            for table in tables:
                try:
                    rows += con.execute(f'select count(*) from "{table}"').fetchone()[0]
                except duckdb.Error:
                    pass
            if night_dumps is None:
                stages[stage].update(rows=rows, rows_basis="rows written: " + ", ".join(tables))
            else:
                stages[stage].update(rows=rows, rows_are_throughput=False,
                                     rows_basis="rows in (incremental models write only what changed): " + ", ".join(tables))
        observed = con.execute("select count(*) from int_identifiers_assessed").fetchone()[0]
        stages["identity"]["identifiers"] = int(observed)
        customers = con.execute("select count(*) from customers").fetchone()[0]
        orders = con.execute("select count(*) from orders").fetchone()[0]
    stages["gate"].update(rows=int(customers + orders), rows_basis="customers + orders checked")
    exported = 0
    for pointer in (paths.exports / "latest").glob("*.json"):
        target = json.loads(pointer.read_text())
        manifest = paths.exports / target["path"] / "manifest.json"
        if manifest.exists():
            exported += json.loads(manifest.read_text())["rows_total"]
    stages["exports"].update(rows=exported, rows_basis="rows exported")
    stages["overhead"].update(rows=None, rows_basis="")


def _attach_memory(monitor: RssMonitor, stages: dict, night: dict, dbt: dict, steps: dict) -> None:
    """Each stage's peak RSS: the samples of the night's process tree taken while the stage ran."""
    night_end = night["started_at"] + night["process_seconds"]
    samples = [(t, rss) for t, rss in monitor.samples if night["started_at"] <= t <= night_end]

    def peak(spans: list[tuple[float, float]]) -> int:
        # A span shorter than the sampling interval (an ingest with no dump) takes the next sample after it.
        inside = [rss for t, rss in samples if any(s <= t <= e for s, e in spans)]
        if inside:
            return max(inside)
        return max((next((rss for t, rss in samples if t >= s), 0) for s, _ in spans), default=0)

    ingest_span = (night["ingest_started_at"], night["ingest_started_at"] + night["ingest_seconds"])
    stages["ingest"]["peak_rss_bytes"] = peak([ingest_span])
    gate_spans = steps.get("gate_spans") or []
    stages["gate"]["peak_rss_bytes"] = peak(gate_spans)
    for stage in ("staging", "identity", "orders", "marts_rfm", "segments"):
        stages[stage]["peak_rss_bytes"] = peak([(s, e) for st, s, e in dbt["intervals"] if st == stage])
    busy = [(s, e) for _, s, e in dbt["intervals"]] + list(gate_spans) + [ingest_span]
    outside = [(t, rss) for t, rss in samples if not any(s <= t <= e for s, e in busy)]
    everything = [rss for _, rss in samples] or [0]
    stages["exports"]["peak_rss_bytes"] = max(
        [rss for t, rss in outside if t >= night["job_started_at"]] or everything)
    stages["overhead"]["peak_rss_bytes"] = max([rss for _, rss in outside] or everything)
    dbt.pop("intervals", None)


# ---------------------------------------------------------------- identity


def identity_figures(data: Path) -> dict:
    from orchestration.quality.identity_scoring import score_identity

    started = time.perf_counter()
    score = score_identity(data)
    return {"precision": round(score.precision, 5), "recall": round(score.recall, 5),
            "records_scored": score.records_scored, "customers": score.customers,
            "true_persons": score.true_persons, "scoring_seconds": round(time.perf_counter() - started, 2)}


def snapshot_ids(data: Path) -> Path:
    import duckdb

    snapshot = data / "bench" / "ids_before.parquet"
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(data / "warehouse" / "cdp.duckdb"), read_only=True) as con:
        con.execute(f"copy (select identifier_key, customer_id from int_identifiers_resolved) to '{snapshot}' (format parquet)")
    return snapshot


def id_stability(data: Path, snapshot: Path) -> dict:
    """Identifiers known before the incremental night: how many kept their customer_id."""
    import duckdb

    with duckdb.connect(str(data / "warehouse" / "cdp.duckdb"), read_only=True) as con:
        known, same, gone = con.execute(
            f"""
            select count(*), count(*) filter (where after.customer_id = before.customer_id),
                   count(*) filter (where after.customer_id is null)
            from read_parquet('{snapshot}') as before
            left join int_identifiers_resolved as after using (identifier_key)
            """
        ).fetchone()
        # A changed id is only legitimate when two earlier customers merged: the merged one keeps the older id.
        merged_away = con.execute(
            f"""
            select count(*) from read_parquet('{snapshot}') as before
            join int_identifiers_resolved as after using (identifier_key)
            where after.customer_id <> before.customer_id
              and before.customer_id not in (select customer_id from int_identifiers_resolved)
            """
        ).fetchone()[0]
    return {"identifiers_before": known, "same_customer_id": same, "changed": known - same - gone,
            "changed_by_merge": merged_away, "no_longer_linking": gone,
            "unchanged_share": round(same / known, 6) if known else 1.0}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = (args.out or Path("benchmarks/results") / args.label).resolve()
    data = (args.data_dir or out / "data").resolve()
    refusal = check_disk(data, args.persons, args.days)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    os.environ["CDP_DATA_DIR"] = str(data)
    quiet_environment(args.memory_limit)

    report: dict = {
        "scale": args.label, "persons": args.persons, "days": args.days, "seed": args.seed,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_figures(), "commit": commit_of(), "pid": os.getpid(),
        "memory_limit": memory_limit_in_use(),
    }
    try:
        with RssMonitor() as monitor, MachineMonitor() as machine, DiskMonitor(data) as disk:
            log(f"generating {args.persons:,} persons, {args.days + 1} dumps into {data}")
            with monitor.stage("generate"), disk.stage("generate"):
                report["generate"] = generate(args, data)
            full_dumps, held = hold_back_last_dump(data)
            reset_runtime(data)
            report["landing_bytes_full"] = landing_bytes(data, full_dumps)
            instance = dagster_instance(data)
            # Load the code location once first, as `dagster dev` has before any night starts: this re-parses the
            # dbt project when its manifest is stale, which no night pays in production. Each night then runs in
            # a fresh process that loads it again (benchmarks/night.py), and that load is part of its time.
            with monitor.stage("code_location"):
                t = time.perf_counter()
                import orchestration.definitions  # noqa: F401

                report["code_location_seconds"] = round(time.perf_counter() - t, 2)

            log(f"full run over {full_dumps}")
            with disk.stage("full"):
                report["full"] = run_nightly(instance, data, full_dumps, monitor, machine, "full")
            report["identity_full"] = identity_figures(data)
            snapshot = snapshot_ids(data)

            if not args.skip_floor:
                log("floor: DuckDB alone loading the same files")
                with monitor.stage("floor"), disk.stage("floor"):
                    from benchmarks.floor import load_floor
                    from orchestration.settings import data_paths

                    report["floor"] = load_floor(data_paths(data), full_dumps, data / "floor" / "floor.duckdb",
                                                 os.environ.get("CDP_DUCKDB_MEMORY_LIMIT"))
                report["floor"]["database_bytes"] = folder_bytes(data / "floor")
                shutil.rmtree(data / "floor", ignore_errors=True)
                report["floor"]["peak_rss_bytes"] = monitor.stage_peaks.get("floor", 0)
                report["full_over_floor"] = round(report["full"]["total_seconds"] / report["floor"]["seconds"], 2)
                report["ingest_over_floor"] = round(report["full"]["stages"]["ingest"]["seconds"] / report["floor"]["seconds"], 2)
            if not args.skip_peer:
                log("peer: RFM and segments in pandas")
                with monitor.stage("peer"):
                    from benchmarks.peer import run_peer

                    report["peer"] = run_peer(data / "warehouse" / "cdp.duckdb")
                report["peer"]["peak_rss_bytes"] = monitor.stage_peaks.get("peer", 0)
                report["peer"]["warehouse_seconds"] = _warehouse_rfm_seconds(report["full"])
                report["peer_over_warehouse"] = round(report["peer"]["seconds"] / report["peer"]["warehouse_seconds"], 2) \
                    if report["peer"]["warehouse_seconds"] else None

            _restore_held_back(data)
            with disk.stage("incremental"):
                report["incremental"], report["incremental_rounds"] = incremental_nights(
                    instance, data, held, args.incremental_nights, monitor, machine)
            report["identity_incremental"] = identity_figures(data)
            report["id_stability"] = id_stability(data, snapshot)
            from benchmarks.incremental_check import components_match_full_recomputation

            report["components_check"] = components_match_full_recomputation(data)
            report["incremental_over_full"] = round(
                report["incremental"]["total_seconds"] / report["full"]["total_seconds"], 3)
            report["peak_rss_bytes"] = max([report["full"]["peak_rss_bytes"]]
                                           + [r["peak_rss_bytes"] for r in report["incremental_rounds"]])
            if not args.skip_unchanged:
                # Its cost is the floor under every incremental night: the history scans of the incremental
                # steps, the marts rebuilt every night, the tests, start-up, the gate and the exports.
                rounds = []
                with disk.stage("unchanged"):
                    for number in range(1, args.unchanged_nights + 1):
                        log(f"a night with nothing new ({number} of {args.unchanged_nights})")
                        rounds.append(run_nightly(instance, data, [], monitor, machine, f"unchanged {number}"))
                report["unchanged"], report["unchanged_rounds"] = median_night(rounds)
                report["unchanged_over_incremental"] = round(
                    report["unchanged"]["total_seconds"] / report["incremental"]["total_seconds"], 3)
            report["peak_rss_bytes_all"] = monitor.peak
            report["generate"]["peak_rss_bytes"] = monitor.stage_peaks.get("generate", 0)
            report["data_bytes"] = {name: folder_bytes(data / name) for name in ("landing", "lake", "warehouse", "exports")
                                    if (data / name).exists()}
            instance.dispose()
        report["disk"] = disk_figures(disk, landing_bytes(data, [*full_dumps, held]), args)
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    report["targets"] = targets(report)
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    from benchmarks.report import write_chart, write_markdown

    (out / "benchmark.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "benchmark.md").write_text(write_markdown(report))
    chart = write_chart(report, out / "benchmark.png")
    print((out / "benchmark.md").read_text())
    log(f"wrote {out / 'benchmark.json'}, {out / 'benchmark.md'}" + (f", {chart}" if chart else ""))
    return 0


def disk_figures(disk: DiskMonitor, dumps_bytes: int, args: argparse.Namespace) -> dict:
    """How much the data directory held at its peak, overall and in each step, against what the disk check
    reserved: the measurement the check's factor is judged by."""
    estimate = estimate_bytes(args.persons, args.days)
    return {"peak_bytes": disk.peak, "dumps_bytes": dumps_bytes,
            "peak_over_dumps": round(disk.peak / dumps_bytes, 3) if dumps_bytes else None,
            "estimated_bytes": estimate["total"] - DISK_MARGIN_BYTES, "step_peak_bytes": dict(disk.stage_peaks)}


def incremental_nights(instance, data: Path, held: str, rounds: int, monitor: RssMonitor,
                       machine: MachineMonitor) -> tuple[dict, list[dict]]:
    """The one-day night `rounds` times, each from the state before the first (kept aside, put back, checked):
    one night is at the mercy of the machine's hour (docs/performance.md, section AW). The warehouse is left as
    the last round made it, which is what every round makes of the same state."""
    from benchmarks.night_state import LINKED_FOLDERS, STATE_FOLDERS, restore_state, save_state, state_fingerprint

    kept = data / "bench" / "before_incremental"
    before = save_state(data, kept) if rounds > 1 else state_fingerprint(data)
    nights, states = [], []
    for number in range(1, rounds + 1):
        if number > 1:
            log(f"putting back the state before the incremental night (round {number})")
        # Recorded for every round (restore_state measures what it put back), so the report shows each started
        # from the same state.
        states.append(before if number == 1 else restore_state(data, kept, before))
        log(f"incremental night: dump {held} lands ({number} of {rounds})")
        nights.append(run_nightly(instance, data, [held], monitor, machine, f"incremental {number}"))
    # What keeping the state took on disk beyond the links (the warehouse and exports copied): DERIVED_FACTOR's
    # note is checked against it.
    kept_bytes = sum(folder_bytes(kept / name) for name in STATE_FOLDERS if name not in LINKED_FOLDERS
                     and (kept / name).exists()) if kept.exists() else 0
    shutil.rmtree(kept, ignore_errors=True)
    median, summaries = median_night(nights)
    after = state_fingerprint(data)
    for summary, night, state in zip(summaries, nights, states):
        summary.update(ingest_rows=night["stages"]["ingest"].get("rows"), peak_rss_bytes=night["peak_rss_bytes"],
                       state_before=state)
    median["state_before"], median["state_after"], median["kept_state_bytes"] = before, after, kept_bytes
    return median, summaries


def median_night(rounds: list[dict]) -> tuple[dict, list[dict]]:
    """The median of repeated nights (the lower one of an even count), marked with its round, and a summary of
    every round in the order they ran."""
    ordered = sorted(range(len(rounds)), key=lambda i: rounds[i]["total_seconds"])
    middle = ordered[(len(rounds) - 1) // 2]
    summaries = [{
        "round": number,
        "total_seconds": night["total_seconds"],
        "warehouse_job_seconds": night["warehouse_job_seconds"],
        "dbt_seconds": night["dbt"]["elapsed_reported"],
        "stages": {name: stage["seconds"] for name, stage in night["stages"].items()},
        "conditions": night["conditions"]["night"],
        "speed_probe": night["speed_probe"],
        # Each node's own seconds in every round: benchmarks.growth takes their median per node, as one round's
        # node time can hold a neighbour's commit or a slow second that the night's total hardly shows.
        "model_seconds": night["dbt"].get("model_seconds", {}),
        "test_seconds": night["dbt"].get("test_seconds", {}),
    } for number, night in enumerate(rounds, start=1)]
    return {**rounds[middle], "round": middle + 1, "rounds": len(rounds)}, summaries


def _warehouse_rfm_seconds(full: dict) -> float:
    """Seconds the warehouse spent on what the peer computes: order summaries, customers, RFM, segments."""
    models = full["dbt"]["model_seconds"]
    names = ["int_customer_orders_summarized", "int_customers_assembled", "customers", "int_customer_rfm_scored",
             "customer_rfm", "export_audience"]
    names += [m for m in models if m.startswith("segment_")]
    return round(sum(models.get(n, 0.0) for n in names), 3)


def generation_seconds(report: dict) -> float | None:
    """The generator's time in a report; None when the run reused dumps generated earlier (or has no figure)."""
    generation = report.get("generate") or {}
    return None if generation.get("reused") else generation.get("seconds")


def targets(report: dict) -> dict:
    """The issue's targets, judged on what this run measured (M and L targets only apply at those scales)."""
    full = report["full"]["total_seconds"]
    gb = 1024**3
    out = {
        "full_within_3x_floor": {"target": "full run <= 3 x floor", "measured": report.get("full_over_floor"),
                                 "met": report.get("full_over_floor") is not None and report["full_over_floor"] <= 3},
        "incremental_within_5pct": {"target": "one-day incremental <= 5% of the full run",
                                    "measured": report.get("incremental_over_full"),
                                    "met": report.get("incremental_over_full", 1) <= 0.05},
        "peak_rss_within_12gb": {"target": "peak RSS <= 12 GB", "measured_gb": round(report.get("peak_rss_bytes", 0) / gb, 2),
                                 "met": report.get("peak_rss_bytes", 0) <= 12 * gb},
        "ids_stable": {"target": "customer ids unchanged for existing people",
                       "measured": report.get("id_stability", {}).get("unchanged_share"),
                       "met": report.get("id_stability", {}).get("changed", 1) == report.get("id_stability", {}).get("changed_by_merge", 0)},
    }
    identity = report["full"]["stages"]["identity"]
    out["identity_10m_within_60s"] = {
        "target": "identity resolution of 10M identifiers <= 60 s",
        "measured_seconds": round(identity["seconds"], 2), "identifiers": identity.get("identifiers"),
        "extrapolated_10m_seconds": round(identity["seconds"] * 10_000_000 / identity["identifiers"], 1)
        if identity.get("identifiers") else None,
    }
    x = out["identity_10m_within_60s"]["extrapolated_10m_seconds"]
    out["identity_10m_within_60s"]["met"] = x is not None and x <= 60
    if report["scale"] == "M":
        out["full_M_within_2min"] = {"target": "full run at M <= 120 s", "measured": round(full, 1), "met": full <= 120}
    if report["scale"] == "L":
        out["full_L_within_15min"] = {"target": "full run at L <= 900 s", "measured": round(full, 1), "met": full <= 900}
    bound = GENERATOR_BOUND_SECONDS.get(report["scale"])
    generated = generation_seconds(report)
    if bound and generated is not None:
        seconds = round(generated, 1)
        out[f"generator_{report['scale']}_within_bound"] = {
            "target": f"generator at {report['scale']} <= {bound} s", "measured": seconds, "met": seconds <= bound}
    return out


def quiet_environment(memory_limit: str | None) -> None:
    """Telemetry off for every night's process (they inherit this environment), and DuckDB's memory limit."""
    from orchestration.dbt.project import TELEMETRY_OFF

    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if memory_limit:
        os.environ["CDP_DUCKDB_MEMORY_LIMIT"] = memory_limit


def memory_limit_in_use() -> str:
    """DuckDB's memory limit the nights run with, as the report states it."""
    return os.environ.get("CDP_DUCKDB_MEMORY_LIMIT", "10GB (default of profiles.yml and the loader)")


def machine_figures() -> dict:
    import duckdb
    import psutil

    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "platform": platform.platform()}


def commit_of(checkout: Path | None = None) -> str | None:
    """The code measured: `git describe --always --dirty` of a checkout (this one by default), None outside git."""
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=checkout or Path(__file__).parent,
                                   capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    if described.returncode != 0:
        return None
    return described.stdout.strip() or None


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
