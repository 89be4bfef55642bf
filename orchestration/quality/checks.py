"""The quality gate as blocking Dagster asset checks.

    reconciliation_within_tolerance   on marts/reconciliation_orders_daily
    profile_integrity                 on marts/customers

Both read the warehouse read-only, run the Great Expectations suites (expectations/suites.py) with the
thresholds of expectations/thresholds.yml, and return an AssetCheckResult with the figures as metadata. They
are blocking: when one fails, nothing downstream of its asset (the exports) runs, and a readable report is
written to <data>/exports/gate_failures/<as_of>-<check>.md (.json) for the people who must act.

Register them with `gate_checks` (see docs/quality_gate.md). No `from __future__ import annotations` here:
Dagster reads the `context` annotation at definition time.
"""

from collections.abc import Callable
from typing import Any

import dagster as dg

from orchestration.quality.results import GateResult
from orchestration.resources import DataDirResource
from orchestration.settings import DataPaths

RECONCILIATION_ASSET = dg.AssetKey(["marts", "reconciliation_orders_daily"])
CUSTOMERS_ASSET = dg.AssetKey(["marts", "customers"])


@dg.asset_check(
    asset=RECONCILIATION_ASSET,
    name="reconciliation_within_tolerance",
    blocking=True,
    description=(
        "Every source system's orders per business day and cut (shop; erp by channel; pos by store) agree with "
        "its control totals within the tolerances of expectations/thresholds.yml, and no day is missing on "
        "either side. Blocks the exports when it fails."
    ),
)
def reconciliation_within_tolerance(context: dg.AssetCheckExecutionContext, data_dir: DataDirResource) -> dg.AssetCheckResult:
    from orchestration.quality.reconciliation import CHECK_NAME, check_reconciliation

    return _run_gate(context, data_dir.paths(), CHECK_NAME, check_reconciliation)


@dg.asset_check(
    asset=CUSTOMERS_ASSET,
    name="profile_integrity",
    blocking=True,
    description=(
        "customers: customer_id unique and not null; no orphan orders (every order's customer exists); no one "
        "contactable on a channel without consent, an address, or with a suppression. Blocks the exports when "
        "it fails."
    ),
)
def profile_integrity(context: dg.AssetCheckExecutionContext, data_dir: DataDirResource) -> dg.AssetCheckResult:
    from orchestration.quality.integrity import CHECK_NAME, check_profile_integrity

    return _run_gate(context, data_dir.paths(), CHECK_NAME, check_profile_integrity)


gate_checks = [reconciliation_within_tolerance, profile_integrity]


def _run_gate(
    context: dg.AssetCheckExecutionContext, paths: DataPaths, check: str, run: Callable[[DataPaths], GateResult],
) -> dg.AssetCheckResult:
    from orchestration.quality.history import HistorySettingError
    from orchestration.quality.suspects import SuiteNotCoveredError
    from orchestration.quality.reports import resolve_failure_report, write_failure_report
    from orchestration.quality.thresholds import ThresholdsError
    from orchestration.quality.warehouse import WarehouseNotReadyError, as_of_date

    as_of = as_of_date(paths)
    try:
        result = run(paths)
    except (ThresholdsError, WarehouseNotReadyError, HistorySettingError, SuiteNotCoveredError) as error:
        # Not a data problem but one a person must fix before the gate can say anything: fail, don't crash.
        result = GateResult(name=check, passed=False, description=str(error), metadata={"error": str(error)})
    metadata = check_metadata(result)
    if result.passed:
        resolved = resolve_failure_report(paths, check, as_of, run_id=context.run.run_id, note=result.description)
        if resolved:
            metadata["resolved_failure_report"] = dg.MetadataValue.path(str(resolved))
    else:
        report = write_failure_report(paths, check, result, as_of=as_of, run_id=context.run.run_id)
        metadata["failure_report"] = dg.MetadataValue.path(str(report))
        context.log.error(f"{check} failed: {result.description}. Report: {report}")
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=result.description[:2000],
        metadata=metadata,
    )


def check_metadata(result: GateResult) -> dict[str, Any]:
    """GateResult.metadata as Dagster metadata: markdown tables as markdown, structures as JSON."""
    out: dict[str, Any] = {}
    for key, value in result.metadata.items():
        if value is None:
            continue
        if isinstance(value, str) and (value.startswith("|") or value.startswith("_")):
            out[key] = dg.MetadataValue.md(value)
        elif isinstance(value, (dict, list)):
            out[key] = dg.MetadataValue.json(value)
        elif isinstance(value, bool) or isinstance(value, (int, float, str)):
            out[key] = value
        else:
            out[key] = str(value)
    out["failed_expectations"] = dg.MetadataValue.json([failed.summary() for failed in result.failed_expectations])
    out["expectations_evaluated"] = result.evaluated_expectations
    if result.data_docs:
        out["data_docs"] = dg.MetadataValue.path(result.data_docs)
    if result.data_docs_pages:
        out["data_docs_pages"] = dg.MetadataValue.json(result.data_docs_pages)
    return out
