"""Bring every landed file to UTF-8 before DuckDB reads it.

DuckDB's CSV reader knows no cp1251, and 1C exports are cp1251, so those files are transcoded in large
chunks into a scratch copy. UTF-8 files without a byte-order mark are read in place: DuckDB validates UTF-8
while it reads, and a thread computes the checksum beside it (`BackgroundChecksum`). Only when DuckDB
rejects a file does the Python decoder run over it, to name the byte and line where it breaks
(`diagnose_utf8`), so a broken file never loses characters silently and a good one is not decoded twice.
"""

from __future__ import annotations

import codecs
import hashlib
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from orchestration.ingest.errors import UndecodableFileError
from orchestration.write_behind import WriteBehind

CHUNK_BYTES = 16 * 1024 * 1024
# A WriteBehind bound that lets one call be queued or running: the next waits for it.
ONE_CHUNK_BEHIND = 1
UTF8_BOM = codecs.BOM_UTF8
# The loader reads whole lines by splitting them on this control byte, which no text contains; a file that
# does contain it is refused, since its lines cannot be read whole (the part after it would be dropped).
UNIT_SEPARATOR = b"\x1f"


@dataclass(frozen=True)
class DecodedFile:
    landed_path: Path  # the file as delivered
    readable_path: Path  # UTF-8 without BOM: the landed file itself or a scratch copy
    sha256: str
    size_bytes: int
    ends_with_newline: bool


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def readable_in_place(landed_path: Path, encoding: str) -> bool:
    """True when DuckDB can read the landed file as it is: UTF-8 without a byte-order mark."""
    if not is_utf8(encoding):
        return False
    with landed_path.open("rb") as handle:
        return handle.read(len(UTF8_BOM)) != UTF8_BOM


class BackgroundChecksum:
    """sha256, size and last byte of a file, computed on a thread while DuckDB reads the same file.

    hashlib and file reads release the GIL, so this runs beside DuckDB's own threads.
    """

    def __init__(self, landed_path: Path):
        self.landed_path = landed_path
        self._result: DecodedFile | None = None
        self._error: BaseException | None = None
        self.unit_separator_at: int | None = None  # byte offset of the first 0x1F, if any
        self._thread = threading.Thread(target=self._run, name=f"sha256 {landed_path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            digest = hashlib.sha256()
            size = 0
            last_byte = b""
            with self.landed_path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                    digest.update(chunk)
                    if self.unit_separator_at is None and UNIT_SEPARATOR in chunk:
                        self.unit_separator_at = size + chunk.index(UNIT_SEPARATOR)
                    size += len(chunk)
                    last_byte = chunk[-1:]
            self._result = DecodedFile(
                landed_path=self.landed_path,
                readable_path=self.landed_path,
                sha256=digest.hexdigest(),
                size_bytes=size,
                ends_with_newline=last_byte == b"\n",
            )
        except BaseException as error:  # re-raised in the caller's thread by result()
            self._error = error

    def wait(self) -> None:
        """Let the thread finish without raising (its outcome is read by result())."""
        self._thread.join()

    def result(self) -> DecodedFile:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        if self.unit_separator_at is not None:
            raise unit_separator_error(self.landed_path, self.unit_separator_at)
        return self._result


def diagnose_utf8(landed_path: Path, scratch_dir: Path) -> None:
    """Raise UndecodableFileError naming the first invalid byte of a UTF-8 file, if it has one."""
    decode_to_utf8(landed_path, "utf-8", scratch_dir)


def decode_to_utf8(landed_path: Path, encoding: str, scratch_dir: Path) -> DecodedFile:
    """Validate (and if needed transcode) one file, computing its checksum on the same pass.

    The checksum and the writes of the UTF-8 copy run on two worker threads (`WriteBehind`), each one chunk
    behind the decoder: hashlib and file writes release the GIL, the codecs do not, so all three overlap. Written
    in turn, the copy of the 1.24 GB ERP file at M took 6.0-8.0 s, the codecs' 3.85 s plus the wait for the disk
    to take 1.75 GB; written behind the decoder, 4.6-5.3 s (docs/performance.md, section AL). Each thread keeps
    one chunk queued or running, so memory stays at a few chunks, the writes stay in file order, a failed write
    is raised at the next chunk, and the copy is closed only once its writer has stopped. The line of a decoding
    error is counted only when there is one.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    needs_copy = not is_utf8(encoding)
    size = 0
    last_byte = b""
    scratch_path = scratch_dir / (landed_path.name + ".utf8")
    with landed_path.open("rb") as source:
        first = source.read(len(UTF8_BOM))
        has_bom = first == UTF8_BOM and not needs_copy
        needs_copy = needs_copy or has_bom
        with (
            scratch_path.open("wb") if needs_copy else nullcontext() as sink,
            WriteBehind(max_pending_bytes=ONE_CHUNK_BEHIND, name="sha256") as hasher,
            WriteBehind(max_pending_bytes=ONE_CHUNK_BEHIND, name="utf8-copy") as writer,
        ):
            chunk = first
            while chunk:
                hasher.submit(digest.update, chunk, size=len(chunk))
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    raise _undecodable(landed_path, encoding, size + error.start, error)
                if sink is not None:
                    if has_bom and size == 0:
                        text = text.lstrip("\ufeff")
                    encoded = text.encode("utf-8")
                    writer.submit(sink.write, encoded, size=len(encoded))
                if UNIT_SEPARATOR in chunk:
                    raise unit_separator_error(landed_path, size + chunk.index(UNIT_SEPARATOR))
                size += len(chunk)
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
                writer.submit(sink.write, tail.encode("utf-8"))
    return DecodedFile(
        landed_path=landed_path,
        readable_path=scratch_path if needs_copy else landed_path,
        sha256=digest.hexdigest(),
        size_bytes=size,
        ends_with_newline=last_byte == b"\n",
    )


def _undecodable(path: Path, encoding: str, byte_offset: int, error: UnicodeDecodeError) -> UndecodableFileError:
    with path.open("rb") as handle:
        line = handle.read(byte_offset).count(b"\n") + 1
        bad = handle.read(4).hex(" ")
    return UndecodableFileError(
        f"{path}: not valid {encoding} at byte {byte_offset} (line {line}, bytes {bad}): {error.reason}. "
        f"The contract says this source delivers {encoding}; ask the source to re-export in {encoding}, "
        f"or correct the encoding in orchestration/ingest/contracts.py if the source changed it."
    )


def unit_separator_error(path: Path, byte_offset: int) -> UndecodableFileError:
    with path.open("rb") as handle:
        line = handle.read(byte_offset).count(b"\n") + 1
    return UndecodableFileError(
        f"{path}: the control byte 0x1F (unit separator) at byte {byte_offset} (line {line}) is not allowed in "
        f"any source file: no line of the file was loaded. Ask the source to re-export it without control "
        f"characters."
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
