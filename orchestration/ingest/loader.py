"""Load one source table for one dump date: landing files in, raw Parquet + quarantine + file ledger out.

The three outputs of a partition are written aside and swapped in only when everything succeeded, so a
failed load leaves the previous partition exactly as it was, and a rerun replaces it exactly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from orchestration.ingest.contracts import LOAD_METADATA_COLUMNS, TableContract
from orchestration.ingest.decoding import (
    BackgroundChecksum,
    DecodedFile,
    decode_to_utf8,
    diagnose_utf8,
    file_sha256,
    readable_in_place,
)
from orchestration.ingest.errors import HeaderMismatchError, IngestError, MissingFileError, UndecodableFileError
from orchestration.ingest.parsing import SQL_TYPES, parse_lines_sql, quote_identifier, sql_literal, split_fields_sql, unquote_sql
from orchestration.settings import DataPaths

# A partition's loaded rows: one file per parsed slice (data-000000.parquet, data-000001.parquet, ...), in file
# and line order. Readers glob the folder. Writing the slices once, as they are parsed, saves re-reading and
# re-compressing every row into a single file (docs/performance.md).
DATA_FILE_PATTERN = "data-{index:06d}.parquet"
DATA_FILE_GLOB = "data-*.parquet"
# Snappy, not zstd: the lake is scratch between the landing (the record) and the warehouse; snappy writes the
# 30M-row events partition in about 60% of zstd's time and reads faster, for about a third more disk.
LAKE_COMPRESSION = "snappy"
QUARANTINE_FILE = "quarantine.parquet"
LEDGER_FILE = "files.parquet"
# Lines parsed per pass: bounds the memory of the typed rows of one pass whatever the file's size.
ROWS_PER_SLICE = 4_000_000
# A landed file's lines are held in a DuckDB temp table while its slices are parsed, up to this size (as
# UTF-8); the table takes about 1.3 times the file, a quarter of the default memory limit at most. A bigger
# file's lines are copied, in order, to a Parquet file in the load's scratch folder instead, and each slice
# reads its range back: held in memory, the 7 GB events file at M spilled ~9 GB to disk and back
# (docs/performance.md), and a file of any size must load within the memory limit.
LINES_IN_MEMORY_MAX_BYTES = 2 * 1024**3
# Row groups of the lines file: a slice reads only its own (DuckDB prunes on the Parquet row number).
LINES_ROW_GROUP_SIZE = 500_000
# DuckDB's memory for one load (the same variable and default as dbt's profile); beyond it DuckDB spills to the
# scratch folder. 10 GB keeps the whole process under 12 GB resident (docs/performance.md).
MEMORY_LIMIT_ENV = "CDP_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "10GB"


@dataclass
class FileReport:
    source_file: str  # relative to the landing root, e.g. 2026-11-20/shop/orders_20261119.csv
    size_bytes: int
    sha256: str
    lines_read: int = 0
    rows_loaded: int = 0
    lines_quarantined: int = 0
    duplicate_lines: int = 0
    duplicate_of: str | None = None  # set when the same bytes were already delivered


@dataclass
class LoadReport:
    source: str
    table: str
    dump_date: str
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def lines_read(self) -> int:
        return sum(f.lines_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def lines_quarantined(self) -> int:
        return sum(f.lines_quarantined for f in self.files)

    @property
    def bytes_read(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def is_balanced(self) -> bool:
        return all(f.lines_read == f.rows_loaded + f.lines_quarantined for f in self.files)


def landed_files(contract: TableContract, paths: DataPaths, dump_date: str) -> list[Path]:
    folder = paths.landing / dump_date / contract.source
    return sorted(p for p in folder.glob(contract.file_glob) if p.is_file())


def load_partition(contract: TableContract, dump_date: str, paths: DataPaths, threads: int | None = None) -> LoadReport:
    """Load every file of ``contract`` in the dump of ``dump_date``. Raises IngestError on unusable input."""
    started = time.monotonic()
    date.fromisoformat(dump_date)  # a malformed partition key fails here, naming itself
    files = landed_files(contract, paths, dump_date)
    if not files:
        folder = paths.landing / dump_date / contract.source
        if contract.required_file:
            raise MissingFileError(
                f"{folder}: no file matching '{contract.file_glob}' for {contract.source}.{contract.table} "
                f"in the dump of {dump_date}. The dump set is incomplete: ask the {contract.source} system to "
                f"deliver it, then rerun this partition."
            )
    report = LoadReport(source=contract.source, table=contract.table, dump_date=dump_date)
    # Microseconds kept: incremental models read partitions loaded after the newest load they hold, so two
    # loads must never share a stamp (dbt_project/macros/incremental.sql).
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    paths.lake.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".load-{contract.key}-{dump_date}-", dir=paths.lake))
    try:
        con = duckdb.connect()
        if threads:
            con.execute(f"set threads = {int(threads)}")
        con.execute(f"set memory_limit = {sql_literal(os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT)}")
        con.execute(f"set temp_directory = {sql_literal(str(work_dir / 'spill'))}")
        con.execute(
            "create temp table quarantined (source_file varchar, line_number bigint, reason varchar, raw_line varchar)"
        )
        load = _Load(contract=contract, parts_dir=work_dir / "parts", dump_date=dump_date, loaded_at=loaded_at)
        load.parts_dir.mkdir()
        seen_in_this_dump: dict[str, str] = {}
        for landed in files:
            decoded = _read_lines(con, landed, contract.encoding, work_dir)
            relative = landed.relative_to(paths.landing).as_posix()
            file_report = FileReport(source_file=relative, size_bytes=decoded.size_bytes, sha256=decoded.sha256)
            report.files.append(file_report)
            file_report.duplicate_of = seen_in_this_dump.get(decoded.sha256) or _earlier_delivery(
                contract, paths, dump_date, landed, decoded.sha256
            )
            seen_in_this_dump.setdefault(decoded.sha256, relative)
            _load_file(con, load, decoded, relative, file_report)
        _accumulate_reasons(con, report)
        _write_outputs(con, load, paths, report, work_dir)
        con.close()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if not report.is_balanced:  # an invariant, checked again by the asset check
        raise IngestError(f"{contract.key} {dump_date}: line accounting does not balance: {report.files}")
    report.seconds = time.monotonic() - started
    return report


@dataclass
class _Load:
    """One partition being loaded: its loaded rows go to Parquet parts, in file and line order."""

    contract: TableContract
    parts_dir: Path
    dump_date: str
    loaded_at: datetime
    parts: list[Path] = field(default_factory=list)

    def next_part(self) -> Path:
        return self.parts_dir / DATA_FILE_PATTERN.format(index=len(self.parts))

    def loaded_columns_sql(self) -> str:
        """The raw table's columns, in order, selected from a parsed slice."""
        columns = ", ".join(quote_identifier(c) for c in self.contract.column_names)
        assert LOAD_METADATA_COLUMNS == ("_source_file", "_line_number", "_dump_date", "_loaded_at")
        return (
            f"{columns}, ? as _source_file, line_number as _line_number, "
            f"{sql_literal(self.dump_date)}::date as _dump_date, "
            f"{sql_literal(self.loaded_at.isoformat(sep=' '))}::timestamp as _loaded_at"
        )


