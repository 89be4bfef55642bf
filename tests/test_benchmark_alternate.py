"""Alternated nights (benchmarks/alternate.py): checkouts refused with the reason, the order of a round, the
differences round by round, and a tiny run end to end with this checkout and a copy of its sources."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.alternate import KEPT_STATE, Checkout, copy_night_data, parse_args, parse_checkout, round_order
from benchmarks.alternation_report import mean_interval, node_differences, paired_differences, summarize
from orchestration.settings import PROJECT_ROOT
from tests.conftest import run_benchmark


def test_a_checkout_is_a_label_and_a_folder_that_can_run_a_night(tmp_path):
    checkout = parse_checkout(f"now={PROJECT_ROOT}")
    assert (checkout.label, checkout.root) == ("now", PROJECT_ROOT)
    venv_python = PROJECT_ROOT / ".venv" / "bin" / "python"
    assert checkout.python == (str(venv_python) if venv_python.exists() else sys.executable)

    with pytest.raises(argparse.ArgumentTypeError, match="LABEL=PATH"):
        parse_checkout(str(PROJECT_ROOT))
    with pytest.raises(argparse.ArgumentTypeError, match="only letters"):
        parse_checkout(f"no/slash={PROJECT_ROOT}")
    with pytest.raises(argparse.ArgumentTypeError, match="is no folder"):
        parse_checkout(f"typo={tmp_path / 'cdp-befor'}")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "night.py").write_text("")
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse_checkout(f"old={tmp_path}")
    assert str(tmp_path) in str(refused.value) and "orchestration/nightly.py" in str(refused.value)
    assert "benchmarks/night.py" not in str(refused.value).split("lacks")[1]


@pytest.fixture(scope="module")
def second_checkout(tmp_path_factory) -> Path:
    """A second folder with this checkout's sources (no data, no dbt target, no virtualenv): the same code, as
    `git worktree add` would give it, but with the working tree's changes too."""
    folder = tmp_path_factory.mktemp("checkout") / "cdp-again"
    shutil.copytree(PROJECT_ROOT, folder, ignore=shutil.ignore_patterns(
        ".git", ".venv", "data", "target", "results", "logs", "__pycache__", ".pytest_cache", "*.egg-info"))
    return folder


@pytest.mark.parametrize("extra, reason", [
    ([], "two or more"),
    (["--checkout", f"a={PROJECT_ROOT}"], "labels must differ"),
    # One folder, two data directories: dbt's saved parse state would be made again at every switch.
    (["--checkout", f"b={PROJECT_ROOT / 'tests' / '..'}"], "git worktree add"),
    (["--checkout", "b={second}", "--nights", "weekly"], "weekly"),
    (["--checkout", "b={second}", "--rounds", "0"], "at least 1"),
])
def test_what_cannot_be_alternated_is_refused(extra, reason, second_checkout, capsys):
    argv = ["--checkout", f"a={PROJECT_ROOT}", *(arg.format(second=second_checkout) for arg in extra)]
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2 and reason in capsys.readouterr().err
    if extra[-2:] == ["--rounds", "0"]:  # the same arguments with a round are taken
        assert parse_args(argv[:-1] + ["1"]).rounds == 1


def test_every_other_round_runs_the_checkouts_in_reverse():
    a, b, c = (Checkout(label, PROJECT_ROOT, sys.executable) for label in "abc")
    assert [[x.label for x in round_order([a, b, c], n)] for n in (1, 2, 3)] == [list("abc"), list("cba"), list("abc")]


