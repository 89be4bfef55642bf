"""The customers records leave are recorded, and the profiles derive them again from that record
(dbt_project/macros/departed_values.sql).

int_records_resolved records in departed_values the customer each record had before a build rewrote it with
another customer or dropped it. int_customer_profiles_survived then re-derives the customers of the records
re-resolved since and the customers records left, instead of comparing every customer's records with the
fingerprint its profile keeps. It falls back to that comparison when the record does not reach back to its
last build or the source priorities were edited. Each case must give what a full build of the profiles gives.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import data_paths
from tests.conftest import dbt_target_dir, run_dbt

pytestmark = pytest.mark.slow

PROFILES = "int_customer_profiles_survived"
RECORDS = "model.retail_cdp.int_records_resolved"
# The profile columns a full build gives as an incremental one does (the stamps say when a row was written).
STAMPS = ("changed_at", "written_at")


def _connect(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(data_paths(root).warehouse))


def _compiled_profiles(root: Path) -> str:
    """The SQL the last dbt run on `root` ran for the profiles."""
    results = json.loads((dbt_target_dir(root) / "run_results.json").read_text())["results"]
    return next(r["compiled_code"] for r in results if r["unique_id"] == f"model.retail_cdp.{PROFILES}")


def _read_departures(sql: str) -> bool:
    """Whether the profiles' build chose its customers from the departures (else every fingerprint): the table
    read, not the word in the model's comments."""
    return '"departed_values"' in sql


def _profiles(con: duckdb.DuckDBPyConnection) -> set[tuple]:
    return set(con.execute(f"select * exclude ({', '.join(STAMPS)}) from {PROFILES}").fetchall())


def _assert_profiles_equal_a_full_build(root: Path) -> None:
    with _connect(root) as con:
        incremental = _profiles(con)
    built = run_dbt(root, "run", "--select", PROFILES, "--full-refresh")
    assert built.returncode == 0, built.stdout[-3000:]
    with _connect(root) as con:
        full = _profiles(con)
    assert incremental == full, (len(incremental - full), len(full - incremental))


def _build(root: Path, selector: str) -> None:
    built = run_dbt(root, "run", "--select", selector)
    assert built.returncode == 0, built.stdout[-3000:]


def test_the_record_starts_at_the_first_full_build(two_nights):
    """The first sample night builds int_records_resolved in full, and on-run-end starts its record there, so the
    record reaches back to the profiles' first build and the second night's profiles can read it
    (tests/test_incremental.py checks that night, and a later one whose re-sent dump merges two customers,
    against a full build)."""
    with duckdb.connect(str(data_paths(two_nights.root).warehouse), read_only=True) as con:
        first_build = con.execute("select min(changed_at) from int_records_resolved").fetchone()[0]
        start = con.execute(
            "select departed_at from departed_values where model_id = ? and departed_value is null", [RECORDS]
        ).fetchall()
    assert start == [(first_build,)]


def test_a_customer_merged_away_is_deleted_and_the_survivor_derived_again(warehouse_copy):
    """Every identifier of one customer moves to another, as identity resolution writes a merge. The records
    are rewritten with the surviving customer and the merged one is recorded as departed; the profiles then
    delete the merged customer's profile, although no record names it any more, and derive the survivor's from
    both customers' records."""
    with _connect(warehouse_copy) as con:
        merged, survivor = (row[0] for row in con.execute(f"""
            select customer_id from {PROFILES} where record_count between 2 and 5 order by customer_id limit 2
        """).fetchall())
        records_before = dict(con.execute(
            f"select customer_id, record_count from {PROFILES} where customer_id in (?, ?)", [merged, survivor]
        ).fetchall())
        con.execute("""
            update int_identifiers_resolved
            set customer_id = ?, changed_at = (select max(changed_at) + interval 1 second from int_records_resolved)
            where customer_id = ?
        """, [survivor, merged])
    _build(warehouse_copy, f"int_records_resolved {PROFILES}")

    assert _read_departures(_compiled_profiles(warehouse_copy))
    with _connect(warehouse_copy) as con:
        departed = con.execute(
            "select departed_value from departed_values where model_id = ? and departed_at = "
            "(select max(changed_at) from int_records_resolved)", [RECORDS]).fetchall()
        profiles = dict(con.execute(
            f"select customer_id, record_count from {PROFILES} where customer_id in (?, ?)", [merged, survivor]
        ).fetchall())
    assert departed == [(merged,)]
    assert profiles == {survivor: records_before[merged] + records_before[survivor]}
    _assert_profiles_equal_a_full_build(warehouse_copy)


