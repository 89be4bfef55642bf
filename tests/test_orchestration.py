"""Schedules and sensors decide correctly when the nightly runs."""

from __future__ import annotations

import dagster as dg

from orchestration.ingest.contracts import READY_MARKER
from orchestration.ingest.partitions import complete_dump_dates
from orchestration.ingest.sensors import landing_sensor
from orchestration.resources import DataDirResource
from orchestration.schedules import DEFAULT_NIGHTLY_CRON, nightly_schedule
from orchestration.settings import data_paths


def land(root, dump_date, complete=True):
    folder = data_paths(root).landing / dump_date / "shop"
    folder.mkdir(parents=True)
    (folder / "orders_x.csv").write_text("")
    if complete:
        (folder.parent / READY_MARKER).write_text("")


def test_only_complete_dumps_count(tmp_path):
    land(tmp_path, "2026-11-19")
    land(tmp_path, "2026-11-20", complete=False)  # still landing
    (data_paths(tmp_path).landing / "not-a-date").mkdir()
    assert complete_dump_dates(data_paths(tmp_path)) == ["2026-11-19"]


def test_landing_sensor_registers_and_requests_each_dump_once(tmp_path):
    land(tmp_path, "2026-11-19")
    land(tmp_path, "2026-11-20")
    with dg.instance_for_test() as instance:
        resources = {"data_dir": DataDirResource(data_dir=str(tmp_path))}
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = landing_sensor(context)
        assert [r.partition_key for r in result.run_requests] == ["2026-11-19", "2026-11-20"]
        assert [r.run_key for r in result.run_requests] == ["2026-11-19", "2026-11-20"]
        instance.add_dynamic_partitions("dump_date", ["2026-11-19", "2026-11-20"])
        again = landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert again.run_requests == []


def test_nightly_schedule_ingests_new_dumps_or_skips(tmp_path):
    assert nightly_schedule.cron_schedule == DEFAULT_NIGHTLY_CRON
    with dg.instance_for_test() as instance:
        resources = {"data_dir": DataDirResource(data_dir=str(tmp_path))}
        skipped = nightly_schedule(dg.build_schedule_context(instance=instance, resources=resources))
        assert isinstance(skipped, dg.SkipReason)
        land(tmp_path, "2026-11-20")
        requests = nightly_schedule(dg.build_schedule_context(instance=instance, resources=resources))
        assert [r.partition_key for r in requests] == ["2026-11-20"]
        assert instance.get_dynamic_partitions("dump_date") == ["2026-11-20"]