def _read_lines(con: duckdb.DuckDBPyConnection, landed: Path, encoding: str, work_dir: Path) -> DecodedFile:
    """Read the file's physical lines into the view `lines` (line_index, line, line_hash); return its checksum and size.

    One VARCHAR column per physical line, kept in file order, so line_index + 1 is the line number: the rowid
    of a temp table, or for a file above LINES_IN_MEMORY_MAX_BYTES the row number of a Parquet file in the
    scratch folder. The unit separator never occurs in text, so no line is split. line_hash serves the
    duplicate-line count (computed once here, compared as text only where it repeats).
    A UTF-8 file is read in place while a thread computes its checksum; DuckDB validates UTF-8 as it reads.
    """
    _drop_lines(con)
    lines_file = work_dir / "lines.parquet"
    lines_file.unlink(missing_ok=True)  # the previous file's lines
    if readable_in_place(landed, encoding):
        pending = BackgroundChecksum(landed)
        readable = landed
    else:
        pending = None
        decoded = decode_to_utf8(landed, encoding, work_dir)
        readable = decoded.readable_path
    read_lines = (
        "select line, hash(line) as line_hash from read_csv(?, columns = {'line': 'VARCHAR'}, delim = '\x1f', "
        "quote = '', escape = '', header = false, auto_detect = false, strict_mode = false)"
    )
    on_disk = readable.stat().st_size > LINES_IN_MEMORY_MAX_BYTES
    try:
        if on_disk:
            # Lz4: a quarter of the text's size on disk at the speed of no compression (the file lives for one load).
            con.execute(
                f"copy ({read_lines}) to {sql_literal(str(lines_file))} (format parquet, compression lz4, "
                f"row_group_size {LINES_ROW_GROUP_SIZE})",
                [str(readable)],
            )
        else:
            con.execute(f"create temp table lines_in_memory as {read_lines}", [str(readable)])
    except duckdb.InvalidInputException as error:
        if pending is not None:
            pending.result()  # a file with a unit separator is refused first, with its own message
        if "unicode" not in str(error).lower():
            raise
        diagnose_utf8(landed, work_dir)  # raises, naming the byte and line
        raise UndecodableFileError(
            f"{landed}: not readable as UTF-8 ({str(error).splitlines()[0]}). Ask the source to re-export it in "
            f"{encoding}, or correct the encoding in orchestration/ingest/contracts.py."
        ) from error
    finally:
        if pending is not None:
            pending.wait()  # never leave the thread reading a file the load is about to delete
    # result() also refuses a file holding the unit separator, whose lines DuckDB would have cut (decoding.py).
    decoded_file = pending.result() if pending is not None else decoded
    if decoded_file.readable_path != decoded_file.landed_path:
        decoded_file.readable_path.unlink()  # a transcoded copy: its lines are in lines_file now
    if on_disk:
        con.execute(
            "create or replace temp view lines as select file_row_number as line_index, line, line_hash "
            f"from read_parquet({sql_literal(str(lines_file))}, file_row_number = true)"
        )
    else:
        con.execute("create or replace temp view lines as select rowid as line_index, line, line_hash "
                    "from lines_in_memory")
    return decoded_file


