"""Typed columns -> text lines exactly as each contract describes the file, built in DuckDB.

Batches arrive as Arrow tables whose columns follow the contract, typed by convention: varchar -> string,
bigint/integer -> int64, decimal -> int64 hundredths (kopecks), date -> date32, timestamp -> timestamp[s],
boolean -> bool; null means an empty field (CSV) or an absent key (JSONL).

Optional corruption columns make a line malformed on purpose: ``_bad_col``/``_bad_val`` replace one field's
text, ``_wcc`` drops the last field (-1) or adds one (+1), ``_bad_json`` breaks the JSON (1 no closing brace,
2 single quotes, 3 trailing comma).

CSV quoting is minimal: a field is wrapped in ``"`` only when it contains the delimiter, a quote, CR or LF,
and embedded quotes are doubled. Files without quoting (the tab-separated feed) never carry those characters.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.ingest.contracts import TableContract

CORRUPTION_COLUMNS = ("_bad_col", "_bad_val", "_wcc", "_bad_json")
EXTRA_FIELD = "extra"


def line_ending(contract: TableContract) -> str:
    return "\r\n" if contract.encoding == "cp1251" else "\n"


def _sql_str(text: str) -> str:
    """A SQL string literal; control characters become chr() calls."""
    parts, run = [], ""
    for char in text:
        if char in "\r\n\t":
            if run:
                parts.append("'" + run.replace("'", "''") + "'")
                run = ""
            parts.append(f"chr({ord(char)})")
        else:
            run += char
    if run or not parts:
        parts.append("'" + run.replace("'", "''") + "'")
    return "(" + " || ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _decimal(column: str, separator: str) -> str:
    return (
        f"(CASE WHEN {column} < 0 THEN '-' ELSE '' END || CAST(abs({column}) // 100 AS VARCHAR) || "
        f"{_sql_str(separator)} || lpad(CAST(abs({column}) % 100 AS VARCHAR), 2, '0'))"
    )


def _csv_field(contract: TableContract, index: int) -> str:
    column = contract.columns[index]
    v = f"c{index}"
    kind = column.type
    if kind == "varchar":
        if contract.quote is None:
            return f"coalesce({v}, '')"
        q = contract.quote
        needs = " OR ".join(
            f"contains({v}, {_sql_str(char)})" for char in dict.fromkeys([contract.delimiter, q, "\n", "\r"])
        )
        return (
            f"(CASE WHEN {v} IS NULL THEN '' WHEN {needs} THEN {_sql_str(q)} || replace({v}, {_sql_str(q)}, "
            f"{_sql_str(q + q)}) || {_sql_str(q)} ELSE {v} END)"
        )
    if kind in ("bigint", "integer"):
        return f"coalesce(CAST({v} AS VARCHAR), '')"
    if kind == "decimal":
        return f"coalesce({_decimal(v, ',' if contract.decimal_comma else '.')}, '')"
    if kind == "date":
        return f"coalesce(strftime({v}, {_sql_str(contract.date_format)}), '')"
    if kind == "timestamp":
        return f"coalesce(strftime({v}, {_sql_str(contract.timestamp_format)}), '')"
    if kind == "boolean":
        return f"(CASE WHEN {v} THEN 'true' WHEN NOT {v} THEN 'false' ELSE '' END)"
    raise ValueError(f"{contract.key}: unsupported column type {kind}")


def _json_pair(contract: TableContract, index: int) -> str:
    column = contract.columns[index]
    v = f"c{index}"
    key = _sql_str(f'"{column.name}":')
    kind = column.type
    if kind == "varchar":
        value = f"CAST(to_json({v}) AS VARCHAR)"
    elif kind in ("bigint", "integer"):
        value = f"CAST({v} AS VARCHAR)"
    elif kind == "decimal":
        value = _decimal(v, ".")
    elif kind == "date":
        value = f"'\"' || strftime({v}, {_sql_str(contract.date_format)}) || '\"'"
    elif kind == "timestamp":
        value = f"'\"' || strftime({v}, {_sql_str(contract.timestamp_format)}) || '\"'"
    elif kind == "boolean":
        value = f"CASE WHEN {v} THEN 'true' ELSE 'false' END"
    else:
        raise ValueError(f"{contract.key}: unsupported column type {kind}")
    return f"CASE WHEN {v} IS NULL THEN NULL ELSE {key} || {value} END"


@lru_cache(maxsize=None)
def line_sql(contract: TableContract, corrupt: bool) -> str:
    eol = _sql_str(line_ending(contract))
    n = len(contract.columns)
    if contract.format == "jsonl":
        body = "'{' || concat_ws(',', " + ", ".join(_json_pair(contract, i) for i in range(n)) + ") || '}'"
        if not corrupt:
            return f"SELECT {body} || {eol} AS line FROM batch"
        return (
            f"WITH b AS (SELECT {body} AS body, _bad_json FROM batch) "
            "SELECT (CASE _bad_json WHEN 1 THEN left(body, length(body) - 1) "
            "WHEN 2 THEN replace(body, '\"', '''') WHEN 3 THEN body || ',' ELSE body END) "
            f"|| {eol} AS line FROM b"
        )
    delimiter = _sql_str(contract.delimiter)
    fields = [_csv_field(contract, i) for i in range(n)]
    if not corrupt:
        return f"SELECT {f' || {delimiter} || '.join(fields)} || {eol} AS line FROM batch"
    fields = [f"(CASE WHEN _bad_col = {i} THEN _bad_val ELSE {field} END) AS f{i}" for i, field in enumerate(fields)]
    head = f" || {delimiter} || ".join(f"f{i}" for i in range(n - 1))
    return (
        f"WITH f AS (SELECT {', '.join(fields)}, _wcc FROM batch) "
        f"SELECT (CASE WHEN _wcc = -1 THEN {head} "
        f"WHEN _wcc = 1 THEN {head} || {delimiter} || f{n - 1} || {delimiter} || {_sql_str(EXTRA_FIELD)} "
        f"ELSE {head} || {delimiter} || f{n - 1} END) || {eol} AS line FROM f"
    )


def header_line(contract: TableContract) -> str:
    """The header line (CSV only): column names in contract order, quoted like any other field."""
    names = []
    for name in contract.column_names:
        if contract.quote and any(char in name for char in (contract.delimiter, contract.quote, "\n", "\r")):
            name = contract.quote + name.replace(contract.quote, contract.quote * 2) + contract.quote
        names.append(name)
    return contract.delimiter.join(names) + line_ending(contract)


class LineFormatter:
    """Formats batches on one DuckDB connection (multi-threaded; row order is preserved)."""

    def __init__(self) -> None:
        self._con = duckdb.connect(config={"preserve_insertion_order": True})

    def close(self) -> None:
        self._con.close()

    def lines(self, contract: TableContract, table: pa.Table) -> pa.Array:
        corrupt = "_bad_col" in table.column_names
        columns = {f"c{i}": table.column(name) for i, name in enumerate(contract.column_names)}
        if corrupt:
            columns.update({name: table.column(name) for name in CORRUPTION_COLUMNS})
        batch = pa.table(columns)
        self._con.register("batch", batch)
        try:
            result = self._con.sql(line_sql(contract, corrupt)).to_arrow_table()
        finally:
            self._con.unregister("batch")
        return result.column("line").combine_chunks()


def concatenated(lines: pa.Array) -> bytes:
    """All lines of a string array back to back (they carry their own line endings)."""
    if len(lines) == 0:
        return b""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets_type = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    _, offsets_buffer, data_buffer = lines.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offsets_type)[lines.offset : lines.offset + len(lines) + 1]
    return data_buffer.to_pybytes()[int(offsets[0]) : int(offsets[-1])]
