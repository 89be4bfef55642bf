"""What alternated nights say (benchmarks/alternate.py): each checkout's figures over the rounds, and every other
checkout against the first, round by round.

A round runs every checkout once, minutes apart, so the difference within a round is freed of the hour's drift
that separates two benchmark runs; its median over the rounds, its range and the number of rounds in which the
other checkout was faster say how settled a difference is. Three rounds of five faster by a second is no finding;
five of five, with a range that stays on one side of zero, is. The mean difference's 95% interval (Student's t over
the rounds' differences) says it in one figure: a difference whose interval holds zero is not settled, and the
interval narrows only with the square root of the rounds (docs/performance.md, section BF).
"""

from __future__ import annotations

import statistics

FIGURES = {
    "wall_seconds": "wall, s",
    "cpu_seconds": "CPU, s",
    "ingest_seconds": "ingestion, s",
    "warehouse_job_seconds": "warehouse job, s",
    "exports_apart_seconds": "exports run apart (gate blocked), s",
    "outside_jobs_seconds": "process outside its jobs, s",
    "dbt_seconds": "dbt elapsed, s",
    "model_node_seconds": "model node time, s",
    "test_node_seconds": "test node time, s",
}
KIND_TITLES = {"unchanged": "A night with nothing new", "one-day": "The one-day night (the held-back dump lands)"}
NODES_LISTED = 10
# Student's t, two-sided 95%, for 1 to 30 degrees of freedom; beyond, the normal's 1.96 is within 4%.
T_95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3),
            "n": len(values)}


def mean_interval(values: list[float]) -> dict | None:
    """The mean of `values` and the half-width of its 95% interval (Student's t); none from a single value."""
    if len(values) < 2:
        return None
    degrees = len(values) - 1
    t = T_95[degrees - 1] if degrees <= len(T_95) else 1.96
    return {"mean": round(statistics.mean(values), 3),
            "half_width_95": round(t * statistics.stdev(values) / len(values) ** 0.5, 3)}


def paired_differences(first: list[dict], other: list[dict]) -> dict:
    """Per figure, `other` minus `first` within each round they share: median, range, the rounds `other` was
    faster (a lower figure), and the mean difference with its 95% interval (`interval`, none from one round)."""
    by_round = {night["round"]: night for night in first}
    pairs = [(by_round[night["round"]], night) for night in other if night["round"] in by_round]
    out = {}
    for figure in FIGURES:
        differences = [b[figure] - a[figure] for a, b in pairs]
        out[figure] = {**spread(differences), "faster_rounds": sum(d < 0 for d in differences),
                       "interval": mean_interval(differences)} if pairs else None
    return out


def node_medians(nights: list[dict]) -> dict[tuple[str, str], float]:
    """Each dbt node's median seconds over the nights, keyed by (model|test, name)."""
    values: dict[tuple[str, str], list[float]] = {}
    for night in nights:
        for kind, key in (("model", "model_seconds"), ("test", "test_seconds")):
            for name, seconds in night[key].items():
                values.setdefault((kind, name), []).append(seconds)
    return {node: statistics.median(seconds) for node, seconds in values.items()}


def node_differences(first: list[dict], other: list[dict], count: int = NODES_LISTED) -> list[dict]:
    """The `count` nodes whose median seconds differ most between the two checkouts; a node one of them lacks
    counts as 0 s there (a model added or removed by the change)."""
    a, b = node_medians(first), node_medians(other)
    rows = [{"kind": kind, "node": name, "first": round(a.get((kind, name), 0.0), 3),
             "other": round(b.get((kind, name), 0.0), 3),
             "difference": round(b.get((kind, name), 0.0) - a.get((kind, name), 0.0), 3)}
            for kind, name in sorted(set(a) | set(b))]
    return sorted(rows, key=lambda row: -abs(row["difference"]))[:count]


def order_effect(nights: list[dict]) -> dict | None:
    """The wall time of the night run first in a round minus that of the night run last, whatever their code: a
    machine's cache or a neighbour can favour one place in the round, which reversing every other round cancels
    only when the rounds are even (docs/performance.md, section BD)."""
    by_round: dict[int, list[dict]] = {}
    for night in nights:
        by_round.setdefault(night["round"], []).append(night)
    differences = [min(group, key=lambda n: n["position"])["wall_seconds"]
                   - max(group, key=lambda n: n["position"])["wall_seconds"]
                   for group in by_round.values() if len(group) > 1]
    return spread(differences) if differences else None