def _load_file(con: duckdb.DuckDBPyConnection, load: _Load, decoded: DecodedFile, relative: str,
               file_report: FileReport) -> None:
    contract = load.contract
    total_lines = con.execute("select count(*) from lines").fetchone()[0]
    first_data_index = 0
    if contract.format == "csv":
        if total_lines == 0:
            raise HeaderMismatchError(
                f"{decoded.landed_path}: the file is empty; a {contract.source}.{contract.table} file starts with "
                f"the header line {contract.delimiter.join(contract.column_names)!r}. Ask the source to re-deliver it."
            )
        _check_header(con, contract, decoded)
        first_data_index = 1
    file_report.lines_read = total_lines - first_data_index

    if file_report.duplicate_of:
        con.execute(
            "insert into quarantined select ?, line_index + 1, ?, line from lines where line_index >= ?",
            [relative, f"duplicate delivery: identical to {file_report.duplicate_of}, already loaded from there",
             first_data_index],
        )
        file_report.lines_quarantined = file_report.lines_read
        _drop_lines(con)
        return

    # Parse in slices of lines: each slice's loaded rows are written to a Parquet part straight away (the
    # parts are concatenated in order at the end), only its quarantined lines are kept.
    columns = ", ".join(quote_identifier(c) for c in contract.column_names)
    for start in range(first_data_index, total_lines, ROWS_PER_SLICE):
        con.execute(
            "create or replace temp table parsed as select line_number, reason, "
            f"case when reason is not null then line end as raw_line, {columns} "
            f"from ({parse_lines_sql(contract, 'lines', start, start + ROWS_PER_SLICE)})"
        )
        part = load.next_part()
        loaded = con.execute(
            f"copy (select {load.loaded_columns_sql()} from parsed where reason is null) "
            f"to {sql_literal(str(part))} (format parquet, compression {LAKE_COMPRESSION})",
            [relative],
        ).fetchone()[0]
        if loaded:
            load.parts.append(part)
        else:
            part.unlink(missing_ok=True)
        con.execute(
            "insert into quarantined select ?, line_number, reason, raw_line from parsed where reason is not null",
            [relative],
        )
        file_report.rows_loaded += loaded
    con.execute("drop table if exists parsed")
    file_report.lines_quarantined = file_report.lines_read - file_report.rows_loaded
    file_report.duplicate_lines = _duplicate_loaded_lines(con, relative, first_data_index)
    _drop_lines(con)
    if not decoded.ends_with_newline and file_report.lines_read:
        last_is_quarantined = con.execute(
            "select count(*) from quarantined where source_file = ? and line_number = ?", [relative, total_lines]
        ).fetchone()[0]
        if last_is_quarantined:
            con.execute(
                "update quarantined set reason = reason || ' (last line has no line break: the file was "
                "probably cut off)' where source_file = ? and line_number = ?",
                [relative, total_lines],
            )


