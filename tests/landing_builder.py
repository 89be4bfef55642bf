"""Write small landing folders by hand for edge-case tests (the generator covers realistic volume)."""

from __future__ import annotations

from pathlib import Path

from orchestration.ingest.contracts import TableContract


def write_table_file(landing: Path, dump_date: str, contract: TableContract, name: str, rows: list[str],
                     header: str | None = None, newline: str = "\n", trailing_newline: bool = True) -> Path:
    """Rows are already formatted lines; the header defaults to the contract's columns."""
    folder = landing / dump_date / contract.source
    folder.mkdir(parents=True, exist_ok=True)
    lines = rows if contract.format == "jsonl" else [header or contract.delimiter.join(contract.column_names), *rows]
    text = newline.join(lines) + (newline if trailing_newline else "")
    path = folder / name
    path.write_bytes(text.encode(contract.encoding))
    return path
