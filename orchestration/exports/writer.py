"""Write one destination's nightly export: full audience and delta per segment, manifest, atomic publish.

Layout (exports root = <data>/exports):
    <run_date>/<destination>/<segment>.<ext>           everyone in the segment contactable on the channel
    <run_date>/<destination>/<segment>.entered.<ext>   who joined since the previous export
    <run_date>/<destination>/<segment>.exited.<ext>    who left (the destination's key column only)
    <run_date>/<destination>/members.parquet           (segment, customer_id, key) for the next night's delta
    <run_date>/<destination>/manifest.json             run, as-of date, counts, suppressions, sha256, checks
    latest/<destination>.json                          pointer to the last successful export

Everything is written into a hidden staging folder and renamed into place at the end, and the pointer is
replaced atomically, so a consumer never sees half an export; a failure leaves the previous one as latest.
Files are sorted by customer_id, so rerunning a day gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from orchestration.exports.config import CHANNELS, ColumnSpec, Destination, contactable_condition
from orchestration.ingest.parsing import quote_identifier, sql_literal

MANIFEST = "manifest.json"
MEMBERS = "members.parquet"
LATEST_DIR = "latest"

ContractCheck = Callable[[Destination, "duckdb.DuckDBPyConnection", dict[str, int] | None], list[str]]


class ExportContractError(RuntimeError):
    """The audience broke the export contract: nothing was published."""


@dataclass(frozen=True)
class ExportResult:
    destination: str
    directory: Path
    manifest: dict


@dataclass(frozen=True)
class ChannelMembers:
    """The temp tables of one channel's selection from `audience` (select_channel_members)."""

    channel: str
    # DuckDB's id of the `audience` table the selection was made from: a replaced audience has another, and a
    # selection of the old one must not be exported as the new one's (export_destination refuses it).
    audience_oid: int | None

    @property
    def members(self) -> str:
        """Every row contactable on the channel, all segments, sorted by segment and customer_id."""
        return f"{self.channel}_members"

    @property
    def suppressed(self) -> str:
        """The other rows: people per segment and reason."""
        return f"{self.channel}_suppressed"


