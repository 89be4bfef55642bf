"""Unusable input fails the table with a message naming the file and the fix, and changes nothing."""

from __future__ import annotations

import hashlib

import pytest

from orchestration.ingest.contracts import ERP_SALES, SHOP_ORDERS
from orchestration.ingest.errors import HeaderMismatchError, MissingFileError, UndecodableFileError
from orchestration.ingest.loader import load_partition
from orchestration.settings import data_paths
from tests.landing_builder import write_table_file

DUMP = "2026-11-20"
# Every test runs with the lines of the file held in memory and in a scratch file (conftest.line_store).
pytestmark = pytest.mark.usefixtures("line_store")
ORDER = "1001,W-1001,17,a@b.ru,89161234567,paid,2026-11-19 10:00:00,2026-11-19 10:00:00,RUB,1500.00,courier,card"


def lake_fingerprint(paths) -> dict[str, str]:
    """Every file under the lake with its checksum: what 'changes nothing' means."""
    return {
        str(p.relative_to(paths.lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(paths.lake.rglob("*")) if p.is_file()
    }


@pytest.fixture
def loaded(tmp_path):
    """A lake holding one good load of shop.orders for DUMP."""
    paths = data_paths(tmp_path)
    write_table_file(paths.landing, DUMP, SHOP_ORDERS, "orders_20261119.csv", [ORDER])
    load_partition(SHOP_ORDERS, DUMP, paths)
    return paths


def test_missing_file_names_folder_and_table(loaded):
    (loaded.landing / DUMP / "shop" / "orders_20261119.csv").unlink()
    before = lake_fingerprint(loaded)
    with pytest.raises(MissingFileError, match=r"landing/2026-11-20/shop: no file matching 'orders_\*.csv'"):
        load_partition(SHOP_ORDERS, DUMP, loaded)
    assert lake_fingerprint(loaded) == before


def test_header_mismatch_lists_missing_and_unexpected_columns(loaded):
    header = ",".join(c if c != "total_amount" else "total" for c in SHOP_ORDERS.column_names)
    write_table_file(loaded.landing, DUMP, SHOP_ORDERS, "orders_20261119.csv", [ORDER], header=header)
    before = lake_fingerprint(loaded)
    with pytest.raises(HeaderMismatchError) as error:
        load_partition(SHOP_ORDERS, DUMP, loaded)
    message = str(error.value)
    assert "orders_20261119.csv" in message
    assert "missing columns ['total_amount']" in message and "unexpected columns ['total']" in message
    assert lake_fingerprint(loaded) == before


def test_reordered_header_is_a_mismatch(loaded):
    names = list(SHOP_ORDERS.column_names)
    names[0], names[1] = names[1], names[0]
    write_table_file(loaded.landing, DUMP, SHOP_ORDERS, "orders_20261119.csv", [ORDER], header=",".join(names))
    with pytest.raises(HeaderMismatchError, match="columns in a different order"):
        load_partition(SHOP_ORDERS, DUMP, loaded)


def test_empty_file_is_a_mismatch(loaded):
    (loaded.landing / DUMP / "shop" / "orders_20261119.csv").write_bytes(b"")
    with pytest.raises(HeaderMismatchError, match="the file is empty"):
        load_partition(SHOP_ORDERS, DUMP, loaded)


def test_undecodable_utf8_names_byte_and_line(loaded):
    path = loaded.landing / DUMP / "shop" / "orders_20261119.csv"
    # A cp1251 export dropped where UTF-8 is agreed: the Cyrillic bytes are not valid UTF-8.
    path.write_bytes(path.read_bytes() + "1002,W-1002,,Иван@b.ru\n".encode("cp1251"))
    before = lake_fingerprint(loaded)
    with pytest.raises(UndecodableFileError, match=r"orders_20261119.csv: not valid utf-8 at byte \d+ \(line 3"):
        load_partition(SHOP_ORDERS, DUMP, loaded)
    assert lake_fingerprint(loaded) == before


@pytest.mark.parametrize("contract, name, newline", [(SHOP_ORDERS, "orders_20261119.csv", "\n"),
                                                     (ERP_SALES, "sales_20261119.csv", "\r\n")])
def test_unit_separator_refuses_the_file(tmp_path, contract, name, newline):
    """Lines are read whole by splitting on 0x1F: a file containing it (and bad bytes after it, which that
    split would hide) is refused with the line, never loaded with the rest of the line cut off."""
    paths = data_paths(tmp_path)
    path = write_table_file(paths.landing, DUMP, contract, name, [], newline=newline)
    path.write_bytes(path.read_bytes() + b"1001,W-1001\x1f\xff\xfe broken" + newline.encode())
    with pytest.raises(UndecodableFileError, match=rf"{name}: the control byte 0x1F .* at byte \d+ \(line 2\)"):
        load_partition(contract, DUMP, paths)
    assert not paths.raw.exists()


def test_undecodable_cp1251(tmp_path):
    paths = data_paths(tmp_path)
    path = write_table_file(paths.landing, DUMP, ERP_SALES, "sales_20261119.csv", [], newline="\r\n")
    path.write_bytes(path.read_bytes() + b"\x98\r\n")  # 0x98 is the one byte cp1251 leaves undefined
    with pytest.raises(UndecodableFileError, match=r"not valid cp1251 at byte \d+ \(line 2, bytes 98 0d 0a\)"):
        load_partition(ERP_SALES, DUMP, paths)
    assert not paths.raw.exists()


def test_rerun_replaces_partition_exactly(loaded):
    import duckdb

    def rows():
        part = loaded.raw_partition("shop", "orders", DUMP)
        return duckdb.connect().execute(
            f"select * exclude (_loaded_at) from read_parquet('{part}/*.parquet') order by _line_number"
        ).fetchall()

    first = rows()
    load_partition(SHOP_ORDERS, DUMP, loaded)
    assert rows() == first
    write_table_file(loaded.landing, DUMP, SHOP_ORDERS, "orders_20261119.csv", [ORDER, ORDER.replace("1001", "1003")])
    load_partition(SHOP_ORDERS, DUMP, loaded)
    assert len(rows()) == 2  # replaced, not appended
    assert not any(p.name.startswith(".") for p in loaded.lake.rglob("*")), "no scratch or retired folders left"
