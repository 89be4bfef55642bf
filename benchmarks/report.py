"""The benchmark's readable outputs: a Markdown table and a chart (PNG, matplotlib)."""

from __future__ import annotations

from pathlib import Path

GB = 1024**3


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _rate(value: float | None) -> str:
    return "" if not value else f"{value:,.0f}"


def _gb(value: int | None) -> str:
    return "" if not value else f"{value / GB:,.2f}"


def stage_table(run: dict) -> list[str]:
    from benchmarks.run import STAGE_LABELS

    lines = ["| stage | seconds | share | rows | rows/s | peak RSS GB | rows counted |",
             "|---|---:|---:|---:|---:|---:|---|"]
    total = run["total_seconds"]
    for name, stage in run["stages"].items():
        rows = stage.get("rows")
        lines.append(
            f"| {STAGE_LABELS.get(name, name)} | {_seconds(stage['seconds'])} | {stage['seconds'] / total:.0%} "
            f"| {'' if rows is None else f'{rows:,}'} | {_rate(stage.get('rows_per_second'))} "
            f"| {_gb(stage.get('peak_rss_bytes'))} | {stage.get('rows_basis', '')} |"
        )
    lines.append(f"| **total** | **{_seconds(total)}** | 100% | | | **{_gb(run['peak_rss_bytes'])}** | |")
    gate = run["stages"]["gate"]
    checks = ", ".join(f"{name} {'passed' if c['passed'] else 'FAILED'}" for name, c in gate.get("checks", {}).items())
    lines += ["", f"Quality gate: {'passed' if gate.get('passed') else 'FAILED'} ({checks})."
              + (" The gate blocked the exports in the nightly job; they were timed in a run of their own."
                 if run["stages"]["exports"].get("blocked_by_gate") else "")]
    return lines


def slowest_nodes(run: dict, kind: str, count: int) -> list[tuple[str, float]]:
    """The `count` slowest models (seeds included) or data tests of one night, slowest first."""
    seconds = run["dbt"].get("model_seconds" if kind == "model" else "test_seconds", {})
    return sorted(seconds.items(), key=lambda item: (-item[1], item[0]))[:count]


def slowest_nodes_table(full: dict, incremental: dict, models: int = 12, tests: int = 5) -> list[str]:
    """Side by side, the slowest models and tests of the full night and of the incremental night."""
    lines = ["| | full night | s | incremental night | s |", "|---|---|---:|---|---:|"]
    for kind, count in (("model", models), ("test", tests)):
        left, right = slowest_nodes(full, kind, count), slowest_nodes(incremental, kind, count)
        for rank in range(max(len(left), len(right))):
            cells = []
            for nodes in (left, right):
                name, seconds = nodes[rank] if rank < len(nodes) else ("", None)
                cells += [f"`{name}`" if name else "", f"{seconds:.2f}" if seconds is not None else ""]
            lines.append(f"| {kind} {rank + 1} | {' | '.join(cells)} |")
    return lines


CONDITION_COLUMNS = (
    ("seconds", "wall s"), ("night_cpu_seconds", "night's CPU s"), ("others_cpu_seconds", "others' CPU s"),
    ("steal_seconds", "steal s"), ("cpu_stall_seconds", "waiting for CPU s"), ("io_stall_seconds", "for IO s"),
    ("memory_stall_seconds", "for memory s"), ("reclaimed_mb", "page cache reclaimed MB"),
    ("refaulted_mb", "read again MB"),
)
PHASES = (("night", "whole night"), ("ingest", "ingestion"), ("dbt", "dbt's nodes"),
          ("rest", "the rest (start-up, gate, exports, Dagster)"))
NIGHT_TITLES = (("full", "full"), ("incremental", "incremental"), ("unchanged", "nothing new"))


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def conditions_table(report: dict) -> list[str]:
    """What else the machine did while each night ran: a row per night and phase, a row per extra round."""
    lines = ["| night | phase | " + " | ".join(title for _, title in CONDITION_COLUMNS) + " |",
             "|---|---|" + "---:|" * len(CONDITION_COLUMNS)]

    def row(night: str, phase: str, figures: dict) -> str:
        return f"| {night} | {phase} | " + " | ".join(_figure(figures.get(k)) for k, _ in CONDITION_COLUMNS) + " |"

    for key, title in NIGHT_TITLES:
        night = report.get(key)
        if not night or "conditions" not in night:
            continue
        median_title = f"{title}, round {night['round']} (the median)" if night.get("rounds", 1) > 1 else title
        for phase, phase_title in PHASES:
            lines.append(row(median_title, phase_title, night["conditions"][phase]))
        for summary in report.get(f"{key}_rounds", []):
            if summary["round"] != night.get("round"):
                lines.append(row(f"{title}, round {summary['round']}", PHASES[0][1], summary["conditions"]))
    return lines


