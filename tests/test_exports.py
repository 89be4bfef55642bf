"""Nightly exports: only contactable people, deltas, manifests, atomic publishing, reproducible bytes."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.exports import writer
from orchestration.exports.config import CHANNELS, ExportConfigError, load_destinations
from orchestration.exports.writer import LATEST_DIR, MANIFEST, export_destination

SEGMENTS = ["rfm", "inactive", "birthday"]
DESTINATIONS = {d.name: d for d in load_destinations()}

AUDIENCE_DDL = """
create or replace temp table audience (
    segment varchar, customer_id varchar, segment_reason varchar, first_name varchar, last_name varchar,
    email varchar, phone varchar, birth_date date, gender varchar,
    is_email_contactable boolean, is_sms_contactable boolean, is_push_contactable boolean,
    email_contactability varchar, sms_contactability varchar, push_contactability varchar, as_of_date date
)
"""

person = st.fixed_dictionaries({
    "segment": st.sampled_from(SEGMENTS),
    "customer_id": st.integers(0, 60).map(lambda i: f"cus_{i:04d}"),
    "email": st.one_of(st.none(), st.integers(0, 60).map(lambda i: f"p{i}@mail.ru")),
    "phone": st.one_of(st.none(), st.integers(0, 60).map(lambda i: f"+7916{i:07d}")),
    "email_status": st.sampled_from(["contactable", "no_consent", "unsubscribe", "hard_bounce", "spam_complaint"]),
    "sms_status": st.sampled_from(["contactable", "no_consent", "unsubscribe"]),
    "push_status": st.sampled_from(["contactable", "no_consent"]),
})


def load_audience(con, people):
    con.execute(AUDIENCE_DDL)
    seen = set()
    for p in people:
        if (p["segment"], p["customer_id"]) in seen:
            continue
        seen.add((p["segment"], p["customer_id"]))
        con.execute(
            "insert into audience values (?, ?, 'because', 'Анна', 'Иванова', ?, ?, date '1990-03-12', 'F', "
            "?, ?, ?, ?, ?, ?, date '2026-11-20')",
            [p["segment"], p["customer_id"], p["email"], p["phone"],
             p["email_status"] == "contactable" and p["email"] is not None,
             p["sms_status"] == "contactable" and p["phone"] is not None,
             p["push_status"] == "contactable",
             p["email_status"], p["sms_status"], p["push_status"]],
        )


def exported_customer_ids(directory: Path, destination) -> set[str]:
    """Everyone in the full and entered files, mapped back to customer_id through members.parquet."""
    con = duckdb.connect()
    return {row[0] for row in con.execute(f"select customer_id from read_parquet('{directory}/members.parquet')").fetchall()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(person, min_size=0, max_size=80), destination_name=st.sampled_from(sorted(DESTINATIONS)))
def test_no_contact_without_consent_is_ever_exported(tmp_path_factory, people, destination_name):
    destination = DESTINATIONS[destination_name]
    root = tmp_path_factory.mktemp("exports")
    con = duckdb.connect()
    load_audience(con, people)
    result = export_destination(con, destination, root, "2026-11-20", "run", [])
    channel = destination.channel
    allowed = {
        (p["segment"], p["customer_id"]) for p in people
        if p[f"{channel}_status"] == "contactable" and p[CHANNELS[channel]] is not None
        and p["segment"] in destination.segments
    } if channel != "push" else {
        (p["segment"], p["customer_id"]) for p in people
        if p["push_status"] == "contactable" and p["segment"] in destination.segments
    }
    # Every row of every full file is an allowed (segment, person); nobody allowed is missing.
    exported = duckdb.connect().execute(
        f"select segment, customer_id from read_parquet('{result.directory}/members.parquet')").fetchall()
    first_seen = {}
    for p in people:
        first_seen.setdefault((p["segment"], p["customer_id"]), p)
    allowed = {key for key in allowed if first_seen[key][f"{channel}_status"] == "contactable"
               and (channel == "push" or first_seen[key][CHANNELS[channel]] is not None)}
    assert set(exported) == allowed
    for file in result.manifest["files"]:
        if file["kind"] != "exited":
            assert file["rows"] == sum(1 for s, _ in exported if s == file["segment"]) or file["kind"] == "entered"
    suppressed = sum(sum(info["suppressed"].values()) for info in result.manifest["segments"].values())
    candidates = {key for key in first_seen if key[0] in destination.segments}
    assert suppressed == len(candidates) - len(allowed), "every person not exported is counted as suppressed"


def make_people(ids, status="contactable"):
    return [{"segment": "rfm", "customer_id": f"cus_{i:04d}", "email": f"p{i}@mail.ru", "phone": f"+7916{i:07d}",
             "email_status": status, "sms_status": status, "push_status": status} for i in ids]


def test_delta_against_the_previous_night(tmp_path):
    destination = DESTINATIONS["braze"]
    con = duckdb.connect()
    load_audience(con, make_people(range(0, 10)))
    export_destination(con, destination, tmp_path, "2026-11-19", "night-1", [])
    load_audience(con, make_people(range(5, 15)))
    second = export_destination(con, destination, tmp_path, "2026-11-20", "night-2", ["gate"])
    info = second.manifest["segments"]["rfm"]
    assert (info["rows"], info["entered"], info["exited"]) == (10, 5, 5)
    assert second.manifest["previous_export"] == "2026-11-19"
    exited = (second.directory / "rfm.exited.csv").read_text().splitlines()
    assert exited == ["external_id"] + [f"cus_{i:04d}" for i in range(5)]
    latest = json.loads((tmp_path / LATEST_DIR / "braze.json").read_text())
    assert latest["run_date"] == "2026-11-20"


def test_rerun_of_a_day_is_byte_identical(tmp_path):
    con = duckdb.connect()
    load_audience(con, make_people(range(0, 30)))
    for destination in DESTINATIONS.values():
        first = export_destination(con, destination, tmp_path, "2026-11-20", "run-a", [])
        bytes_first = {p.name: p.read_bytes() for p in first.directory.iterdir() if p.name != MANIFEST}
        second = export_destination(con, destination, tmp_path, "2026-11-20", "run-b", [])
        bytes_second = {p.name: p.read_bytes() for p in second.directory.iterdir() if p.name != MANIFEST}
        assert bytes_first == bytes_second, destination.name
        assert [f["sha256"] for f in first.manifest["files"]] == [f["sha256"] for f in second.manifest["files"]]


def test_destinations_sharing_their_channel_selection_write_what_each_writes_alone(tmp_path):
    """The export step selects each channel's members once and hands them to all of the channel's destinations
    (four on email, with different segments); every file and count must be what the destination writes when it
    selects its own members."""
    import random

    from orchestration.exports.writer import select_channel_members

    rng = random.Random(7)
    statuses = ["contactable", "contactable", "no_consent", "unsubscribe", "hard_bounce"]
    people = [{"segment": segment, "customer_id": f"cus_{i:04d}", "email": rng.choice([None, f"p{i}@mail.ru"]),
               "phone": rng.choice([None, f"+7916{i:07d}"]), "email_status": rng.choice(statuses),
               "sms_status": rng.choice(statuses[:3]), "push_status": rng.choice(statuses[:3])}
              for i in range(400) for segment in rng.sample(sorted({s for d in DESTINATIONS.values()
                                                                    for s in d.segments}), 3)]
    con = duckdb.connect()
    load_audience(con, people)

    def exported(root: Path) -> dict:
        return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
                if path.is_file() and path.name != MANIFEST and LATEST_DIR not in path.parts}

    def counts(result) -> dict:
        return {key: result.manifest[key] for key in ("segments", "suppressed_total", "rows_total", "files")}

    alone, shared, channels = {}, {}, {}
    for destination in DESTINATIONS.values():
        alone[destination.name] = counts(export_destination(con, destination, tmp_path / "alone", "2026-11-20",
                                                            "run", []))
    for destination in DESTINATIONS.values():
        if destination.channel not in channels:
            channels[destination.channel] = select_channel_members(con, destination.channel)
        shared[destination.name] = counts(export_destination(
            con, destination, tmp_path / "shared", "2026-11-20", "run", [],
            channel_members=channels[destination.channel]))
    assert shared == alone
    assert exported(tmp_path / "shared") == exported(tmp_path / "alone")
    assert all(info["rows_total"] > 0 for info in alone.values()), "every destination has people to export"

    mindbox = DESTINATIONS["mindbox"]  # on email
    with pytest.raises(ValueError, match="mindbox: its channel is email, but the members given were selected for sms"):
        export_destination(con, mindbox, tmp_path / "wrong", "2026-11-20", "run", [],
                           channel_members=select_channel_members(con, "sms"))

    # A selection outlives the audience it was made from only by mistake: after the audience is replaced (the
    # next night's, in a long-lived session), exporting the old selection is refused, not silently published.
    stale = select_channel_members(con, "email")
    load_audience(con, people[:40])
    with pytest.raises(ValueError, match="mindbox: the email members given were selected from an earlier"):
        export_destination(con, mindbox, tmp_path / "stale", "2026-11-20", "run", [], channel_members=stale)
    assert not (tmp_path / "stale").exists() or not any((tmp_path / "stale").iterdir())


def test_crash_mid_export_leaves_no_partial_export(tmp_path, monkeypatch):
    destination = DESTINATIONS["mindbox"]
    con = duckdb.connect()
    load_audience(con, make_people(range(0, 10)))
    export_destination(con, destination, tmp_path, "2026-11-19", "night-1", [])
    written = []
    real_copy = writer._copy

    def crashing_copy(con, sql, path, dest):
        if len(written) == 2:
            raise OSError("disk full (simulated)")
        written.append(path)
        return real_copy(con, sql, path, dest)

    monkeypatch.setattr(writer, "_copy", crashing_copy)
    with pytest.raises(OSError, match="simulated"):
        export_destination(con, destination, tmp_path, "2026-11-20", "night-2", [])
    assert written, "the crash happened after files were written"
    assert not (tmp_path / "2026-11-20").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert json.loads((tmp_path / LATEST_DIR / "mindbox.json").read_text())["run_date"] == "2026-11-19"


def test_config_errors_name_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "destinations.yml"
    bad.write_text("destinations:\n  x:\n    format: xml\n    channel: email\n    segments: [rfm]\n    columns: {e: email}\n")
    with pytest.raises(ExportConfigError, match=r"destinations.yml: destination 'x': format must be one of"):
        load_destinations(bad)
    bad.write_text("destinations:\n  x:\n    format: csv\n    channel: sms\n    segments: [rfm]\n    columns: {e: email}\n")
    with pytest.raises(ExportConfigError, match="the sms channel needs a column with field 'phone'"):
        load_destinations(bad)
    bad.write_text("destinations:\n  x:\n    format: csv\n    channel: email\n    segments: [rfm]\n    columns: {e: mail}\n")
    with pytest.raises(ExportConfigError, match="unknown field 'mail'"):
        load_destinations(bad)
    with pytest.raises(ExportConfigError, match=r"unknown segment\(s\) \['vip'\]"):
        bad.write_text("destinations:\n  x:\n    format: csv\n    channel: email\n    segments: [vip]\n    columns: {e: email}\n")
        load_destinations(bad, known_segments={"rfm"})


@pytest.mark.slow
def test_export_assets_publish_every_destination(built_warehouse, dagster_instance):
    from orchestration.exports.assets import export_assets
    from orchestration.resources import DataDirResource
    from orchestration.settings import data_paths

    result = dg.materialize(export_assets, instance=dagster_instance,
                            resources={"data_dir": DataDirResource(data_dir=str(built_warehouse))})
    assert result.success
    exports = data_paths(built_warehouse).exports
    for name, destination in DESTINATIONS.items():
        pointer = json.loads((exports / LATEST_DIR / f"{name}.json").read_text())
        manifest = json.loads((exports / pointer["path"] / MANIFEST).read_text())
        assert manifest["destination"] == name and manifest["as_of_date"] == pointer["run_date"]
        assert set(manifest["segments"]) == set(destination.segments)
        for file in manifest["files"]:
            assert (exports / pointer["path"] / file["name"]).exists()
    con = duckdb.connect(str(data_paths(built_warehouse).warehouse), read_only=True)
    # Cross-check with the warehouse: every exported email belongs to someone email-contactable.
    leaked = con.execute(
        f"select count(*) from read_csv('{exports}/*/generic_csv/*.csv', union_by_name = true) as exported "
        "left join customers on exported.customer_id = customers.customer_id "
        "where not coalesce(customers.is_email_contactable, false)"
    ).fetchone()[0]
    assert leaked == 0


@pytest.fixture
def warehouse_copy(built_warehouse, tmp_path) -> Path:
    """A data directory holding a copy of the built warehouse only: the exports read nothing else, and what a
    test publishes there leaves the shared warehouse's exports as they are."""
    import shutil

    from orchestration.settings import data_paths

    root = tmp_path / "data"
    (root / "warehouse").mkdir(parents=True)
    shutil.copy2(data_paths(built_warehouse).warehouse, data_paths(root).warehouse)
    return root


