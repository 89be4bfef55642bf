"""The quality gate: reconciliation with the source systems, profile integrity, the export contract, thresholds.

The asset checks run through real Dagster on the sample retailer (the session's `built_warehouse`). The breach
scenario tampers the ERP's control totals of the latest business day in a copy of the data directory,
re-ingests that dump's control file and rebuilds the models that read it, exactly as an engineer would.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.conftest import warehouse_connection

pytestmark = pytest.mark.slow

THRESHOLDS_FILE = Path(__file__).resolve().parent.parent / "expectations" / "thresholds.yml"
CONTROL_KEY = dg.AssetKey(["raw", "control", "totals"])
RECONCILIATION_KEY = dg.AssetKey(["marts", "reconciliation_orders_daily"])
CUSTOMERS_KEY = dg.AssetKey(["marts", "customers"])


# ---------------------------------------------------------------------------------------------- helpers

def run_gate_checks(root: Path, instance: dg.DagsterInstance) -> dict[str, dg.AssetCheckEvaluation]:
    """Both gate checks, alone, through Dagster against the warehouse under ``root``."""
    from orchestration.quality.checks import gate_checks
    from orchestration.resources import DataDirResource

    result = dg.materialize(
        [dg.AssetSpec(RECONCILIATION_KEY), dg.AssetSpec(CUSTOMERS_KEY), *gate_checks],
        selection=dg.AssetSelection.checks(*gate_checks),
        resources={"data_dir": DataDirResource(data_dir=str(root))}, instance=instance, raise_on_error=False,
    )
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}


@dg.asset(deps=[RECONCILIATION_KEY], key=dg.AssetKey(["exports", "gate_probe"]))
def gate_probe() -> None:
    """Stands in for an export: downstream of the reconciliation model, so the blocking check guards it."""


def latest_dump_and_day(root: Path) -> tuple[str, str]:
    from orchestration.ingest.partitions import complete_dump_dates
    from orchestration.settings import data_paths

    latest = max(complete_dump_dates(data_paths(root)))
    return latest, (date.fromisoformat(latest) - timedelta(days=1)).isoformat()


def set_erp_control_amount(root: Path, dump_date: str, day: str, amount: float) -> None:
    """Rewrites the ERP's reported total amount of ``day`` in the control file of ``dump_date``."""
    (path,) = (root / "landing" / dump_date / "control").glob("control_totals_*.csv")
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    prefix = f"erp,{day},total,"
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    assert len(hits) == 1, f"expected one ERP total for {day} in {path}"
    ending = lines[hits[0]][len(lines[hits[0]].rstrip("\r\n")):]
    fields = lines[hits[0]].rstrip("\r\n").split(",")
    fields[-1] = f"{amount:.2f}"
    lines[hits[0]] = ",".join(fields) + ending
    path.write_bytes("".join(lines).encode("utf-8"))