def speed_probe_table(report: dict) -> list[str]:
    """The fixed piece of work timed before and after each night, in the order the nights ran."""
    nights = []
    for key, title in NIGHT_TITLES:
        if f"{key}_rounds" in report:
            nights += [(f"{title}, round {r['round']}", r.get("speed_probe")) for r in report[f"{key}_rounds"]]
        elif key in report:
            nights.append((title, report[key].get("speed_probe")))
    lines = ["| night | Python probe before s | after s | DuckDB probe before s | after s |",
             "|---|---:|---:|---:|---:|"]
    for title, probe in nights:
        if probe:
            lines.append(f"| {title} | {probe['before']['python_seconds']:.3f} | {probe['after']['python_seconds']:.3f} "
                         f"| {probe['before']['duckdb_seconds']:.3f} | {probe['after']['duckdb_seconds']:.3f} |")
    return lines if len(lines) > 2 else []


def rounds_lines(report: dict, key: str) -> list[str]:
    """Every round of a repeated night (`incremental` or `unchanged`), in the order they ran; the stage table
    below is the median one's."""
    rounds = report.get(f"{key}_rounds", [])
    if len(rounds) < 2:
        return []
    totals = [r["total_seconds"] for r in rounds]
    lines = [f"Run {len(rounds)} times; the table is the median night, round {report[key]['round']}. "
             f"Spread: {min(totals):,.1f}-{max(totals):,.1f} s.", "",
             "| round | night s | warehouse job s | dbt s | gate s | exports s | others' CPU s | steal s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rounds:
        lines.append(f"| {r['round']} | {_seconds(r['total_seconds'])} | {_seconds(r['warehouse_job_seconds'])} "
                     f"| {_seconds(r['dbt_seconds'])} | {_seconds(r['stages']['gate'])} "
                     f"| {_seconds(r['stages']['exports'])} | {_figure(r['conditions'].get('others_cpu_seconds'))} "
                     f"| {_figure(r['conditions'].get('steal_seconds'))} |")
    return lines + [""]


def disk_lines(report: dict) -> list[str]:
    """The data directory's peak size against the dumps and the disk check's estimate."""
    disk = report.get("disk")
    if not disk or not disk.get("dumps_bytes"):
        return []
    steps = disk.get("step_peak_bytes", {})
    step = max(steps, key=steps.get) if steps else None
    return [f"The data directory held at most {disk['peak_bytes'] / GB:,.2f} GB ({disk['peak_over_dumps']:.2f}x the "
            f"{disk['dumps_bytes'] / GB:,.2f} GB of all dumps{f', during the {step} step' if step else ''}); the "
            f"disk check reserved {disk['estimated_bytes'] / GB:,.2f} GB before its margin."]


def write_markdown(report: dict) -> str:
    full, incremental = report["full"], report["incremental"]
    machine = report["machine"]
    lines = [
        f"# Benchmark: scale {report['scale']} ({report['persons']:,} persons, {report['days']} dumps + 1 incremental)",
        "",
        f"{machine['cpus']} CPUs, {machine['memory_gb']} GB RAM, DuckDB {machine['duckdb']}, Python {machine['python']}; "
        f"DuckDB memory_limit {report['memory_limit']}. Code {report.get('commit') or 'not recorded'}. "
        f"Started {report['started_at']}.",
        f"Dumps of the full run: {report['landing_bytes_full'] / GB:,.2f} GB "
        f"({', '.join(full['dump_dates'])}); generated in {report['generate']['seconds']:,.0f} s"
        + (" (reused)" if report["generate"].get("reused") else "") + ".",
        *disk_lines(report),
        "",
        "## Full nightly run",
        "",
        *stage_table(full),
        "",
        f"## Incremental night (dump {', '.join(incremental['dump_dates'])})",
        "",
        *(["Each round started from the same state: the lake, warehouse, exports and quality folders as the "
           "full run left them, kept aside and put back (benchmarks/night_state.py).", ""]
          if len(report.get("incremental_rounds", [])) > 1 else []),
        *rounds_lines(report, "incremental"),
        *stage_table(incremental),
        "",
    ]
    if "unchanged" in report:
        lines += [
            "## A night with nothing new",
            "",
            "The same jobs right after the incremental night, with no dump landed: what every night costs at this "
            "scale, whatever it holds.",
            "",
            *rounds_lines(report, "unchanged"),
            *stage_table(report["unchanged"]),
            "",
        ]
    if any("conditions" in report.get(key, {}) for key in ("full", "incremental", "unchanged")):
        lines += [
            "## The machine while each night ran",
            "",
            "What else the machine did (benchmarks/machine.py): CPU time outside the night's processes, time the "
            "hypervisor ran something else (steal), wall time in which a task waited for a CPU, for IO or for "
            "memory, and page cache the kernel evicted and evicted pages read again. A night slower than its "
            "neighbours with high figures here was measured on a busier machine, not slower code.",
            "",
            *conditions_table(report),
            "",
        ]
        probes = speed_probe_table(report)
        if probes:
            lines += ["How fast the machine was: a fixed piece of work timed just before and just after each night "
                      "(a Python loop on one core; DuckDB hashing 100M integers on all cores; the median of three). "
                      "A machine slowed by its host shows here, where steal and others' CPU stay near zero.", "",
                      *probes, ""]
    lines += [
        "## Comparisons",
        "",
        "| figure | value |",
        "|---|---:|",
    ]
    if "floor" in report:
        floor = report["floor"]
        lines += [
            f"| floor: DuckDB alone loads the same {floor['files']} files ({floor['rows']:,} rows) | {_seconds(floor['seconds'])} s |",
            f"| full run / floor | {report['full_over_floor']:.2f}x |",
            f"| ingest / floor | {report['ingest_over_floor']:.2f}x |",
        ]
    if "peer" in report:
        peer = report["peer"]
        lines += [
            f"| peer: pandas RFM + segments (load {peer['load_seconds']:.1f} s + compute {peer['compute_seconds']:.1f} s) "
            f"| {_seconds(peer['seconds'])} s |",
            f"| warehouse models doing the same (order summaries, customers, customer_rfm, segments) "
            f"| {_seconds(peer['warehouse_seconds'])} s |",
            f"| pandas / warehouse | {report['peer_over_warehouse']}x |",
            f"| pandas peak RSS | {_gb(peer['peak_rss_bytes'])} GB |",
            f"| pandas qcut scores equal to the warehouse's tie-safe scores | {peer['rfm_scores_equal_share']:.1%} |",
        ]
    lines += [
        f"| incremental / full | {report['incremental_over_full']:.1%} |",
        *([f"| nothing new / incremental | {report['unchanged_over_incremental']:.1%} |"]
          if "unchanged" in report else []),
        f"| identifiers resolved (full run) | {full['stages']['identity'].get('identifiers', 0):,} |",
    ]
    for key, title in (("full", "full run"), ("incremental", "incremental night")):
        tests = report[key]["dbt"].get("test_seconds", {})
        if tests:
            lines.append(f"| dbt data tests, {title}: node seconds (two threads) | {_seconds(sum(tests.values()))} s "
                         f"over {len(tests)} tests |")
    for key, title in (("identity_full", "full run"), ("identity_incremental", "after the incremental night")):
        identity = report[key]
        lines.append(f"| identity precision / recall, {title} | {identity['precision']:.4f} / {identity['recall']:.4f} |")
    stability = report["id_stability"]
    lines.append(
        f"| identifiers keeping their customer_id across the incremental night | {stability['same_customer_id']:,} of "
        f"{stability['identifiers_before']:,} ({stability['unchanged_share']:.4%}); changed by merges "
        f"{stability['changed_by_merge']:,}, otherwise {stability['changed'] - stability['changed_by_merge']:,} |")
    check = report.get("components_check")
    if check:
        lines.append(
            f"| identity components after the incremental night equal a full recomputation | "
            f"{'yes' if check['equal'] else 'NO'}: {check['nodes']:,} nodes, "
            f"{check['rows_only_in_full_recomputation'] + check['rows_only_stored']:,} rows differ |")
    lines += ["", "## Slowest dbt nodes", "",
              "Each node's own execution time from dbt's run_results.json (two threads: neighbours share the "
              "cores). Where to profile first; a model's SQL alone is measured with `dbt compile` and DuckDB's "
              "profiler (docs/performance.md).", ""]
    lines += slowest_nodes_table(full, incremental)
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for target in report["targets"].values():
        measured = {k: v for k, v in target.items() if k not in ("target", "met")}
        lines.append(f"| {target['target']} | {', '.join(f'{k}={v}' for k, v in measured.items())} | "
                     f"{'yes' if target['met'] else 'no'} |")
    return "\n".join(lines) + "\n"


def write_chart(report: dict, path: Path) -> Path | None:
    """Horizontal bars: seconds per stage, full vs incremental, with the floor and peer for reference."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)")
        return None
    from benchmarks.run import STAGE_LABELS

    names = list(report["full"]["stages"])
    full = [report["full"]["stages"][n]["seconds"] for n in names]
    incremental = [report["incremental"]["stages"][n]["seconds"] for n in names]
    labels = [STAGE_LABELS.get(n, n) for n in names]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1.3]})
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], full, height=0.4, label=f"full ({report['full']['total_seconds']:.0f} s)")
    ax.barh([i - 0.2 for i in y], incremental, height=0.4,
            label=f"incremental ({report['incremental']['total_seconds']:.0f} s)")
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title(f"Nightly run by stage, scale {report['scale']} ({report['persons']:,} persons)")
    ax.legend()
    bars = {"full run": report["full"]["total_seconds"], "incremental": report["incremental"]["total_seconds"]}
    if "floor" in report:
        bars["floor (DuckDB load)"] = report["floor"]["seconds"]
    if "peer" in report:
        bars["pandas RFM+segments"] = report["peer"]["seconds"]
        bars["same in warehouse"] = report["peer"]["warehouse_seconds"]
    ax2.bar(range(len(bars)), list(bars.values()), color=["C0", "C1", "C2", "C3", "C4"][: len(bars)])
    ax2.set_xticks(range(len(bars)), list(bars), rotation=30, ha="right")
    ax2.set_ylabel("seconds")
    ax2.set_title("Totals and references")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