@pytest.mark.slow
def test_a_destination_that_breaks_its_contract_fails_the_step_after_the_others_publish(
        warehouse_copy, dagster_instance):
    """The destinations share one step; one that breaks its contract is not published (its previous export stays
    the latest) while every other destination is, and the step then fails, naming it, without a retry."""
    from datetime import timedelta

    from orchestration.exports.assets import export_assets, export_key
    from orchestration.resources import DataDirResource
    from orchestration.settings import data_paths

    root = warehouse_copy
    resources = {"data_dir": DataDirResource(data_dir=str(root))}
    assert dg.materialize(export_assets, instance=dagster_instance, resources=resources).success
    exports = data_paths(root).exports
    run_date = json.loads((exports / LATEST_DIR / "mindbox.json").read_text())["run_date"]

    # Tonight's mindbox export becomes the night before's, with every segment ten times larger than tonight's.
    day_before = (date.fromisoformat(run_date) - timedelta(days=1)).isoformat()
    (exports / day_before).mkdir()
    (exports / run_date / "mindbox").rename(exports / day_before / "mindbox")
    manifest_path = exports / day_before / "mindbox" / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    for info in manifest["segments"].values():
        info["rows"] = info["rows"] * 10 + 1000
    manifest_path.write_text(json.dumps(manifest))
    pointer = {"run_date": day_before, "run_id": "earlier", "path": f"{day_before}/mindbox"}
    (exports / LATEST_DIR / "mindbox.json").write_text(json.dumps(pointer))

    result = dg.materialize(export_assets, instance=dagster_instance, resources=resources, raise_on_error=False)
    assert not result.success
    published = {event.asset_key for event in result.get_asset_materialization_events()}
    assert published == {export_key(d) for d in DESTINATIONS.values() if d.name != "mindbox"}
    for name in DESTINATIONS:
        latest = json.loads((exports / LATEST_DIR / f"{name}.json").read_text())
        assert latest["run_date"] == (day_before if name == "mindbox" else run_date), name
    assert not (exports / run_date / "mindbox").exists()
    message = result.failure_data_for_node("exports").error.message
    assert "1 of 6 export destination(s) not published" in message
    assert f"export to mindbox for {run_date} broke its contract" in message and "size changed by" in message
    assert (exports / "gate_failures" / f"{run_date}-export_contract-mindbox.md").exists()
    retried = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert not retried, "a broken contract fails the same way again: no retry"


