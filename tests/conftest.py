"""Session fixtures: one realistic sample retailer, generated, ingested and built once for the whole run.

Each stage runs the real thing: the generator writes real dump files, ingestion runs as Dagster
materialisations per dump date, and dbt builds the warehouse through the dagster-dbt assets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SAMPLE_SEED = 11
SAMPLE_PERSONS = 1500
SAMPLE_DAYS = 3


@pytest.fixture(params=["lines in memory", "lines on disk"])
def line_store(request, monkeypatch) -> str:
    """Ingestion holds a small file's lines in memory and a big one's in a scratch Parquet file: run both."""
    from orchestration.ingest import loader

    if request.param == "lines on disk":
        monkeypatch.setattr(loader, "LINES_IN_MEMORY_MAX_BYTES", 0)
    return request.param


@pytest.fixture(scope="session")
def dagster_instance(tmp_path_factory) -> dg.DagsterInstance:
    """A throwaway instance with the project's storage (dagster.yaml), so every Dagster test runs on it."""
    from orchestration.event_log_storage import storage_settings

    storage = tmp_path_factory.mktemp("dagster_storage")
    with dg.instance_for_test(overrides=storage_settings(str(storage))) as instance:
        yield instance


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    """A data directory holding the sample retailer's dumps and ground truth (nothing loaded yet)."""
    from orchestration.sample_data import GeneratorConfig, generate

    root = tmp_path_factory.mktemp("retailer")
    generate(root, GeneratorConfig(seed=SAMPLE_SEED, persons=SAMPLE_PERSONS, days=SAMPLE_DAYS))
    return root


def materialize_ingest(root: Path, instance: dg.DagsterInstance, dump_dates: list[str]) -> list[dg.ExecuteInProcessResult]:
    from orchestration.ingest.assets import ingest_assets
    from orchestration.ingest.partitions import dump_date_partitions
    from orchestration.resources import DataDirResource

    known = set(instance.get_dynamic_partitions(dump_date_partitions.name))
    instance.add_dynamic_partitions(dump_date_partitions.name, [d for d in dump_dates if d not in known])
    return [
        dg.materialize(ingest_assets, partition_key=dump_date, instance=instance, raise_on_error=False,
                       resources={"data_dir": DataDirResource(data_dir=str(root))})
        for dump_date in dump_dates
    ]


@pytest.fixture(scope="session")
def ingested_root(sample_root, dagster_instance) -> Path:
    """The sample retailer with every dump ingested into the lake by real Dagster runs."""
    from orchestration.ingest.partitions import complete_dump_dates
    from orchestration.settings import data_paths

    results = materialize_ingest(sample_root, dagster_instance, complete_dump_dates(data_paths(sample_root)))
    assert all(result.success for result in results), "ingesting the sample retailer failed"
    return sample_root


def materialize_warehouse(root: Path, instance: dg.DagsterInstance,
                          models: list[str] | None = None) -> dg.ExecuteInProcessResult:
    """The warehouse build through Dagster on `root`: every model, or only those named in `models`."""
    from orchestration.dbt.assets import dbt_resource, warehouse_models
    from orchestration.resources import DataDirResource

    selection = None if models is None else [key for key in warehouse_models.keys if key.path[-1] in models]
    return dg.materialize(
        [warehouse_models], selection=selection, instance=instance, raise_on_error=False,
        resources={"data_dir": DataDirResource(data_dir=str(root)), "dbt": dbt_resource()},
    )


@pytest.fixture(scope="session")
def built_warehouse(ingested_root, dagster_instance) -> Path:
    """The sample retailer ingested and built by `dbt build` (through Dagster); returns the data directory."""
    result = materialize_warehouse(ingested_root, dagster_instance)
    assert result.success, "dbt build on the sample retailer failed: see the dbt output above"
    return ingested_root


def warehouse_connection(root: Path):
    import duckdb

    from orchestration.settings import data_paths

    return duckdb.connect(str(data_paths(root).warehouse), read_only=True)


