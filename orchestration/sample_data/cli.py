"""cdp-sample: write the sample retailer's dumps into a data directory.

    cdp-sample --scale demo                      # 5,000 persons, 3 daily dumps, into ./data (or $CDP_DATA_DIR)
    cdp-sample --out /tmp/d --persons 800 --days 2 --defect bad_date=0.01 --clean
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from orchestration.settings import data_dir

from .config import DEFECT_RATES, SCALES, GeneratorConfig
from .generator import clean, generate


def _defect(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or name not in DEFECT_RATES:
        raise argparse.ArgumentTypeError(f"expected NAME=RATE with NAME one of {', '.join(sorted(DEFECT_RATES))}")
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: rate {value!r} is not a number") from None
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"{name}: rate {rate} is outside [0, 1]")
    return name, rate


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdp-sample", description="Generate the sample retailer's nightly dumps.")
    p.add_argument("--out", type=Path, default=None, help="data directory root (default: CDP_DATA_DIR or ./data)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--scale", choices=list(SCALES), default="demo",
                   help="persons: " + ", ".join(f"{k}={v:,}" for k, v in SCALES.items()))
    p.add_argument("--persons", type=int, default=None, help="number of persons (overrides --scale)")
    p.add_argument("--days", type=int, default=3, help="number of daily dumps")
    p.add_argument("--history-days", type=int, default=730, help="business days in the first dump")
    p.add_argument("--end-date", type=_date, default=date(2026, 11, 20), help="date of the last dump")
    p.add_argument("--defect", type=_defect, action="append", default=[], metavar="NAME=RATE",
                   help="override a defect rate (repeatable)")
    p.add_argument("--no-defects", action="store_true", help="set every defect rate to 0")
    p.add_argument("--clean", action="store_true", help="delete landing/ and ground_truth/ under --out first")
    p.add_argument("--chunk-size", type=int, default=GeneratorConfig.chunk_size, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = (args.out or data_dir()).resolve()
    rates = {name: 0.0 for name in DEFECT_RATES} if args.no_defects else dict(DEFECT_RATES)
    rates.update(dict(args.defect))
    try:
        config = GeneratorConfig(
            seed=args.seed, persons=args.persons or SCALES[args.scale], days=args.days,
            history_days=args.history_days, end_date=args.end_date, defect_rates=rates, chunk_size=args.chunk_size,
        )
    except ValueError as error:
        print(f"cdp-sample: {error}", file=sys.stderr)
        return 2
    if args.clean:
        clean(out)
    summary = generate(out, config)
    print(f"cdp-sample: {summary.persons:,} persons, {len(summary.dump_dates)} dumps "
          f"({summary.dump_dates[0]} .. {summary.dump_dates[-1]}), {len(summary.files)} files in {out / 'landing'}")
    width = max(len(key) for key in summary.rows_per_table)
    for key, rows in summary.rows_per_table.items():
        print(f"  {key:<{width}} {rows:>12,}")
    injected = ", ".join(f"{name}={count:,}" for name, count in summary.defect_counts.items() if count)
    print(f"  defects: {injected or 'none'}")
    print(f"  ground truth: {out / 'ground_truth'}")
    print(f"  {summary.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