@pytest.mark.slow
def test_an_error_in_one_destination_leaves_the_others_published_and_is_retried(
        warehouse_copy, dagster_instance, monkeypatch):
    """An error that is not a broken contract (here a full disk while writing one destination) does not stop the
    destinations after it; the step fails naming it, and is retried as the retry policy says."""
    from orchestration.exports import assets
    from orchestration.resources import DataDirResource
    from orchestration.settings import data_paths

    root = warehouse_copy
    real_export = assets.export_destination

    def export_or_fail(con, destination, *args, **kwargs):
        if destination.name == "mindbox":
            raise OSError(28, "No space left on device")
        return real_export(con, destination, *args, **kwargs)

    monkeypatch.setattr(assets, "export_destination", export_or_fail)
    result = dg.materialize(assets.export_assets, instance=dagster_instance, raise_on_error=False,
                            resources={"data_dir": DataDirResource(data_dir=str(root))})
    assert not result.success
    published = {event.asset_key for event in result.get_asset_materialization_events()}
    assert published == {assets.export_key(d) for d in DESTINATIONS.values() if d.name != "mindbox"}
    assert not (data_paths(root).exports / LATEST_DIR / "mindbox.json").exists()
    retried = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) == 2
    logged = [entry.user_message for entry in dagster_instance.all_logs(result.run_id)
              if entry.user_message.startswith("mindbox: not published")]
    assert len(logged) == 3, "each attempt names the destination"
    assert all("OSError: [Errno 28] No space left on device" in message for message in logged)
