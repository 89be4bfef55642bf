"""Split one `dbt build`'s wall time into pipeline stages, from its run_results.json and manifest.json.

Every node (model, seed, test, unit test) belongs to the stage of its dbt folder; tests belong to the stage of
the model they test. dbt runs two nodes at a time (profiles.yml threads), so time when two nodes overlap is
split between them: the stage times add up to the time dbt spent executing nodes. What remains of the
measured wall time (dbt start-up, parsing, Dagster's event handling) is reported separately.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAGES = ("staging", "identity", "orders", "marts_rfm", "segments")

# (path prefix under the dbt project, stage); the first match wins.
FOLDER_STAGES = (
    ("seeds", "staging"),
    ("../seeds", "staging"),
    ("models/staging/", "staging"),
    ("models/intermediate/identity/", "identity"),
    ("models/marts/identity/", "identity"),
    ("tests/identity/", "identity"),
    ("models/intermediate/orders/", "orders"),
    ("models/intermediate/calendar/", "orders"),
    ("models/intermediate/customers/", "marts_rfm"),
    ("models/intermediate/engagement/", "marts_rfm"),
    ("models/intermediate/products/", "marts_rfm"),
    ("models/marts/", "marts_rfm"),
    ("tests/marts/", "marts_rfm"),
    ("models/segments/", "segments"),
    ("models/exports/", "segments"),
    ("tests/segments/", "segments"),
)


def _stage_of_path(path: str) -> str | None:
    for prefix, stage in FOLDER_STAGES:
        if path.startswith(prefix):
            return stage
    return None


def node_stages(manifest: dict) -> dict[str, str]:
    """unique_id -> stage for every node dbt can run."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    stages: dict[str, str] = {}

    def stage_of(unique_id: str, seen: frozenset = frozenset()) -> str:
        if unique_id in stages:
            return stages[unique_id]
        node = nodes.get(unique_id)
        if node is None or unique_id in seen:
            return "staging"
        stage = None
        if node["resource_type"] in ("model", "seed", "snapshot"):
            stage = _stage_of_path(node.get("original_file_path", ""))
        if stage is None and node["resource_type"] == "test" and node.get("attached_node"):
            stage = stage_of(node["attached_node"], seen | {unique_id})
        if stage is None:
            # Singular and unit tests: the latest stage among what they read.
            parents = [p for p in node.get("depends_on", {}).get("nodes", []) if p in nodes]
            parent_stages = [stage_of(p, seen | {unique_id}) for p in parents]
            stage = max(parent_stages, key=STAGES.index) if parent_stages else None
        if stage is None:
            stage = _stage_of_path(node.get("original_file_path", "")) or "staging"
        stages[unique_id] = stage
        return stage

    for unique_id in nodes:
        stage_of(unique_id)
    return stages


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def node_intervals(run_results: dict) -> list[tuple[str, float, float, str]]:
    """(unique_id, start, end, status) for every node that ran."""
    out = []
    for result in run_results.get("results", []):
        timing = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        if not timing:
            continue
        start = min(_ts(t["started_at"]) for t in timing)
        end = max(_ts(t["completed_at"]) for t in timing)
        out.append((result["unique_id"], start, end, result.get("status", "")))
    return out


def attribute(intervals: list[tuple[str, float, float, str]], stages: dict[str, str]) -> dict[str, float]:
    """Wall seconds per stage; overlapping nodes share the overlap equally."""
    events = []
    for unique_id, start, end, _ in intervals:
        events.append((start, 1, unique_id))
        events.append((end, -1, unique_id))
    events.sort(key=lambda e: (e[0], e[1]))
    seconds: dict[str, float] = defaultdict(float)
    active: dict[str, int] = defaultdict(int)
    previous = None
    for when, delta, unique_id in events:
        running = [u for u, n in active.items() if n > 0]
        if previous is not None and running and when > previous:
            share = (when - previous) / len(running)
            for u in running:
                seconds[stages.get(u, "staging")] += share
        active[unique_id] += delta
        previous = when
    return {stage: seconds.get(stage, 0.0) for stage in STAGES}


def stage_seconds(target_dir: Path) -> dict:
    """Stage seconds, node execution seconds per model and the covered span of one dbt invocation."""
    run_results = json.loads((target_dir / "run_results.json").read_text())
    manifest = json.loads((target_dir / "manifest.json").read_text())
    stages = node_stages(manifest)
    intervals = node_intervals(run_results)
    per_stage = attribute(intervals, stages)
    # Exposures are reported as "no-op": they run nothing, so they cannot fail.
    failures = [u for u, _, _, status in intervals if status not in ("success", "pass", "warn", "no-op")]
    model_seconds = {
        r["unique_id"].split(".")[-1]: round(r.get("execution_time", 0.0), 3)
        for r in run_results.get("results", [])
        if r["unique_id"].startswith(("model.", "seed."))
    }
    # Data tests by their own time: what checking each table costs, beside building it.
    test_seconds = {
        r["unique_id"].split(".")[2]: round(r.get("execution_time", 0.0), 3)
        for r in run_results.get("results", [])
        if r["unique_id"].startswith("test.")
    }
    return {
        "stages": per_stage,
        "executed_seconds": sum(per_stage.values()),
        "nodes": len(intervals),
        "failures": failures,
        "model_seconds": model_seconds,
        "test_seconds": test_seconds,
        "elapsed_reported": run_results.get("elapsed_time"),
        # (stage, start, end) of every node: the memory monitor's samples are split by stage with them.
        "intervals": [(stages.get(u, "staging"), start, end) for u, start, end, _ in intervals],
    }
