"""Incremental nights give the warehouse a full rebuild would give.

The sample retailer is built night by night (all dumps but the last, then the last one, which the incremental
models read on their own; it also returns an order of the first dump), and the same lake is built again in
one full build. Every table and view must hold the same rows, value for value, apart from the identity change
log, which records history by design.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pytest

from orchestration.settings import data_paths
from tests.conftest import (
    change_log_out_of_date, dbt_target_dir, delete_customers_as_the_model_does, materialize_ingest,
    materialize_warehouse, run_dbt, warehouse_connection,
)

pytestmark = pytest.mark.slow

# Columns that legitimately differ between two builds of the same data: when a row last changed or was written.
BUILD_DEPENDENT_COLUMNS = {"changed_at", "linking_changed_at", "staged_at", "written_at"}
# Columns that record history a full build never saw: the logins earlier versions of an event carried.
HISTORY_COLUMNS = {"earlier_logins"}
# What staging does to a row it changes, for the tests that change staged rows by hand: stamp it, so the models
# that read what was staged since they last ran see it.
RESTAGED = "staged_at = now() at time zone 'UTC'"
# Likewise for the per-customer models that stamp the rows they write (changed_at).
RESTAMPED = "changed_at = now() at time zone 'UTC'"
# Relations whose content is history, not a function of the lake.
HISTORY_RELATIONS = {
    "identity_change_log", "tests_passed_through", "deleted_keys", "departed_values", "as_of_dates_built",
}
# Rows that record history inside a relation otherwise a function of the lake: the removal markers of the
# identifiers records dropped (a full build never had them). Compared without them; tests check them apart.
HISTORY_ROWS = {"int_identifiers_observed_with_removals": "is_removed"}
INCREMENTAL_MODELS = {
    "stg_web__events", "stg_esp__activity", "stg_erp__sales_lines", "stg_pos__receipts",
    "stg_pos__receipt_lines", "stg_shop__orders", "stg_shop__order_items",
    "int_web_events_resolved", "int_esp_activity_resolved",
    "int_identifiers_observed_with_removals", "int_identifiers_assessed", "int_identity_edges",
    "int_identifiers_clustered",
    "int_identifiers_resolved", "int_records_resolved", "int_orders_unified", "int_order_lines_unified",
    "int_products_assembled",
    "int_customer_profiles_survived", "int_customer_channels_assessed", "int_customer_orders_summarized",
    "int_customer_engagement_summarized", "int_customers_assembled", "int_customer_rfm_scored",
}


def _relations(con) -> list[str]:
    return [
        name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1"
        ).fetchall()
        if name not in HISTORY_RELATIONS
    ]


def _differences(con, relation: str) -> tuple[int, int]:
    """Rows only in the night-by-night build, and rows only in the full build (multiset difference)."""
    columns = [
        name for (name,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'main' and table_name = ? "
            "order by ordinal_position", [relation]
        ).fetchall()
        if name not in BUILD_DEPENDENT_COLUMNS | HISTORY_COLUMNS
    ]
    select = ", ".join(f'"{c}"' for c in columns)
    current = f"where not ({HISTORY_ROWS[relation]})" if relation in HISTORY_ROWS else ""
    nightly = f'select {select} from nightly.main."{relation}" {current}'
    full = f'select {select} from full_build.main."{relation}" {current}'
    only_nightly = con.execute(f"select count(*) from ({nightly} except all {full})").fetchone()[0]
    only_full = con.execute(f"select count(*) from ({full} except all {nightly})").fetchone()[0]
    return only_nightly, only_full


def _compare(nightly_root, full_root) -> dict[str, tuple[int, int]]:
    con = duckdb.connect()
    con.execute(f"attach '{data_paths(nightly_root).warehouse}' as nightly (read_only)")
    con.execute(f"attach '{data_paths(full_root).warehouse}' as full_build (read_only)")
    con.execute("use nightly")
    relations = _relations(con)
    assert INCREMENTAL_MODELS <= set(relations)
    return {relation: _differences(con, relation) for relation in relations}


def _tables_and_types(root):
    with warehouse_connection(root) as con:
        return dict(con.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'main'"
        ).fetchall())


def test_incremental_night_equals_a_full_build(two_nights, two_nights_rebuilt):
    differences = _compare(two_nights.root, two_nights_rebuilt)
    assert {r: d for r, d in differences.items() if d != (0, 0)} == {}
    assert _tables_and_types(two_nights.root) == _tables_and_types(two_nights_rebuilt)
    with warehouse_connection(two_nights.root) as con:
        # The night really ran incrementally: rows of the first night keep their earlier load time.
        loads = con.execute("select count(distinct loaded_at) from stg_web__events").fetchone()[0]
        # ... and it changed a stored order: the returned order's lines were rewritten, not only new ones added.
        statuses = con.execute(
            "select order_status, count(*) from int_order_lines_unified where order_id = ? group by 1",
            [f"shop-{two_nights.returned_order_id}"],
        ).fetchall()
    assert loads >= 2
    assert len(statuses) == 1 and statuses[0][0] == "returned" and statuses[0][1] >= 1, statuses


def test_a_night_with_nothing_new_changes_nothing(two_nights, two_nights_rebuilt, dagster_instance):
    """Rerunning the warehouse without new dumps is safe: same rows everywhere."""
    assert materialize_warehouse(two_nights.root, dagster_instance).success
    differences = _compare(two_nights.root, two_nights_rebuilt)
    assert {r: d for r, d in differences.items() if d != (0, 0)} == {}


STAGED_IN_PLACE = (
    # staging model, its key, its lake table, the key's column in the dump file
    ("stg_shop__customers", "shop_user_id", "shop/customers", "user_id"),
    ("stg_loyalty__members", "loyalty_member_id", "loyalty/members", "member_id"),
)


def test_staged_accounts_and_members_follow_the_deliveries_the_lake_holds(two_nights, dagster_instance, tmp_path):
    """Shop accounts and loyalty members keep the latest update of each key, not the latest delivery, so a night
    stages again the keys delivered since and those whose staged row came from a delivery a re-sent dump
    replaced, over all their raw rows.

    The last dump is sent again with one new account and one new member; then once more without them and
    without the newest row of a key an earlier dump delivered too. Each night must equal a full build of both
    staging models: the new keys staged, then gone, the other key staged from its earlier row again. The
    observations of identity resolution, which derive again only the keys staged since and those staging
    deleted, must follow: the new keys' records observed, then left as removal markers. A night with nothing
    new stages no row again.
    """
    root = tmp_path / "data"
    shutil.copytree(two_nights.root, root, ignore=shutil.ignore_patterns("exports", "quality"))
    paths = data_paths(root)
    last_dump = max(p.name for p in paths.landing.iterdir())
    models = [model for model, *_ in STAGED_IN_PLACE]
    files, new_keys, earlier_keys, original = {}, {}, {}, {}
    for model, key, table, file_key in STAGED_IN_PLACE:
        source, name = table.split("/")
        (data_file,) = (paths.landing / last_dump / source).glob(f"{name}_*.csv")
        original[model] = data_file.read_text(encoding="utf-8")
        header, *lines = original[model].rstrip("\n").split("\n")
        position = header.split(",").index(file_key)
        rows = [line.split(",") for line in lines]
        delivered_before = {key_value for (key_value,) in duckdb.sql(
            f"select distinct {file_key} from read_parquet('{paths.lake}/raw/{table}/*/*.parquet') "
            f"where _dump_date < '{last_dump}'").fetchall()}
        earlier_keys[model] = next(int(row[position]) for row in rows
                                   if row[position].isdigit() and int(row[position]) in delivered_before
                                   and sum(other[position] == row[position] for other in rows) == 1)
        # A copy of the first well-formed row under a key nobody has, with no email or phone to resolve.
        new_row = next(list(row) for row in rows if len(row) == len(header.split(",")) and row[position].isdigit())
        new_keys[model] = 10**9 + int(new_row[position])
        new_row[position] = str(new_keys[model])
        for column in ("email", "phone"):
            new_row[header.split(",").index(column)] = ""
        files[model] = (data_file, header, lines, position)
        data_file.write_text(original[model] + ",".join(new_row) + "\n", encoding="utf-8")

    observations = "int_identifiers_observed_with_removals"
    records = {model: f"{record_source}:{new_keys[model]}"
               for model, record_source in zip(models, ("shop_customer", "loyalty_member"))}

    def night() -> dict:
        assert all(r.success for r in materialize_ingest(root, dagster_instance, [last_dump]))
        built = run_dbt(root, "run", "--select", " ".join([*models, observations]))
        assert built.returncode == 0, built.stdout[-3000:]
        assert _differing_from_full_builds(root, models) == {}
        assert _full_build_differences(root, observations, ignored=("changed_at", "is_removed"),
                                       stored_rows="where not is_removed") == (0, 0)
        with warehouse_connection(root) as con:
            return {model: (
                con.execute(f"select count(*) from {model} where {key} = ?", [new_keys[model]]).fetchone()[0],
                con.execute(f"select dump_date < ? from {model} where {key} = ?",
                            [last_dump, earlier_keys[model]]).fetchall(),
                con.execute(f"select list(distinct is_removed) from {observations} where record_id = ?",
                            [records[model]]).fetchone()[0],
            ) for model, key, *_ in STAGED_IN_PLACE}

    assert night() == {model: (1, [(False,)], [False]) for model in models}

    for model, (data_file, header, lines, position) in files.items():
        kept = [line for line in lines if line.split(",")[position] != str(earlier_keys[model])]
        data_file.write_text("\n".join([header, *kept, ""]), encoding="utf-8")
    assert night() == {model: (0, [(True,)], [True]) for model in models}

    with warehouse_connection(root) as con:
        newest = {model: con.execute(f"select max(staged_at) from {model}").fetchone()[0] for model in models}
    built = run_dbt(root, "run", "--select", " ".join(models))
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(root) as con:
        restaged = {model: con.execute(f"select count(*) from {model} where staged_at > ?",
                                       [newest[model]]).fetchone()[0] for model in models}
    assert restaged == dict.fromkeys(models, 0)


def _full_build_differences(root, model: str, *dbt_args: str, ignored: tuple[str, ...] = (),
                            stored_rows: str = "") -> tuple[int, int]:
    """Rows only in the stored `model`, and rows only in what a full build of it gives now (columns `ignored`
    left out of both: when a row was written). `stored_rows`: a where clause leaving out stored rows a full
    build never has (the removal markers)."""
    return _full_builds_differences(root, (model,), *dbt_args, ignored=ignored, stored_rows=stored_rows)[model]


def _full_builds_differences(root, models, *dbt_args: str,
                             ignored: tuple[str, ...] | dict[str, tuple[str, ...]] = (),
                             stored_rows: str = "") -> dict[str, tuple[int, int]]:
    """`_full_build_differences` for each of `models`, compiled in one dbt invocation. `ignored`: the columns
    left out of every model, or of each model by name."""
    compiled = run_dbt(root, "compile", "--full-refresh", "--select", " ".join(models), *dbt_args)
    assert compiled.returncode == 0, compiled.stdout[-3000:]
    differences = {}
    # dbt ran in the data directory (run_dbt): the compiled SQL reads the lake relative to it.
    with warehouse_connection(root) as con, contextlib.chdir(root):
        for model in models:
            left_out = ignored.get(model, ()) if isinstance(ignored, dict) else ignored
            columns = f"* exclude ({', '.join(left_out)})" if left_out else "*"
            (full_build_sql,) = (dbt_target_dir(root) / "compiled").rglob(f"{model}.sql")
            full = f"(select {columns} from ({full_build_sql.read_text(encoding='utf-8')}))"
            stored = f"select {columns} from {model} {stored_rows}"
            differences[model] = tuple(
                con.execute(f"select count(*) from ({left} except all {right})").fetchone()[0]
                for left, right in ((stored, full), (full, stored))
            )
    return differences


def _differing_from_full_builds(root, models) -> dict[str, tuple[int, int]]:
    """The models whose stored rows differ from a full build of each (`_full_build_differences`, leaving out the
    columns that say when a row was written), with their differences: empty when every model equals its build."""
    with warehouse_connection(root) as con:
        stamps = {model: tuple(sorted((BUILD_DEPENDENT_COLUMNS | HISTORY_COLUMNS) & {
            name for (name,) in con.execute(
                "select column_name from information_schema.columns where table_name = ?", [model]).fetchall()
        })) for model in models}
    differences = _full_builds_differences(root, models, ignored=stamps)
    return {model: d for model, d in differences.items() if d != (0, 0)}


def _rebuild_observations_in_full(root) -> None:
    """Rebuild int_identifiers_observed_with_removals alone from staging: a table with no removal markers."""
    rebuilt = run_dbt(root, "run", "--full-refresh", "--select", "int_identifiers_observed_with_removals")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]


# The per-customer models that follow the as-of date, in build order: the two summaries read it, and the customer
# 360 re-assembles the customers whose summaries they rewrote or deleted.
AS_OF_MODELS = ("int_customer_orders_summarized", "int_customer_engagement_summarized", "int_customers_assembled")


def _summaries_as_of(root, as_of: date) -> tuple[dict[str, tuple], dict[str, tuple[int, int]]]:
    """Build the order and engagement summaries and the customer 360 incrementally as of `as_of`.

    Returns each table's fingerprint (rows, sum of the hashes of its values, without when each row was written)
    and its differences from what a full build as of that date gives (rows only in the table, rows only in the
    full build).
    """
    as_of_var = f"{{as_of_date: '{as_of.isoformat()}'}}"
    built = run_dbt(root, "run", "--select", " ".join(("int_as_of_date", *AS_OF_MODELS)), "--vars", as_of_var)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(root) as con:
        fingerprints = {model: con.execute(
            f"select count(*), sum(hash(*columns(* exclude (changed_at))))::hugeint from {model}").fetchone()
            for model in AS_OF_MODELS}
    return fingerprints, _full_builds_differences(root, AS_OF_MODELS, "--vars", as_of_var, ignored=("changed_at",))


def test_moving_the_as_of_date_re_summarizes_the_customers_it_touches(warehouse_copy):
    """The order summaries re-summarize only customers whose fingerprint changed; the as-of date is part of it.
    The engagement summary follows it, and the customer 360 re-assembles the customers they touched.

    Thirty days later, a month of orders leaves the two-year window; a hundred days earlier, the orders and
    events since leave the summaries (customers who bought or visited only since then lose theirs, and the 360
    falls back to a customer's without them); back to the night's date, every summary is what it was. Each time
    every table equals a full build as of that date.
    """
    with warehouse_connection(warehouse_copy) as con:
        as_of = con.execute("select as_of_date from int_as_of_date").fetchone()[0]
        night = {model: con.execute(
            f"select count(*), sum(hash(*columns(* exclude (changed_at))))::hugeint from {model}").fetchone()
            for model in AS_OF_MODELS}
    previous = night
    for moved in (as_of + timedelta(days=30), as_of - timedelta(days=100), as_of):
        fingerprints, differences = _summaries_as_of(warehouse_copy, moved)
        assert differences == dict.fromkeys(AS_OF_MODELS, (0, 0)), f"as of {moved}: (only incremental, only full)"
        changed = {model for model in AS_OF_MODELS if fingerprints[model] != previous[model]}
        assert changed == set(AS_OF_MODELS), f"as of {moved}: only {changed} changed, the test moved too little"
        if moved < as_of:
            lost = {model: night[model][0] - fingerprints[model][0] for model in AS_OF_MODELS[:2]}
            assert min(lost.values()) > 0, f"as of {moved}: no customer lost a summary ({lost})"
        previous = fingerprints
    assert previous == night
    # Each build of the two summaries recorded its as-of date; after each run only the newest record is kept.
    with warehouse_connection(warehouse_copy) as con:
        assert con.execute("select model_id, as_of_date from as_of_dates_built order by 1").fetchall() == [
            (f"model.retail_cdp.{model}", as_of) for model in sorted(AS_OF_MODELS[:2])]


# Per-customer models that find the customers to derive again from change lists, and compare every customer's
# inputs with a stored fingerprint only when a record they read does not reach back to their last build:
# (model, its fingerprint column, its build stamp, the record to drop to make it fall back).
FINGERPRINT_FALLBACKS = [
    ("int_customer_orders_summarized", "orders_fingerprint", "changed_at",
     "delete from as_of_dates_built where model_id = 'model.retail_cdp.int_customer_orders_summarized'"),
    ("int_customer_channels_assessed", "consent_fingerprint", "written_at",
     "delete from departed_values where model_id = 'model.retail_cdp.int_records_resolved'"),
    # The engagement summary keeps no fingerprint of its inputs: without the record it summarizes every customer
    # again and writes those whose values' fingerprint differs.
    ("int_customer_engagement_summarized", "values_fingerprint", "changed_at",
     "delete from departed_values where model_id = 'model.retail_cdp.int_web_events_resolved'"),
]


@pytest.mark.parametrize(("model", "fingerprint", "stamp", "drop_the_record"), FINGERPRINT_FALLBACKS,
                         ids=[fallback[0] for fallback in FINGERPRINT_FALLBACKS])
def test_fingerprints_are_compared_only_when_the_change_lists_do_not_reach_back(
        warehouse_copy, model, fingerprint, stamp, drop_the_record):
    """A night finds the customers to derive again from change lists: the order summaries from the orders
    stamped since their last build, the customers orders left (departed_values) and the orders between the last
    build's as-of date and tonight's (as_of_dates_built); contactability from the loyalty members staged and the
    records re-resolved since, and the customers records left (departed_values); the engagement summary from the
    messages and events stamped since, the customers they left, and those between the two as-of dates. None
    compares every customer's inputs or values with the fingerprint its rows keep, so a fingerprint edited by
    hand stays as it is on a night with nothing new. Without the record (the first night after an upgrade, or a
    full build of the records since), the night compares fingerprints again, derives that customer again, and
    equals a full build.
    """
    with warehouse_connection(warehouse_copy) as con:
        edited = con.execute(f"select min(customer_id) from {model} where {fingerprint} <> 0").fetchone()[0]
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute(f"update {model} set {fingerprint} = 0 where customer_id = ?", [edited])
        rows_before = con.execute(f"select * exclude ({fingerprint}) from {model} order by all").fetchall()
        last_stamp = con.execute(f"select max({stamp}) from {model}").fetchone()[0]

    def build_and_read():
        built = run_dbt(warehouse_copy, "run", "--select", model)
        assert built.returncode == 0, built.stdout[-3000:]
        with warehouse_connection(warehouse_copy) as con:
            return (con.execute(f"select distinct {fingerprint} from {model} where customer_id = ?",
                                [edited]).fetchall(),
                    con.execute(f"select * exclude ({fingerprint}) from {model} order by all").fetchall(),
                    con.execute(f"select distinct customer_id from {model} where {stamp} > ?",
                                [last_stamp]).fetchall())

    fingerprints, rows, rewritten = build_and_read()
    assert (fingerprints, rewritten) == ([(0,)], []), "a night with nothing new derived customers again"
    assert rows == rows_before

    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute(drop_the_record)
    fingerprints, rows, rewritten = build_and_read()
    assert fingerprints[0][0] != 0 and len(fingerprints) == 1
    assert rewritten == [(edited,)]
    assert _differing_from_full_builds(warehouse_copy, [model]) == {}


def test_a_consent_staged_alone_reaches_contactability(warehouse_copy):
    """A loyalty member staged again with only its SMS consent changed leaves its record as it was (no identifier
    changed, so identity resolution resolves nothing again): contactability finds the member among those staged
    since its last build, and re-assesses its customer."""
    model = "int_customer_channels_assessed"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        customer, member, had_consent = con.execute(
            f"select customer_id, consent_loyalty_member_id, has_consent from {model} "
            "where channel = 'sms' and consent_loyalty_member_id is not null order by customer_id limit 1"
        ).fetchone()
        con.execute(f"update stg_loyalty__members set has_sms_consent = not has_sms_consent, {RESTAGED} "
                    "where loyalty_member_id = ?", [member])
        records_before = con.execute("select max(changed_at) from int_records_resolved").fetchone()[0]
    built = run_dbt(warehouse_copy, "run", "--select", model)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        has_consent = con.execute(f"select has_consent from {model} where customer_id = ? and channel = 'sms'",
                                  [customer]).fetchone()[0]
        assert con.execute("select max(changed_at) from int_records_resolved").fetchone()[0] == records_before
    assert has_consent is (not had_consent)
    assert _differing_from_full_builds(warehouse_copy, [model]) == {}


def test_a_loyalty_record_moved_to_another_customer_moves_its_consents(warehouse_copy):
    """A loyalty record resolved to another customer, as a merge does: int_records_resolved stamps it and records
    the customer it left. Contactability re-assesses both: the one it joined from the records re-resolved since,
    the one it left from the record of departed values, though neither profile changed."""
    model = "int_customer_channels_assessed"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        left, member = con.execute(
            f"select customer_id, consent_loyalty_member_id from {model} "
            "where channel = 'email' and consent_loyalty_member_id is not null order by customer_id limit 1"
        ).fetchone()
        joined = con.execute(
            f"select customer_id from {model} group by customer_id "
            "having count(consent_loyalty_member_id) = 0 and bool_and(address is not null or channel <> 'email') "
            "order by customer_id limit 1"
        ).fetchone()[0]
        con.execute(f"update int_records_resolved set customer_id = ?, {RESTAMPED} where record_id = ?",
                    [joined, f"loyalty_member:{member}"])
        con.execute("insert into departed_values values "
                    "('model.retail_cdp.int_records_resolved', ?, now() at time zone 'UTC')", [left])
    built = run_dbt(warehouse_copy, "run", "--select", model)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        deciding = dict(con.execute(
            f"select customer_id, consent_loyalty_member_id from {model} "
            "where channel = 'email' and customer_id in (?, ?)", [left, joined]).fetchall())
    assert deciding[joined] == member and deciding[left] != member
    assert _differing_from_full_builds(warehouse_copy, [model]) == {}


def _merge_as_identity_resolution_writes_it(con, merged: str, survivor: str) -> None:
    """Move every identifier of `merged` to `survivor`, stamped after the resolved records' last build."""
    con.execute("""
        update int_identifiers_resolved
        set customer_id = ?, changed_at = (select max(changed_at) + interval 1 second from int_records_resolved)
        where customer_id = ?
    """, [survivor, merged])


def test_a_customer_merged_away_takes_its_engagement_to_the_survivor(warehouse_copy):
    """Every identifier of one customer moves to another, as identity resolution writes a merge. The messages and
    events resolve again to the survivor and record the customer they left (departed_values); the engagement
    summary then deletes the merged customer's summary, although no message or event names it any more, and
    summarizes the survivor's from both customers' messages and events."""
    model = "int_customer_engagement_summarized"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        merged, survivor = (row[0] for row in con.execute(
            f"select customer_id from {model} where last_email_open_date is not null "
            "and last_web_visit_at is not null order by customer_id limit 2").fetchall())
        before = {customer: con.execute(
            f"select last_email_open_date, last_web_visit_at from {model} where customer_id = ?", [customer]
        ).fetchone() for customer in (merged, survivor)}
        _merge_as_identity_resolution_writes_it(con, merged, survivor)
    built = run_dbt(warehouse_copy, "run", "--select",
                    f"int_esp_activity_resolved int_web_events_resolved {model}")
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        departed = con.execute(
            "select distinct model_id from departed_values where departed_value = ? order by 1", [merged]
        ).fetchall()
        after = dict((row[0], row[1:]) for row in con.execute(
            f"select customer_id, last_email_open_date, last_web_visit_at from {model} where customer_id in (?, ?)",
            [merged, survivor]).fetchall())
    # The event tables record the customer their rows left; the summary records the customer it deleted.
    assert departed == [(f"model.retail_cdp.{name}",) for name in (
        "int_customer_engagement_summarized", "int_esp_activity_resolved", "int_web_events_resolved")]
    assert after == {survivor: tuple(max(values) for values in zip(before[merged], before[survivor]))}
    assert _differing_from_full_builds(warehouse_copy, [model]) == {}


# The per-customer models that find the customers merged away among the profiles deleted since their last build
# (departed_values of int_customer_profiles_survived).
MERGED_AWAY_READERS = ("int_customer_channels_assessed", "int_customers_assembled")
PROFILES_DEPARTURES = "delete from departed_values where model_id = 'model.retail_cdp.int_customer_profiles_survived'"


def test_a_customer_merged_away_leaves_contactability_and_the_customer_360(warehouse_copy):
    """Every identifier of one customer moves to another, as identity resolution writes a merge. Its records
    resolve again to the survivor; the profiles delete the merged customer and record it (departed_values).
    Contactability and the customer 360 find it there and delete its rows, and equal full builds."""
    readers = list(MERGED_AWAY_READERS)
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        merged, survivor = (row[0] for row in con.execute(
            "select customer_id from int_customers_assembled semi join int_customer_channels_assessed "
            "using (customer_id) order by customer_id limit 2").fetchall())
        _merge_as_identity_resolution_writes_it(con, merged, survivor)
    built = run_dbt(warehouse_copy, "run", "--select",
                    f"int_records_resolved int_customer_profiles_survived {' '.join(readers)}")
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        recorded = con.execute(
            "select count(*) from departed_values where model_id = ? and departed_value = ?",
            ["model.retail_cdp.int_customer_profiles_survived", merged]).fetchone()[0]
        left = {model: con.execute(f"select count(*) from {model} where customer_id = ?", [merged]).fetchone()[0]
                for model in readers}
    assert recorded == 1
    assert left == dict.fromkeys(readers, 0)
    assert _differing_from_full_builds(warehouse_copy, readers) == {}


@pytest.mark.parametrize("model", MERGED_AWAY_READERS)
def test_customers_merged_away_are_looked_for_among_all_only_without_the_record(warehouse_copy, model):
    """A stored customer with no profile that the profiles never deleted (a row copied by hand under a customer id
    no record has) stays on a night with nothing new: the night looks for the customers merged away among the
    profiles deleted since, not among every stored customer. Without that record (the first night after an
    upgrade, a full build of the profiles since) it compares every stored customer with the profiles, deletes
    the stranger, and equals a full build."""
    stranger = "no-such-customer"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        (copied,) = con.execute(f"select min(customer_id) from {model}").fetchone()
        con.execute(f"insert into {model} by name select * replace (? as customer_id) from {model} "
                    "where customer_id = ?", [stranger, copied])
        (copies,) = con.execute(f"select count(*) from {model} where customer_id = ?", [stranger]).fetchone()

    def build_and_count():
        built = run_dbt(warehouse_copy, "run", "--select", model)
        assert built.returncode == 0, built.stdout[-3000:]
        with warehouse_connection(warehouse_copy) as con:
            return con.execute(f"select count(*) from {model} where customer_id = ?", [stranger]).fetchone()[0]

    assert copies > 0 and build_and_count() == copies
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute(PROFILES_DEPARTURES)
    assert build_and_count() == 0
    assert _differing_from_full_builds(warehouse_copy, [model]) == {}


@pytest.mark.parametrize("summary", ["int_customer_orders_summarized", "int_customer_engagement_summarized"])
def test_customers_whose_summary_went_are_looked_for_among_all_only_without_the_record(warehouse_copy, summary):
    """A customer's summary deleted by hand, which the summary's record does not name, leaves the customer 360 as
    it is on a night with nothing new: the night looks for the customers whose summary went among those the
    summary deleted since. Without that record (the first night after an upgrade, a full build of the summary
    since) it compares every stored customer with the summary, assembles that customer again without it, and
    equals a full build."""
    model = "int_customers_assembled"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        (customer,) = con.execute(f"select min(customer_id) from {summary}").fetchone()
        con.execute(f"delete from {summary} where customer_id = ?", [customer])

    def build_and_read():
        built = run_dbt(warehouse_copy, "run", "--select", model)
        assert built.returncode == 0, built.stdout[-3000:]
        with warehouse_connection(warehouse_copy) as con:
            return con.execute(f"select * from {model} where customer_id = ?", [customer]).fetchall()

    with warehouse_connection(warehouse_copy) as con:
        stored = con.execute(f"select * from {model} where customer_id = ?", [customer]).fetchall()
    assert len(stored) == 1 and build_and_read() == stored
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute(f"delete from departed_values where model_id = 'model.retail_cdp.{summary}'")
    assert build_and_read() != stored
    assert _differing_from_full_builds(warehouse_copy, [model]) == {}


def test_a_new_engagement_window_summarizes_every_customer_again(warehouse_copy):
    """The engagement window's length is recorded with each build's as-of date: a night with another length
    finds no change in the lists of messages and events, yet every customer's recent web events are counted
    over another window. It summarizes every customer again and equals a full build with that window."""
    model = "int_customer_engagement_summarized"
    narrower = "{engagement_window_days: 7}"
    with warehouse_connection(warehouse_copy) as con:
        counts_before = dict(con.execute(f"select customer_id, recent_web_event_count from {model}").fetchall())
    built = run_dbt(warehouse_copy, "run", "--select", model, "--vars", narrower)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        counts = dict(con.execute(f"select customer_id, recent_web_event_count from {model}").fetchall())
    assert sum(counts_before[customer] != count for customer, count in counts.items()) > 0
    assert _full_builds_differences(warehouse_copy, [model], "--vars", narrower, ignored=("changed_at",)) == {
        model: (0, 0)}


def _assert_moving_the_as_of_date_rewrites_nothing(root, model: str, stamps: dict, as_of, view: str,
                                                   recency_column: str) -> None:
    """Move the as-of date thirty days and build `model` and the `view` over it: no stored row of `model` is
    rewritten (its stamps stay `stamps`), and the view's recency and as-of date follow the new date."""
    moved = as_of + timedelta(days=30)
    moved_var = f"{{as_of_date: '{moved.isoformat()}'}}"
    built = run_dbt(root, "run", "--select", f"int_as_of_date {model} {view}", "--vars", moved_var)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(root) as con:
        assert dict(con.execute(f"select customer_id, changed_at from {model}").fetchall()) == stamps
        wrong_recency = con.execute(
            f"select count(*) filter (where {recency_column} is distinct from (cast(? as date) - last_order_date)), "
            "count(*) filter (where as_of_date <> cast(? as date)), count(*) filter (where last_order_date is not null) "
            f"from {view}", [moved, moved]).fetchone()
    assert wrong_recency[:2] == (0, 0) and wrong_recency[2] > 100


def test_customers_are_rewritten_only_when_their_values_change(warehouse_copy):
    """int_customers_assembled writes a customer again only when one of its values changed, and the customers
    view adds the as-of date when it is read, so moving the as-of date rewrites no customer.

    Three customers' order summaries change and a fourth customer leaves the profiles (as a merge does): the
    next build rewrites exactly the three, deletes the fourth and equals a full build. Then the as-of date moves
    thirty days: the view's recency follows it, and no stored customer is rewritten.
    The build reads the inputs' rows stamped since it last ran, so the changed summaries are stamped as a build
    stamps the rows it writes; a fifth customer's summary is rewritten with its values unchanged, and that
    customer is not rewritten. A sixth customer's order summary and the engagement summaries of a customer seen
    on the web and of one seen only in email are gone, as when the as-of date moves back before them (nothing is
    stamped then; the summaries record the customers they delete): the three are rewritten without them.
    """
    model = "int_customers_assembled"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        as_of = con.execute("select as_of_date from int_as_of_date").fetchone()[0]
        buyers = [key for (key,) in con.execute(
            "select customer_id from int_customer_orders_summarized where order_count > 0 "
            "order by customer_id limit 6").fetchall()]
        changed, merged_away, restamped, lost_orders = buyers[:3], buyers[3], buyers[4], buyers[5]
        lost_engagement = [con.execute(
            f"select min(customer_id) from int_customer_engagement_summarized where {seen} "
            "and customer_id not in (?, ?, ?, ?, ?, ?)", buyers).fetchone()[0] for seen in (
                "last_web_visit_at is not null",
                "last_web_visit_at is null and last_email_open_date is not null",
            )]
        assert None not in lost_engagement, "the sample has no customer seen only in email, or none on the web"
        con.execute(f"update int_customer_orders_summarized set net_revenue = net_revenue + 1, {RESTAMPED} "
                    "where customer_id in (?, ?, ?)", changed)
        con.execute(f"update int_customer_orders_summarized set {RESTAMPED} where customer_id = ?", [restamped])
        delete_customers_as_the_model_does(con, "int_customer_orders_summarized", [lost_orders])
        delete_customers_as_the_model_does(con, "int_customer_engagement_summarized", lost_engagement)
        delete_customers_as_the_model_does(con, "int_customer_profiles_survived", [merged_away])
        stamps_before = dict(con.execute(f"select customer_id, changed_at from {model}").fetchall())

    as_of_var = f"{{as_of_date: '{as_of.isoformat()}'}}"
    built = run_dbt(warehouse_copy, "run", "--select", f"{model} customers", "--vars", as_of_var)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        stamps = dict(con.execute(f"select customer_id, changed_at from {model}").fetchall())
        revenue = dict(con.execute(
            "select customer_id, net_revenue from customers where customer_id in (?, ?, ?)", changed).fetchall())
        summaries = dict(con.execute(
            "select customer_id, net_revenue from int_customer_orders_summarized where customer_id in (?, ?, ?)",
            changed).fetchall())
        fallen_back = con.execute(
            "select count(*) filter (where customer_id = ? and not has_purchased and net_revenue = 0), "
            "count(*) filter (where customer_id in (?, ?) and recent_web_event_count = 0 and last_web_visit_at is null "
            "and last_email_open_date is null and last_email_click_date is null) "
            "from customers", [lost_orders, *lost_engagement]).fetchone()
    assert set(stamps) == set(stamps_before) - {merged_away}
    assert sorted(key for key in stamps if stamps[key] != stamps_before[key]) == sorted(
        [*changed, lost_orders, *lost_engagement])
    assert revenue == summaries
    assert fallen_back == (1, 2)
    assert _full_build_differences(warehouse_copy, model, "--vars", as_of_var, ignored=("changed_at",)) == (0, 0)

    _assert_moving_the_as_of_date_rewrites_nothing(warehouse_copy, model, stamps, as_of, "customers",
                                                   "days_since_last_order")


def test_rfm_scores_are_rewritten_only_when_their_values_change(warehouse_copy):
    """int_customer_rfm_scored scores every buyer again but writes a buyer only when one of its values changed,
    and the customer_rfm view adds the as-of date when it is read, so moving the as-of date rewrites no buyer.

    One buyer spends far more (their monetary rank moves, and so do the ranks between), one buyer leaves the
    customers (as a merge does): the next build rewrites exactly the buyers whose values differ from before,
    the big spender among them, deletes the one who left and equals a full build. Then the as-of date moves
    thirty days: the view's recency follows it, and no stored buyer is rewritten.
    """
    model = "int_customer_rfm_scored"
    values = f"select * exclude (changed_at, values_fingerprint) from {model}"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        as_of = con.execute("select as_of_date from int_as_of_date").fetchone()[0]
        (big_spender, left), = [con.execute(
            f"select min(customer_id) filter (where monetary_score = 1), max(customer_id) from {model}").fetchone()]
        con.execute("update int_customers_assembled set net_revenue = net_revenue + 1000000 where customer_id = ?",
                    [big_spender])
        con.execute("delete from int_customers_assembled where customer_id = ?", [left])
        values_before = {row[0]: row for row in con.execute(values).fetchall()}
        stamps_before = dict(con.execute(f"select customer_id, changed_at from {model}").fetchall())

    as_of_var = f"{{as_of_date: '{as_of.isoformat()}'}}"
    built = run_dbt(warehouse_copy, "run", "--select", f"{model} customer_rfm", "--vars", as_of_var)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        values_after = {row[0]: row for row in con.execute(values).fetchall()}
        stamps = dict(con.execute(f"select customer_id, changed_at from {model}").fetchall())
        big_spender_score = con.execute(
            "select monetary_score from customer_rfm where customer_id = ?", [big_spender]).fetchone()[0]
    assert set(stamps) == set(stamps_before) - {left}
    rewritten = {key for key in stamps if stamps[key] != stamps_before[key]}
    assert rewritten == {key for key in values_after if values_after[key] != values_before[key]}
    assert big_spender in rewritten and big_spender_score == 5
    assert len(rewritten) < len(stamps) / 2, "the build rewrote most buyers: it should write only the changed"
    assert _full_build_differences(warehouse_copy, model, "--vars", as_of_var, ignored=("changed_at",)) == (0, 0)

    _assert_moving_the_as_of_date_rewrites_nothing(warehouse_copy, model, stamps, as_of, "customer_rfm",
                                                   "recency_days")


def test_order_lines_leave_with_their_order(warehouse_copy):
    """The lines of an order that int_orders_unified no longer has leave int_order_lines_unified.

    An incremental build of the orders removes only ERP documents (one found to mirror a web order), so the
    lines model compares only ERP lines with the orders; after a full rebuild of the orders, which may leave
    out any order, it compares every line. First an ERP phone order is re-delivered as a web sale quoting a web
    order's number, ahead of that order's mirror in document order: it becomes the mirror (the first wins), so
    the next build removes the document's order and its lines (and the old mirror becomes an order of its own).
    Then a web order leaves staging and the orders are rebuilt in full: the next build of the lines removes that
    order's lines. Each time the lines equal a full build of them.
    """
    lines_model = "int_order_lines_unified"
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        (phone_document,) = con.execute(
            "select source_order_key from int_orders_unified where source_system = 'erp' and sales_channel = 'phone' "
            "and order_type = 'sale' and order_id in (select order_id from int_order_lines_unified) "
            "order by source_order_key limit 1").fetchone()
        mirrored_web_order, gone_web_order = con.execute(
            "select shop_order_number, order_id from int_orders_unified where source_system = 'shop' "
            "and mirrored_erp_document_number > ? and order_id in (select order_id from int_order_lines_unified) "
            "order by mirrored_erp_document_number desc limit 2", [phone_document]).fetchall()
        con.execute(
            "update stg_erp__sales_lines set shop_order_number = ?, sales_channel = 'web', "
            f"loaded_at = now() at time zone 'UTC', {RESTAGED} where erp_document_number = ?",
            [mirrored_web_order[0], phone_document])

    built = run_dbt(warehouse_copy, "run", "--select", f"int_erp_documents_aggregated int_orders_unified {lines_model}")
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        mirrored_by = con.execute(
            "select mirrored_erp_document_number from int_orders_unified where shop_order_number = ? "
            "and source_system = 'shop'", [mirrored_web_order[0]]).fetchone()[0]
        document_lines = con.execute(
            f"select count(*) from {lines_model} where order_id = ?", [f"erp-{phone_document}"]).fetchone()[0]
    assert mirrored_by == phone_document, "the re-delivered document did not become the web order's mirror"
    assert document_lines == 0
    assert _full_build_differences(warehouse_copy, lines_model, ignored=("changed_at",)) == (0, 0)

    gone_order_id = gone_web_order[1]
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute("delete from stg_shop__orders where 'shop-' || shop_order_id = ?", [gone_order_id])
    rebuilt = run_dbt(warehouse_copy, "run", "--full-refresh", "--select", "int_orders_unified")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    built = run_dbt(warehouse_copy, "run", "--select", lines_model)
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        gone_lines = con.execute(
            f"select count(*) from {lines_model} where order_id = ?", [gone_order_id]).fetchone()[0]
    assert gone_lines == 0
    assert _full_build_differences(warehouse_copy, lines_model, ignored=("changed_at",)) == (0, 0)


def test_products_are_assembled_again_only_when_the_lines_or_the_catalogs_changed(warehouse_copy):
    """int_products_assembled assembles every SKU again on a night when a line or a catalog changed, and writes
    nothing on a night when neither did.

    A build with nothing new rewrites no row. Then an ERP order leaves int_orders_unified (as a document found to
    mirror a web order does) and the lines model deletes its lines, writing none: no stamp shows it, but the
    lines carrying a SKU are then fewer than the products count, so the next build assembles every SKU again,
    the order's SKUs count fewer lines, and the table and the products view equal a full build. Then a product
    is renamed in the ERP nomenclature, which staging rebuilds whole every night, so its stamps tell nothing: the
    catalogs' fingerprint does, and the next build gives the product its new name, equal to a full build.
    """
    assembled = "int_products_assembled"
    lines_model = "int_order_lines_unified"

    def stamps() -> dict:
        with warehouse_connection(warehouse_copy) as con:
            return dict(con.execute(f"select sku, changed_at from {assembled}").fetchall())

    def build(*models: str) -> None:
        built = run_dbt(warehouse_copy, "run", "--select", " ".join(models))
        assert built.returncode == 0, built.stdout[-3000:]

    def assert_equal_to_a_full_build() -> None:
        assert _differing_from_full_builds(warehouse_copy, (assembled, "products")) == {}

    stored = stamps()
    build(assembled)
    assert stamps() == stored, "a night with nothing new rewrote products"

    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        (order_id,) = con.execute(
            f"select order_id from {lines_model} where order_id like 'erp-%' and sku is not null "
            "order by order_id limit 1").fetchone()
        leaving = dict(con.execute(
            f"select sku, count(*) from {lines_model} where order_id = ? group by sku", [order_id]).fetchall())
        counted = dict(con.execute(
            f"select sku, order_line_count from {assembled} where sku in (select unnest(?))", [list(leaving)]).fetchall())
        newest_line = con.execute(f"select max(changed_at) from {lines_model}").fetchone()[0]
        con.execute("delete from int_orders_unified where order_id = ?", [order_id])
    build(lines_model)
    with warehouse_connection(warehouse_copy) as con:
        written, left = con.execute(
            f"select count(*) filter (where changed_at > ?), count(*) filter (where order_id = ?) from {lines_model}",
            [newest_line, order_id]).fetchone()
    assert (written, left) == (0, 0), "the lines model should only have deleted the order's lines"

    build(assembled, "products")
    with warehouse_connection(warehouse_copy) as con:
        recounted = dict(con.execute(
            f"select sku, order_line_count from {assembled} where sku in (select unnest(?))", [list(leaving)]).fetchall())
    assert {sku: counted[sku] - recounted.get(sku, 0) for sku in leaving} == leaving
    rewritten = stamps()
    assert all(stamp > stored[sku] for sku, stamp in rewritten.items()), "not every SKU was assembled again"
    assert_equal_to_a_full_build()

    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        (renamed,) = con.execute(
            "select sku from stg_catalog__erp_products where product_name is not null order by sku limit 1").fetchone()
        con.execute("update stg_catalog__erp_products set product_name = 'Renamed in the nomenclature' where sku = ?",
                    [renamed])
    build(assembled, "products")
    with warehouse_connection(warehouse_copy) as con:
        name = con.execute("select product_name from products where sku = ?", [renamed]).fetchone()[0]
    assert name == "Renamed in the nomenclature"
    assert all(stamp > rewritten[sku] for sku, stamp in stamps().items()), "the catalogs' change went unseen"
    assert_equal_to_a_full_build()


def test_a_removed_identifier_leaves_a_marker_until_it_comes_back(warehouse_copy):
    """A shop account loses its phone, carried by no other record: the pair stays as a removal marker, and the
    assessment, the links and the resolved records learn it from the marker alone. The account then changes
    again with the phone still absent (its marker keeps the night it went), and finally gets the phone back
    (the marker becomes the pair again). After each build the three models equal a full build of each.
    """
    identity_models = "int_identifiers_observed_with_removals int_identifiers_assessed int_identity_edges " \
        "int_records_resolved"

    def build_and_compare():
        built = run_dbt(warehouse_copy, "run", "--select", identity_models)
        assert built.returncode == 0, built.stdout[-3000:]
        assert _differing_from_full_builds(warehouse_copy, identity_models.split()[1:]) == {}

    def phone_rows(con, record, phone):
        return con.execute(
            "select is_removed, changed_at from int_identifiers_observed_with_removals "
            "where record_id = ? and identifier_key = ?", [record, f"phone:{phone}"]).fetchall()

    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        user_id, phone = con.execute("""
            select customers.shop_user_id, customers.phone
            from stg_shop__customers as customers
            inner join int_identity_edges as edges
                on edges.record_id = 'shop_customer:' || customers.shop_user_id
                and edges.node_b = 'phone:' || customers.phone
            where not exists (
                select 1 from int_identifiers_observed as others
                where others.identifier_key = 'phone:' || customers.phone
                    and others.record_id <> 'shop_customer:' || customers.shop_user_id
            )
            order by customers.shop_user_id
            limit 1
        """).fetchone()
        con.execute(f"update stg_shop__customers set phone = null, {RESTAGED} where shop_user_id = ?", [user_id])
    record = f"shop_customer:{user_id}"
    build_and_compare()
    with warehouse_connection(warehouse_copy) as con:
        ((removed, went_at),) = phone_rows(con, record, phone)
        assessed = con.execute("select count(*) from int_identifiers_assessed where identifier_key = ?",
                               [f"phone:{phone}"]).fetchone()[0]
    assert removed and assessed == 0

    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute(f"update stg_shop__customers set registered_at = registered_at - interval 1 day, {RESTAGED} "
                    "where shop_user_id = ?", [user_id])
    build_and_compare()
    with warehouse_connection(warehouse_copy) as con:
        assert phone_rows(con, record, phone) == [(True, went_at)]
        rederived = con.execute("select bool_and(changed_at > ?) from int_identifiers_observed_with_removals "
                                "where record_id = ? and not is_removed", [went_at, record]).fetchone()[0]
    assert rederived

    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        con.execute(f"update stg_shop__customers set phone = ?, {RESTAGED} where shop_user_id = ?", [phone, user_id])
    build_and_compare()
    with warehouse_connection(warehouse_copy) as con:
        back = [removed for removed, _ in phone_rows(con, record, phone)]
        assessed = con.execute("select count(*) from int_identifiers_assessed where identifier_key = ?",
                               [f"phone:{phone}"]).fetchone()[0]
    assert back == [False] and assessed == 1


def test_records_gone_from_observations_rebuilt_in_full_leave_the_graph(warehouse_copy):
    """The identity models learn what records dropped from the removal markers; a full rebuild of the
    observations has none, so after one they compare their stored state with the observations instead.

    A shop order that carries linking identifiers, one of them on no other record, is deleted from its staging
    table and the observations alone are rebuilt in full: the order is gone with no marker left. The next
    incremental build must drop the order's links and resolved record and its own identifier, and equal a full
    build of each model.
    """
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        record, own_identifier = con.execute("""
            select observed.record_id, observed.identifier_key
            from int_identifiers_observed as observed
            where observed.record_source = 'shop_order'
                and observed.record_id in (select record_id from int_identity_edges)
                and observed.record_id in (select record_id from int_records_resolved)
                and not exists (
                    select 1 from int_identifiers_observed as others
                    where others.identifier_key = observed.identifier_key and others.record_id <> observed.record_id
                )
            order by observed.record_id, observed.identifier_key
            limit 1
        """).fetchone()
        con.execute("delete from stg_shop__orders where 'shop_order:' || shop_order_id = ?", [record])
    _rebuild_observations_in_full(warehouse_copy)
    with warehouse_connection(warehouse_copy) as con:
        assert con.execute("select count(*) from int_identifiers_observed_with_removals where record_id = ?",
                           [record]).fetchone()[0] == 0

    models = ("int_identifiers_assessed", "int_identity_edges", "int_records_resolved")
    built = run_dbt(warehouse_copy, "run", "--select", " ".join(models))
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        left = [con.execute(f"select count(*) from {model} where record_id = ?", [record]).fetchone()[0]
                for model in models[1:]]
        identifier_left = con.execute(
            "select count(*) from int_identifiers_assessed where identifier_key = ?", [own_identifier]).fetchone()[0]
    assert left == [0, 0] and identifier_left == 0
    assert _differing_from_full_builds(warehouse_copy, models) == {}


def test_events_of_a_device_that_left_with_the_observations_rebuilt_lose_their_customer(warehouse_copy):
    """The event tables learn which identifiers left the identity graph from the removal markers; after a full
    rebuild of the observations, which has none, they search their stored rows for identifiers no longer
    resolved instead, once.

    A device's only account stops appearing on its login events (re-delivered tonight without it), a loyalty
    member loses an email no other record carries, and the observations alone are rebuilt in full: the device
    and the email leave the graph with no marker left. The device's anonymous events and the email's messaging
    activity, stored with a customer and not delivered again, must lose it in the next incremental build, which
    must equal a full build of the event tables, and the change log must log the device and the email as
    removed.
    """
    with duckdb.connect(str(data_paths(warehouse_copy).warehouse)) as con:
        (device,) = con.execute("""
            select device_id
            from int_web_events_resolved
            where resolved_by = 'web_device'
                and device_id in (
                    select device_id from stg_web__events where shop_user_id is not null
                    group by device_id having count(distinct shop_user_id) = 1
                )
            group by device_id
            order by device_id
            limit 1
        """).fetchone()
        con.execute("update stg_web__events set shop_user_id = null, loaded_at = now()::timestamp "
                    "where device_id = ? and shop_user_id is not null", [device])
        member, email = con.execute("""
            select members.loyalty_member_id, members.email
            from stg_loyalty__members as members
            where members.is_email_valid
                and not exists (
                    select 1 from int_identifiers_observed as others
                    where others.identifier_key = 'email:' || members.email
                        and others.record_id <> 'loyalty_member:' || members.loyalty_member_id
                )
                and exists (
                    select 1 from int_esp_activity_resolved as activity
                    where activity.address_type = 'email' and activity.address = members.email
                        and activity.customer_id is not null
                )
            order by members.loyalty_member_id
            limit 1
        """).fetchone()
        con.execute("update stg_loyalty__members set email = null, is_email_valid = false "
                    "where loyalty_member_id = ?", [member])
    _rebuild_observations_in_full(warehouse_copy)

    models = ("int_identifiers_assessed", "int_identity_edges", "int_identifiers_clustered",
              "int_identifiers_resolved", "int_records_resolved", "identity_change_log", "int_web_events_resolved",
              "int_esp_activity_resolved")
    built = run_dbt(warehouse_copy, "run", "--select", " ".join(models))
    assert built.returncode == 0, built.stdout[-3000:]
    with warehouse_connection(warehouse_copy) as con:
        # No marker says which records dropped them: logged as removed without evidence.
        logged = con.execute(
            "select identifier_key, change_type, evidence_records from identity_change_log "
            "where identifier_key in (?, ?) "
            "qualify row_number() over (partition by identifier_key order by changed_at desc) = 1 order by 1",
            [f"email:{email}", f"web_device:{device}"]).fetchall()
        assert logged == [(f"email:{email}", "removed", None), (f"web_device:{device}", "removed", None)]
        assert change_log_out_of_date(con) == []
        resolved = con.execute("select count(*) from int_identifiers_resolved where identifier_key = ?",
                               [f"web_device:{device}"]).fetchone()[0]
        events = con.execute("select count(*) from int_web_events_resolved where device_id = ?",
                             [device]).fetchone()[0]
        activity = con.execute("select count(customer_id) from int_esp_activity_resolved where address = ?",
                               [email]).fetchone()[0]
    assert (resolved, events, activity) == (0, 0, 0)
    assert _differing_from_full_builds(warehouse_copy, models[-2:]) == {}


def test_a_dump_sent_again_with_a_correction_replaces_the_stored_rows(
    two_nights, dagster_instance, tmp_path_factory,
):
    """The shop re-sends the last dump with corrections; the dump date is ingested again.

    One order's amount is corrected, another order's email is replaced by a new one, a guest order loses its
    email and phone (its record no longer names anyone), a customer's phone, known from earlier dumps, is
    typed on four other accounts' orders (it becomes shared and stops linking, also in the records of the
    earlier dumps that nothing re-delivers), a web order with an ERP mirror gets another order number (the
    mirror becomes an order of its own), the login events of a device's only account lose the account (the
    device leaves the identity graph, and its events their customer), the loyalty program corrects one
    member's SMS consent and another member's first name, the one their customer's profile shows (neither is an
    identifier: the consent reaches contactability only through its consent fingerprint, the name the profile
    only because the re-sent record is re-resolved) and erases a member's email and a member's phone (each
    carried by no other record, with stored messaging activity: the addresses leave the identity graph, and
    that activity its customer), the messaging platform reports one more event (a contactable customer
    unsubscribed) and corrects the address of another suppression (its old address is no longer suppressed),
    and the tracker re-sends a cart add as a removal from the cart. The re-sent rows have the same dump date,
    file and line numbers as the stored ones: only the later load decides. The next night must give what a full
    build of the lake gives: identity resolution must drop the identifiers the records no longer carry.
    """
    paths = data_paths(two_nights.root)
    last_dump = max(p.name for p in paths.landing.iterdir())
    with warehouse_connection(two_nights.root) as con:
        shared_phone = con.execute("""
            select identifier_value
            from int_identifiers_assessed
            where identifier_type = 'phone' and is_linking and identifier_key in (
                select identifier_key from int_identifiers_observed
                where loaded_at < (select max(loaded_at) from int_identifiers_observed)
            )
            order by identifier_key
            limit 1
        """).fetchone()[0]
        mirrored_orders = {key for (key,) in con.execute(
            "select source_order_key from int_orders_unified "
            "where source_system = 'shop' and mirrored_erp_document_number is not null"
        ).fetchall()}
        device, account = con.execute("""
            select device_id, shop_user_id
            from stg_web__events
            where shop_user_id is not null
                and device_id in (
                    select device_id from stg_web__events where shop_user_id is not null
                    group by device_id having count(distinct shop_user_id) = 1
                )
            group by device_id, shop_user_id
            having min(loaded_at) = (select max(loaded_at) from stg_web__events)
            order by device_id
            limit 1
        """).fetchone()
        earlier = "identifier_key in (select identifier_key from int_identifiers_observed " \
            "where loaded_at < (select max(loaded_at) from int_identifiers_observed))"
        # The oldest customer's email, and the phone of a younger customer with web events and messages: the
        # younger one merges into the older, so their stored events and messages must move too.
        email, merged_into = con.execute(
            f"select identifier_value, customer_id from int_identifiers_resolved "
            f"where identifier_type = 'email' and {earlier} order by first_seen_at, identifier_key limit 1"
        ).fetchone()
        business_day_end = f"{date.fromisoformat(last_dump) - timedelta(days=1)} 23:59:59"
        unsubscribed_email = con.execute(
            "select address from int_customer_channels_assessed "
            "where channel = 'email' and is_contactable and consent_at < cast(? as timestamp) "
            "order by customer_id limit 1", [business_day_end],
        ).fetchone()[0]
        # A suppression, the only one its address ever had: re-sent (same message and event) for another address.
        readdressed = con.execute("""
            select message_id, email, event_type, strftime(occurred_at, '%Y-%m-%d %H:%M:%S'), campaign
            from stg_esp__activity
            where is_suppression_event and channel = 'email'
                and email in (
                    select address from int_customer_channels_assessed
                    where channel = 'email' and suppressed_by is not null
                )
                and email not in (
                    select email from stg_esp__activity
                    where is_suppression_event and email is not null
                    group by email having count(*) > 1
                )
            order by message_id
            limit 1
        """).fetchone()
        phone = con.execute(
            f"select identifier_value from int_identifiers_resolved where identifier_type = 'phone' "
            f"and customer_id <> ? and identifier_value <> ? and {earlier} "
            f"and customer_id in (select customer_id from int_web_events_resolved) "
            f"and customer_id in (select customer_id from int_esp_activity_resolved) "
            f"order by identifier_key limit 1",
            [merged_into, shared_phone],
        ).fetchone()[0]
        phone_customer = con.execute(
            "select customer_id from int_identifiers_resolved where identifier_key = ?", [f"phone:{phone}"]
        ).fetchone()[0]
        # Per address type, a member of the last dump whose address (none of the above) no other record carries
        # and whose messages are stored with a customer: erasing it from the member leaves them with nobody.
        erased = con.execute("""
            select
                observed.identifier_type,
                arg_min(observed.identifier_value, members.loyalty_member_id),
                min(members.loyalty_member_id)
            from int_identifiers_observed as observed
            inner join stg_loyalty__members as members
                on observed.record_id = 'loyalty_member:' || members.loyalty_member_id
            where members.dump_date = ? and observed.identifier_type in ('email', 'phone')
                and observed.identifier_value not in (select unnest(?))
                and observed.identifier_key not in (
                    select identifier_key from int_identifiers_observed where record_id <> observed.record_id
                )
                and exists (
                    select 1 from int_esp_activity_resolved as activity
                    where activity.address_type = observed.identifier_type
                        and activity.address = observed.identifier_value
                        and activity.customer_id is not null
                        -- stored, not re-sent with the dump: only the search for addresses that left sees it
                        and activity.loaded_at < (select min(loaded_at) from stg_esp__activity where dump_date = ?)
                )
            group by observed.identifier_type
            order by observed.identifier_type
        """, [last_dump, [shared_phone, email, phone, unsubscribed_email, readdressed[1]], last_dump]).fetchall()
        assert [row[0] for row in erased] == ["email", "phone"], f"no member to erase an address from: {erased}"
        # Members of the last dump whose first name is their customer's profile name (their customer's only
        # loyalty record): renaming one must reach the profile, though no identifier of it changes.
        renamable = {member for (member,) in con.execute("""
            select members.loyalty_member_id
            from stg_loyalty__members as members
            inner join int_records_resolved as records
                on records.record_id = 'loyalty_member:' || members.loyalty_member_id
            inner join int_customer_profiles_survived as profiles
                on records.customer_id = profiles.customer_id
            where members.dump_date = ? and profiles.first_name_source = 'loyalty_member'
                and profiles.first_name = members.first_name
                and not exists (
                    select 1 from int_records_resolved as others
                    where others.customer_id = records.customer_id and others.record_source = 'loyalty_member'
                        and others.record_id <> records.record_id
                )
        """, [last_dump]).fetchall()}
    order_id, guest_record = _correct_last_orders_file(
        paths.landing / last_dump, shared_phone, mirrored_orders, merging=(email, phone))
    _forget_the_login(paths.landing / last_dump, device, account)
    retyped_event = _retype_a_cart_add(paths.landing / last_dump)
    consent_member, renamed_member = _correct_last_members_file(
        paths.landing / last_dump, erase=[(member_id, address_type) for address_type, _, member_id in erased],
        rename_one_of=renamable)
    message_id, readdressed_email, event_type, occurred_at, campaign = readdressed
    _add_activity(paths.landing / last_dump, [
        f"correction-unsubscribe-0001,email,{unsubscribed_email},,unsubscribe,{business_day_end},correction",
        f"{message_id},email,{READDRESSED_EMAIL},,{event_type},{occurred_at},{campaign or ''}",
    ])
    with warehouse_connection(two_nights.root) as con:
        assert con.execute(
            "select count(*) from int_identifiers_observed where record_id = ?", [guest_record]).fetchone()[0] > 0

    assert all(r.success for r in materialize_ingest(two_nights.root, dagster_instance, [last_dump]))
    assert materialize_warehouse(two_nights.root, dagster_instance).success
    rebuilt = tmp_path_factory.mktemp("resent_rebuilt")
    shutil.copytree(paths.lake, data_paths(rebuilt).lake)
    assert materialize_warehouse(rebuilt, dagster_instance).success

    differences = _compare(two_nights.root, rebuilt)
    assert {r: d for r, d in differences.items() if d != (0, 0)} == {}
    with warehouse_connection(two_nights.root) as con:
        amount = con.execute(
            "select total_amount from stg_shop__orders where shop_order_id = ?", [int(order_id)]).fetchone()[0]
        guest_observations = con.execute(
            "select count(*) from int_identifiers_observed where record_id = ?", [guest_record]).fetchone()[0]
        guest_marker = con.execute(
            "select list(identifier_type order by identifier_type), bool_and(is_removed) "
            "from int_identifiers_observed_with_removals where record_id = ?", [guest_record]).fetchone()
        new_email = con.execute(
            "select record_count from int_identifiers_assessed where identifier_key = ?",
            ["email:new.address.after.correction@example.org"]).fetchone()
        device_left = con.execute(
            "select count(*) = 0 from int_identifiers_assessed where identifier_key = ?", [f"web_device:{device}"]
        ).fetchone()[0]
        phone_links = con.execute(
            "select is_linking from int_identifiers_assessed where identifier_key = ?", [f"phone:{shared_phone}"]
        ).fetchone()
        merged = con.execute(
            "select count(distinct customer_id) from int_identifiers_resolved where identifier_key in (?, ?)",
            [f"email:{email}", f"phone:{phone}"],
        ).fetchone()[0]
        unsubscribed = con.execute(
            "select contactability_status from int_customer_channels_assessed where channel = 'email' "
            "and address = ?", [unsubscribed_email],
        ).fetchall()
        no_longer_suppressed = con.execute(
            "select suppressed_by from int_customer_channels_assessed where channel = 'email' and address = ?",
            [readdressed_email],
        ).fetchall()
        retyped = con.execute(
            "select event_type from int_web_events_resolved where event_id = ?", [retyped_event]).fetchall()
        # The re-sent login events remember the login they lost: how identity resolution finds the pair again.
        forgotten_logins = con.execute(
            "select distinct login.device_id, login.shop_user_id "
            "from (select unnest(earlier_logins) as login from stg_web__events where device_id = ?)", [device],
        ).fetchall()
        logged_removed = dict(con.execute(
            "select identifier_key, evidence_records from identity_change_log where change_type = 'removed'"
        ).fetchall())
        change_log_stale = change_log_out_of_date(con)
        # The merge leaves a customer behind: recorded for the profiles to derive again.
        departed = {value for (value,) in con.execute(
            "select departed_value from departed_values where model_id like '%.int_records_resolved' "
            "and departed_value is not null and departed_at = (select max(changed_at) from int_records_resolved)"
        ).fetchall()}
        merged_away = {merged_into, phone_customer} - {con.execute(
            "select customer_id from int_identifiers_resolved where identifier_key = ?", [f"email:{email}"]
        ).fetchone()[0]}
        erased_activity = con.execute(
            "select address_type, count(*), count(customer_id) from int_esp_activity_resolved "
            "where list_contains(?, address_type || ':' || address) group by 1 order by 1",
            [[f"{address_type}:{address}" for address_type, address, _ in erased]],
        ).fetchall()
        members = dict(con.execute(
            "select loyalty_member_id, [first_name, has_sms_consent::varchar] from stg_loyalty__members "
            "where loyalty_member_id in (?, ?)", [consent_member.member_id, renamed_member],
        ).fetchall())
        renamed_profile = con.execute(
            "select profiles.first_name from int_customer_profiles_survived as profiles "
            "inner join int_records_resolved as records on profiles.customer_id = records.customer_id "
            "where records.record_id = ?", [f"loyalty_member:{renamed_member}"],
        ).fetchall()
    assert float(amount) == 12345.67
    assert members[renamed_member][0] == RENAMED_FIRST_NAME
    assert renamed_profile == [(RENAMED_FIRST_NAME,)]
    assert unsubscribed == [("unsubscribe",)]
    assert no_longer_suppressed and all(row == (None,) for row in no_longer_suppressed)
    assert members[consent_member.member_id][1] == str(consent_member.sms_consent).lower()
    # Gone from the observations, the guest order's email and phone stay as removal markers.
    assert guest_observations == 0
    assert "email" in guest_marker[0] and guest_marker[1] is True, guest_marker
    # The erased addresses' messages are still there, with no customer.
    assert [(address_type, count > 0, with_customer) for address_type, count, with_customer in erased_activity] \
        == [("email", True, 0), ("phone", True, 0)], erased_activity
    assert retyped == [("remove_from_cart",)]
    assert phone_links == (False,)
    assert forgotten_logins == [(device, account)]
    assert device_left
    # The identifiers no record carries any more end the change log as removed, with the records that dropped them.
    gone = [f"web_device:{device}", *(f"{address_type}:{address}" for address_type, address, _ in erased)]
    assert {key: bool(logged_removed.get(key)) for key in gone} == dict.fromkeys(gone, True), logged_removed
    assert change_log_stale == []
    assert merged == 1
    assert len(merged_away) == 1 and merged_away <= departed, (merged_away, departed)
    assert new_email == (1,)


def _correct_last_orders_file(
    dump_dir, shared_phone: str, mirrored_orders: set[str], merging: tuple[str, str],
) -> tuple[str, str]:
    """Edit the dump's last shop orders file as the shop would re-send it; return (corrected order, guest record).

    The first order's amount changes; the next registered order gets a new email; a guest order loses its email
    and phone; four orders of other accounts get `shared_phone`; one order with an ERP mirror is renumbered;
    another guest order gets the email and phone of `merging`, two people known from earlier dumps.
    """
    orders_file = sorted((dump_dir / "shop").glob("orders_*.csv"))[-1]
    header, *lines = orders_file.read_text(encoding="utf-8").split("\n")
    columns = header.split(",")
    rows = [line.split(",") for line in lines if line]
    column = {
        name: columns.index(name) for name in ("order_id", "order_number", "user_id", "email", "phone", "total_amount")
    }

    corrected, *others = rows
    corrected[column["total_amount"]] = "12345.67"
    moved = next(row for row in others if row[column["user_id"]] and row[column["email"]])
    moved[column["email"]] = "new.address.after.correction@example.org"
    guest = next(row for row in others if not row[column["user_id"]] and row[column["email"]])
    guest[column["email"]] = guest[column["phone"]] = ""
    merger = next(row for row in others if not row[column["user_id"]] and row is not guest)
    merger[column["email"]], merger[column["phone"]] = merging
    other_accounts: dict[str, list[str]] = {}
    for row in others:
        if row[column["user_id"]] and row is not moved:
            other_accounts.setdefault(row[column["user_id"]], row)
    for row in list(other_accounts.values())[:4]:
        row[column["phone"]] = shared_phone
    renumbered = next(row for row in others if row[column["order_id"]] in mirrored_orders)
    renumbered[column["order_number"]] = f"W-RENUMBERED-{renumbered[column['order_id']]}"

    orders_file.write_text("\n".join([header, *(",".join(row) for row in rows), ""]), encoding="utf-8")
    return corrected[column["order_id"]], f"shop_order:{guest[column['order_id']]}"


RENAMED_FIRST_NAME = "Исправленное-Имя"


@dataclass(frozen=True)
class ConsentCorrection:
    member_id: int
    sms_consent: bool


def _correct_last_members_file(
    dump_dir, erase: list[tuple[int, str]], rename_one_of: set[int],
) -> tuple[ConsentCorrection, int]:
    """The loyalty program re-sends the dump's members: one member's SMS consent flipped, another (one of
    `rename_one_of`) renamed, and each (member, field) of `erase` without that field ('email' or 'phone').

    Nothing else changes, update times included: the consent reaches contactability only through its consent
    fingerprint.
    """
    members_file = sorted((dump_dir / "loyalty").glob("members_*.csv"))[-1]
    header, *lines = members_file.read_text(encoding="utf-8").split("\n")
    columns = header.split(",")
    rows = [line.split(",") for line in lines if line]
    member_id, sms_consent, first_name = (columns.index(c) for c in ("member_id", "sms_consent", "first_name"))
    # Well-formed rows only (the sample's defects include malformed ones the loader quarantines).
    well_formed = [row for row in rows if len(row) == len(columns) and row[member_id].isdigit()]
    by_member = {int(row[member_id]): row for row in well_formed}
    for erased_member, erased_field in erase:
        by_member[erased_member][columns.index(erased_field)] = ""
    erased_members = {erased_member for erased_member, _ in erase}
    untouched = [row for row in well_formed if int(row[member_id]) not in erased_members]
    renamed_row = next(row for row in untouched if int(row[member_id]) in rename_one_of)
    consent_row = next(row for row in untouched if row is not renamed_row)
    consent_row[sms_consent] = "false" if consent_row[sms_consent] == "true" else "true"
    renamed_row[first_name] = RENAMED_FIRST_NAME
    members_file.write_text("\n".join([header, *(",".join(row) for row in rows), ""]), encoding="utf-8")
    return (
        ConsentCorrection(int(consent_row[member_id]), consent_row[sms_consent] == "true"),
        int(renamed_row[member_id]),
    )


READDRESSED_EMAIL = "readdressed.after.correction@example.org"


def _add_activity(dump_dir, lines: list[str]) -> None:
    """The messaging platform's re-sent activity carries these lines more (new events, or corrected ones)."""
    activity_file = sorted((dump_dir / "esp").glob("activity_*.csv"))[-1]
    text = activity_file.read_text(encoding="utf-8")
    activity_file.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def _retype_a_cart_add(dump_dir) -> str:
    """The tracker re-sends the dump's first logged-in cart add as a removal from the cart; returns its event_id.

    Logged in, so the event has a person and is in int_web_events_resolved (which holds known people's events).
    """
    events_file = sorted((dump_dir / "web").glob("events_*.jsonl"))[0]
    lines = events_file.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines):
        if '"add_to_cart"' not in line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # one of the sample's malformed lines
        if event.get("event_type") == "add_to_cart" and event.get("event_id") and event.get("user_id"):
            event["event_type"] = "remove_from_cart"
            lines[number] = json.dumps(event, ensure_ascii=False)
            events_file.write_text("\n".join(lines), encoding="utf-8")
            return event["event_id"]
    raise AssertionError(f"no logged-in cart add in {events_file}")


def _forget_the_login(dump_dir, device: str, account: int) -> None:
    """The tracker re-sends the dump's events with the account removed from one device's login events.

    Only those lines are rewritten; every other line (the sample's malformed ones too) is re-sent as it was.
    """
    for events_file in sorted((dump_dir / "web").glob("events_*.jsonl")):
        lines = events_file.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines):
            if f'"{device}"' not in line:
                continue
            event = json.loads(line)
            if event.get("device_id") == device and event.get("user_id") == account:
                del event["user_id"]
                lines[number] = json.dumps(event, ensure_ascii=False)
        events_file.write_text("\n".join(lines), encoding="utf-8")