def _drop_lines(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop view if exists lines")
    con.execute("drop table if exists lines_in_memory")


def _duplicate_loaded_lines(con: duckdb.DuckDBPyConnection, relative: str, first_data_index: int) -> int:
    """Loaded lines that repeat an earlier loaded line of the same file, counted exactly.

    Equal lines parse alike, so a line text is either always loaded or always quarantined: the repeats
    among loaded lines are the repeats among all lines less those among quarantined lines. Only lines whose
    hash occurs more than once are compared as text, so the exact count stays cheap on large files. The
    repeated hashes are found by sorting them and comparing neighbours: grouping the 30M hashes of the events
    file at M took 13.5 s, sorting them about 2.5 s (the same way as dbt_project/macros/repeated_keys.sql).
    """
    repeats_all = con.execute(
        """
        with candidates as (
            select line_hash
            from (select line_hash, lag(line_hash) over (order by line_hash) as previous_hash from lines
                  where line_index >= ?)
            where line_hash = previous_hash
        )
        select coalesce(count(*) - count(distinct line), 0) from lines
        where line_index >= ? and line is not null and line_hash in (select line_hash from candidates)
        """,
        [first_data_index, first_data_index],
    ).fetchone()[0]
    repeats_quarantined = con.execute(
        "select coalesce(count(raw_line) - count(distinct raw_line), 0) from quarantined where source_file = ?",
        [relative],
    ).fetchone()[0]
    return repeats_all - repeats_quarantined


def _check_header(con: duckdb.DuckDBPyConnection, contract: TableContract, decoded: DecodedFile) -> None:
    fields = con.execute(
        f"select list_transform({split_fields_sql(contract)}, lambda f: {unquote_sql(contract, 'f')}) "
        "from lines where line_index = 0"
    ).fetchone()[0] or []
    found = [f.strip() for f in fields]
    expected = list(contract.column_names)
    if found == expected:
        return
    missing = [c for c in expected if c not in found]
    unexpected = [c for c in found if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing columns {missing}")
    if unexpected:
        problems.append(f"unexpected columns {unexpected}")
    if not problems:
        problems.append(f"columns in a different order: {found}")
    raise HeaderMismatchError(
        f"{decoded.landed_path}: the header does not match the {contract.source}.{contract.table} contract: "
        f"{'; '.join(problems)}. Expected {contract.delimiter!r}-separated: {expected}. Ask the source to export "
        f"the agreed layout, or update the contract in orchestration/ingest/contracts.py (and the staging model)."
    )


def _earlier_delivery(contract: TableContract, paths: DataPaths, dump_date: str, landed: Path, sha256: str) -> str | None:
    """The earlier dump's file with the same bytes, if this file is a re-delivery of it.

    The oldest such file is the one its rows were loaded from: every later copy was itself quarantined as a
    re-delivery (a catalog sent unchanged every day names the first day's file, not yesterday's copy).
    """
    size = landed.stat().st_size
    earlier_dumps = sorted(p.name for p in paths.landing.iterdir() if p.is_dir() and p.name < dump_date)
    for earlier in earlier_dumps:
        for candidate in landed_files(contract, paths, earlier):
            # Comparing sizes first keeps this cheap: only same-sized files are hashed.
            if candidate.stat().st_size == size and file_sha256(candidate) == sha256:
                return candidate.relative_to(paths.landing).as_posix()
    return None


def _empty_loaded_sql(contract: TableContract) -> str:
    typed = ", ".join(
        f"null::{SQL_TYPES[c.type]} as {quote_identifier(c.name)}" for c in contract.columns
    )
    return f"select {typed}, null::varchar as _source_file, null::bigint as _line_number limit 0"


def _accumulate_reasons(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
    # Group reasons by their kind (the text before the first quote/colon detail) so metadata stays short.
    rows = con.execute(
        "select regexp_replace(reason, '''(?:[^'']|'''')*''', '''…''', 'g') as kind, count(*) from quarantined group by 1 order by 2 desc, 1"
    ).fetchall()
    report.quarantine_reasons = {kind: count for kind, count in rows}


def _write_outputs(con: duckdb.DuckDBPyConnection, load: _Load, paths: DataPaths, report: LoadReport,
                   work_dir: Path) -> None:
    contract, dump_date = load.contract, load.dump_date
    staged = work_dir / "out"
    targets = {
        "raw": paths.raw_partition(contract.source, contract.table, dump_date),
        "quarantine": paths.quarantine_partition(contract.source, contract.table, dump_date),
        "ledger": paths.ledger_partition(contract.source, contract.table, dump_date),
    }
    for name in targets:
        (staged / name).mkdir(parents=True)
    dump = sql_literal(dump_date)
    stamp = sql_literal(load.loaded_at.isoformat(sep=" "))
    if load.parts:
        for part in load.parts:  # already named in file order (data-000000.parquet, ...)
            part.rename(staged / "raw" / part.name)
    else:
        # No loaded row: an empty file still carries the table's columns for the readers' union_by_name.
        empty_file = staged / "raw" / DATA_FILE_PATTERN.format(index=0)
        con.execute(
            f"copy (select *, {dump}::date as _dump_date, {stamp}::timestamp as _loaded_at "
            f"from ({_empty_loaded_sql(contract)}) as empty) to {sql_literal(str(empty_file))} "
            f"(format parquet, compression {LAKE_COMPRESSION})"
        )
    con.execute(
        f"copy (select {dump}::date as dump_date, {sql_literal(contract.source)} as source, "
        f"{sql_literal(contract.table)} as source_table, source_file, line_number, reason, raw_line, "
        f"{stamp}::timestamp as quarantined_at from quarantined order by source_file, line_number) "
        f"to {sql_literal(str(staged / 'quarantine' / QUARANTINE_FILE))} (format parquet, compression zstd)"
    )
    con.execute(
        "create temp table ledger (source_file varchar, size_bytes bigint, sha256 varchar, lines_read bigint, "
        "rows_loaded bigint, lines_quarantined bigint, duplicate_lines bigint, duplicate_of varchar)"
    )
    if report.files:
        con.executemany(
            "insert into ledger values (?, ?, ?, ?, ?, ?, ?, ?)",
            [(f.source_file, f.size_bytes, f.sha256, f.lines_read, f.rows_loaded, f.lines_quarantined,
              f.duplicate_lines, f.duplicate_of) for f in report.files],
        )
    con.execute(
        f"copy (select {dump}::date as dump_date, {sql_literal(contract.source)} as source, "
        f"{sql_literal(contract.table)} as source_table, *, {stamp}::timestamp as loaded_at from ledger "
        f"order by source_file) to {sql_literal(str(staged / 'ledger' / LEDGER_FILE))} (format parquet)"
    )
    _swap_in(staged, targets)


def _swap_in(staged: Path, targets: dict[str, Path]) -> None:
    """Replace each partition folder with its freshly written one; old folders go only after all moved."""
    retired: list[Path] = []
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            target.rename(old)
            retired.append(old)
        (staged / name).rename(target)
    for old in retired:
        shutil.rmtree(old, ignore_errors=True)
