"""How a night's cost grows with the data: benchmark reports of two or more scales side by side, extrapolated.

    python -m benchmarks.growth benchmarks/results/M benchmarks/results/2000000p
    python -m benchmarks.growth results/S results/M results/2000000p --to 10000000 --out growth.md

Each figure (every night's total and stages, the floor, the dbt node seconds, the generator's time unless a
report reused its dumps) is fitted with a power law over
the persons, seconds = a * persons^b, least squares on the logarithms; b is the growth exponent (1: linear, 0:
fixed cost). The fit then gives the figure at `--to` persons (default: L, 10M), and from the extrapolated
figures the ratios the targets are stated in. An extrapolation is a forecast from this machine's runs, not a
measurement; the table says which columns were measured.

The incremental night's dump grows with the persons too (the generator's day is proportional to the
customers), so "incremental / full" compares the same kind of night at every scale.

Then, for the incremental night and the night with nothing new, the dbt nodes that would cost the most at
`--to` persons, each fitted the same way (`--nodes`, default 12): where the incremental night's time would go.
A node's seconds are its median over the night's rounds where the report kept them (benchmarks.run repeats
both nights).
Its day grows with the persons too, so a node of that night may grow for its day or for the history; in the
night with nothing new only the history grows.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from benchmarks.run import STAGE_LABELS, generation_seconds
from orchestration.sample_data.config import SCALES

L_PERSONS = SCALES["L"]
NIGHTS = (("full", "full night"), ("incremental", "incremental night"), ("unchanged", "a night with nothing new"))
# Reports of different machines or settings still compare (the table names the differences); reports of a
# different number of dumps do not: their full nights hold a different history.
SETTINGS_NAMED = ("machine", "memory_limit", "seed", "commit")
# A figure under this at every scale is a step with nothing to do (the ingestion of a night with no dump): its
# milliseconds are noise, and an exponent fitted to them would mean nothing.
MIN_FITTED_SECONDS = 0.5
TOO_SMALL = f"under {MIN_FITTED_SECONDS} s: not fitted"
# The nights whose dbt nodes are listed one by one: the full night rebuilds everything, so each of its nodes
# grows with the data and the list would say little; these two show what an ordinary night would cost at L.
NODE_NIGHTS = (("incremental", "incremental night"), ("unchanged", "a night with nothing new"))
DEFAULT_NODES = 12


def too_small_to_fit(series: list[float | None]) -> bool:
    """Under MIN_FITTED_SECONDS at every scale (or not measured): shown, but given no exponent."""
    return all(s is None or s < MIN_FITTED_SECONDS for s in series)


class GrowthError(ValueError):
    """Reports that cannot be compared; the message says why and what to run instead."""


def load_report(path: Path) -> dict:
    """A benchmark.json, or the folder `benchmarks.run --out` wrote it to."""
    file = path / "benchmark.json" if path.is_dir() else path
    if not file.is_file():
        raise GrowthError(f"{path}: no benchmark.json there; run `python -m benchmarks.run --out {path}` first.")
    return json.loads(file.read_text())


def fit_power_law(persons: list[int], seconds: list[float]) -> tuple[float, float] | None:
    """(a, b) of seconds = a * persons^b by least squares on the logarithms; None without two positive points."""
    points = [(math.log(p), math.log(s)) for p, s in zip(persons, seconds, strict=True) if p > 0 and s and s > 0]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return math.exp(mean_y - slope * mean_x), slope


def extrapolate(fit: tuple[float, float] | None, persons: int) -> float | None:
    return None if fit is None else fit[0] * persons**fit[1]


def figures(report: dict) -> dict[str, float | None]:
    """The seconds compared across scales, by label, in the order the table shows them."""
    values: dict[str, float | None] = {}
    for night, label in NIGHTS:
        run = report.get(night)
        if not run:
            continue
        values[label] = run["total_seconds"]
        for stage, stage_report in run["stages"].items():
            values[f"{label}: {STAGE_LABELS.get(stage, stage)}"] = stage_report["seconds"]
        dbt = run.get("dbt") or {}
        if dbt.get("executed_seconds") is not None:
            values[f"{label}: dbt node seconds, models"] = sum(dbt.get("model_seconds", {}).values())
            values[f"{label}: dbt node seconds, tests"] = sum(dbt.get("test_seconds", {}).values())
    values["floor"] = (report.get("floor") or {}).get("seconds")
    generated = generation_seconds(report)
    if generated is not None:
        values["generation of the dumps"] = generated
    return values


def check_comparable(reports: list[dict]) -> list[str]:
    """Raise GrowthError when the reports cannot be compared; return notes on the settings that differ."""
    if len(reports) < 2:
        raise GrowthError(
            f"{len(reports)} benchmark report(s) given: growth needs two or more of different scales, e.g. "
            "`make bench SCALE=S` and `make bench SCALE=M` first."
        )
    persons = [r["persons"] for r in reports]
    if len(set(persons)) < 2:
        raise GrowthError(f"All reports have {persons[0]:,} persons: growth needs at least two different scales.")
    days = {r.get("days") for r in reports}
    if len(days) > 1:
        raise GrowthError(
            f"The reports' full nights hold different numbers of dumps ({sorted(days)}): rerun them with the same "
            "--days."
        )
    notes = []
    for setting in SETTINGS_NAMED:
        seen = {json.dumps(r.get(setting), sort_keys=True) for r in reports}
        if len(seen) > 1:
            notes.append(f"The reports differ in {setting}: " + "; ".join(
                f"{r['scale']}: {r.get(setting) or 'not recorded'}" for r in reports))
    return notes


def growth_table(reports: list[dict], to_persons: int = L_PERSONS) -> list[str]:
    """Markdown: each figure at every measured scale, its exponent and its value extrapolated to `to_persons`."""
    notes = check_comparable(reports)
    reports = sorted(reports, key=lambda r: r["persons"])
    persons = [r["persons"] for r in reports]
    per_report = [figures(r) for r in reports]
    labels = list(dict.fromkeys(label for values in per_report for label in values))
    header = " | ".join(f"{r['scale']} ({r['persons']:,}), s" for r in reports)
    lines = [f"| figure | {header} | exponent | at {to_persons:,} (extrapolated), s |",
             "|---|" + "---:|" * (len(reports) + 2)]
    extrapolated: dict[str, float | None] = {}
    for label in labels:
        series = [values.get(label) for values in per_report]
        too_small = too_small_to_fit(series)
        fit = None if too_small else fit_power_law(persons, [s or 0.0 for s in series])
        extrapolated[label] = extrapolate(fit, to_persons)
        cells = ["" if s is None else f"{s:,.1f}" for s in series]
        cells.append(TOO_SMALL if too_small else "" if fit is None else f"{fit[1]:.2f}")
        cells.append("" if extrapolated[label] is None else f"{extrapolated[label]:,.0f}")
        lines.append(f"| {label} | {' | '.join(cells)} |")

    lines += ["", "| ratio | " + " | ".join(r["scale"] for r in reports) + f" | at {to_persons:,} (extrapolated) |",
              "|---|" + "---:|" * (len(reports) + 1)]
    # Measured and extrapolated ratios from one formula (totals divided), as benchmarks.run defines them, so the
    # columns compare exactly; the reports' stored ratios are rounded.
    for name, numerator, denominator, unit in (
        ("full night / floor", "full night", "floor", "x"),
        ("incremental / full night", "incremental night", "full night", "%"),
        ("nothing new / incremental night", "a night with nothing new", "incremental night", "%"),
    ):
        measured = [_ratio(values.get(numerator), values.get(denominator)) for values in per_report]
        forecast = _ratio(extrapolated.get(numerator), extrapolated.get(denominator))
        lines.append(f"| {name} | " + " | ".join(_format_ratio(v, unit) for v in measured + [forecast]) + " |")
    rss = [r.get("peak_rss_bytes") or 0 for r in reports]  # the run's own figure, the one its RSS target uses
    lines.append("| peak RSS, GB | " + " | ".join(f"{b / 1024**3:.2f}" for b in rss)
                 + " | (not extrapolated: DuckDB's memory_limit caps it) |")
    if notes:
        lines += [""] + [f"Note: {note}" for note in notes]
    return lines


def node_seconds(report: dict, night: str) -> dict[str, float]:
    """Each dbt node's own execution seconds in `night`, keyed `model name` / `test name`: the median over the
    night's rounds when the report ran it more than once and kept every round's nodes, else its one night's."""
    rounds = report.get(f"{night}_rounds") or []
    if len(rounds) > 1 and all("model_seconds" in r for r in rounds):
        per_round = [_node_seconds_of(r) for r in rounds]
        names = dict.fromkeys(name for nodes in per_round for name in nodes)
        return {name: statistics.median(nodes.get(name, 0.0) for nodes in per_round) for name in names}
    return _node_seconds_of((report.get(night) or {}).get("dbt") or {})


