"""Run the nightly pipeline headless, on the same Dagster definitions `dagster dev` shows.

`make demo` calls this. Runs are recorded in the project's Dagster instance, so they appear in the UI.

    python -m orchestration.nightly                 # every complete dump in the landing folder
    python -m orchestration.nightly --dump-date 2026-11-20
    python -m orchestration.nightly --ingest-only   # lake only, no dbt
    python -m orchestration.nightly --full-refresh  # rebuild the incremental models from the whole lake
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from orchestration.settings import PROJECT_ROOT, data_paths

# The console shows progress and failures; step-level DEBUG events stay in the run's history in the UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@contextmanager
def project_instance() -> Iterator[dg.DagsterInstance]:
    """DAGSTER_HOME when set; otherwise the repository's dagster.yaml, exactly as `dagster dev` uses it."""
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            yield instance
        return
    home = PROJECT_ROOT / "data" / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(PROJECT_ROOT)  # dagster.yaml's storage paths are relative to the repository root
    try:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), config_dir=str(PROJECT_ROOT))) as instance:
            yield instance
    finally:
        os.chdir(cwd)


def ingest_dumps(instance: dg.DagsterInstance, dump_dates: list[str]) -> list[dg.ExecuteInProcessResult]:
    from orchestration.definitions import defs
    from orchestration.ingest.partitions import dump_date_partitions
    from orchestration.jobs import INGEST_JOB_NAME

    known = set(instance.get_dynamic_partitions(dump_date_partitions.name))
    new = [d for d in dump_dates if d not in known]
    if new:
        instance.add_dynamic_partitions(dump_date_partitions.name, new)
    job = defs.resolve_job_def(INGEST_JOB_NAME)
    results = []
    for dump_date in dump_dates:
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance, partition_key=dump_date, raise_on_error=False, run_config=QUIET_LOGS)
        results.append(result)
        _report(f"ingest {dump_date}", result, started)
    return results


def build_warehouse(instance: dg.DagsterInstance, full_refresh: bool = False) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs
    from orchestration.jobs import WAREHOUSE_JOB_NAME

    started = time.monotonic()
    run_config = {**QUIET_LOGS, "ops": {"warehouse_models": {"config": {"full_refresh": full_refresh}}}}
    result = defs.resolve_job_def(WAREHOUSE_JOB_NAME).execute_in_process(
        instance=instance, raise_on_error=False, run_config=run_config)
    _report("dbt build", result, started)
    return result


def _report(stage: str, result: dg.ExecuteInProcessResult, started: float) -> None:
    status = "ok" if result.success else "FAILED"
    print(f"{stage}: {status} in {time.monotonic() - started:.1f}s", flush=True)
    if result.success:
        return
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            print(f"  {event.step_key}: {_root_cause(event.step_failure_data.error)}", file=sys.stderr)


def _root_cause(error) -> str:
    # Dagster wraps the asset's own exception; the innermost message is the one that names the file.
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def exempt_live_objects_from_collection() -> None:
    """Take every object alive now out of the garbage collector's reach (`gc.freeze`), in a process that runs a
    night and ends.

    The code location (Dagster, dbt, the project, later Great Expectations) is over 300,000 tracked objects that
    live until the process exits. Every full collection walks all of them again: 8 in a night with nothing new at
    M (0.94 s), and the interpreter's own collections at exit another 1.2-1.5 s after the night's work is done
    (docs/performance.md, section AU). Frozen objects are never collected, so this is for a process about to run
    its jobs and exit, not for long-lived ones (`dagster dev`'s webserver and daemon).
    """
    gc.freeze()


def load_code_location() -> None:
    """Import the Definitions (and the dbt manifest with them) before the first job, then keep them out of garbage
    collections for the rest of the process."""
    import orchestration.definitions  # noqa: F401

    exempt_live_objects_from_collection()


def main(argv: list[str] | None = None) -> int:
    """Run the night; then leave the process's heap to the exit (see exempt_live_objects_from_collection)."""
    try:
        return _run_night(argv)
    finally:
        exempt_live_objects_from_collection()


def _run_night(argv: list[str] | None) -> int:
    from orchestration.ingest.partitions import complete_dump_dates

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dump-date", action="append", help="dump date(s) to ingest; default: every complete dump")
    parser.add_argument("--ingest-only", action="store_true", help="load the dumps into the lake, skip dbt")
    parser.add_argument("--full-refresh", action="store_true",
                        help="rebuild the incremental models from the whole lake instead of adding what is new")
    args = parser.parse_args(argv)

    paths = data_paths()
    dump_dates = args.dump_date or complete_dump_dates(paths)
    if not dump_dates:
        print(f"No complete dump under {paths.landing} (a dump is complete when its _SUCCESS file exists). "
              "Generate the sample retailer with `make sample` or land your own dumps.", file=sys.stderr)
        return 2
    load_code_location()
    with project_instance() as instance:
        if not all(r.success for r in ingest_dumps(instance, dump_dates)):
            return 1
        if args.ingest_only:
            return 0
        if not build_warehouse(instance, full_refresh=args.full_refresh).success:
            return 1
    from orchestration.run_summary import summarize

    print("\n" + summarize(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