def delete_customers_as_the_model_does(con, model: str, customer_ids: list[str]) -> None:
    """Delete customers' rows from `model` (the profiles or a summary, which record the customers they delete) the
    way its post-hook does: each key recorded in departed_values, where the models reading it look for the
    customers to delete or to derive again."""
    for customer_id in customer_ids:
        con.execute(f"delete from {model} where customer_id = ?", [customer_id])
        con.execute("insert into departed_values values (?, ?, now() at time zone 'UTC')",
                    [f"model.retail_cdp.{model}", customer_id])


def change_log_out_of_date(con, limit: int = 5) -> list[tuple]:
    """Identifiers whose latest identity_change_log row is not their current assignment: an identifier assessed
    now must end on its customer_id (null when blocked), not be missing or logged as removed; one no record
    carries any more must end on `removed`. Returns up to `limit` of them (empty when the log is up to date)."""
    return con.execute("""
        with latest as (
            select identifier_key, customer_id, change_type
            from identity_change_log
            qualify row_number() over (partition by identifier_key order by changed_at desc, change_type) = 1
        ),

        current_assignments as (
            select assessed.identifier_key, resolved.customer_id
            from int_identifiers_assessed as assessed
            left join int_identifiers_resolved as resolved using (identifier_key)
        )

        select
            coalesce(current_assignments.identifier_key, latest.identifier_key) as identifier_key,
            latest.change_type as logged_change,
            latest.customer_id as logged_customer_id,
            current_assignments.customer_id as current_customer_id
        from current_assignments
        full join latest
            on current_assignments.identifier_key = latest.identifier_key
        where (current_assignments.identifier_key is null and latest.change_type <> 'removed')
            or (current_assignments.identifier_key is not null and (
                latest.identifier_key is null
                or latest.change_type = 'removed'
                or latest.customer_id is distinct from current_assignments.customer_id
            ))
        order by 1
        limit ?
    """, [limit]).fetchall()


@dataclass(frozen=True)
class TwoNights:
    """The sample retailer built night by night: all dumps but the last, then the last one incrementally."""

    root: Path
    identifiers_before: dict[str, str]  # identifier_key -> customer_id after the first night
    change_log_rows_before: int
    returned_order_id: str  # an order of the first dump that the last dump re-delivers as returned


@pytest.fixture(scope="session")
def two_nights_rebuilt(two_nights, dagster_instance, tmp_path_factory) -> Path:
    """The same lake as `two_nights`, built in one full build into a fresh warehouse."""
    from orchestration.settings import data_paths

    root = tmp_path_factory.mktemp("two_nights_rebuilt")
    shutil.copytree(data_paths(two_nights.root).lake, data_paths(root).lake)
    assert materialize_warehouse(root, dagster_instance).success, "full build of the two nights' lake failed"
    return root


@pytest.fixture(scope="session")
def two_nights(sample_root, dagster_instance, tmp_path_factory) -> TwoNights:
    from orchestration.settings import data_paths

    root = tmp_path_factory.mktemp("two_nights")
    shutil.copytree(data_paths(sample_root).landing, data_paths(root).landing)
    shutil.copytree(data_paths(sample_root).ground_truth, data_paths(root).ground_truth)
    dump_dates = sorted(p.name for p in data_paths(root).landing.iterdir())
    assert len(dump_dates) >= 3

    assert all(r.success for r in materialize_ingest(root, dagster_instance, dump_dates[:-1]))
    assert materialize_warehouse(root, dagster_instance).success, "first night failed"
    with warehouse_connection(root) as con:
        before = dict(con.execute("select identifier_key, customer_id from int_identifiers_resolved").fetchall())
        log_before = con.execute("select count(*) from identity_change_log").fetchone()[0]

    returned_order_id = _return_an_old_order(data_paths(root).landing, dump_dates[0], dump_dates[-1])
    assert all(r.success for r in materialize_ingest(root, dagster_instance, dump_dates[-1:]))
    assert materialize_warehouse(root, dagster_instance).success, "second (incremental) night failed"
    return TwoNights(root=root, identifiers_before=before, change_log_rows_before=log_before,
                     returned_order_id=returned_order_id)


