"""Export contract: what every export file must satisfy before it is published to a messaging tool.

    validate_export_audience(df, destination=..., channel=..., required_columns=[...],
                             previous_segment_sizes={...} | None, thresholds=...) -> GateResult

checks, with Great Expectations (suites export_contract.<destination>.audience and .segment_sizes):
  - every required column is present (plus the channel's address column and its contactability column);
  - addresses are valid: email by regex, phone in E.164; the channel's address is never empty;
  - nobody is exported without consent on the channel (is_<channel>_contactable is true on every row);
  - nobody appears twice in one segment;
  - each segment's size changed by at most exports.segment_size_max_relative_change (thresholds.yml) since
    the previous export (segments without a previous size, and small ones, are not bounded).

export_contract_check(destination, con, previous_sizes) adapts it to the export writer's hook
(orchestration/exports/writer.py: ContractCheck): it validates the temp table `members` and returns the
failures as sentences (empty when the contract holds), writing a failure report when it does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.quality.gx_runner import data_docs_index, gx_session, run_suite, suites_module
from orchestration.quality.results import FailedExpectation, GateResult
from orchestration.quality.thresholds import Thresholds, load_thresholds
from orchestration.settings import DataPaths

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# The field each channel needs to reach a person (orchestration/exports/config.py: CHANNELS).
CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "push": "customer_id"}


def validate_export_audience(
    df: "pd.DataFrame",
    *,
    destination: str,
    channel: str,
    required_columns: list[str] | tuple[str, ...],
    previous_segment_sizes: dict[str, int] | None,
    thresholds: Thresholds | str | Path | None = None,
    segment_column: str = "segment",
    consent_column: str | None = None,
    paths: DataPaths | None = None,
) -> GateResult:
    """Validates one destination's audience before it is written.

    df: the rows to export, one per (segment, person), with the audience's field names (customer_id, segment,
        email, phone, ...) and ``is_<channel>_contactable``.
    destination: the destination's name (suite and report names). channel: email | sms | push.
    required_columns: the fields the destination's file is built from.
    previous_segment_sizes: rows per segment in the previous successful export to this destination; None for
        the first export (sizes are then not bounded). Without ``segment_column`` in df the whole frame is one
        segment named after the destination.
    thresholds: a loaded Thresholds, a path to a thresholds file, or None for expectations/thresholds.yml.
    consent_column: defaults to is_<channel>_contactable (consent given, not unsubscribed/bounced/complained).
    paths: the data directory, for GX's files and Data Docs under <data>/quality; None validates in memory.
    """
    if channel not in CHANNEL_ADDRESS:
        raise ValueError(f"export contract for {destination}: unknown channel {channel!r}; "
                         f"known: {', '.join(CHANNEL_ADDRESS)}")
    if not isinstance(thresholds, Thresholds):
        thresholds = load_thresholds(thresholds)
    consent_column = consent_column or f"is_{channel}_contactable"
    address = CHANNEL_ADDRESS[channel]
    sizes = segment_sizes(df, destination, segment_column, previous_segment_sizes, thresholds)
    suites = suites_module()
    index_columns = [c for c in ("customer_id", segment_column) if c in df.columns]
    outcomes = []
    with gx_session(paths) as context:
        outcomes.append(run_suite(
            context, frame=df,
            suite=suites.export_audience_suite(
                destination, channel, list(required_columns), list(df.columns), address, consent_column,
                segment_column if segment_column in df.columns else None),
            data_source="exports", asset=f"{destination}.audience", index_columns=index_columns,
        ))
        if previous_segment_sizes is not None:
            outcomes.append(run_suite(
                context, frame=sizes, suite=suites.export_segment_sizes_suite(destination),
                data_source="exports", asset=f"{destination}.segment_sizes",
                parameters={"segment_size_max_relative_change": thresholds.segment_size_max_relative_change},
                index_columns=["segment"],
            ))
    failed = [failure for outcome in outcomes for failure in outcome.failed]
    passed = all(outcome.success for outcome in outcomes)
    problems = _problems(failed, sizes, thresholds, channel)
    metadata: dict[str, Any] = {
        "destination": destination,
        "channel": channel,
        "rows_checked": int(len(df)),
        "required_columns": list(required_columns),
        "missing_columns": [c for c in dict.fromkeys([*required_columns, address, consent_column])
                            if c not in df.columns],
        "segment_sizes": segment_sizes_table(sizes, thresholds),
        "previous_export": "none (first export: sizes not bounded)" if previous_segment_sizes is None else "compared",
        "segment_size_max_relative_change": thresholds.segment_size_max_relative_change,
        "segment_size_min_rows": thresholds.segment_size_min_rows,
        "problems": problems,
    }
    if consent_column in df.columns:
        metadata["rows_without_consent"] = int((~df[consent_column].fillna(False).astype(bool)).sum())
    description = (
        f"export contract for {destination} ({channel}) holds: {len(df)} rows"
        if passed else f"export contract for {destination} ({channel}) broken: " + "; ".join(problems[:5])
    )
    return GateResult(
        name=f"export_contract.{destination}", passed=passed, description=description, failed_expectations=failed,
        metadata=metadata, evaluated_expectations=sum(outcome.evaluated for outcome in outcomes),
        data_docs=str(data_docs_index(paths)) if paths else None,
    )


def segment_sizes(
    df: "pd.DataFrame", destination: str, segment_column: str, previous: dict[str, int] | None,
    thresholds: Thresholds,
) -> "pd.DataFrame":
    """One row per segment now or before: previous and current rows, relative change, whether it is bounded."""
    import pandas as pd

    if segment_column in df.columns:
        current = {str(k): int(v) for k, v in df.groupby(segment_column, dropna=False).size().items()}
    else:
        current = {destination: int(len(df))}
    previous = previous or {}
    rows = []
    for segment in sorted(set(current) | set(previous)):
        before, now = previous.get(segment), current.get(segment, 0)
        change = None if not before else (now - before) / before
        bounded = change is not None and max(before or 0, now) >= thresholds.segment_size_min_rows
        rows.append({"segment": segment, "previous_size": before, "current_size": now,
                     "size_change_rel": change, "size_change_rel_abs": None if change is None else abs(change),
                     "is_bounded": bounded})
    frame = pd.DataFrame(rows, columns=["segment", "previous_size", "current_size", "size_change_rel",
                                        "size_change_rel_abs", "is_bounded"])
    for column in ("size_change_rel", "size_change_rel_abs"):
        frame[column] = frame[column].astype("float64")
    frame["previous_size"] = frame["previous_size"].astype("Int64")
    return frame


def segment_sizes_table(sizes: "pd.DataFrame", thresholds: Thresholds) -> str:
    import pandas as pd

    if sizes.empty:
        return "_no segments_"
    bound = thresholds.segment_size_max_relative_change
    lines = ["| segment | previous | now | change | bounded | status |", "|---|---:|---:|---:|---|---|"]
    for row in sizes.to_dict("records"):
        change = row["size_change_rel"]
        over = row["is_bounded"] and change == change and abs(change) > bound
        previous = "n/a" if pd.isna(row["previous_size"]) else f"{int(row['previous_size']):,}"
        lines.append(
            f"| {row['segment']} | {previous} | {row['current_size']:,} "
            f"| {'n/a' if change is None or change != change else f'{change:+.1%}'} "
            f"| {'yes' if row['is_bounded'] else 'no'} | {'**BREACH**' if over else 'ok'} |"
        )
    return "\n".join(lines)


def _problems(failed: list[FailedExpectation], sizes: "pd.DataFrame", thresholds: Thresholds, channel: str) -> list[str]:
    """Each failed expectation as a sentence; segment size breaches spelled out per segment."""
    out = []
    bound = thresholds.segment_size_max_relative_change
    for failure in failed:
        if failure.suite.endswith(".segment_sizes"):
            for row in sizes.to_dict("records"):
                change = row["size_change_rel"]
                if row["is_bounded"] and change == change and abs(change) > bound:
                    out.append(f"segment {row['segment']} size changed by {change:+.1%} (previous "
                               f"{int(row['previous_size'])}, now {row['current_size']}; bound ±{bound:.0%})")
            continue
        sample = ""
        if failure.sample:
            first = failure.sample[0]
            sample = " (e.g. " + (", ".join(f"{k}={v}" for k, v in first.items()) if isinstance(first, dict)
                                  else str(first)) + ")"
        if failure.expectation == "expect_column_to_exist":
            out.append(f"{failure.description.rstrip('.')}, which the audience lacks")
        elif failure.exception:
            out.append(f"{failure.description.rstrip('.')}: could not be checked ({failure.exception[:200]})")
        elif failure.unexpected_count is not None:
            out.append(f"{failure.description.rstrip('.')}: {failure.unexpected_count} of "
                       f"{failure.element_count} rows fail{sample}")
        else:
            out.append(f"{failure.description.rstrip('.')}: fails{sample}")
    return out


def export_contract_check(
    destination: Any, con: "duckdb.DuckDBPyConnection", previous_sizes: dict[str, int] | None,
    *, paths: DataPaths | None = None, table: str = "members",
) -> list[str]:
    """The export writer's hook: validates the selected members of ``destination`` (orchestration.exports
    Destination); returns the contract's failures as sentences, [] when it holds. Pass ``paths`` (the data
    directory) to keep GX's results and Data Docs under <data>/quality and to write a failure report."""
    from orchestration.quality.reports import write_failure_report

    frame = con.execute(f"select * from {table}").df()
    required = [column.field for column in destination.columns if getattr(column, "field", None)]
    result = validate_export_audience(
        frame, destination=destination.name, channel=destination.channel, required_columns=required,
        previous_segment_sizes=previous_sizes, paths=paths,
    )
    if result.passed:
        return []
    problems = list(result.metadata.get("problems") or [result.description])
    if paths is not None:
        as_of = None
        if "as_of_date" in frame.columns and frame["as_of_date"].notna().any():
            as_of = str(frame["as_of_date"].max())[:10]
        report = write_failure_report(paths, f"export_contract-{destination.name}", result, as_of=as_of)
        problems.append(f"report: {report}")
    return problems