@pytest.mark.parametrize("blocked_by_gate, refused", [(True, False), (False, True)])
def test_a_night_whose_job_failed_is_timed_only_when_the_gate_blocked_the_exports(blocked_by_gate, refused,
                                                                                 tmp_path, monkeypatch):
    from benchmarks import alternate
    from benchmarks.monitor import RssMonitor

    night = {"process_seconds": 30.0, "cpu_seconds": 40.0, "ingest_seconds": 0.1, "job_seconds": 20.0,
             "exports_seconds": 5.0 if blocked_by_gate else 0.0, "code_location_seconds": 1.5,
             "warehouse_run_id": "run", "warehouse_job_success": False,
             "exports_run_id": "exports" if blocked_by_gate else None}
    monkeypatch.setattr(alternate, "speed_probe", lambda: {"python_seconds": 0.2, "duckdb_seconds": 0.3})
    monkeypatch.setattr(alternate, "run_in_fresh_process", lambda *args: night)
    monkeypatch.setattr(alternate, "dbt_breakdown", lambda *args: {
        "failures": [], "elapsed_reported": 15.0, "model_seconds": {"m": 1.0}, "test_seconds": {"t": 0.5}})
    checkout = Checkout("a", PROJECT_ROOT, sys.executable)
    with RssMonitor() as monitor:
        if refused:
            with pytest.raises(RuntimeError, match="not because the gate blocked"):
                alternate.run_night(checkout, tmp_path, [], monitor, "a unchanged 1")
        else:
            timed = alternate.run_night(checkout, tmp_path, [], monitor, "a unchanged 1")
            assert timed["exports_apart_seconds"] == 5.0 and timed["outside_jobs_seconds"] == pytest.approx(4.9)


def test_the_disk_check_counts_a_warehouse_per_checkout(tmp_path, monkeypatch):
    need = run.estimate_bytes(1_000_000, 3)
    free = need["total"] + need["derived"] // 2  # room for one checkout's warehouse, not for two
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(run.shutil, "disk_usage", lambda path: usage(free * 2, free, free))
    assert run.check_disk(tmp_path / "data", 1_000_000, 3) is None
    refusal = run.check_disk(tmp_path / "data", 1_000_000, 3, warehouses=2)
    assert refusal and "for 2 checkouts' lakes" in refusal and str(tmp_path) in refusal


def _night(checkout: str, number: int, wall: float, nodes: dict[str, float]) -> dict:
    figures = dict.fromkeys(("cpu_seconds", "ingest_seconds", "warehouse_job_seconds", "exports_apart_seconds",
                             "outside_jobs_seconds", "dbt_seconds", "model_node_seconds", "test_node_seconds"), 1.0)
    return {"checkout": checkout, "round": number, "kind": "unchanged", "position": 1 if checkout == "a" else 2,
            "wall_seconds": wall, **figures,
            "speed_probe": {"duckdb_seconds": 0.3}, "model_seconds": nodes, "test_seconds": {"unique_x": 0.1}}


def test_the_difference_is_taken_within_each_round():
    # b's median night is the longer (13 s against 12 s), yet b was faster in two rounds of three: only pairs say
    # so. The nights come in no order, and a round only one side ran is left out.
    first = [_night("a", 4, 50.0, {}), _night("a", 2, 12.0, {}), _night("a", 1, 20.0, {}), _night("a", 3, 11.0, {})]
    other = [_night("b", 3, 10.5, {}), _night("b", 1, 19.0, {}), _night("b", 2, 13.0, {})]
    wall = paired_differences(first, other)["wall_seconds"]
    assert (wall["median"], wall["min"], wall["max"], wall["faster_rounds"], wall["n"]) == (-0.5, -1.0, 1.0, 2, 3)
    assert paired_differences(first, other)["cpu_seconds"]["faster_rounds"] == 0, "equal is not faster"


def test_a_difference_is_settled_only_when_its_interval_leaves_zero():
    # Three rounds 1, 2 and 3 s apart: mean 2 s, standard deviation 1 s, t(2) = 4.303, so 2 +- 2.48 s (settled, if
    # barely); the same mean over rounds that disagree in sign holds zero; one round gives no interval at all.
    assert mean_interval([1.0, 2.0, 3.0]) == {"mean": 2.0, "half_width_95": 2.484}
    assert mean_interval([-4.0, 2.0, 8.0])["half_width_95"] > 2.0
    assert mean_interval([5.0]) is None
    first = [_night("a", n, 10.0, {}) for n in (1, 2, 3, 4)]
    steady = paired_differences(first, [_night("b", n, wall, {}) for n, wall in zip((1, 2, 3, 4), (8, 8.1, 7.9, 8))])
    assert steady["wall_seconds"]["interval"] == {"mean": -2.0, "half_width_95": 0.13}
    assert steady["cpu_seconds"]["interval"] == {"mean": 0.0, "half_width_95": 0.0}