@pytest.fixture()
def warehouse_copy(two_nights, tmp_path) -> Path:
    """A data directory holding a copy of the night-by-night warehouse, for tests that write into it."""
    from orchestration.settings import data_paths

    copy = data_paths(tmp_path).warehouse
    copy.parent.mkdir(parents=True)
    shutil.copy(data_paths(two_nights.root).warehouse, copy)
    return tmp_path


def dbt_target_dir(root: Path) -> Path:
    """run_dbt's target folder for the data directory `root` (compiled SQL under compiled/)."""
    return root / "dbt_target"


def run_benchmark(module: str, *args: str, timeout: int) -> None:
    """Run a benchmark command (`python -m benchmarks.<module>`) as a user would, telemetry off, its data under its
    own --out rather than CDP_DATA_DIR; fails the test with the end of its output when it fails."""
    import sys

    from orchestration.settings import PROJECT_ROOT

    env = {**os.environ, "DO_NOT_TRACK": "1", "GX_ANALYTICS_ENABLED": "false"}
    env.pop("CDP_DATA_DIR", None)
    completed = subprocess.run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=timeout)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]


def run_dbt(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The dbt command line (`args`: a command and its options) on the data directory `root`, output captured.

    Its own target folder under `root` (dbt_target_dir), so tests that run dbt side by side never share compiled
    files. dbt runs in `root` with the data directory given as `.`: the profile it renders (the warehouse path is
    part of it) is then the same for every test, so each new target folder starts from the parse state another
    test's dbt left (`_shared_parse_state`) and dbt parses only what changed, instead of the whole project (about
    3.5 s per test here).
    """
    from orchestration.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, PARTIAL_PARSE_FILE, TELEMETRY_OFF
    from orchestration.settings import DATA_DIR_ENV

    target = dbt_target_dir(root)
    parse_state = target / PARTIAL_PARSE_FILE
    shared = _shared_parse_state.get("file")
    if shared and shared.exists() and not parse_state.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared, parse_state)
    completed = subprocess.run(
        [str(DBT_EXECUTABLE), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target)],
        cwd=root, env={**os.environ, **TELEMETRY_OFF, DATA_DIR_ENV: "."}, capture_output=True, text=True,
    )
    # A state parsed with --vars would make the next runs without them parse everything again.
    if shared and parse_state.exists() and not shared.exists() and "--vars" not in args:
        shutil.copy(parse_state, shared)
    return completed


# dbt's saved parse state, as the first run_dbt of the session left it (run_dbt). Its file lies in the session's
# own temporary folder: a session never reads the parse state of another checkout or dbt version.
_shared_parse_state: dict[str, Path] = {}


@pytest.fixture(scope="session", autouse=True)
def _shared_parse_state_file(tmp_path_factory):
    from orchestration.dbt.project import PARTIAL_PARSE_FILE

    _shared_parse_state["file"] = tmp_path_factory.mktemp("dbt-parse-state") / PARTIAL_PARSE_FILE


def _return_an_old_order(landing: Path, first_dump: str, last_dump: str) -> str:
    """The last dump also re-delivers an order of the first dump, now returned: an old order changes.

    A short sample rarely has one, and it is what makes incremental order lines rewrite stored rows.
    """
    first_orders = sorted((landing / first_dump / "shop").glob("orders_*.csv"))[0]
    header, *rows = first_orders.read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    delivered = next(row.split(",") for row in rows if row.split(",")[columns.index("status")] == "delivered")
    delivered[columns.index("status")] = "returned"
    delivered[columns.index("updated_at")] = f"{last_dump} 09:00:00"
    last_orders = sorted((landing / last_dump / "shop").glob("orders_*.csv"))[-1]
    text = last_orders.read_text(encoding="utf-8")
    last_orders.write_text(text + ("" if text.endswith("\n") else "\n") + ",".join(delivered) + "\n",
                           encoding="utf-8")
    return delivered[columns.index("order_id")]
