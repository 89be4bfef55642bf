"""Alternate the nights of two or more checkouts of this project, night by night, on the same dumps.

    python -m benchmarks.alternate --scale M --checkout before=../cdp-before --checkout after=.
    python -m benchmarks.alternate --persons 300 --days 2 --checkout a=. --checkout b=../cdp-again --rounds 1

Why: two benchmark runs an hour apart differ by 4-10 s in the night with nothing new, in either direction, with
the same code (docs/performance.md, sections AW and BC), so a change worth a few seconds cannot be judged from
one run of each. Nights of each code run in turn, within the same hour and each from the same state, can.

What it does:
1. generates the sample retailer once (--days dumps, one more held back) with this checkout's generator; every
   checkout's landing zone links to the same dump folders;
2. for each checkout, the full night over the --days dumps, with that checkout's code, in a data directory of its
   own (<data-dir>/<label>); the state it leaves (lake, warehouse, exports, quality) is kept aside. With
   --one-full-night only the first checkout runs it, and every other checkout starts from a copy of what it left
   (its Dagster history too), for codes that write the same full night: one full night less per checkout, and
   one state for all (docs/performance.md, section BE);
3. --rounds rounds. In each, for every kind of night asked for (--nights: `unchanged`, a night with nothing new;
   `one-day`, the held-back dump lands), every checkout runs that night from its kept state, put back and checked
   first (benchmarks/night_state.py). Every other round runs the checkouts in reverse order (A B, B A, ...), so a
   machine that speeds up or slows down over the hour favours none of them;
4. beside every night: the machine's speed just before it (benchmarks/machine.py's probe), the night's wall
   time and CPU seconds, its ingestion, the warehouse job, the exports when the gate blocked them and they ran
   apart, the process outside its jobs (its start and exit), dbt's elapsed time, the model and test node seconds
   summed, each node's own seconds, and the peak RSS of the night's processes;
5. writes <out>/alternation.json and <out>/alternation.md (benchmarks/alternation_report.py), then deletes the
   data directory unless --keep.

A checkout is a folder holding this project at some commit with its dependencies installed; its own
`.venv/bin/python` runs its nights when it has one, otherwise this Python (with the checkout's packages first on
the path). It must have `benchmarks/night.py`, the night's process the benchmark has used since
docs/performance.md's section AU, and a folder of its own. A second checkout is made with
`git worktree add ../cdp-before <commit>`; the same commit twice measures the spread of one code.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.machine import speed_probe
from benchmarks.monitor import RssMonitor
from benchmarks.night import checkout_environment, run_in_fresh_process
from benchmarks.night_state import copy_data_directory, restore_state, save_state
from benchmarks.run import (HELD_BACK, add_data_arguments, check_disk, commit_of, dbt_breakdown, generate,
                            hold_back_last_dump, log, machine_figures, memory_limit_in_use,
                            quiet_environment)

NIGHT_KINDS = ("unchanged", "one-day")
# What a checkout needs for its code to run a benchmark night.
CHECKOUT_FILES = ("benchmarks/night.py", "orchestration/nightly.py", "dbt_project/dbt_project.yml")
KEPT_STATE = Path("bench") / "after_full"


@dataclass(frozen=True)
class Checkout:
    label: str
    root: Path
    python: str


def parse_checkout(text: str) -> Checkout:
    """LABEL=PATH on the command line; refused with the reason when PATH cannot run a benchmark night."""
    label, separator, path = text.partition("=")
    if not separator or not label or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: a checkout is LABEL=PATH, e.g. before=../cdp-before")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", label):
        raise argparse.ArgumentTypeError(f"{label!r}: a label names the checkout's data folder, so only letters, "
                                         f"digits, '.', '_' and '-'")
    root = Path(path).expanduser().resolve()  # one folder, however it is spelled
    if not root.is_dir():
        raise argparse.ArgumentTypeError(f"{label}: {root} is no folder")
    missing = [name for name in CHECKOUT_FILES if not (root / name).is_file()]
    if missing:
        raise argparse.ArgumentTypeError(
            f"{root} cannot run a benchmark night: it lacks {', '.join(missing)}. Give a checkout of this project "
            f"from docs/performance.md's section AU or later (git worktree add <folder> <commit>).")
    venv_python = root / ".venv" / "bin" / "python"
    return Checkout(label, root, str(venv_python) if venv_python.exists() else sys.executable)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from orchestration.sample_data.config import SCALES

    p = argparse.ArgumentParser(prog="benchmarks.alternate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkout", type=parse_checkout, action="append", required=True, dest="checkouts",
                   metavar="LABEL=PATH", help="a checkout to time (give two or more; the first is the one the "
                                               "others are compared with)")
    add_data_arguments(p, "benchmarks/results/alternation")
    p.add_argument("--rounds", type=int, default=4,
                   help="rounds of nights, every checkout once per kind (default 4: an even number lets each "
                        "checkout run first as often as last)")
    p.add_argument("--one-full-night", action="store_true",
                   help="run the full night with the first checkout only and start every checkout from what it "
                        "left: for codes that write the same full night (the states of two full nights differ)")
    p.add_argument("--nights", default=",".join(NIGHT_KINDS),
                   help=f"kinds of night to alternate, comma-separated: {', '.join(NIGHT_KINDS)} (default both)")
    args = p.parse_args(argv)
    args.persons = args.persons or SCALES[args.scale]
    args.kinds = [kind.strip() for kind in args.nights.split(",") if kind.strip()]
    unknown = sorted(set(args.kinds) - set(NIGHT_KINDS))
    if unknown or not args.kinds:
        p.error(f"--nights: unknown kind(s) {', '.join(unknown) or '(none given)'}; choose from "
                f"{', '.join(NIGHT_KINDS)}")
    labels = [checkout.label for checkout in args.checkouts]
    if len(labels) < 2:
        p.error("give two or more --checkout LABEL=PATH: alternation compares checkouts")
    if len(set(labels)) != len(labels):
        p.error(f"--checkout labels must differ: {', '.join(labels)}")
    shared = sorted(root for root, count in Counter(c.root for c in args.checkouts).items() if count > 1)
    if shared:
        # dbt keeps one saved parse state per project folder, stamped with the data directory it was made for
        # (orchestration/dbt/project.py): two data directories on one folder re-parse the project at every switch,
        # about 6 s of each night at M (docs/performance.md, section BD), more than most changes are worth.
        p.error(f"{', '.join(map(str, shared))} is given more than once: each checkout needs a folder of its own, "
                f"as dbt's saved parse state is made for one data directory. To time the same code twice, add a "
                f"second folder: git worktree add ../cdp-again HEAD")
    if args.days < 1 or args.rounds < 1:
        p.error("--days and --rounds must be at least 1")
    return args


def round_order(checkouts: list[Checkout], number: int) -> list[Checkout]:
    """The checkouts in the order round `number` (from 1) runs them: as given in odd rounds, reversed in even ones."""
    return list(checkouts) if number % 2 else list(reversed(checkouts))


def link_landing(data: Path, dumps: dict[str, Path], dates: list[str]) -> None:
    """Make a checkout's landing zone hold exactly `dates`, each a link to the shared dump folder: ingestion only
    reads the landing zone, so the checkouts share one copy of the dumps."""
    landing = data / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    for entry in landing.iterdir():
        if entry.name not in dates:
            entry.unlink()
    for date in dates:
        if not (landing / date).exists():
            (landing / date).symlink_to(dumps[date], target_is_directory=True)


def run_night(checkout: Checkout, data: Path, dump_dates: list[str], monitor: RssMonitor, tag: str) -> dict:
    """One night of `checkout`'s code over `dump_dates` (none: nothing new), in a fresh process, with its figures."""
    probe = speed_probe()
    with monitor.stage(tag):
        night = run_in_fresh_process(data, dump_dates, checkout.root, checkout.python)
    dbt = dbt_breakdown(night["warehouse_run_id"], checkout.root / "dbt_project")
    if dbt["failures"]:
        raise RuntimeError(f"{tag}: these dbt nodes of {checkout.root} did not succeed: {', '.join(dbt['failures'])}")
    if not night["warehouse_job_success"] and not night["exports_run_id"]:
        # The job fails by design when the gate blocks the exports (they then run apart); any other failed step
        # would make the night's time that of less work.
        raise RuntimeError(f"{tag}: the warehouse job of {checkout.root} failed, and not because the gate blocked "
                           f"the exports; see its output above")
    return {
        "checkout": checkout.label,
        "dump_dates": dump_dates,
        "speed_probe": probe,
        "wall_seconds": round(night["process_seconds"], 3),
        "cpu_seconds": round(night["cpu_seconds"], 3),
        "ingest_seconds": round(night["ingest_seconds"], 3),
        "warehouse_job_seconds": round(night["job_seconds"], 3),
        # When the gate blocks the exports, the night's process runs them in a run of their own (benchmarks/night.py).
        "exports_apart_seconds": round(night["exports_seconds"], 3),
        # The process's start (Python, the code location, the instance) and its exit: a stale dbt parse state shows
        # here (section BD), not in the jobs.
        "outside_jobs_seconds": round(night["process_seconds"] - night["ingest_seconds"] - night["job_seconds"]
                                      - night["exports_seconds"], 3),
        "code_location_seconds": round(night["code_location_seconds"], 3),
        "dbt_seconds": round(dbt["elapsed_reported"] or 0.0, 3),
        "model_node_seconds": round(sum(dbt["model_seconds"].values()), 3),
        "test_node_seconds": round(sum(dbt["test_seconds"].values()), 3),
        "peak_rss_bytes": monitor.stage_peaks.get(tag, 0),
        "model_seconds": dbt["model_seconds"],
        "test_seconds": dbt["test_seconds"],
    }


