"""The benchmark keeps the state before the incremental night and puts it back for every round: what a night
writes (a lake partition swapped in, rows in the warehouse, exports, validation results) is undone, and the
kept copy survives the nights it is put back for."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pytest

from benchmarks.monitor import folder_bytes
from benchmarks.night_state import restore_state, save_state, state_fingerprint

WAREHOUSE = Path("warehouse") / "cdp.duckdb"
PARTITION = Path("lake") / "raw" / "shop" / "orders" / "dump_date=2026-01-01"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder as a full night leaves it: one lake partition, a warehouse, an export, a validation result."""
    root = tmp_path / "data"
    (root / PARTITION).mkdir(parents=True)
    (root / "warehouse").mkdir()
    with duckdb.connect(str(root / WAREHOUSE)) as con:
        con.execute("create table orders as select range as order_id, range * 1.5 as amount from range(5000)")
        con.execute(f"copy orders to '{root / PARTITION / 'data-000000.parquet'}' (format parquet)")
    (root / "exports" / "braze").mkdir(parents=True)
    (root / "exports" / "braze" / "audience.csv").write_text("customer_id\n1\n2\n")
    (root / "quality").mkdir()
    (root / "quality" / "validated.json").write_text('{"passed": true}')
    (root / "landing").mkdir()
    (root / "landing" / "orders.csv").write_text("order_id\n1\n")
    return root


def a_night(root: Path, day: str) -> None:
    """What a night writes: a new partition and a replaced one (written aside and renamed over, as the loader
    does), rows in the warehouse file, a new export, a validation result rewritten in place."""
    for partition in (PARTITION, PARTITION.with_name(f"dump_date={day}")):
        staged = root / "lake" / f".load-{uuid.uuid4().hex[:8]}"
        staged.mkdir()
        with duckdb.connect() as con:
            con.execute(f"copy (select {day[-2:]}::int as order_id) to '{staged / 'data-000000.parquet'}' (format parquet)")
        target = root / partition
        if target.exists():
            target.rename(target.with_name(f".{target.name}.old"))
        staged.rename(target)
    with duckdb.connect(str(root / WAREHOUSE)) as con:
        con.execute("insert into orders select range + 5000, 1.0 from range(100000)")
    (root / "exports" / "braze" / f"audience-{day}.csv").write_text("customer_id\n3\n")
    (root / "quality" / "validated.json").write_text('{"passed": false}')


def warehouse_orders(root: Path) -> int:
    with duckdb.connect(str(root / WAREHOUSE), read_only=True) as con:
        return con.sql("select count(*) from orders").fetchall()[0][0]


def test_each_round_starts_from_the_state_kept(data: Path, tmp_path: Path):
    kept = tmp_path / "kept"
    before = save_state(data, kept)
    assert before["files"] == 4 and before == state_fingerprint(data)
    lake_file = data / PARTITION / "data-000000.parquet"
    lake_rows = duckdb.sql(f"select count(*) from '{lake_file}'").fetchall()[0][0]

    for day in ("2026-01-02", "2026-01-03"):
        a_night(data, day)
        assert state_fingerprint(data) != before
        assert restore_state(data, kept, before) == before
        assert warehouse_orders(data) == 5000
        assert duckdb.sql(f"select count(*) from '{lake_file}'").fetchall()[0][0] == lake_rows
        assert not (data / PARTITION.with_name(f"dump_date={day}")).exists()
        assert sorted(p.name for p in (data / "exports" / "braze").iterdir()) == ["audience.csv"]
        assert (data / "quality" / "validated.json").read_text() == '{"passed": true}'
    assert (data / "landing" / "orders.csv").read_text() == "order_id\n1\n", "the landing zone is not state"


def test_the_lake_is_linked_and_the_warehouse_copied(data: Path, tmp_path: Path):
    kept = tmp_path / "kept"
    save_state(data, kept)
    lake_file = PARTITION / "data-000000.parquet"
    assert (kept / lake_file).stat().st_ino == (data / lake_file).stat().st_ino
    # The warehouse is written in place: a link would carry the night's writes into the kept copy.
    assert (kept / WAREHOUSE).stat().st_ino != (data / WAREHOUSE).stat().st_ino
    assert (kept / WAREHOUSE).read_bytes() == (data / WAREHOUSE).read_bytes()
    # What the disk holds: the linked lake once, the copied folders twice.
    copied = sum(folder_bytes(kept / name) for name in ("warehouse", "exports", "quality"))
    both = tmp_path / "both"
    both.mkdir()
    (data).rename(both / "data")
    kept.rename(both / "kept")
    assert folder_bytes(both) == folder_bytes(both / "data") + copied < folder_bytes(both / "data") + folder_bytes(both / "kept")


def test_a_kept_state_that_changed_is_refused(data: Path, tmp_path: Path):
    kept = tmp_path / "kept"
    before = save_state(data, kept)
    (kept / "exports" / "braze" / "stray.csv").write_text("customer_id\n9\n")
    with pytest.raises(RuntimeError, match="differs from the one kept") as refused:
        restore_state(data, kept, before)
    assert str(kept) in str(refused.value) and "5 files" in str(refused.value)


def test_putting_back_without_keeping_first_is_refused(data: Path, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="save_state must run before"):
        restore_state(data, tmp_path / "never-kept", state_fingerprint(data))
