"""Export contract: what every export file must satisfy before it is published to a messaging tool.

    validate_export_audience(df, destination=..., channel=..., required_columns=[...],
                             previous_segment_sizes={...} | None, thresholds=...) -> GateResult

checks, with Great Expectations (suites export_contract.<destination>.audience and .segment_sizes; the writer's
hook below validates the audience once per channel, as export_contract.<channel>_channel.audience):
  - every required column is present (plus the channel's address column and its contactability column);
  - addresses are valid: email by regex, phone in E.164; the channel's address is never empty;
  - nobody is exported without consent on the channel (is_<channel>_contactable is true on every row);
  - nobody appears twice in one segment;
  - each segment's size changed by at most exports.segment_size_max_relative_change (thresholds.yml) since
    the previous export (segments without a previous size, and small ones, are not bounded).

ExportContract is the export writer's hook (orchestration/exports/writer.py: ContractCheck), one per export
step: `with ExportContract(paths) as contract: contract(destination, con, previous_sizes)` for each destination.
It validates the destination's channel audience: every row of the temp table `audience` contactable on the
channel with its address, in every segment, with every audience field; GX is given the rows of it that can break
the suite (channel_audience_suspects_sql, orchestration/quality/suspects.py). A destination's members are those
rows for its segments, so what holds for them holds for every destination on the channel. A validation that passed
is remembered by a fingerprint of the rows it read (DuckDB hashes them, once per channel, under the suites' own
hash), so the other destinations of the channel skip GX for the very same rows, in this step or a later one
(a retry, one destination re-exported); any changed row, or an edited suite, validates again. Segment sizes are
validated per destination. All the step's validations share one GX session, so one Data Docs build.
export_contract_check(destination, con, previous_sizes) does the same for one destination on its own.
Both return the failures as sentences (empty when the contract holds), writing a failure report when it does not.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.exports.config import AUDIENCE_FIELDS, CHANNELS, contactable_condition
from orchestration.quality.gx_runner import (
    GxSession, SuiteOutcome, data_docs_index, gx_session, quality_dir, run_suite, suites_module,
)
from orchestration.quality.results import FailedExpectation, GateResult
from orchestration.quality.suspects import address_suspect, require_covered, suite_regexes
from orchestration.quality.thresholds import Thresholds, load_thresholds
from orchestration.settings import DataPaths

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# Passed channel audiences, one file per channel: what was validated (its fingerprint) and when.
VALIDATED_AUDIENCES_DIR = "export_audiences"
# Part of every remembered validation's fingerprint: change it when the way the channel audience is validated
# changes (which columns, which suite arguments), so no pass of the old way is reused.
CHANNEL_CONTRACT_VERSION = 2  # 2: the suite runs on the audience's suspect rows (channel_audience_suspects_sql)
THIS_FILE = "orchestration/quality/export_contract.py"
REMEMBERED_KEYS = {"fingerprint", "suite", "evaluated", "rows", "validated_at"}


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
    if channel not in CHANNELS:
        raise ValueError(f"export contract for {destination}: unknown channel {channel!r}; "
                         f"known: {', '.join(CHANNELS)}")
    if not isinstance(thresholds, Thresholds):
        thresholds = load_thresholds(thresholds)
    consent_column = consent_column or f"is_{channel}_contactable"
    sizes = segment_sizes(current_segment_sizes(df, destination, segment_column), previous_segment_sizes, thresholds)
    with gx_session(paths) as session:
        outcomes = [_validate_audience(session, df, destination, channel, list(required_columns), consent_column,
                                       segment_column)]
        outcomes += _validate_sizes(session, destination, sizes, previous_segment_sizes, thresholds)
    metadata: dict[str, Any] = {
        "rows_checked": int(len(df)),
        "required_columns": list(required_columns),
        "missing_columns": [c for c in dict.fromkeys([*required_columns, CHANNELS[channel], consent_column])
                            if c not in df.columns],
    }
    if consent_column in df.columns:
        metadata["rows_without_consent"] = int((~df[consent_column].fillna(False).astype(bool)).sum())
    return _result(destination, channel, outcomes, sizes, previous_segment_sizes, thresholds, metadata, paths)


def _audience_suite(name: str, channel: str, required_columns: list[str], columns: list[str], consent_column: str,
                    segment_column: str) -> Any:
    return suites_module().export_audience_suite(
        name, channel, required_columns, columns, CHANNELS[channel], consent_column,
        segment_column if segment_column in columns else None)


def _validate_audience(session: GxSession, frame: "pd.DataFrame", name: str, channel: str, required_columns: list[str],
                       consent_column: str, segment_column: str, suite: Any = None) -> SuiteOutcome:
    suite = suite or _audience_suite(name, channel, required_columns, list(frame.columns), consent_column,
                                     segment_column)
    index_columns = [c for c in ("customer_id", segment_column) if c in frame.columns]
    return run_suite(session, frame=frame, suite=suite, data_source="exports", asset=f"{name}.audience",
                     index_columns=index_columns)


def _validate_sizes(session: GxSession, destination: str, sizes: "pd.DataFrame", previous: dict[str, int] | None,
                    thresholds: Thresholds) -> list[SuiteOutcome]:
    if previous is None:
        return []  # a first export: nothing to compare with
    return [run_suite(
        session, frame=sizes, suite=suites_module().export_segment_sizes_suite(destination),
        data_source="exports", asset=f"{destination}.segment_sizes",
        parameters={"segment_size_max_relative_change": thresholds.segment_size_max_relative_change},
        index_columns=["segment"],
    )]


def _result(destination: str, channel: str, outcomes: list[SuiteOutcome], sizes: "pd.DataFrame",
            previous: dict[str, int] | None, thresholds: Thresholds, metadata: dict[str, Any],
            paths: DataPaths | None, audience_label: str | None = None) -> GateResult:
    failed = [failure for outcome in outcomes for failure in outcome.failed]
    passed = all(outcome.success for outcome in outcomes)
    problems = _problems(failed, sizes, thresholds, channel, audience_label)
    metadata = {
        "destination": destination,
        "channel": channel,
        **metadata,
        "segment_sizes": segment_sizes_table(sizes, thresholds),
        "previous_export": "none (first export: sizes not bounded)" if previous is None else "compared",
        "segment_size_max_relative_change": thresholds.segment_size_max_relative_change,
        "segment_size_min_rows": thresholds.segment_size_min_rows,
        "problems": problems,
    }
    rows = metadata.get("members", metadata["rows_checked"])
    description = (
        f"export contract for {destination} ({channel}) holds: {rows} rows"
        if passed else f"export contract for {destination} ({channel}) broken: " + "; ".join(problems[:5])
    )
    return GateResult(
        name=f"export_contract.{destination}", passed=passed, description=description, failed_expectations=failed,
        metadata=metadata, evaluated_expectations=sum(outcome.evaluated for outcome in outcomes),
        data_docs=str(data_docs_index(paths)) if paths else None,
        data_docs_pages=[outcome.page for outcome in outcomes if outcome.page],
    )


def current_segment_sizes(df: "pd.DataFrame", destination: str, segment_column: str = "segment") -> dict[str, int]:
    """Rows per segment; without ``segment_column`` the whole frame is one segment named after the destination."""
    if segment_column in df.columns:
        return {str(k): int(v) for k, v in df.groupby(segment_column, dropna=False).size().items()}
    return {destination: int(len(df))}


def segment_sizes(current: dict[str, int], previous: dict[str, int] | None, thresholds: Thresholds) -> "pd.DataFrame":
    """One row per segment now or before: previous and current rows, relative change, whether it is bounded."""
    import pandas as pd

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


def _problems(failed: list[FailedExpectation], sizes: "pd.DataFrame", thresholds: Thresholds, channel: str,
              audience_label: str | None = None) -> list[str]:
    """Each failed expectation as a sentence; segment size breaches spelled out per segment. ``audience_label``
    starts the sentences of the audience suite (which rows it read, when that is more than the destination's)."""
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
        prefix = f"{audience_label}: " if audience_label else ""
        if failure.expectation == "expect_column_to_exist":
            out.append(f"{prefix}{failure.description.rstrip('.')}, which the audience lacks")
        elif failure.exception:
            out.append(f"{prefix}{failure.description.rstrip('.')}: could not be checked ({failure.exception[:200]})")
        elif failure.unexpected_count is not None:
            out.append(f"{prefix}{failure.description.rstrip('.')}: {failure.unexpected_count} of "
                       f"{failure.element_count} rows fail{sample}")
        else:
            out.append(f"{prefix}{failure.description.rstrip('.')}: fails{sample}")
    return out


def channel_audience_sql(channel: str, audience_table: str = "audience") -> str:
    """The rows of ``audience_table`` a destination on ``channel`` may export: the writer selects a destination's
    members with the same condition, for its segments."""
    return f"select * from {audience_table} where {contactable_condition(channel)}"


def channel_audience_suspects_sql(channel: str, columns: list[str], audience_table: str = "audience") -> str:
    """The rows of the channel audience (channel_audience_sql) that can break its suite (export_audience_suite,
    with the columns ``columns``): addresses that are missing or may fail the suite's regular expressions
    (parameters $email_regex and $phone_regex), consent that is not true, and every copy of a repeated
    (customer_id, segment), or of a row missing either. Every row the suite would flag is among them
    (orchestration/quality/suspects.py); a sound audience gives none."""
    present = set(columns)
    address, consent = CHANNELS[channel], f"is_{channel}_contactable"
    keys = [key for key in ("customer_id", "segment") if key in present] if "customer_id" in present else []
    conditions = [address_suspect(column, f"{column}_regex") for column in ("email", "phone") if column in present]
    conditions += [f"channel_audience.{address} is null"] if address in present else []
    conditions += [f"channel_audience.{consent} is distinct from true"] if consent in present else []
    conditions += [f"channel_audience.{key} is null" for key in keys]
    repeated = ""
    if keys:
        conditions.append("repeated_keys.customer_id is not null")
        repeated = (
            f",\n\nrepeated_keys as (\n    select {', '.join(keys)}\n    from channel_audience\n"
            f"    group by {', '.join(keys)}\n    having count(*) > 1\n)"
        )
    join = ("\nleft join repeated_keys\n    on " + "\n    and ".join(
        f"channel_audience.{key} = repeated_keys.{key}" for key in keys)) if keys else ""
    where = "\n    or ".join(conditions) or "false"
    order = f"\norder by {', '.join(f'channel_audience.{key}' for key in keys)}" if keys else ""
    return (f"with\n\nchannel_audience as (\n    {channel_audience_sql(channel, audience_table)}\n){repeated}\n\n"
            f"select channel_audience.*\nfrom channel_audience{join}\nwhere {where}{order}")


def audience_expectation_covered(channel: str) -> Any:
    """Which expectations of export_audience_suite channel_audience_suspects_sql selects suspects for."""
    address, consent = CHANNELS[channel], f"is_{channel}_contactable"

    def covered(kind: str, kwargs: dict[str, Any]) -> bool:
        column = kwargs.get("column")
        return "row_condition" not in kwargs and (
            kind == "expect_column_to_exist"  # the suspects have every column of the audience
            or (kind == "expect_column_values_to_not_be_null" and column in (address, consent))
            or (kind == "expect_column_values_to_match_regex" and column in ("email", "phone"))
            or (kind == "expect_column_values_to_be_in_set" and column == consent and kwargs.get("value_set") == [True])
            or (kind == "expect_compound_columns_to_be_unique"
                and kwargs.get("column_list") == ["customer_id", "segment"])
            or (kind == "expect_column_values_to_be_unique" and column == "customer_id"))
    return covered


class ExportContract:
    """The export writer's hook (orchestration/exports/writer.py: ContractCheck) for the destinations exported
    together, in one step, from one read of the audience: ``contract(destination, con, previous_sizes)``
    validates the channel audience of ``destination`` (orchestration.exports Destination) in ``audience_table``
    and the segment sizes of its members in ``table``; it returns the contract's failures as sentences, [] when
    it holds. Use it as a context manager: its validations share one GX session, opened when the first one needs
    GX, so the Data Docs are built once when the block ends, not once per destination. Each channel audience is
    fingerprinted once: the audience must not change inside the block. The session holds the gate's lock
    (gx_runner.gx_session) until the block ends, so another process's gate waits for the export step. Pass
    ``paths`` (the data directory) to keep GX's results and Data Docs under <data>/quality, to skip rows already
    validated identically, and to write failure reports."""

    def __init__(self, paths: DataPaths | None = None, *, table: str = "members", audience_table: str = "audience"):
        self.paths = paths
        self.table = table
        self.audience_table = audience_table
        self.thresholds = load_thresholds()
        self._stack = ExitStack()
        self._session: GxSession | None = None
        self._audiences: dict[str, tuple[int, str]] = {}  # channel -> (rows, fingerprint)
        self._columns: list[str] | None = None  # the audience table's columns, read with the first fingerprint
        # channel -> its audience's validation in this block; a pass is also remembered on disk, a failure only
        # here: the other destinations of the channel fail on the same rows without validating them again.
        self._validated: dict[str, SuiteOutcome] = {}

    def __enter__(self) -> "ExportContract":
        return self

    def __exit__(self, *exc_info) -> None:
        self._session = None
        self._stack.__exit__(*exc_info)  # ends the GX session: its Data Docs are built

    def _gx(self) -> GxSession:
        if self._session is None:
            self._session = self._stack.enter_context(gx_session(self.paths))
        return self._session

    def _channel_audience(self, con: "duckdb.DuckDBPyConnection", channel: str) -> tuple[int, str]:
        """Rows and fingerprint of the channel's audience, computed once: DuckDB hashes every row."""
        if channel not in self._audiences:
            audience_sql = channel_audience_sql(channel, self.audience_table)
            rows, rows_hash = con.execute(
                f"select count(*), coalesce(sum(hash(*columns(*))::hugeint), 0)::varchar from ({audience_sql})"
            ).fetchone()
            columns = [list(column) for column in con.execute(
                f"select column_name, column_type from (describe {self.audience_table})").fetchall()]
            self._columns = [name for name, _ in columns]
            self._audiences[channel] = (int(rows), _fingerprint(channel, columns, rows, rows_hash))
        return self._audiences[channel]

    def _validate_channel_audience(self, session: GxSession, con: "duckdb.DuckDBPyConnection", channel: str,
                                   rows: int) -> SuiteOutcome:
        """The channel audience's suite on the rows that can break it; a failure's "n of N rows" counts all
        ``rows`` of the channel audience. Reading and validating every row took 3.3 s a night for the three
        channels at 1M persons (0.6M rows), the suspects 0.6 s (docs/performance.md, section V)."""
        name, consent = f"{channel}_channel", f"is_{channel}_contactable"
        columns = self._columns  # read with the channel's fingerprint (_channel_audience), which comes first
        suite = _audience_suite(name, channel, list(AUDIENCE_FIELDS), columns, consent, "segment")
        require_covered(suite, audience_expectation_covered(channel), "channel_audience_suspects_sql", THIS_FILE)
        sql = channel_audience_suspects_sql(channel, columns, self.audience_table)
        regexes = {f"{column}_regex": regex for column, regex in suite_regexes(suite).items()
                   if f"${column}_regex" in sql}
        frame = con.execute(sql, regexes).df()
        outcome = _validate_audience(session, frame, name, channel, list(AUDIENCE_FIELDS), consent, "segment",
                                     suite=suite)
        return replace(outcome, failed=[failure if failure.element_count is None
                                        else replace(failure, element_count=rows) for failure in outcome.failed])

    def __call__(self, destination: Any, con: "duckdb.DuckDBPyConnection",
                 previous_sizes: dict[str, int] | None) -> list[str]:
        from orchestration.quality.reports import write_failure_report

        paths, channel, thresholds = self.paths, destination.channel, self.thresholds
        current = {str(segment): int(people) for segment, people in
                   con.execute(f"select segment, count(*) from {self.table} group by segment").fetchall()}
        sizes = segment_sizes(current, previous_sizes, thresholds)
        rows, fingerprint = self._channel_audience(con, channel)
        label = f"{channel} channel audience (every segment, {rows} rows)"
        remembered = _validated_audience(paths, channel, fingerprint)
        outcomes = []
        if remembered is None or previous_sizes is not None:  # else there is nothing left for GX to do
            session = self._gx()
            # Another destination's process may have validated the same rows while this one waited for the lock.
            remembered = remembered or _validated_audience(paths, channel, fingerprint)
            if remembered is None:
                if channel not in self._validated:
                    self._validated[channel] = self._validate_channel_audience(session, con, channel, rows)
                    if self._validated[channel].success:
                        _remember_audience(paths, channel, fingerprint, self._validated[channel], rows)
                outcomes.append(self._validated[channel])
            outcomes += _validate_sizes(session, destination.name, sizes, previous_sizes, thresholds)
        if remembered is not None:
            outcomes.insert(0, SuiteOutcome(suite=remembered["suite"], success=True,
                                            evaluated=remembered["evaluated"], failed=[]))
        metadata = {
            "rows_checked": rows,
            "members": sum(current.values()),
            "audience": f"{label}: " + (f"identical rows validated at {remembered['validated_at']}" if remembered
                                         else "validated now"),
        }
        result = _result(destination.name, channel, outcomes, sizes, previous_sizes, thresholds, metadata, paths,
                         audience_label=label)
        if result.passed:
            return []
        problems = list(result.metadata.get("problems") or [result.description])
        if paths is not None:
            as_of = con.execute(f"select max(as_of_date)::varchar from {self.audience_table}").fetchall()[0][0]
            report = write_failure_report(paths, f"export_contract-{destination.name}", result, as_of=as_of)
            problems.append(f"report: {report}")
        return problems


def export_contract_check(
    destination: Any, con: "duckdb.DuckDBPyConnection", previous_sizes: dict[str, int] | None,
    *, paths: DataPaths | None = None, table: str = "members", audience_table: str = "audience",
) -> list[str]:
    """One destination's contract in a session of its own (ExportContract, for a single call)."""
    with ExportContract(paths, table=table, audience_table=audience_table) as contract:
        return contract(destination, con, previous_sizes)


def _fingerprint(channel: str, columns: list[list[str]], rows: int, rows_hash: str) -> str:
    """What a channel audience validation depends on: the rows (count and hash sum), their columns, the suites
    as loaded in this process, GX's version and the way this module validates (CHANNEL_CONTRACT_VERSION)."""
    import great_expectations

    document = {"channel": channel, "columns": columns, "rows": rows, "rows_hash": rows_hash,
                "required": list(AUDIENCE_FIELDS), "suites": suites_module().SOURCE_SHA256,
                "great_expectations": great_expectations.__version__, "version": CHANNEL_CONTRACT_VERSION}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()


def _validated_audience_file(paths: DataPaths, channel: str) -> Path:
    return quality_dir(paths) / VALIDATED_AUDIENCES_DIR / f"{channel}.json"


def _validated_audience(paths: DataPaths | None, channel: str, fingerprint: str) -> dict | None:
    """The passed validation of exactly these rows, if one is remembered."""
    if paths is None:
        return None
    try:
        remembered = json.loads(_validated_audience_file(paths, channel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(remembered, dict) or not REMEMBERED_KEYS <= remembered.keys():
        return None  # damaged or from another version: validate again
    return remembered if remembered["fingerprint"] == fingerprint else None


def _remember_audience(paths: DataPaths | None, channel: str, fingerprint: str, outcome: SuiteOutcome,
                       rows: int) -> None:
    if paths is None:
        return
    target = _validated_audience_file(paths, channel)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.{os.getpid()}")
    scratch.write_text(json.dumps({
        "fingerprint": fingerprint, "suite": outcome.suite, "evaluated": outcome.evaluated, "rows": int(rows),
        "validated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    }, indent=2) + "\n", encoding="utf-8")
    os.replace(scratch, target)