def write_instance_settings(checkout: Checkout, data: Path) -> None:
    """The Dagster instance's settings (dagster.yaml under the night's DAGSTER_HOME) as the checkout's own code
    writes them: a change to the event log's storage is then timed with the storage it brings."""
    run_checkout_code(checkout, "import sys; from pathlib import Path; from benchmarks.run import dagster_instance; "
                      "dagster_instance(Path(sys.argv[1])).dispose()", [str(data)],
                      f"write its Dagster instance's settings under {data}")


def parse_for(checkout: Checkout, data: Path) -> None:
    """The checkout's dbt project parsed for `data`, as its own full night would have left it: otherwise its first
    night would parse the project when it loads the code location (about 6 s at M, docs/performance.md, BD)."""
    run_checkout_code(checkout, "from orchestration.dbt.project import dbt_project; dbt_project()", [],
                      f"parse its dbt project for {data}", {"CDP_DATA_DIR": str(data)})


def run_checkout_code(checkout: Checkout, code: str, arguments: list[str], what: str,
                      environment: dict[str, str] | None = None) -> None:
    """A few lines of the checkout's own code, run in its Python from its folder; a failure names the checkout and
    what the code was to do, with the end of its error output."""
    completed = subprocess.run([checkout.python, "-c", code, *arguments], cwd=checkout.root,
                               env={**checkout_environment(checkout.root), **(environment or {})},
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{checkout.label}: the code of {checkout.root} could not {what}:\n"
                           f"{completed.stderr[-2000:]}")