def test_the_order_within_a_round_is_measured_apart_from_the_code():
    # a runs first in rounds 1 and 3, b in round 2: whoever runs first is 2 s slower, and a is no slower than b.
    # The one-day nights of the same rounds run in another order and take as long: each kind has its own effect.
    nights = []
    for number, first_label in ((1, "a"), (2, "b"), (3, "a")):
        second_label = "b" if first_label == "a" else "a"
        nights += [{**_night(first_label, number, 12.0, {}), "position": 1},
                   {**_night(second_label, number, 10.0, {}), "position": 2},
                   {**_night(first_label, number, 30.0, {}), "position": 1, "kind": "one-day"},
                   {**_night(second_label, number, 30.0, {}), "position": 2, "kind": "one-day"}]
    summary = summarize(nights, ["a", "b"], ["unchanged", "one-day"])
    effect = summary["unchanged"]["order_effect_seconds"]
    assert (effect["median"], effect["min"], effect["max"], effect["n"]) == (2.0, 2.0, 2.0, 3)
    assert summary["one-day"]["order_effect_seconds"]["median"] == 0.0
    assert summary["unchanged"]["against_first"]["b"]["wall_seconds"]["median"] == -2.0, "a ran first twice of three"


def test_the_nodes_that_differ_most_come_first_and_a_new_node_counts():
    first = [_night("a", n, 10.0, {"kept": 1.0, "gone": 0.2, "same": 0.5}) for n in (1, 2, 3)]
    other = [_night("b", n, 10.0, {"kept": 0.4 + n / 10, "new": 0.3, "same": 0.5}) for n in (1, 2, 3)]
    rows = node_differences(first, other, count=3)
    assert [(row["node"], row["difference"]) for row in rows] == [("kept", -0.4), ("new", 0.3), ("gone", -0.2)]
    summary = summarize(first + other, ["a", "b"], ["unchanged"])["unchanged"]
    assert summary["figures"]["b"]["wall_seconds"]["n"] == 3 and set(summary["against_first"]) == {"b"}


def test_a_checkout_can_start_from_a_copy_of_the_first_full_night(tmp_path):
    dumps = tmp_path / "dumps" / "2026-11-17"
    dumps.mkdir(parents=True)
    first = tmp_path / "data" / "first"
    files = {"lake/raw/shop/orders/dump_date=2026-11-17/part-0.parquet": b"lake",
             "warehouse/cdp.duckdb": b"warehouse", "exports/2026-11-17/braze/part.csv": b"export",
             "quality/gx/great_expectations.yml": b"gx", "dagster_home/storage/runs.db": b"runs",
             f"{KEPT_STATE}/warehouse/cdp.duckdb": b"kept"}
    for name, content in files.items():
        (first / name).parent.mkdir(parents=True, exist_ok=True)
        (first / name).write_bytes(content)
    (first / "landing").mkdir()
    (first / "landing" / "2026-11-17").symlink_to(dumps, target_is_directory=True)

    second = tmp_path / "data" / "second"
    copy_night_data(first, second)
    for name, content in files.items():
        if not name.startswith(str(KEPT_STATE)):
            assert (second / name).read_bytes() == content, name
    lake_file = "lake/raw/shop/orders/dump_date=2026-11-17/part-0.parquet"
    assert (second / lake_file).stat().st_ino == (first / lake_file).stat().st_ino, "the lake is linked, not copied"
    assert (second / "warehouse/cdp.duckdb").stat().st_ino != (first / "warehouse/cdp.duckdb").stat().st_ino
    (second / "warehouse/cdp.duckdb").write_bytes(b"written by the second checkout's night")
    assert (first / "warehouse/cdp.duckdb").read_bytes() == b"warehouse"
    assert (second / "landing" / "2026-11-17").is_symlink()
    assert (second / "landing" / "2026-11-17").resolve() == dumps.resolve(), "the dumps are shared"
    assert not (second / KEPT_STATE.parts[0]).exists(), "the first checkout's kept state is its own"


