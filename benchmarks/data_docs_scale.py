"""The cost of one quality-gate validation session as validation results accumulate.

Every night stores about a dozen validation results (the gate's suites, each export destination's), kept for
CDP_QUALITY_HISTORY_DAYS (default 90). The nightly benchmark starts from an empty data directory, so it never
sees what a platform that has run for weeks pays: GX rebuilds the Data Docs index from the stored results it
lists. This stores N results (copies of real ones, each with its page, at earlier run times inside the
retention) and times a session that validates an export audience and its segment sizes (two suites, as an
export destination does).

    python -m benchmarks.data_docs_scale --results 160 900 1350
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from orchestration.quality.history import RUN_TIME_FORMAT, run_time
from orchestration.settings import data_paths


def validate_session(root: Path) -> bool:
    """One validation session like an export destination's: its audience and its segment sizes."""
    import pandas as pd

    from orchestration.quality.export_contract import validate_export_audience

    people = 1000
    frame = pd.DataFrame({
        "customer_id": [f"cus_{i:06d}" for i in range(people)], "segment": ["rfm", "win_back"] * (people // 2),
        "email": [f"person{i}@example.ru" for i in range(people)], "is_email_contactable": True,
    })
    result = validate_export_audience(
        frame, destination="benchmark", channel="email", required_columns=["email"],
        previous_segment_sizes={"rfm": people // 2, "win_back": people // 2}, paths=data_paths(root))
    return result.passed


def run_folders(tree: Path) -> list[Path]:
    return sorted(path for path in tree.rglob("*") if path.is_dir() and run_time(path.name) is not None)


def store_results(root: Path, results: int) -> int:
    """Copies the stored results, and their pages, to earlier run times until ``results`` are stored."""
    quality = root / "quality"
    stored = run_folders(quality / "gx" / "uncommitted" / "validations")
    pages = quality / "data_docs" / "validations"
    now = datetime.now(timezone.utc)
    count = len(stored)
    copy = 0
    while count < results:
        source = stored[copy % len(stored)]
        copy += 1
        # Spread over the retention (89 days back at most), a few seconds apart, never at a time already used.
        name = (now - timedelta(days=1 + copy % 88, seconds=copy)).strftime(RUN_TIME_FORMAT)
        shutil.copytree(source, source.with_name(name))
        page = pages / source.relative_to(quality / "gx" / "uncommitted" / "validations")
        if page.exists():
            shutil.copytree(page, page.with_name(name))
        count += 1
    return count


def measure(results: int, sessions: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="data-docs-scale-") as folder:
        root = Path(folder)
        if not validate_session(root):
            raise RuntimeError("the seed validation failed; see the GX results under " + str(root))
        stored = store_results(root, results)
        seconds = []
        for _ in range(sessions):
            started = time.perf_counter()
            validate_session(root)
            seconds.append(time.perf_counter() - started)
        return {"results_stored": stored, "session_seconds": [round(s, 3) for s in seconds],
                "median_seconds": round(statistics.median(seconds), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, nargs="+", default=[160, 900, 1350],
                        help="validation results stored before the timed sessions")
    parser.add_argument("--sessions", type=int, default=3, help="timed sessions per size (median reported)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    figures = []
    for results in args.results:
        figure = measure(results, args.sessions)
        figures.append(figure)
        print(f"{figure['results_stored']:>6} results stored: one session {figure['median_seconds']:.2f} s "
              f"(runs {figure['session_seconds']})", flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