def summarize(nights: list[dict], labels: list[str], kinds: list[str]) -> dict:
    """Per kind of night: each checkout's figures over the rounds, the machine's speed probe before them, and every
    checkout after the first against the first."""
    out = {}
    for kind in kinds:
        of_kind = {label: [n for n in nights if n["kind"] == kind and n["checkout"] == label] for label in labels}
        first = of_kind[labels[0]]
        out[kind] = {
            "figures": {label: {f: spread([n[f] for n in of_kind[label]]) for f in FIGURES} for label in labels},
            "duckdb_probe_seconds": spread([n["speed_probe"]["duckdb_seconds"]
                                            for label in labels for n in of_kind[label]]),
            "against_first": {label: paired_differences(first, of_kind[label]) for label in labels[1:]},
            "nodes": {label: node_differences(first, of_kind[label]) for label in labels[1:]},
            "order_effect_seconds": order_effect([n for label in labels for n in of_kind[label]]),
        }
    return out


def _range(figure: dict) -> str:
    return f"{figure['median']:.2f} ({figure['min']:.2f}-{figure['max']:.2f})"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _interval(figure: dict) -> str:
    interval = figure.get("interval")
    if not interval:
        return "one round: none"
    settled = abs(interval["mean"]) > interval["half_width_95"]
    return f"{_signed(interval['mean'])} ± {interval['half_width_95']:.2f}" + ("" if settled else " (holds 0)")


def write_markdown(report: dict) -> str:
    labels = [c["label"] for c in report["checkouts"]]
    first = labels[0]
    lines = [
        f"# Alternated nights: {', '.join(labels)}",
        "",
        f"{report['persons']:,} persons, {report['days']} dumps in the full night and one more for the one-day "
        f"night (seed {report['seed']}); {report['rounds']} round(s), every other one in reverse order; DuckDB "
        f"memory limit {report['memory_limit']}.",
        "",
        "| checkout | folder | commit |",
        "|---|---|---|",
        *[f"| {c['label']} | `{c['root']}` | {c['commit'] or 'not a git checkout'} |" for c in report["checkouts"]],
        "",
        "## The full night (once per checkout, before the rounds: not alternated)",
        "",
        *([f"Run by {first} only (--one-full-night): every checkout started from a copy of the state it left.", ""]
          if report.get("one_full_night") else []),
        "| checkout | " + " | ".join(FIGURES.values()) + " |",
        "|---|" + "---:|" * len(FIGURES),
        *[f"| {label} | " + " | ".join(f"{report['full'][label][f]:.2f}" for f in FIGURES) + " |"
          for label in labels if label in report["full"]],
    ]
    states = ((f"Both start from a copy of {first}'s full night." if report.get("one_full_night") else
               "Each starts from the state its own full night left.")
              + " A difference whose 95% interval holds zero is not settled. With one commit on both sides, the "
                "one-day night at M differed by 4.4-5.6 s (standard deviation) from round to round "
                "(docs/performance.md, sections BE and BF): four rounds settle about 8 s there, and 3 s needs "
                "about 14.")
    for kind in report["kinds"]:
        summary = report["summary"][kind]
        probe = summary["duckdb_probe_seconds"]
        lines += [
            "",
            f"## {KIND_TITLES[kind]}",
            "",
            f"Median (range) over {report['rounds']} round(s). The machine's DuckDB speed probe before these nights: "
            f"{_range(probe)} s.",
            "",
            "| figure | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
            *[f"| {title} | " + " | ".join(_range(summary["figures"][label][f]) for label in labels) + " |"
              for f, title in FIGURES.items()],
        ]
        effect = summary["order_effect_seconds"]
        if effect:
            lines += ["", f"The night run first in a round minus the one run last, whatever their code: "
                          f"{_signed(effect['median'])} s ({_signed(effect['min'])} to {_signed(effect['max'])}) over "
                          f"{effect['n']} round(s)." + (" The rounds are odd, so the first checkout ran first once "
                                                         "more than the last." if effect["n"] % 2 else "")]
        for label in labels[1:]:
            paired = summary["against_first"][label]
            lines += [
                "",
                f"**{label} against {first}**, round by round ({label} minus {first}; negative: {label} faster). "
                f"{states}",
                "",
                "| figure | median difference | range | rounds faster | mean, 95% interval |",
                "|---|---:|---:|---:|---:|",
                *[f"| {title} | {_signed(paired[f]['median'])} | {_signed(paired[f]['min'])} to "
                  f"{_signed(paired[f]['max'])} | {paired[f]['faster_rounds']} of {paired[f]['n']} | "
                  f"{_interval(paired[f])} |"
                  for f, title in FIGURES.items() if paired[f]],
                "",
                f"The dbt nodes whose median seconds differ most ({first} -> {label}):",
                "",
                f"| node | {first}, s | {label}, s | difference, s |",
                "|---|---:|---:|---:|",
                *[f"| {row['kind']} `{row['node']}` | {row['first']:.3f} | {row['other']:.3f} | "
                  f"{_signed(row['difference'])} |" for row in summary["nodes"][label]],
            ]
    return "\n".join(lines) + "\n"