def reingest_control_and_rebuild(root: Path, dump_date: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Re-ingests the dump's control totals, then rebuilds staging (its views point at this copy's lake), the
    as-of date and the reconciliation model, with the gate checks and a probe downstream of the model."""
    from orchestration.dbt.assets import dbt_resource, warehouse_models
    from orchestration.exports.assets import EXPORT_KEYS, export_assets
    from orchestration.ingest.assets import ingest_assets
    from orchestration.quality.checks import gate_checks
    from orchestration.resources import DataDirResource

    resources = {"data_dir": DataDirResource(data_dir=str(root))}
    ingested = dg.materialize(ingest_assets, selection=[CONTROL_KEY], partition_key=dump_date, instance=instance,
                              resources=resources, raise_on_error=False)
    assert ingested.success, "re-ingesting the tampered control totals failed"
    selection = (
        dg.AssetSelection.groups("staging")
        | dg.AssetSelection.assets(dg.AssetKey(["intermediate", "int_as_of_date"]), RECONCILIATION_KEY)
        | dg.AssetSelection.assets(gate_probe.key, *EXPORT_KEYS)
    )
    result = dg.materialize(
        [warehouse_models, *gate_checks, gate_probe, *export_assets], selection=selection, instance=instance,
        resources={**resources, "dbt": dbt_resource()}, raise_on_error=False,
    )
    built = {event.asset_key for event in result.get_asset_materialization_events()}
    assert RECONCILIATION_KEY in built, "rebuilding reconciliation_orders_daily failed: see the dbt output above"
    return result


def exports_fingerprint(root: Path) -> dict[str, str]:
    """Every published export file (and latest pointer) with its checksum; gate reports excluded."""
    import hashlib

    exports = root / "exports"
    return {
        str(path.relative_to(exports)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(exports.rglob("*")) if path.is_file() and "gate_failures" not in path.parts
    }


def check_evaluation(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert len(evaluations) == 1, f"check {name} did not run exactly once"
    return evaluations[0]


def audience(n: int, segment: str = "win_back", **columns) -> pd.DataFrame:
    frame = pd.DataFrame({
        "segment": [segment] * n,
        "customer_id": [f"cus_{segment}_{i:05d}" for i in range(n)],
        "email": [f"p{i}@mail.ru" for i in range(n)],
        "phone": [f"+7916{i:07d}" for i in range(n)],
        "first_name": ["Анна"] * n,
        "is_email_contactable": [True] * n,
        "is_sms_contactable": [True] * n,
    })
    for name, values in columns.items():
        frame[name] = values
    return frame


# ---------------------------------------------------------------------------------------------- thresholds

def test_thresholds_file_reads_as_documented():
    from orchestration.quality.thresholds import load_thresholds

    thresholds = load_thresholds(THRESHOLDS_FILE)
    assert thresholds.window == "latest_dump"
    assert thresholds.tolerances == {s: {"order_count": 0.01, "order_amount": 0.01} for s in ("shop", "erp", "pos")}
    assert thresholds.segment_size_max_relative_change == 0.5
    assert thresholds.parameters()["erp__order_amount_max_relative_difference"] == 0.01


@pytest.mark.parametrize("edit, expected", [
    (lambda d: d["reconciliation"]["tolerances"]["erp"].update(order_amount_max_relative_diference=0.01),
     ["reconciliation.tolerances.erp.order_amount_max_relative_diference", "unknown key",
      "did you mean 'order_amount_max_relative_difference'"]),
    (lambda d: d["reconciliation"]["tolerances"]["erp"].update(order_amount_max_relative_difference=1),
     ["reconciliation.tolerances.erp.order_amount_max_relative_difference", "would mean 100%", "write 0.01"]),
    (lambda d: d["reconciliation"]["tolerances"]["pos"].update(order_count_max_relative_difference="1%"),
     ["order_count_max_relative_difference", "1% -> 0.01"]),
    (lambda d: d["reconciliation"]["tolerances"].update(epr={"order_count_max_relative_difference": 0.02}),
     ["reconciliation.tolerances.epr", "did you mean 'erp'"]),
    (lambda d: d["reconciliation"].update(window="latest"), ["reconciliation.window", "latest_dump"]),
    (lambda d: d["reconciliation"].update(cut_overrides=[{"source": "pos", "cut": "shop",
                                                          "order_count_max_relative_difference": 0.05}]),
     ["cut_overrides #1.cut", "pos has no cut 'shop'"]),
    (lambda d: d["exports"].update(segment_size_max_relative_change=50), ["would mean 5000%", "write 0.5"]),
])
def test_threshold_mistakes_fail_loudly_naming_file_and_key(tmp_path, edit, expected):
    import yaml

    from orchestration.quality.thresholds import ThresholdsError, load_thresholds

    document = yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / "thresholds.yml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ThresholdsError) as raised:
        load_thresholds(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_a_key_written_twice_is_rejected(tmp_path):
    from orchestration.quality.thresholds import ThresholdsError, load_thresholds

    text = THRESHOLDS_FILE.read_text(encoding="utf-8").replace(
        "    erp:\n", "    erp:\n      order_amount_max_relative_difference: 0.05\n", 1)
    path = tmp_path / "thresholds.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdsError, match="appears twice"):
        load_thresholds(path)


def test_most_specific_cut_override_wins():
    import yaml

    from orchestration.quality.thresholds import parse_thresholds

    document = yaml.safe_load(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    document["reconciliation"]["cut_overrides"] = [
        {"source": "pos", "cut": "store", "order_count_max_relative_difference": 0.05},
        {"source": "pos", "cut": "store", "cut_value": "S07", "order_count_max_relative_difference": 0.2,
         "reason": "till clock"},
    ]
    thresholds = parse_thresholds(document)
    assert thresholds.tolerance("pos", "store", "S07", "order_count").value == 0.2
    assert thresholds.tolerance("pos", "store", "S01", "order_count").value == 0.05
    assert thresholds.tolerance("pos", "store", "S07", "order_amount").value == 0.01  # override sets count only
    assert thresholds.tolerance("pos", "total", "all", "order_count").rule == "pos"


# ---------------------------------------------------------------------------------------------- reconciliation

def test_reconciliation_model_agrees_with_the_systems_on_the_latest_dump(built_warehouse):
    with warehouse_connection(built_warehouse) as con:
        rows = con.execute("""
            select source_system, cut, count(*), max(abs(count_diff_rel)), max(abs(amount_diff_rel)),
                   bool_or(is_missing_in_control), bool_or(is_missing_in_warehouse)
            from reconciliation_orders_daily where is_in_latest_dump_window group by all order by all
        """).fetchall()
        days = con.execute("select distinct business_date from reconciliation_orders_daily "
                           "where is_in_latest_dump_window order by 1").fetchall()
    assert {(source, cut) for source, cut, *_ in rows} == {
        ("shop", "total"), ("erp", "total"), ("erp", "channel"), ("pos", "total"), ("pos", "store")}
    for source, cut, count, count_diff, amount_diff, missing_control, missing_warehouse in rows:
        assert count_diff <= 0.01 and amount_diff <= 0.01, (source, cut, count_diff, amount_diff)
        assert not missing_control and not missing_warehouse
    _, latest_day = latest_dump_and_day(built_warehouse)
    assert [str(day) for (day,) in days][-1] == latest_day and len(days) == 2  # the day and its restatement


def test_gate_passes_on_the_clean_sample_through_dagster(built_warehouse, dagster_instance):
    from orchestration.quality.gx_runner import data_docs_index
    from orchestration.settings import data_paths

    evaluations = run_gate_checks(built_warehouse, dagster_instance)
    reconciliation = evaluations["reconciliation_within_tolerance"]
    integrity = evaluations["profile_integrity"]
    assert reconciliation.passed, reconciliation.description
    assert integrity.passed, integrity.description
    assert reconciliation.metadata["rows_checked"].value > 0
    assert reconciliation.metadata["days_checked"].value == 2
    assert "| day | source |" in reconciliation.metadata["differences_by_day"].value
    assert set(reconciliation.metadata["worst_difference"].value) >= {"day", "source", "cut", "metric", "value"}
    assert integrity.metadata["duplicate_customer_ids"].value == 0
    assert integrity.metadata["orphan_orders"].value == 0
    assert data_docs_index(data_paths(built_warehouse)).exists()
    assert not (built_warehouse / "exports" / "gate_failures").exists()


@pytest.fixture(scope="module")
def tampered_story(built_warehouse, dagster_instance, tmp_path_factory):
    """A copy of the sample whose ERP reports the latest day's revenue 1.5% below the warehouse (breach),
    then, after the "fix", 0.5% below (within tolerance)."""
    root = tmp_path_factory.mktemp("tampered")
    for folder in ("landing", "lake"):
        shutil.copytree(built_warehouse / folder, root / folder)
    (root / "warehouse").mkdir()
    shutil.copy2(built_warehouse / "warehouse" / "cdp.duckdb", root / "warehouse" / "cdp.duckdb")
    dump_date, day = latest_dump_and_day(root)
    with warehouse_connection(built_warehouse) as con:
        (amount,) = con.execute(
            "select warehouse_order_amount from reconciliation_orders_daily "
            "where source_system = 'erp' and cut = 'total' and business_date = ?", [day]).fetchone()
    story = {"root": root, "dump_date": dump_date, "day": day, "amount": float(amount)}
    # Last night's export, published while the numbers agreed: the breach must leave it exactly as it is.
    from orchestration.exports.assets import export_assets
    from orchestration.resources import DataDirResource

    assert dg.materialize(export_assets, instance=dagster_instance,
                          resources={"data_dir": DataDirResource(data_dir=str(root))}).success
    story["exports_before"] = exports_fingerprint(root)
    set_erp_control_amount(root, dump_date, day, float(amount) / 1.015)
    story["breach"] = reingest_control_and_rebuild(root, dump_date, dagster_instance)
    story["breach_reports"] = sorted(p.name for p in (root / "exports" / "gate_failures").glob("*"))
    story["exports_after_breach"] = exports_fingerprint(root)
    set_erp_control_amount(root, dump_date, day, float(amount) / 1.005)
    story["fixed"] = reingest_control_and_rebuild(root, dump_date, dagster_instance)
    story["fixed_reports"] = sorted(p.name for p in (root / "exports" / "gate_failures").glob("*"))
    return story


def test_a_one_and_a_half_percent_erp_revenue_gap_fails_the_gate_naming_day_source_metric(tampered_story):
    evaluation = check_evaluation(tampered_story["breach"], "reconciliation_within_tolerance")
    day = tampered_story["day"]
    assert not evaluation.passed
    assert evaluation.description.startswith(f"{day} erp amount differs by +1.5")
    assert "(tolerance 1%)" in evaluation.description
    worst = evaluation.metadata["worst_difference"].value
    assert (worst["day"], worst["source"], worst["cut"], worst["metric"]) == (day, "erp", "total", "order_amount")
    assert worst["value"] == pytest.approx(0.015, abs=2e-4)
    assert "**BREACH**" in evaluation.metadata["differences_by_day"].value
    assert evaluation.metadata["breach_count"].value == 1  # the channels still agree: only the total is off


def test_the_failed_gate_blocks_what_is_downstream_and_writes_a_report(tampered_story):
    result = tampered_story["breach"]
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert RECONCILIATION_KEY in materialized
    assert gate_probe.key not in materialized, "a blocking check failed, yet the downstream asset ran"
    dump_date, day = tampered_story["dump_date"], tampered_story["day"]
    stem = f"{dump_date}-reconciliation_within_tolerance"
    assert tampered_story["breach_reports"] == [f"{stem}.json", f"{stem}.md"]
    report = (tampered_story["root"] / "exports" / "gate_failures" / f"{stem}.resolved.md").read_text(encoding="utf-8")
    assert f"{day} erp amount differs by +1.5" in report
    assert "## What to do" in report and "Re-run" in report
    assert report.startswith("> **Resolved:** the check passed again")
    # The failed validation's own page, which stays on disk after the Data Docs index stops listing it.
    page = re.search(r"this validation's Data Docs page: `([^`]+)`", report)
    assert page and Path(page.group(1)).is_file()
    assert "/validations/reconciliation_orders_daily/" in page.group(1)
    data = json.loads((tampered_story["root"] / "exports" / "gate_failures" / f"{stem}.resolved.json").read_text())
    assert data["passed"] is False and data["status"] == "resolved"
    assert data["metadata"]["worst_difference"]["source"] == "erp"


def test_the_breach_blocks_every_export_and_leaves_the_previous_one_in_place(tampered_story):
    from orchestration.exports.assets import EXPORT_KEYS

    materialized = {event.asset_key for event in tampered_story["breach"].get_asset_materialization_events()}
    assert not set(EXPORT_KEYS) & materialized, "an export ran although the gate failed"
    assert tampered_story["exports_before"], "the clean night published exports"
    assert tampered_story["exports_after_breach"] == tampered_story["exports_before"]
    fixed = {event.asset_key for event in tampered_story["fixed"].get_asset_materialization_events()}
    assert set(EXPORT_KEYS) <= fixed, "once the numbers agree again, every export runs"


def test_half_a_percent_is_within_tolerance_and_resolves_the_report(tampered_story):
    evaluation = check_evaluation(tampered_story["fixed"], "reconciliation_within_tolerance")
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["worst_difference"].value["value"] == pytest.approx(0.005, abs=2e-4)
    materialized = {event.asset_key for event in tampered_story["fixed"].get_asset_materialization_events()}
    assert gate_probe.key in materialized
    stem = f"{tampered_story['dump_date']}-reconciliation_within_tolerance"
    assert tampered_story["fixed_reports"] == [f"{stem}.resolved.json", f"{stem}.resolved.md"]


# ---------------------------------------------------------------------------------------------- profile integrity

def tampered_customers(built_warehouse: Path, tmp_path: Path, *statements: str):
    """A copy of the warehouse with ``statements`` run on its customers; its DataPaths.

    The customers mart is a view: the statements change the rows under it, in int_customers_assembled.
    """
    import duckdb

    from orchestration.settings import data_paths

    shutil.copytree(built_warehouse / "warehouse", tmp_path / "warehouse")
    paths = data_paths(tmp_path)
    with duckdb.connect(str(paths.warehouse)) as con:
        for statement in statements:
            con.execute(statement)
    return paths


def nth_customer(built_warehouse: Path, n: int, condition: str = "true") -> str:
    with warehouse_connection(built_warehouse) as con:
        return con.execute(f"select customer_id from customers where {condition} order by customer_id "
                           f"limit 1 offset {n}").fetchone()[0]


def test_a_clean_mart_validates_one_row_and_counts_every_customer(built_warehouse):
    """Only the rows that can break the customers suite reach GX; on a sound mart that is the first customer
    alone (so the batch is empty exactly when the mart is), while the figures count the whole mart."""
    from orchestration.quality.integrity import read_customers
    from orchestration.settings import data_paths

    customers = read_customers(data_paths(built_warehouse))
    with warehouse_connection(built_warehouse) as con:
        count, first, sms = con.execute(
            "select count(*), min(customer_id), count(*) filter (where is_sms_contactable) from customers").fetchone()
    assert customers.suspects["customer_id"].tolist() == [first]
    assert customers.figures["customers_checked"] == count > 1000
    assert customers.figures["contactable_by_channel"]["sms"] == sms > 0


def test_a_duplicated_customer_id_fails_profile_integrity(built_warehouse, tmp_path):
    from orchestration.quality.integrity import check_profile_integrity

    duplicated = nth_customer(built_warehouse, 7)
    paths = tampered_customers(built_warehouse, tmp_path,
                               f"insert into int_customers_assembled select * from int_customers_assembled "
                               f"where customer_id = '{duplicated}'")
    result = check_profile_integrity(paths)
    assert not result.passed
    assert "customer_id is unique" in result.description
    assert duplicated in result.description
    assert result.metadata["duplicate_customer_ids"] == 2
    [failed] = result.failed_expectations
    assert failed.expectation == "expect_column_values_to_be_unique"
    # GX saw the suspect rows; the report counts the failures out of every customer.
    assert (failed.unexpected_count, failed.element_count) == (2, result.metadata["customers_checked"])


def test_contactable_without_consent_fails_profile_integrity(built_warehouse, tmp_path):
    from orchestration.quality.integrity import check_profile_integrity

    first, second = (nth_customer(built_warehouse, n, "not is_sms_contactable") for n in (3, 4))
    paths = tampered_customers(
        built_warehouse, tmp_path,
        f"update int_customers_assembled set is_sms_contactable = true, has_sms_consent = false "
        f"where customer_id in ('{first}', '{second}')")
    result = check_profile_integrity(paths)
    assert [f.description for f in result.failed_expectations] == ["Every sms-contactable customer has sms consent."]
    assert result.metadata["contactable_without_consent_address_or_with_suppression"]["sms"] == 2
    [failed] = result.failed_expectations
    # Out of the customers the expectation's row condition selects in the whole mart: the sms-contactable ones.
    assert failed.element_count == result.metadata["contactable_by_channel"]["sms"]
    assert {row["customer_id"] for row in failed.sample} == {first, second}


def test_addresses_are_judged_by_the_suites_own_regular_expressions(built_warehouse, tmp_path):
    """DuckDB picks the suspects, Python's re decides: an email with a non-breaking space passes DuckDB's RE2
    (its \\s is ASCII only) but not the suite, so it must still reach GX; a short phone fails both."""
    from orchestration.quality.integrity import check_profile_integrity

    spaced, short = (nth_customer(built_warehouse, n, "email is not null and phone is not null") for n in (5, 6))
    paths = tampered_customers(
        built_warehouse, tmp_path,
        f"update int_customers_assembled set email = 'ivan' || chr(160) || 'petrov@mail.ru' where customer_id = '{spaced}'",
        f"update int_customers_assembled set phone = '+7916' where customer_id = '{short}'")
    result = check_profile_integrity(paths)
    failed = {f.column: f for f in result.failed_expectations}
    assert set(failed) == {"email", "phone"}
    assert [row["customer_id"] for row in failed["email"].sample] == [spaced]
    assert [row["customer_id"] for row in failed["phone"].sample] == [short]
    assert failed["email"].element_count == result.metadata["customers_checked"]


def test_an_empty_customers_mart_fails_profile_integrity(built_warehouse, tmp_path):
    from orchestration.quality.integrity import check_profile_integrity

    result = check_profile_integrity(tampered_customers(built_warehouse, tmp_path, "delete from int_customers_assembled"))
    assert not result.passed
    assert [f.description for f in result.failed_expectations] == [
        "The customers mart is not empty.",  # and every order with a customer is now an orphan
        "No orphan orders: every order's customer_id exists in the customers mart."]
    assert result.metadata["customers_checked"] == 0


def test_an_expectation_the_suspect_queries_do_not_cover_is_refused():
    """The suspects are chosen for each suite's expectations as they are: one added to a suite without its
    query would be checked on the wrong rows, so the check names it and refuses to run."""
    import great_expectations as gx

    from orchestration.quality.gx_runner import suites_module
    from orchestration.quality.integrity import customer_regexes, require_orders_covered
    from orchestration.quality.suspects import SuiteNotCoveredError

    suites = suites_module()
    customers = suites.customers_integrity_suite()
    assert set(customer_regexes(customers)) == {"email", "phone"}
    customers.expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="birth_date"))
    with pytest.raises(SuiteNotCoveredError, match="birth_date.*CUSTOMERS_SQL"):
        customer_regexes(customers)

    orders = suites.orders_integrity_suite()
    require_orders_covered(orders)
    orders.expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="customer_id"))
    with pytest.raises(SuiteNotCoveredError, match="customer_id.*ORDERS_SQL"):
        require_orders_covered(orders)


def test_orphan_and_duplicated_orders_in_the_warehouse_fail_profile_integrity(built_warehouse, tmp_path):
    """Only the orders that can break the suite are read into pandas; tampering a copy of the warehouse
    shows that the query finds them: a customer deleted (its orders become orphans) and an order row
    written twice."""
    from orchestration.quality.integrity import check_profile_integrity, read_orders
    from orchestration.settings import data_paths

    clean = read_orders(data_paths(built_warehouse))
    assert clean.suspects.empty
    with warehouse_connection(built_warehouse) as con:
        assert clean.checked == con.execute("select count(*) from orders where customer_id is not null").fetchone()[0]

    shutil.copytree(built_warehouse / "warehouse", tmp_path / "warehouse")
    paths = data_paths(tmp_path)
    import duckdb

    with duckdb.connect(str(paths.warehouse)) as con:
        orphaned_customer, orphans = con.execute(
            "select customer_id, count(*) from orders where customer_id is not null "
            "group by customer_id order by count(*) desc, customer_id limit 1").fetchone()
        orphan_order = con.execute("select min(order_id) from orders where customer_id = ?",
                                   [orphaned_customer]).fetchone()[0]
        con.execute("delete from int_customers_assembled where customer_id = ?", [orphaned_customer])
        duplicated_order = con.execute(
            "select min(order_id) from orders where customer_id is not null and customer_id <> ?",
            [orphaned_customer]).fetchone()[0]
        con.execute("insert into int_orders_unified select * from int_orders_unified where order_id = ?",
                    [duplicated_order])

    result = check_profile_integrity(paths)
    assert not result.passed
    failed = {f.description: f for f in result.failed_expectations}
    assert set(failed) == {"order_id is unique.",
                           "No orphan orders: every order's customer_id exists in the customers mart."}
    assert result.metadata["orphan_orders"] == orphans
    assert result.metadata["duplicate_order_ids"] == 2
    assert result.metadata["orders_checked"] == clean.checked + 1
    # GX saw only the suspect rows; the report counts the failures out of every order checked.
    assert {f.element_count for f in failed.values()} == {clean.checked + 1}
    assert duplicated_order in json.dumps(failed["order_id is unique."].sample, ensure_ascii=False)
    assert orphan_order in json.dumps(failed["No orphan orders: every order's customer_id exists in the customers mart."].sample, ensure_ascii=False)


def test_a_bad_history_setting_fails_both_checks_naming_it(built_warehouse, dagster_instance, monkeypatch, tmp_path):
    from orchestration.quality.history import HISTORY_DAYS_ENV

    shutil.copytree(built_warehouse / "warehouse", tmp_path / "warehouse")  # the failure reports land in the copy
    monkeypatch.setenv(HISTORY_DAYS_ENV, "ninety")
    evaluations = run_gate_checks(tmp_path, dagster_instance)
    assert set(evaluations) == {"reconciliation_within_tolerance", "profile_integrity"}
    for evaluation in evaluations.values():
        assert not evaluation.passed
        assert HISTORY_DAYS_ENV in evaluation.description


# ---------------------------------------------------------------------------------------------- export contract

def validate(frame: pd.DataFrame, previous: dict[str, int] | None, channel: str = "email", **kwargs):
    from orchestration.quality.export_contract import validate_export_audience

    return validate_export_audience(
        frame, destination="mindbox", channel=channel, required_columns=["customer_id", "email", "first_name"],
        previous_segment_sizes=previous, thresholds=THRESHOLDS_FILE, **kwargs)


def test_export_contract_holds_for_a_clean_audience():
    result = validate(audience(150), {"win_back": 150})
    assert result.passed, result.description


def test_export_contract_fails_on_a_contact_without_consent():
    frame = audience(150)
    frame.loc[3, "is_email_contactable"] = False
    result = validate(frame, None)
    assert not result.passed
    assert "No contact without email consent" in result.description
    assert result.metadata["rows_without_consent"] == 1
    assert frame.loc[3, "customer_id"] in result.description


@pytest.mark.parametrize("previous, current, passes", [
    (100, 160, False), (250, 100, False), (100, 140, True), (250, 150, True), (20, 45, True)])
def test_export_contract_bounds_segment_size_changes(previous, current, passes):
    # ±60% fails, ±40% passes; segments under segment_size_min_rows (100) before and now are not bounded.
    result = validate(audience(current), {"win_back": previous})
    assert result.passed is passes, result.description
    if not passes:
        assert f"segment win_back size changed by {(current - previous) / previous:+.1%}" in result.description


def test_export_contract_fails_on_missing_columns_and_bad_addresses():
    frame = audience(120).drop(columns=["first_name"])
    frame.loc[5, "email"] = "anna at mail.ru"
    frame.loc[6, "phone"] = "89161234567"
    result = validate(frame, None)
    problems = " ".join(result.metadata["problems"])
    assert not result.passed
    assert "requires column 'first_name'" in problems
    assert "Every email is a valid email address: 1 of 120 rows fail" in problems
    assert "Every phone is in E.164: 1 of 120 rows fail" in problems


def test_export_contract_hook_for_the_writer(tmp_path):
    import duckdb

    from orchestration.exports.config import load_destinations
    from orchestration.quality.export_contract import export_contract_check
    from orchestration.settings import data_paths

    destination = next(d for d in load_destinations() if d.channel == "sms")
    with duckdb.connect() as con:
        writer_tables(con, destination, audience_with_every_field(130, segment=destination.segments[0]))
        assert export_contract_check(destination, con, {destination.segments[0]: 120}, paths=data_paths(tmp_path)) == []
        problems = export_contract_check(destination, con, {destination.segments[0]: 400}, paths=data_paths(tmp_path))
    assert problems[0].startswith(f"segment {destination.segments[0]} size changed by -67.5%")
    report = tmp_path / "exports" / "gate_failures" / f"2026-11-20-export_contract-{destination.name}.md"
    assert problems[-1] == f"report: {report}" and report.exists()
    assert (tmp_path / "quality" / "data_docs" / "index.html").exists()


def audience_with_every_field(n: int, segment: str) -> pd.DataFrame:
    from orchestration.exports.config import AUDIENCE_FIELDS

    frame = audience(n, segment=segment, segment_reason=["r"] * n, last_name=["Б"] * n, birth_date=[None] * n,
                     gender=["f"] * n, as_of_date=[date(2026, 11, 20)] * n)
    assert set(AUDIENCE_FIELDS) <= set(frame.columns)
    return frame


def writer_tables(con, destination, frame: pd.DataFrame) -> None:
    """The temp tables the export writer holds when it calls the contract: `audience` and the destination's
    `members` (orchestration/exports/writer.py)."""
    from orchestration.exports.config import contactable_condition

    con.register("frame", frame)
    con.execute("create or replace temp table audience as select * from frame")
    con.unregister("frame")
    segments = ", ".join(f"'{segment}'" for segment in destination.segments)
    con.execute(f"create or replace temp table members as select * from audience "
                f"where segment in ({segments}) and {contactable_condition(destination.channel)}")


def test_destinations_of_one_channel_validate_identical_rows_once(tmp_path):
    """The channel audience passed for one destination is not validated again for the next destination on that
    channel while its rows are identical; one changed row validates it again, and breaks the contract."""
    import duckdb

    from orchestration.exports.config import load_destinations
    from orchestration.quality.export_contract import export_contract_check
    from orchestration.settings import data_paths

    paths = data_paths(tmp_path)
    email = [d for d in load_destinations() if d.channel == "email"]
    assert len(email) >= 2, "destinations.yml sends at least two destinations on email"
    validations = tmp_path / "quality" / "gx" / "uncommitted" / "validations"
    results = validations / "export_contract" / "email_channel" / "audience"

    def audience_validations() -> int:
        return len([path for path in results.rglob("*.json")]) if results.exists() else 0

    frame = pd.concat([audience_with_every_field(60, segment=s) for s in ("rfm", "win_back")], ignore_index=True)
    with duckdb.connect() as con:
        for destination in email:
            writer_tables(con, destination, frame)
            assert export_contract_check(destination, con, None, paths=paths) == []
        assert audience_validations() == 1, "identical rows were validated again"

        remembered = tmp_path / "quality" / "export_audiences" / "email.json"
        remembered.write_text('{"fingerprint": "damaged"}', encoding="utf-8")  # not a complete record: ignored
        assert export_contract_check(email[0], con, None, paths=paths) == []
        assert audience_validations() == 2

        frame.loc[7, "email"] = "not an address"  # one row of the channel's audience changes
        writer_tables(con, email[1], frame)
        problems = export_contract_check(email[1], con, None, paths=paths)
    assert audience_validations() == 3
    assert any("Every email is a valid email address: 1 of 120 rows fail" in problem for problem in problems), problems


def test_one_export_step_validates_a_broken_channel_audience_once_and_fails_each_destination(tmp_path):
    """Within one export step (one ExportContract) the destinations of a channel share its audience's validation:
    a broken audience is validated once, and every destination on the channel fails with its own report."""
    import duckdb

    from orchestration.exports.config import load_destinations
    from orchestration.quality.export_contract import ExportContract
    from orchestration.settings import data_paths

    email = [d for d in load_destinations() if d.channel == "email"]
    results = tmp_path / "quality" / "gx" / "uncommitted" / "validations" / "export_contract" / "email_channel"
    frame = pd.concat([audience_with_every_field(60, segment=s) for s in ("rfm", "win_back")], ignore_index=True)
    frame.loc[3, "email"] = "not an address"
    problems = {}
    with duckdb.connect() as con, ExportContract(data_paths(tmp_path)) as contract:
        for destination in email:
            writer_tables(con, destination, frame)
            problems[destination.name] = contract(destination, con, None)
    assert len(list(results.rglob("*.json"))) == 1, "the same broken rows were validated again"
    for destination in email:
        assert any("Every email is a valid email address: 1 of 120 rows fail" in problem
                   for problem in problems[destination.name]), destination.name
        assert (tmp_path / "exports" / "gate_failures" / f"2026-11-20-export_contract-{destination.name}.md").exists()
    assert (tmp_path / "quality" / "data_docs" / "index.html").exists()


def test_the_channel_audience_is_validated_on_its_suspect_rows(tmp_path):
    """Only the rows that can break the channel audience suite reach GX, chosen by DuckDB: an email with a
    non-breaking space (which DuckDB's regular expressions accept and Python's do not) and a person twice in
    one segment are found, and each failure counts its rows out of the whole channel audience."""
    import duckdb

    from orchestration.exports.config import load_destinations
    from orchestration.quality.export_contract import channel_audience_suspects_sql, export_contract_check
    from orchestration.quality.gx_runner import suites_module
    from orchestration.settings import data_paths

    email = next(d for d in load_destinations() if d.channel == "email")
    frame = pd.concat([audience_with_every_field(60, segment=s) for s in ("rfm", "win_back")], ignore_index=True)
    with duckdb.connect() as con:
        writer_tables(con, email, frame)
        columns = list(frame.columns)
        suites = suites_module()
        sound = con.execute(channel_audience_suspects_sql("email", columns), {
            "email_regex": suites.EMAIL_REGEX, "phone_regex": suites.E164_REGEX}).df()
        assert sound.empty, "a sound audience has no suspects"

        frame.loc[4, "email"] = "ivan" + chr(160) + "petrov@mail.ru"
        frame = pd.concat([frame, frame.iloc[[9]]], ignore_index=True)  # customer 9 twice in its segment
        writer_tables(con, email, frame)
        problems = export_contract_check(email, con, None, paths=data_paths(tmp_path))
    assert any("Every email is a valid email address: 1 of 121 rows fail" in problem for problem in problems), problems
    assert any("Nobody appears twice in one segment: 2 of 121 rows fail" in problem for problem in problems), problems


def test_an_audience_expectation_the_suspect_query_does_not_cover_is_refused():
    import great_expectations as gx

    from orchestration.exports.config import AUDIENCE_FIELDS
    from orchestration.quality.export_contract import audience_expectation_covered
    from orchestration.quality.gx_runner import suites_module
    from orchestration.quality.suspects import SuiteNotCoveredError, require_covered

    columns = list(audience_with_every_field(1, segment="rfm").columns)
    suite = suites_module().export_audience_suite(
        "sms_channel", "sms", list(AUDIENCE_FIELDS), columns, "phone", "is_sms_contactable", "segment")
    require_covered(suite, audience_expectation_covered("sms"), "channel_audience_suspects_sql", "here")
    suite.expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="first_name"))
    with pytest.raises(SuiteNotCoveredError, match="first_name.*channel_audience_suspects_sql"):
        require_covered(suite, audience_expectation_covered("sms"), "channel_audience_suspects_sql", "here")


def test_count_floor_tolerates_a_single_order_but_not_two():
    import pandas as pd

    from orchestration.quality.reconciliation import findings, prepare
    from orchestration.quality.thresholds import load_thresholds

    def frame(warehouse_orders):
        return pd.DataFrame([{
            "source_system": "shop", "business_date": "2026-11-19", "cut": "total", "cut_value": "all",
            "control_order_count": 35, "warehouse_order_count": warehouse_orders,
            "count_diff_rel": (warehouse_orders - 35) / 35,
            "control_order_amount": 50_000.0, "warehouse_order_amount": 49_900.0, "amount_diff_rel": -0.002,
            "is_missing_in_warehouse": False, "is_missing_in_control": False,
        }])

    thresholds = load_thresholds()
    assert thresholds.order_count_max_absolute_difference == 1
    assert findings(prepare(frame(34), thresholds)[0]) == []
    breaches = findings(prepare(frame(33), thresholds)[0])
    assert [(b.metric, round(b.value, 4)) for b in breaches] == [("order_count", round(-2 / 35, 4))]