def build_warehouses(checkouts: list[Checkout], data: Path, dumps: dict[str, Path], full_dates: list[str],
                     monitor: RssMonitor, one_full_night: bool = False) -> tuple[dict[str, dict], dict[str, dict]]:
    """Each checkout's full night in its own data directory, and the state it left kept aside: the full nights and
    the kept states' fingerprints, by label. With `one_full_night`, the first checkout's night only, copied to the
    others' data directories."""
    full, kept = {}, {}
    for checkout in checkouts:
        night_data = data / checkout.label
        shutil.rmtree(night_data, ignore_errors=True)
        if one_full_night and full:
            source = next(iter(full))
            log(f"{checkout.label}: starts from {source}'s full night (copied)")
            copy_night_data(data / source, night_data)
            write_instance_settings(checkout, night_data)
            parse_for(checkout, night_data)
        else:
            link_landing(night_data, dumps, full_dates)
            write_instance_settings(checkout, night_data)
            log(f"{checkout.label}: full night over {full_dates} with the code of {checkout.root}")
            full[checkout.label] = run_night(checkout, night_data, full_dates, monitor, f"{checkout.label} full")
        kept[checkout.label] = save_state(night_data, night_data / KEPT_STATE)
    return full, kept


def copy_night_data(source: Path, target: Path) -> None:
    """Another checkout's data directory as a night left it (benchmarks/night_state.py's copy: the lake linked,
    the landing zone's links kept), the Dagster history included (the partitions it knows, the runs it holds), the
    state that checkout keeps aside left out."""
    copy_data_directory(source, target, leave_out=[KEPT_STATE.parts[0]])