def _node_seconds_of(dbt: dict) -> dict[str, float]:
    nodes = {f"model `{name}`": seconds for name, seconds in dbt.get("model_seconds", {}).items()}
    nodes.update({f"test `{name}`": seconds for name, seconds in dbt.get("test_seconds", {}).items()})
    return nodes


def node_growth_table(reports: list[dict], night: str, to_persons: int = L_PERSONS,
                      top: int = DEFAULT_NODES) -> list[str]:
    """Markdown: the `top` dbt nodes of `night` that would cost the most at `to_persons`, then the rest together.

    A node under MIN_FITTED_SECONDS at every scale gets no exponent of its own (its milliseconds are mostly
    dbt's per-node work and the neighbouring thread); it is counted in the last row, whose sum is fitted.
    """
    check_comparable(reports)
    reports = sorted(reports, key=lambda r: r["persons"])
    persons = [r["persons"] for r in reports]
    per_report = [node_seconds(r, night) for r in reports]
    names = list(dict.fromkeys(name for nodes in per_report for name in nodes))
    if not names:
        return []
    fitted: list[tuple[float, str, list[float | None], float]] = []
    rest: list[str] = []
    for name in names:
        series = [nodes.get(name) for nodes in per_report]
        fit = None if too_small_to_fit(series) else fit_power_law(persons, [s or 0.0 for s in series])
        if fit is None:
            rest.append(name)
        else:
            fitted.append((extrapolate(fit, to_persons), name, series, fit[1]))
    fitted.sort(key=lambda row: -row[0])
    rest += [name for _, name, _, _ in fitted[top:]]
    header = " | ".join(f"{r['scale']}, s" for r in reports)
    lines = [f"| {dict(NIGHTS)[night]}: dbt node | {header} | exponent | at {to_persons:,} (extrapolated), s |",
             "|---|" + "---:|" * (len(reports) + 2)]
    for at_target, name, series, exponent in fitted[:top]:
        cells = ["" if s is None else f"{s:,.2f}" for s in series]
        lines.append(f"| {name} | {' | '.join(cells)} | {exponent:.2f} | {at_target:,.1f} |")
    if rest:
        sums = [sum(nodes.get(name) or 0.0 for name in rest) for nodes in per_report]
        fit = None if too_small_to_fit(sums) else fit_power_law(persons, sums)
        cells = [f"{s:,.2f}" for s in sums]
        cells.append("" if fit is None else f"{fit[1]:.2f}")
        cells.append("" if fit is None else f"{extrapolate(fit, to_persons):,.1f}")
        lines.append(f"| the other {len(rest)} nodes, together | {' | '.join(cells)} |")
    return lines


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if not numerator or not denominator else numerator / denominator


def _format_ratio(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:.2f}x" if unit == "x" else f"{value:.1%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path, help="benchmark.json files or the folders holding them")
    parser.add_argument("--to", type=int, default=L_PERSONS, help="persons to extrapolate to (default L, 10M)")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this Markdown file")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                        help=f"dbt nodes listed per night, those costing most at --to (default {DEFAULT_NODES})")
    args = parser.parse_args(argv)
    if args.nodes < 0:
        parser.error("--nodes must be 0 or more")
    try:
        reports = [load_report(path) for path in args.reports]
        lines = growth_table(reports, args.to)
        for night, _ in NODE_NIGHTS:
            table = node_growth_table(reports, night, args.to, args.nodes)
            if table:
                lines += [""] + table
    except GrowthError as error:
        print(f"benchmarks.growth: {error}", file=sys.stderr)
        return 2
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