@pytest.fixture(scope="module")
def alternation(tmp_path_factory, second_checkout) -> tuple[dict, Path]:
    # The one-day night only: it lands a dump, so it runs every step a night can. A night with nothing new is the
    # same loop with no dump (test_the_order_within_a_round_is_measured_apart_from_the_code covers both kinds), and
    # two more nights here would cost about 40 s of every test run. One full night, copied to the second checkout:
    # the same code, and a full night less; each checkout's own full night is the first's loop again.
    out = tmp_path_factory.mktemp("alternation")
    run_benchmark("alternate", "--persons", "300", "--days", "2", "--rounds", "1", "--nights", "one-day",
                  "--one-full-night", "--checkout", f"first={PROJECT_ROOT}", "--checkout", f"second={second_checkout}",
                  "--out", str(out), timeout=900)
    return json.loads((out / "alternation.json").read_text()), out


@pytest.mark.slow
def test_every_checkout_runs_the_night_asked_for(alternation):
    report, out = alternation
    assert [(n["kind"], n["checkout"], n["position"]) for n in report["nights"]] == [
        ("one-day", "first", 1), ("one-day", "second", 2)]
    for night in report["nights"]:
        assert night["wall_seconds"] > night["warehouse_job_seconds"] > night["dbt_seconds"] > 0
        assert night["cpu_seconds"] > 0 and night["peak_rss_bytes"] > 0
        assert night["outside_jobs_seconds"] > night["code_location_seconds"] > 0
        assert night["state_before"]["files"] > 0 and night["state_before"]["sha256"]
        assert night["model_seconds"] and night["test_seconds"], "every night keeps its nodes' seconds"
    full_dates = report["full"]["first"]["dump_dates"]
    assert len(full_dates) == 2 and set(report["full"]) == {"first"}, "only the first checkout ran the full night"
    assert report["kept_states"]["second"] == report["kept_states"]["first"], "the second starts from a copy"
    first, second = (next(n for n in report["nights"] if n["checkout"] == label) for label in ("first", "second"))
    # A full parse when the night loads its code location would add about 4 s (section BD of docs/performance.md).
    assert second["code_location_seconds"] < first["code_location_seconds"] + 2.5, "parsed before its night"

    for night in report["nights"]:
        assert len(night["dump_dates"]) == 1 and night["dump_dates"][0] > full_dates[-1], "the held-back dump lands"
        assert night["ingest_seconds"] > 0
    assert report["nights"][0]["dump_dates"] == report["nights"][1]["dump_dates"]
    assert not (out / "data").exists(), "the dumps and warehouses are deleted unless --keep"


@pytest.mark.slow
def test_the_report_compares_each_checkout_with_the_first_round_by_round(alternation):
    report, out = alternation
    assert set(report["summary"]) == {"one-day"}, "only the kind of night asked for is reported"
    paired = report["summary"]["one-day"]["against_first"]["second"]
    first, second = report["nights"]
    assert paired["wall_seconds"]["median"] == pytest.approx(second["wall_seconds"] - first["wall_seconds"], abs=0.002)
    assert paired["wall_seconds"]["n"] == 1 and report["summary"]["one-day"]["nodes"]["second"]
    markdown = (out / "alternation.md").read_text()
    assert "## The one-day night" in markdown and "## A night with nothing new" not in markdown
    assert markdown.count("**second against first**, round by round") == 1
    assert markdown.count("The night run first in a round minus the one run last") == 1
    first, second = report["checkouts"]
    assert first["commit"] and second["commit"] is None, "the copy is no git checkout, and the report says so"
    assert "not a git checkout" in markdown
    assert "| mean, 95% interval |" in markdown and "one round: none" in markdown, "one round settles nothing"
    assert "Run by first only (--one-full-night)" in markdown and "a copy of first's full night" in markdown