def alternate(checkouts: list[Checkout], kinds: list[str], rounds: int, data: Path, dumps: dict[str, Path],
              full_dates: list[str], held: str, kept: dict[str, dict], monitor: RssMonitor) -> list[dict]:
    """Every round, every kind of night, every checkout in the round's order, each from its kept state."""
    nights = []
    for number in range(1, rounds + 1):
        for kind in kinds:
            for position, checkout in enumerate(round_order(checkouts, number), start=1):
                night_data = data / checkout.label
                state = restore_state(night_data, night_data / KEPT_STATE, kept[checkout.label])
                dump_dates = [held] if kind == "one-day" else []
                link_landing(night_data, dumps, full_dates + dump_dates)
                log(f"round {number} of {rounds}: {kind} night of {checkout.label}")
                night = run_night(checkout, night_data, dump_dates, monitor, f"{checkout.label} {kind} {number}")
                nights.append({"round": number, "kind": kind, "position": position, "state_before": state, **night})
    return nights


def main(argv: list[str] | None = None) -> int:
    from benchmarks.alternation_report import summarize, write_markdown

    args = parse_args(argv)
    out = (args.out or Path("benchmarks/results/alternation")).resolve()
    data = (args.data_dir or out / "data").resolve()
    refusal = check_disk(data, args.persons, args.days, warehouses=len(args.checkouts))
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    quiet_environment(args.memory_limit)
    report: dict = {
        "persons": args.persons, "days": args.days, "seed": args.seed, "rounds": args.rounds, "kinds": args.kinds,
        "one_full_night": args.one_full_night,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_figures(),
        "memory_limit": memory_limit_in_use(),
        "checkouts": [{**asdict(c), "root": str(c.root), "commit": commit_of(c.root)} for c in args.checkouts],
    }
    try:
        with RssMonitor() as monitor:
            generated = data / "dumps"
            log(f"generating {args.persons:,} persons, {args.days + 1} dumps into {generated}")
            report["generate"] = generate(args, generated)
            full_dates, held = hold_back_last_dump(generated)
            dumps = {date: generated / "landing" / date for date in full_dates}
            dumps[held] = generated / HELD_BACK / held
            report["full"], kept = build_warehouses(args.checkouts, data, dumps, full_dates, monitor,
                                                    args.one_full_night)
            report["kept_states"] = kept
            report["nights"] = alternate(args.checkouts, args.kinds, args.rounds, data, dumps, full_dates, held,
                                         kept, monitor)
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    report["summary"] = summarize(report["nights"], [c.label for c in args.checkouts], args.kinds)
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (out / "alternation.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "alternation.md").write_text(write_markdown(report))
    print((out / "alternation.md").read_text())
    log(f"wrote {out / 'alternation.json'} and {out / 'alternation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