def export_destination(
    con: duckdb.DuckDBPyConnection,
    destination: Destination,
    exports_root: Path,
    run_date: str,
    run_id: str,
    checks_passed: list[str],
    contract_check: ContractCheck | None = None,
    channel_members: ChannelMembers | None = None,
) -> ExportResult:
    """Export from the temp table `audience` (the export_audience model) on ``con``.

    channel_members: the destination's channel selected from that audience by select_channel_members, shared by
    the destinations of one channel; None selects it now, for this destination alone.
    """
    if channel_members is None:
        channel_members = select_channel_members(con, destination.channel)
    elif channel_members.channel != destination.channel:
        raise ValueError(f"export to {destination.name}: its channel is {destination.channel}, "
                         f"but the members given were selected for {channel_members.channel}")
    elif channel_members.audience_oid != _audience_oid(con):
        raise ValueError(f"export to {destination.name}: the {channel_members.channel} members given were selected "
                         f"from an earlier `audience` table; select them again (select_channel_members) after "
                         f"replacing the audience")
    exports_root.mkdir(parents=True, exist_ok=True)
    staging = exports_root / f".staging-{destination.name}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        _select_members(con, destination, channel_members)
        previous = _previous_export(exports_root, destination.name, run_date)
        _load_previous_members(con, previous)
        passed = list(checks_passed)
        if contract_check is not None:
            failures = contract_check(destination, con, _previous_sizes(previous))
            if failures:
                raise ExportContractError(
                    f"export to {destination.name} for {run_date} broke its contract: " + "; ".join(failures)
                )
            passed.append(f"export_contract:{destination.name}")
        manifest = _write_files(con, destination, staging)
        manifest.update(
            destination=destination.name,
            description=destination.description,
            run_id=run_id,
            as_of_date=run_date,
            created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
            format=destination.format,
            channel=destination.channel,
            previous_export=previous.parent.parent.name if previous else None,
            checks_passed=sorted(passed),
        )
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        target = exports_root / run_date / destination.name
        _publish(staging, target)
        _point_latest(exports_root, destination.name, run_date, run_id)
        return ExportResult(destination=destination.name, directory=target, manifest=manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def select_channel_members(con: duckdb.DuckDBPyConnection, channel: str) -> ChannelMembers:
    """Select from `audience` who may be exported on ``channel``, once for all the channel's destinations.

    Four of the six destinations are on email: selecting each one's members from the whole audience copied the
    same rows four times (0.2 s per destination at 1M persons, docs/performance.md, section AF). The rows are
    sorted by segment and customer_id, the order every file is written in, so each file reads one segment's
    row groups and its sort finds them in order. Select again after replacing `audience`: export_destination
    refuses a selection made from an earlier one.
    """
    address = CHANNELS[channel]
    # Only people contactable on this channel, with the address the channel needs, ever leave the warehouse.
    contactable = contactable_condition(channel)
    selection = ChannelMembers(channel, _audience_oid(con))
    con.execute(f"create or replace temp table {selection.members} as "
                f"select * from audience where {contactable} order by segment, customer_id")
    con.execute(
        f"create or replace temp table {selection.suppressed} as select segment, "
        f"coalesce(case when {address} is null then 'no_address' end, {channel}_contactability, 'unknown') as reason, "
        f"count(*) as people from audience where not ({contactable}) group by all"
    )
    return selection


def _audience_oid(con: duckdb.DuckDBPyConnection) -> int | None:
    """DuckDB's id of the temp table `audience`: `create or replace` gives the new table another."""
    rows = con.execute(
        "select table_oid from duckdb_tables() where temporary and table_name = 'audience'").fetchall()
    return rows[0][0] if rows else None


def _select_members(con: duckdb.DuckDBPyConnection, destination: Destination, channel: ChannelMembers) -> None:
    """The destination's segments of its channel's selection, as the views `members` and `suppressed`."""
    segments = ", ".join(sql_literal(s) for s in destination.segments)
    con.execute(f"create or replace temp view members as "
                f"select * from {channel.members} where segment in ({segments})")
    con.execute(f"create or replace temp view suppressed as "
                f"select * from {channel.suppressed} where segment in ({segments})")


def _column_sql(spec: ColumnSpec) -> str:
    if spec.field is None:
        expression = sql_literal(spec.value or "")
    elif spec.date_format:
        expression = f"strftime({spec.field}, {sql_literal(spec.date_format)})"
    elif spec.strip_plus:
        expression = f"ltrim({spec.field}, '+')"
    else:
        expression = spec.field
    return f"{expression} as {quote_identifier(spec.name)}"


def _write_files(con: duckdb.DuckDBPyConnection, destination: Destination, folder: Path) -> dict:
    columns = ", ".join(_column_sql(spec) for spec in destination.columns)
    key = destination.key_column
    files, segments = [], {}
    for segment in destination.segments:
        seg = sql_literal(segment)
        full = f"select {columns} from members where segment = {seg} order by customer_id"
        entered = (
            f"select {columns} from members where segment = {seg} and customer_id not in "
            f"(select customer_id from previous_members where segment = {seg}) order by customer_id"
        )
        exited = (
            f"select key_value as {quote_identifier(key.name)} from previous_members where segment = {seg} "
            f"and customer_id not in (select customer_id from members where segment = {seg}) order by customer_id"
        )
        counts = {}
        for kind, sql in (("full", full), ("entered", entered), ("exited", exited)):
            name = f"{segment}.{destination.format}" if kind == "full" else f"{segment}.{kind}.{destination.format}"
            rows = _copy(con, sql, folder / name, destination)
            files.append({"name": name, "segment": segment, "kind": kind, "rows": rows,
                          "sha256": _sha256(folder / name)})
            counts[kind] = rows
        suppressed = dict(con.execute(
            "select reason, people from suppressed where segment = ? order by reason", [segment]).fetchall())
        segments[segment] = {"rows": counts["full"], "entered": counts["entered"], "exited": counts["exited"],
                             "suppressed": suppressed}
    key_sql = _column_sql(key).rsplit(" as ", 1)[0]
    con.execute(
        f"copy (select segment, customer_id, cast({key_sql} as varchar) as key_value from members "
        f"order by segment, customer_id) to {sql_literal(str(folder / MEMBERS))} (format parquet)"
    )
    totals: dict[str, int] = {}
    for info in segments.values():
        for reason, people in info["suppressed"].items():
            totals[reason] = totals.get(reason, 0) + people
    return {"segments": segments, "suppressed_total": dict(sorted(totals.items())),
            "rows_total": sum(info["rows"] for info in segments.values()), "files": files}


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, destination: Destination) -> int:
    if destination.format == "parquet":
        options = "format parquet, compression zstd"
    else:
        options = f"format csv, header true, delimiter {sql_literal(destination.delimiter)}, quote '\"'"
    return con.execute(f"copy ({sql}) to {sql_literal(str(path))} ({options})").fetchone()[0]  # rows written


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _previous_export(exports_root: Path, destination: str, run_date: str) -> Path | None:
    """The manifest of the last successful export before run_date (a rerun of a day compares with the day before)."""
    candidates = sorted(
        path for path in exports_root.glob(f"*/{destination}/{MANIFEST}") if path.parent.parent.name < run_date
    )
    return candidates[-1] if candidates else None


def _load_previous_members(con: duckdb.DuckDBPyConnection, previous: Path | None) -> None:
    if previous is None:
        con.execute("create or replace temp table previous_members "
                    "(segment varchar, customer_id varchar, key_value varchar)")
    else:
        con.execute("create or replace temp table previous_members as select * from read_parquet(?)",
                    [str(previous.parent / MEMBERS)])


def _previous_sizes(previous: Path | None) -> dict[str, int] | None:
    if previous is None:
        return None
    manifest = json.loads(previous.read_text(encoding="utf-8"))
    return {segment: info["rows"] for segment, info in manifest["segments"].items()}


def _publish(staging: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    retired = None
    if target.exists():  # rerunning a day replaces that day's export
        retired = target.with_name(f".{target.name}.retired-{uuid.uuid4().hex[:8]}")
        target.rename(retired)
    staging.rename(target)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def _point_latest(exports_root: Path, destination: str, run_date: str, run_id: str) -> None:
    folder = exports_root / LATEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    pointer = folder / f"{destination}.json"
    scratch = folder / f".{destination}.json.{uuid.uuid4().hex[:8]}"
    scratch.write_text(json.dumps({"run_date": run_date, "run_id": run_id,
                                   "path": f"{run_date}/{destination}"}) + "\n", encoding="utf-8")
    os.replace(scratch, pointer)


def read_audience(con: duckdb.DuckDBPyConnection, warehouse: Path) -> str:
    """Copy the export_audience model into the temp table `audience`; returns the as-of date."""
    con.execute(f"attach {sql_literal(str(warehouse))} as warehouse (read_only)")
    con.execute("create or replace temp table audience as select * from warehouse.main.export_audience")
    as_of = con.execute("select max(as_of_date) from warehouse.main.customers").fetchone()[0]
    con.execute("detach warehouse")
    if as_of is None:
        raise ExportContractError(f"{warehouse}: the customers mart is empty; build the warehouse first")
    return as_of.isoformat()
