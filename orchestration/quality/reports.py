"""Readable failure reports: <data>/exports/gate_failures/<as_of>-<check>.md and .json.

Written when a gate check fails, for the people who must act on it: what failed, the figures, and the runbook
(find the cause, fix it, re-run). The export code links to the report from its own error. When the check passes
again for the same as-of date, the report is renamed <as_of>-<check>.resolved.md, so the folder's plain
reports are exactly the open incidents.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timezone
from pathlib import Path

from orchestration.quality.results import GateResult
from orchestration.settings import DataPaths

RUNBOOKS: dict[str, list[str]] = {
    "reconciliation": [
        "Find the cause. Start from the worst row above: the day, the source system, the cut and the metric. "
        "Compare that day's records in the lake with the system's control totals: lines quarantined at ingestion "
        "(`lake/quarantine/<source>/...`, each with its reason), a dump or file that did not arrive, late rows "
        "the system restates in the next dump, orders cancelled or returned since the system's statement, a "
        "staging rule that drops or double-counts records. "
        "`select * from reconciliation_orders_daily where business_date = '<day>' and source_system = '<source>'` "
        "in the warehouse shows every cut of that day.",
        "Fix it, with a deadline agreed with the source system's owner: re-deliver the missing or corrected dump "
        "(`data/landing/<dump_date>/...`, then re-ingest that dump date), or fix the model. If the difference is "
        "legitimate and expected to last (a known till outage), raise the tolerance for that cut only in "
        "`expectations/thresholds.yml` (`cut_overrides`, with a reason); never widen the defaults to make a "
        "night pass.",
        "Re-run: materialize the warehouse (`python -m orchestration.nightly`, or in the Dagster UI the "
        "build_warehouse job / `marts/reconciliation_orders_daily` with its checks). Exports run once the gate "
        "passes; until then the messaging tools keep the previous export.",
    ],
    "profile_integrity": [
        "Find the cause from the failed expectation: a duplicated customer_id points at identity resolution "
        "(`int_identifiers_resolved`, `identity_change_log`); an orphan order at an order whose customer_id "
        "is not in `customers` (a filter or join in `int_orders_unified` / `customers`); a contactable customer "
        "without consent, address or with a suppression at `int_customer_channels_assessed`.",
        "Fix the model (or the seed / source data that broke it) and add a test that would have caught it.",
        "Re-run the warehouse build (`python -m orchestration.nightly` or the build_warehouse job); the check "
        "runs again after `marts/customers` and exports follow when it passes.",
    ],
    "export_contract": [
        "Find the cause from the problems above: a missing column is a destination mapping "
        "(`orchestration/exports/destinations.yml`) naming a field the audience lacks; a contact without consent "
        "or with an invalid address means the audience or the customers mart let them through; a segment size "
        "jump means the segment's inputs changed (a source missing tonight, a changed segment definition).",
        "Fix the cause. If a size change is real and expected (a new campaign definition, a seasonal spike), "
        "confirm it with the marketer; the bound is `exports.segment_size_max_relative_change` in "
        "`expectations/thresholds.yml`.",
        "Re-run the export asset for this destination; nothing was published, the previous export is still the "
        "latest.",
    ],
}


def gate_failures_dir(paths: DataPaths) -> Path:
    return paths.exports / "gate_failures"


def report_paths(paths: DataPaths, check: str, as_of: str | None) -> tuple[Path, Path]:
    stem = f"{as_of or date.today().isoformat()}-{check}"
    folder = gate_failures_dir(paths)
    return folder / f"{stem}.md", folder / f"{stem}.json"


def write_failure_report(
    paths: DataPaths, check: str, result: GateResult, *, as_of: str | None = None, run_id: str | None = None,
) -> Path:
    """Writes <as_of>-<check>.md and .json (atomically); returns the markdown report's path."""
    markdown_path, json_path = report_paths(paths, check, as_of)
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    runbook = RUNBOOKS[_runbook_key(check)]
    written_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    as_of_text = as_of or "unknown as-of date"
    lines = [
        f"# Quality gate failed: {check} ({as_of_text})",
        "",
        f"**What failed:** {result.description}",
        "",
        "Until the gate passes, no export goes out: the messaging tools keep the previous export, and campaigns "
        "must not be sent on tonight's data.",
        "",
    ]
    metadata = result.metadata
    if metadata.get("breaches_table") and metadata.get("breach_count"):
        lines += [f"## Breaches ({metadata['breach_count']}, worst first)", "", metadata["breaches_table"], ""]
    if metadata.get("differences_by_day"):
        lines += ["## Differences per day and source (total cut)", "", metadata["differences_by_day"], ""]
    if metadata.get("segment_sizes"):
        lines += ["## Segment sizes", "", metadata["segment_sizes"], ""]
    if metadata.get("problems"):
        lines += ["## Problems", ""] + [f"- {problem}" for problem in metadata["problems"]] + [""]
    if result.failed_expectations:
        lines += ["## Failed expectations", ""]
        for failed in result.failed_expectations:
            lines.append(f"- {failed.summary()}")
            if failed.sample:
                lines.append(f"  - e.g. {json.dumps(failed.sample[:3], ensure_ascii=False, default=str)}")
        lines.append("")
    lines += ["## What to do", ""] + [f"{n}. {step}" for n, step in enumerate(runbook, start=1)] + [""]
    facts = [f"- check: `{check}`", f"- as of: {as_of_text}", f"- written: {written_at}"]
    if run_id:
        facts.append(f"- Dagster run: `{run_id}`")
    if metadata.get("thresholds_file"):
        facts.append(f"- thresholds: `{metadata['thresholds_file']}`")
    if result.data_docs:
        facts.append(f"- Great Expectations Data Docs: `{result.data_docs}`")
    facts += [f"- this validation's Data Docs page: `{page}`" for page in result.data_docs_pages]
    facts.append("- runbook: docs/quality_gate.md")
    lines += ["## Facts", ""] + facts + [""]
    document = {
        "check": check, "as_of": as_of, "written_at": written_at, "run_id": run_id, "status": "failed",
        "report": str(markdown_path), "what_to_do": runbook, **result.as_dict(),
    }
    _write_atomically(json_path, json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    _write_atomically(markdown_path, "\n".join(lines))
    return markdown_path


def resolve_failure_report(
    paths: DataPaths, check: str, as_of: str | None, *, run_id: str | None = None, note: str = "",
) -> Path | None:
    """On a pass: renames an open report of the same check and as-of date to *.resolved.* with a line saying
    when it passed again; returns the resolved report's path (None when there was no open report)."""
    markdown_path, json_path = report_paths(paths, check, as_of)
    if not markdown_path.exists():
        return None
    passed_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    run = f" in run `{run_id}`" if run_id else ""
    resolved = markdown_path.with_name(f"{markdown_path.stem}.resolved.md")
    banner = f"> **Resolved:** the check passed again at {passed_at}{run}. {note}".rstrip() + "\n\n"
    _write_atomically(resolved, banner + markdown_path.read_text(encoding="utf-8"))
    markdown_path.unlink()
    if json_path.exists():
        document = json.loads(json_path.read_text(encoding="utf-8"))
        document.update(status="resolved", resolved_at=passed_at, resolved_by_run=run_id)
        _write_atomically(json_path.with_name(f"{json_path.stem}.resolved.json"),
                          json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
        json_path.unlink()
    return resolved


def _runbook_key(check: str) -> str:
    for key in RUNBOOKS:
        if check.startswith(key):
            return key
    return "profile_integrity"


def _write_atomically(path: Path, text: str) -> None:
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)