def test_edited_source_priorities_derive_every_profile_again(warehouse_copy):
    """The loyalty program and the shop accounts swap priorities (an analyst edits the seed): no record moved,
    yet a profile may now take its name from another record. The next build compares every customer's records
    and rewrites every profile with the new priorities; the build after reads the departures again and
    rewrites nothing."""
    with _connect(warehouse_copy) as con:
        con.execute("""
            update main_settings.source_priority
            set priority = case record_source when 'loyalty_member' then 2 else 1 end
            where record_source in ('loyalty_member', 'shop_customer')
        """)
        profiles = con.execute(f"select count(*) from {PROFILES}").fetchone()[0]
    _build(warehouse_copy, PROFILES)

    assert not _read_departures(_compiled_profiles(warehouse_copy))
    with _connect(warehouse_copy) as con:
        rewritten, fingerprints = con.execute(
            f"select count(*) filter (where written_at = (select max(written_at) from {PROFILES})), "
            f"count(distinct priorities_fingerprint) from {PROFILES}").fetchone()
        last_written = con.execute(f"select max(written_at) from {PROFILES}").fetchone()[0]
    assert (rewritten, fingerprints) == (profiles, 1)

    _build(warehouse_copy, PROFILES)
    assert _read_departures(_compiled_profiles(warehouse_copy))
    with _connect(warehouse_copy) as con:
        assert con.execute(f"select max(written_at) from {PROFILES}").fetchone()[0] == last_written
    _assert_profiles_equal_a_full_build(warehouse_copy)


def test_the_profiles_read_the_departures_only_when_the_record_reaches_back(warehouse_copy):
    """On-run-end drops the departures older than departures_kept_days and starts the record there. A model
    whose last build is older than the record's start compares every fingerprint instead. A full build of
    int_records_resolved records nothing and starts the record over: the profiles built next compare every
    fingerprint (also when that start is lost, as when a run stops before on-run-end: the rows all newer than
    the profiles' last build tell), and the build after that reads the record again."""
    with _connect(warehouse_copy) as con:
        start = con.execute("select departed_at from departed_values where model_id = ? and departed_value is null",
                            [RECORDS]).fetchone()
        assert start is not None, "the first sample night, a full build, should have started the record"
        con.executemany("insert into departed_values values (?, ?, ?)", [
            (RECORDS, "departed long ago", "2000-01-01"), (RECORDS, "departed later", "2100-01-01")])
        con.execute("update departed_values set departed_at = '1999-01-01' "
                    "where model_id = ? and departed_value is null", [RECORDS])
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    _build(warehouse_copy, "int_as_of_date")
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    with _connect(warehouse_copy) as con:
        kept = con.execute(
            "select coalesce(departed_value, '(start)'), departed_at from departed_values where model_id = ? "
            "and (departed_value is null or departed_value like 'departed %') order by 1", [RECORDS]).fetchall()
    assert [value for value, _ in kept] == ["(start)", "departed later"], kept
    record = dict(kept)
    assert before - timedelta(days=30, minutes=1) <= record["(start)"] <= after - timedelta(days=30), record

    with _connect(warehouse_copy) as con:
        con.execute("update departed_values set departed_at = '2100-01-01' "
                    "where model_id = ? and departed_value is null", [RECORDS])
    _build(warehouse_copy, PROFILES)
    assert not _read_departures(_compiled_profiles(warehouse_copy))
    with _connect(warehouse_copy) as con:
        con.execute("update departed_values set departed_at = ? where model_id = ? and departed_value is null",
                    [record["(start)"], RECORDS])
    _build(warehouse_copy, PROFILES)
    assert _read_departures(_compiled_profiles(warehouse_copy))

    built = run_dbt(warehouse_copy, "run", "--select", "int_records_resolved", "--full-refresh")
    assert built.returncode == 0, built.stdout[-3000:]
    with _connect(warehouse_copy) as con:
        restarted = con.execute("select departed_value, departed_at from departed_values where model_id = ?",
                                [RECORDS]).fetchall()
        rebuilt_at = con.execute("select max(changed_at) from int_records_resolved").fetchone()[0]
        assert restarted == [(None, rebuilt_at)]
        con.execute("update departed_values set departed_at = ? where model_id = ?", [record["(start)"], RECORDS])
    _build(warehouse_copy, PROFILES)
    assert not _read_departures(_compiled_profiles(warehouse_copy))
    _build(warehouse_copy, PROFILES)
    assert _read_departures(_compiled_profiles(warehouse_copy))
    _assert_profiles_equal_a_full_build(warehouse_copy)
