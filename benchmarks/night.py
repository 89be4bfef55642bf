"""One night of the benchmark, run in a Python process of its own, as `make nightly` runs every night.

A night in production starts a fresh process: it imports Dagster, dbt and the project, loads the code location
(the dbt manifest) and opens the Dagster instance before its first job, and imports Great Expectations for the
gate. Run inside the benchmark's own process, where all of that was done once before the first night, those
costs went uncounted (docs/performance.md, section AU). So the benchmark starts this module for each night:

    python -m benchmarks.night --result FILE [--dump-date D ...]

It ingests the dumps given (none: a night with nothing new), builds the warehouse with the same Dagster jobs and
instance as `make nightly` (DAGSTER_HOME, CDP_DATA_DIR), and, when the gate blocked the exports, runs them in a
run of their own in the same process, as the night after the fix would. It writes what it did and when to FILE
as JSON; the benchmark reads the rest from the Dagster instance.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg


def run_in_fresh_process(data: Path, dump_dates: list[str], checkout: Path | None = None,
                         python: str | None = None) -> dict:
    """Run one night in a child process on the benchmark's data directory, with the code of `checkout` (this
    checkout by default) and its `python`. Returns the night's record, with when the process started
    (`started_at`, epoch seconds), its wall time from start to exit (`process_seconds`) and the CPU seconds it and
    its descendants used (`cpu_seconds`). Raises, naming the night's dumps, when it fails."""
    from orchestration.settings import PROJECT_ROOT

    result_file = data / "bench" / "night.json"
    result_file.parent.mkdir(parents=True, exist_ok=True)
    result_file.unlink(missing_ok=True)
    command = [python or sys.executable, "-m", "benchmarks.night", "--result", str(result_file)]
    for dump_date in dump_dates:
        command += ["--dump-date", dump_date]
    root = checkout or PROJECT_ROOT
    env = {**checkout_environment(root), "CDP_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster_home")}
    used_before = _children_cpu_seconds()
    started_at, started = time.time(), time.perf_counter()
    completed = subprocess.run(command, cwd=root, env=env)
    process_seconds = time.perf_counter() - started
    if completed.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"the night over dumps {dump_dates or 'none'} failed in its process "
                           f"(exit code {completed.returncode}, code of {root}); see its output above")
    return {**json.loads(result_file.read_text()), "started_at": started_at, "process_seconds": process_seconds,
            "cpu_seconds": _children_cpu_seconds() - used_before}


def checkout_environment(root: Path) -> dict[str, str]:
    """This environment with `root`'s packages first on the path, for a process that runs that checkout's code:
    `-m` puts the working directory first, PYTHONPATH makes sure for `-c` too."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's reaped descendants: the night's process and dbt's, once they have exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _gate_check_names() -> set[str]:
    from orchestration.quality.checks import gate_checks

    return {key.name for check in gate_checks for key in check.check_keys}


def step_roles(step_keys: list[str], gate_names: set[str]) -> tuple[list[str], list[str], list[str]]:
    """A warehouse run's steps split into dbt's, the gate checks' and the exports'."""
    gate = [k for k in step_keys if any(k.endswith(name) for name in gate_names)]
    exports = [k for k in step_keys if k.startswith("exports") and k not in gate]
    dbt = [k for k in step_keys if k not in gate and k not in exports]
    return dbt, gate, exports


def warehouse_steps(instance: dg.DagsterInstance, run_id: str) -> dict:
    """What the steps of a warehouse run did, from its event log: dbt, gate checks, exports."""
    gate_names = _gate_check_names()
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    failed: set[str] = set()
    evaluations: dict[str, bool] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            if data.asset_check_key.name in gate_names:
                evaluations[data.asset_check_key.name] = data.passed
        if not event.step_key:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = entry.timestamp
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                failed.add(event.step_key)

    def seconds(keys: list[str]) -> float:
        return sum(ends.get(k, starts[k]) - starts[k] for k in keys)

    dbt, gate, exports = step_roles(list(starts), gate_names)
    return {
        "dbt_failed": bool(set(dbt) & failed) or not dbt,
        "gate": {name: {"passed": passed} for name, passed in evaluations.items()},
        "gate_passed": all(evaluations.values()) and not (set(gate) & failed),
        "gate_seconds": seconds(gate),
        "gate_spans": [(starts[k], ends.get(k, starts[k])) for k in gate],
        "exports": exports,
        "exports_seconds": seconds(exports),
    }


def _exports_blocked(result: dg.ExecuteInProcessResult) -> bool:
    """dbt succeeded but no export step ran: the gate blocked them. Read from the run's events in memory, so the
    night's process does no bookkeeping of the benchmark's (the benchmark reads the event log afterwards)."""
    started = [event.step_key for event in result.all_events if event.is_step_start]
    failed = {event.step_key for event in result.all_events if event.is_step_failure}
    dbt, _, exports = step_roles(started, _gate_check_names())
    return bool(dbt) and not (set(dbt) & failed) and not exports


def _run_exports(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs
    from orchestration.exports.assets import export_assets
    from orchestration.jobs import WAREHOUSE_JOB_NAME
    from orchestration.nightly import QUIET_LOGS

    keys = [key for asset in export_assets for key in asset.keys]
    return defs.resolve_job_def(WAREHOUSE_JOB_NAME).execute_in_process(
        instance=instance, asset_selection=keys, raise_on_error=False, run_config=QUIET_LOGS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--result", type=Path, required=True, help="where to write the night's record (JSON)")
    parser.add_argument("--dump-date", action="append", default=[], help="dump date(s) to ingest; none: no dump")
    args = parser.parse_args(argv)

    from orchestration import nightly

    record: dict = {"pid": os.getpid()}
    t = time.perf_counter()
    nightly.load_code_location()
    record["code_location_seconds"] = time.perf_counter() - t
    with nightly.project_instance() as instance:
        record["ingest_started_at"] = time.time()
        t = time.perf_counter()
        ingested = nightly.ingest_dumps(instance, args.dump_date)
        record["ingest_seconds"] = time.perf_counter() - t
        if not all(r.success for r in ingested):
            print(f"ingestion of {args.dump_date} failed; see the output above", file=sys.stderr)
            return 1

        record["job_started_at"] = time.time()
        t = time.perf_counter()
        result = nightly.build_warehouse(instance)
        record["job_seconds"] = time.perf_counter() - t
        record["warehouse_run_id"] = result.run_id
        record["warehouse_job_success"] = result.success
        record["exports_run_id"] = None
        record["exports_seconds"] = 0.0
        if _exports_blocked(result):
            # The gate blocked the exports (the sample data can breach a tolerance): run them on their own.
            t = time.perf_counter()
            exported = _run_exports(instance)
            record["exports_seconds"] = time.perf_counter() - t
            if not exported.success:
                print("the exports failed when run on their own; see the output above", file=sys.stderr)
                return 1
            record["exports_run_id"] = exported.run_id
    args.result.write_text(json.dumps(record) + "\n")
    nightly.exempt_live_objects_from_collection()
    return 0


if __name__ == "__main__":
    sys.exit(main())
