"""The state a night starts from, kept aside and put back, so the same night can be run and timed more than once.

A night changes the lake (the day's partitions), the warehouse (one DuckDB file), the exports and the quality
folder (validation results, data docs). Those four folders are the state; the landing zone is never written,
and Dagster's run history is left to grow, as it does night after night in production.

The lake is kept by hard links, not copies: ingestion never writes a lake file in place, it writes a new
partition folder and renames it over the old one (orchestration/ingest/loader.py, `_swap_in`), so a linked
file keeps its content whatever the night does. At 2M persons the lake is 4.1 GB and the copied folders 10.1 GB
(docs/performance.md, section AZ). The warehouse file is written in place and is copied.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

STATE_FOLDERS = ("lake", "warehouse", "exports", "quality")
LINKED_FOLDERS = frozenset({"lake"})


def save_state(data: Path, into: Path) -> dict:
    """Keep the state of `data` under `into` (replacing what was there); returns its fingerprint."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    copy_data_directory(data, into, only=STATE_FOLDERS)
    return state_fingerprint(data)


def restore_state(data: Path, kept: Path, expected: dict) -> dict:
    """Put the state kept under `kept` back into `data`, and check it is the state that was kept.

    Written to disk before returning (os.sync), so the next night does not pay for this copy's write-back."""
    if not kept.is_dir():
        raise FileNotFoundError(f"no kept state at {kept}: save_state must run before restore_state")
    for name in STATE_FOLDERS:
        shutil.rmtree(data / name, ignore_errors=True)
    copy_data_directory(kept, data, only=STATE_FOLDERS)
    os.sync()
    restored = state_fingerprint(data)
    if restored != expected:
        raise RuntimeError(
            f"the state put back into {data} differs from the one kept in {kept}: {restored['files']:,} files, "
            f"{restored['bytes']:,} bytes against {expected['files']:,} files, {expected['bytes']:,} bytes. "
            f"Something wrote into the kept copy; delete {kept} and run the benchmark again."
        )
    return restored


def state_fingerprint(data: Path) -> dict:
    """Every state file's path and size, hashed: cheap at any scale, and different after any night, which adds a
    lake partition, rewrites the warehouse file and writes exports."""
    digest = hashlib.sha256()
    files = total = 0
    for name in STATE_FOLDERS:
        folder = data / name
        if not folder.exists():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            size = path.stat().st_size
            digest.update(f"{path.relative_to(data)}\t{size}\n".encode())
            files += 1
            total += size
    return {"sha256": digest.hexdigest(), "files": files, "bytes": total}


def copy_data_directory(source: Path, target: Path, only: Iterable[str] | None = None,
                        leave_out: Iterable[str] = ()) -> None:
    """Copy a data directory into `target` (created, or added to): the lake hard-linked, symbolic links (the
    landing zone's, in the benchmark) kept as links, everything else copied. `only` and `leave_out` choose among
    its top-level entries."""
    only = None if only is None else frozenset(only)
    leave_out = frozenset(leave_out)

    def copy(file: str, into: str) -> None:
        linked = Path(file).relative_to(source).parts[0] in LINKED_FOLDERS
        (os.link if linked else shutil.copy2)(file, into)

    def left_out(directory: str, names: list[str]) -> list[str]:
        if Path(directory) != source:
            return []
        return [name for name in names if name in leave_out or (only is not None and name not in only)]

    shutil.copytree(source, target, symlinks=True, copy_function=copy, ignore=left_out, dirs_exist_ok=True)
