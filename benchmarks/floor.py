"""The floor: DuckDB alone loading the same dump files into tables, one table per file, no transformation.

This is the least any pipeline must spend to get the bytes into a database: DuckDB's own CSV/JSON readers
with type sniffing, skipping lines they cannot read (`ignore_errors`), no line accounting, no quarantine,
no lineage, no staging. 1C files are read as latin-1 (DuckDB has no cp1251 reader built in): the bytes
load unchanged, the text is mojibake; the real pipeline transcodes them properly.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from orchestration.ingest.contracts import CONTRACTS, TableContract
from orchestration.ingest.loader import landed_files
from orchestration.ingest.parsing import sql_literal
from orchestration.settings import DataPaths


def _reader_sql(contract: TableContract, path: Path) -> str:
    if contract.format == "jsonl":
        return f"read_json({sql_literal(str(path))}, format = 'newline_delimited', ignore_errors = true)"
    quote = contract.quote or ""
    encoding = "latin-1" if contract.encoding == "cp1251" else "utf-8"
    return (
        f"read_csv({sql_literal(str(path))}, header = true, delim = {sql_literal(contract.delimiter)}, "
        f"quote = {sql_literal(quote)}, escape = {sql_literal(quote)}, encoding = {sql_literal(encoding)}, "
        "ignore_errors = true)"
    )


def load_floor(paths: DataPaths, dump_dates: list[str], database: Path, memory_limit: str | None = None) -> dict:
    """Load every file of every contract in `dump_dates` into `database`; returns seconds, rows, bytes."""
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    rows = 0
    size = 0
    files = 0
    with duckdb.connect(str(database)) as con:
        if memory_limit:
            con.execute(f"set memory_limit = {sql_literal(memory_limit)}")
        for contract in CONTRACTS:
            for dump_date in dump_dates:
                for index, path in enumerate(landed_files(contract, paths, dump_date)):
                    table = f"{contract.key}__{dump_date.replace('-', '_')}__{index}"
                    con.execute(f'create table "{table}" as select * from {_reader_sql(contract, path)}')
                    rows += con.execute(f'select count(*) from "{table}"').fetchone()[0]
                    size += path.stat().st_size
                    files += 1
        con.execute("checkpoint")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "bytes": size, "files": files,
            "database_bytes": database.stat().st_size if database.exists() else 0}
