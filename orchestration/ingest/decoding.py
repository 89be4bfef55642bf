"""Bring every landed file to UTF-8 before DuckDB reads it.

DuckDB's CSV reader knows no cp1251, and 1C exports are cp1251, so those files are transcoded in large
chunks into a scratch copy. UTF-8 files are read in place after a streaming validity check, so a broken
file fails with the byte and line where it breaks instead of silently losing characters.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from orchestration.ingest.errors import UndecodableFileError

CHUNK_BYTES = 16 * 1024 * 1024
UTF8_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class DecodedFile:
    landed_path: Path  # the file as delivered
    readable_path: Path  # UTF-8 without BOM: the landed file itself or a scratch copy
    sha256: str
    size_bytes: int
    ends_with_newline: bool


def decode_to_utf8(landed_path: Path, encoding: str, scratch_dir: Path) -> DecodedFile:
    """Validate (and if needed transcode) one file, computing its checksum on the same pass."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    needs_copy = encoding.lower().replace("_", "-") not in ("utf-8", "utf8")
    size = 0
    newline_count = 0
    last_byte = b""
    scratch_path = scratch_dir / (landed_path.name + ".utf8")
    with landed_path.open("rb") as source:
        first = source.read(len(UTF8_BOM))
        has_bom = first == UTF8_BOM and not needs_copy
        needs_copy = needs_copy or has_bom
        sink = scratch_path.open("wb") if needs_copy else None
        try:
            chunk = first
            while chunk:
                digest.update(chunk)
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    raise _undecodable(landed_path, encoding, size + error.start, newline_count, chunk, error)
                if sink is not None:
                    if has_bom and size == 0:
                        text = text.lstrip("\ufeff")
                    sink.write(text.encode("utf-8"))
                size += len(chunk)
                newline_count += chunk.count(b"\n")
                last_byte = chunk[-1:]
                chunk = source.read(CHUNK_BYTES)
            try:
                tail = decoder.decode(b"", final=True)
            except UnicodeDecodeError as error:
                raise UndecodableFileError(
                    f"{landed_path}: not valid {encoding}: the file ends inside a multi-byte character "
                    f"({error.reason}); the file was probably cut off in transfer. Ask the source to re-deliver it."
                ) from error
            if sink is not None and tail:
                sink.write(tail.encode("utf-8"))
        finally:
            if sink is not None:
                sink.close()
    return DecodedFile(
        landed_path=landed_path,
        readable_path=scratch_path if needs_copy else landed_path,
        sha256=digest.hexdigest(),
        size_bytes=size,
        ends_with_newline=last_byte == b"\n",
    )


def _undecodable(path: Path, encoding: str, byte_offset: int, newlines_before_chunk: int, chunk: bytes,
                 error: UnicodeDecodeError) -> UndecodableFileError:
    line = newlines_before_chunk + chunk[: error.start].count(b"\n") + 1
    bad = chunk[error.start : error.start + 4].hex(" ")
    return UndecodableFileError(
        f"{path}: not valid {encoding} at byte {byte_offset} (line {line}, bytes {bad}): {error.reason}. "
        f"The contract says this source delivers {encoding}; ask the source to re-export in {encoding}, "
        f"or correct the encoding in orchestration/ingest/contracts.py if the source changed it."
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
