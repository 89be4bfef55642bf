"""The UTF-8 copy of a cp1251 file, written by a thread behind the decoder, on the sample retailer's ERP export.

Small chunks cut the generated file into hundreds of pieces, so every chunk boundary, the order of the writes
and the end of the file are exercised as in the 1.2 GB file of the benchmark's M scale.
"""

from __future__ import annotations

import errno
import hashlib
import stat
from pathlib import Path

import pytest

from orchestration.ingest import decoding
from orchestration.ingest.contracts import ERP_SALES
from orchestration.ingest.errors import UndecodableFileError

SMALL_CHUNK = 4099  # a prime: the chunk boundaries fall anywhere in lines and fields


@pytest.fixture
def erp_export(sample_root) -> Path:
    files = sorted(sample_root.glob(f"landing/*/{ERP_SALES.source}/{ERP_SALES.file_glob}"))
    assert files, "the sample retailer delivers ERP sales files"
    largest = max(files, key=lambda p: p.stat().st_size)
    assert largest.stat().st_size > 100 * SMALL_CHUNK
    return largest


def test_the_copy_is_the_codec_output_in_file_order(erp_export, tmp_path, monkeypatch):
    monkeypatch.setattr(decoding, "CHUNK_BYTES", SMALL_CHUNK)
    landed = erp_export.read_bytes()

    decoded = decoding.decode_to_utf8(erp_export, "cp1251", tmp_path)

    assert decoded.readable_path != erp_export
    assert decoded.readable_path.read_bytes() == landed.decode("cp1251").encode("utf-8")
    assert decoded.sha256 == hashlib.sha256(landed).hexdigest()
    assert decoded.size_bytes == len(landed)
    assert decoded.ends_with_newline == landed.endswith(b"\n")
    assert "Продажа".encode() in decoded.readable_path.read_bytes()  # transcoded, not copied


@pytest.mark.skipif(not (Path("/dev/full").exists() and stat.S_ISCHR(Path("/dev/full").stat().st_mode)),
                    reason="needs the /dev/full device, whose writes fail with ENOSPC")
def test_a_write_that_fails_stops_the_copy_at_once(erp_export, tmp_path, monkeypatch):
    # The copy lands on a full disk: /dev/full accepts the open and refuses every write with ENOSPC. The failed
    # write happens on the writer thread; it must reach the caller before the decoder goes through the rest of
    # the file (and not only when the file is closed).
    monkeypatch.setattr(decoding, "CHUNK_BYTES", SMALL_CHUNK * 4)  # above the file object's 8 KiB buffer
    (tmp_path / f"{erp_export.name}.utf8").symlink_to("/dev/full")
    decoded_chunks = []
    real_decoder = decoding.codecs.getincrementaldecoder

    def counting_decoder(encoding):
        class Counting(real_decoder(encoding)):
            def decode(self, data, final=False):
                decoded_chunks.append(len(data))
                return super().decode(data, final)
        return Counting

    monkeypatch.setattr(decoding.codecs, "getincrementaldecoder", counting_decoder)

    with pytest.raises(OSError) as raised:
        decoding.decode_to_utf8(erp_export, "cp1251", tmp_path)

    assert raised.value.errno == errno.ENOSPC
    # The byte-order-mark probe, the chunk whose write failed, and the one decoded while it was written.
    assert len(decoded_chunks) <= 3 < erp_export.stat().st_size / (SMALL_CHUNK * 4)


def test_an_undefined_byte_after_many_chunks_is_named_where_it_is(erp_export, tmp_path, monkeypatch):
    monkeypatch.setattr(decoding, "CHUNK_BYTES", SMALL_CHUNK)
    broken = tmp_path / "landing" / erp_export.name
    broken.parent.mkdir()
    original = erp_export.read_bytes()
    broken.write_bytes(original + b"\x98\r\n")  # 0x98 is the one byte cp1251 leaves undefined
    lines = original.count(b"\n") + 1

    with pytest.raises(UndecodableFileError, match=rf"at byte {len(original)} \(line {lines}, bytes 98 0d 0a\)"):
        decoding.decode_to_utf8(broken, "cp1251", tmp_path)
