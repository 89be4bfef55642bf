"""Render docs/sources.md from the contracts, so the documented file layout is the enforced one.

    python -m orchestration.ingest.contract_docs > docs/sources.md
"""

from __future__ import annotations

import sys

from orchestration.ingest.contracts import CONTRACTS, LOAD_METADATA_COLUMNS, READY_MARKER, TableContract

INTRO = f"""# Source file contracts

Generated from `orchestration/ingest/contracts.py` by `python -m orchestration.ingest.contract_docs`; a test
fails when this page and the code disagree. To bring your own dumps, deliver files exactly like this.

## Layout and delivery
- One folder per dump: `landing/<dump_date>/<source>/<file>`, `dump_date` as `YYYY-MM-DD` (the day the dump was
  delivered; it normally carries the previous business day).
- Write `landing/<dump_date>/{READY_MARKER}` (empty) **last**: a dump without it is still landing and is not
  picked up by the sensor or by `make nightly`.
- Every table below is required in every dump; a missing file fails that table's ingestion, naming the folder.
  A file may appear more than once per dump (several files matching the pattern are all loaded).
- A file whose bytes equal a file already delivered (in this or an earlier dump) is a re-delivery: its lines
  are quarantined as `duplicate delivery` and nothing is loaded twice.
- Files are never modified; ingestion writes typed Parquet to `lake/raw/<source>/<table>/dump_date=<date>/`.

## What happens to each line
- CSV: the first line is the header and must list exactly the columns below, in this order; otherwise the
  table fails with the missing/unexpected columns and nothing is written.
- Each data line is **loaded** or **quarantined** (`lake/quarantine/...`, with file, line number, reason and the
  raw text). Quarantined: wrong number of fields, an unterminated quote, an empty line, an empty required
  value, a value that does not parse as its type (the reason names the column and value), invalid JSON.
- Undecodable bytes (not valid in the declared encoding) fail the table with the byte offset and line. So does the
  control byte 0x1F (unit separator), which no text contains and which the loader uses to read lines whole.
- Loaded rows keep every source column, typed, plus {", ".join(f"`{c}`" for c in LOAD_METADATA_COLUMNS)}.
- Types: `decimal` is stored as decimal(18, 4); `boolean` accepts true/false, 1/0, yes/no, да/нет.

"""


def render_contract(contract: TableContract) -> str:
    quoting = f"quote `{contract.quote}`" if contract.quote else "no quoting"
    if contract.format == "jsonl":
        fmt = "JSON Lines (one object per line; keys as below)"
    else:
        fmt = f"{contract.encoding}, delimiter `{_show(contract.delimiter)}`, {quoting}, header line"
    lines = [
        f"### {contract.source}.{contract.table}",
        "",
        contract.description,
        "",
        f"- File: `landing/<dump_date>/{contract.source}/{contract.file_glob}`",
        f"- Format: {fmt}",
    ]
    if contract.format == "csv":
        number = "decimal comma (`1 234,50`)" if contract.decimal_comma else "decimal point (`1234.50`)"
        lines.append(f"- Numbers: {number}; dates `{contract.date_format}`; timestamps `{contract.timestamp_format}`")
    else:
        lines.append(f"- Timestamps `{contract.timestamp_format}`")
    if contract.natural_key:
        lines.append(f"- Natural key: {', '.join(f'`{k}`' for k in contract.natural_key)}")
    lines += ["", "| column | type | required | meaning |", "|---|---|---|---|"]
    for column in contract.columns:
        lines.append(
            f"| `{column.name}` | {column.type} | {'yes' if column.required else ''} | {column.description} |"
        )
    return "\n".join(lines) + "\n"


def _show(delimiter: str) -> str:
    return {"\t": "\\t (tab)"}.get(delimiter, delimiter)


def render() -> str:
    sections = [INTRO]
    source = None
    for contract in CONTRACTS:
        if contract.source != source:
            source = contract.source
            sections.append(f"## {source}\n")
        sections.append(render_contract(contract))
    return "\n".join(sections)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
