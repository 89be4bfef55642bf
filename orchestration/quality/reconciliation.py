"""Reconciliation gate: the warehouse's orders against each source system's control totals.

Reads marts/reconciliation_orders_daily (read-only), keeps the window thresholds.yml asks for, decides which
tolerance applies to each row and metric, runs the GX reconciliation suite with the tolerances as parameters,
and describes the worst breach in words: "2026-11-19 erp amount differs by +1.52% (tolerance 1%)".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from orchestration.quality.gx_runner import data_docs_index, gx_session, run_suite, suites_module
from orchestration.quality.results import GateResult
from orchestration.quality.thresholds import Thresholds, load_thresholds
from orchestration.quality.warehouse import read_frame
from orchestration.settings import DataPaths

if TYPE_CHECKING:
    import pandas as pd

MODEL = "reconciliation_orders_daily"
CHECK_NAME = "reconciliation_within_tolerance"
METRIC_COLUMNS = {"order_count": "count_diff_rel", "order_amount": "amount_diff_rel"}
METRIC_WORDS = {"order_count": "count", "order_amount": "amount"}
INDEX_COLUMNS = ["source_system", "business_date", "cut", "cut_value"]
TABLE_DAYS = 31  # the per-day table in the check's metadata shows at most this many recent days


@dataclass(frozen=True)
class Finding:
    """One reason the gate fails, on one row: a difference beyond tolerance, or a side missing."""

    business_date: str
    source_system: str
    cut: str
    cut_value: str
    metric: str  # order_count | order_amount | day
    kind: str  # difference | undefined | missing_in_warehouse | missing_in_control
    value: float | None  # relative difference
    tolerance: float | None
    tolerance_origin: str
    control: float
    warehouse: float

    @property
    def severity(self) -> float:
        if self.kind != "difference":
            return float("inf")
        return abs(self.value or 0.0) / self.tolerance if self.tolerance else float("inf")

    def where(self) -> str:
        cut = "" if self.cut == "total" else f" {self.cut} {self.cut_value}"
        return f"{self.business_date} {self.source_system}{cut}"

    def text(self) -> str:
        what = METRIC_WORDS.get(self.metric, self.metric)
        if self.kind == "difference":
            return (f"{self.where()} {what} differs by {self.value:+.2%} "
                    f"(tolerance {_percent(self.tolerance)})")
        if self.kind == "undefined":
            return (f"{self.where()} {what}: the system reports 0, the warehouse {self.warehouse:g} "
                    f"(relative difference undefined)")
        if self.kind == "missing_in_warehouse":
            return f"{self.where()}: the system reports {self.control:g} orders, the warehouse has none"
        return f"{self.where()}: missing in the system's control totals (warehouse has {self.warehouse:g} orders)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.business_date, "source": self.source_system, "cut": self.cut, "cut_value": self.cut_value,
            "metric": self.metric, "kind": self.kind, "relative_difference": self.value,
            "tolerance": self.tolerance, "tolerance_from": self.tolerance_origin,
            "control": self.control, "warehouse": self.warehouse, "text": self.text(),
        }


def read_reconciliation(paths: DataPaths) -> "pd.DataFrame":
    return read_frame(paths, f"select * from {MODEL} order by business_date, source_system, cut, cut_value")


def select_window(frame: "pd.DataFrame", window: str | int) -> "pd.DataFrame":
    """The rows the gate checks: see reconciliation.window in expectations/thresholds.yml."""
    if frame.empty or window == "all":
        return frame.reset_index(drop=True)
    if window == "latest_dump":
        return frame[frame["is_in_latest_dump_window"].astype(bool)].reset_index(drop=True)
    latest = frame["latest_dump_date"].max()
    first = latest - timedelta(days=int(window))
    days = frame["business_date"]
    return frame[(days >= first) & (days < latest)].reset_index(drop=True)


def prepare(frame: "pd.DataFrame", thresholds: Thresholds) -> tuple["pd.DataFrame", dict[str, list[str]]]:
    """Adds |relative difference|, the applicable tolerance and its rule per metric; returns the rules used."""
    frame = frame.copy()
    frame["business_date"] = frame["business_date"].astype(str).str.slice(0, 10)
    keys = list(zip(frame["source_system"], frame["cut"], frame["cut_value"]))
    rules: dict[str, list[str]] = {}
    for metric, column in METRIC_COLUMNS.items():
        tolerances = [thresholds.tolerance(source, cut, value, metric) for source, cut, value in keys]
        frame[f"{column}_abs"] = frame[column].abs()
        if metric == "order_count" and thresholds.order_count_max_absolute_difference:
            # A difference of a handful of orders is noise at a few dozen orders a day, not an incident: it
            # counts as no difference. Amounts keep the relative rule, so a lost order that matters still shows.
            orders_apart = (frame["warehouse_order_count"] - frame["control_order_count"]).abs()
            within_floor = orders_apart <= thresholds.order_count_max_absolute_difference
            frame.loc[within_floor, f"{column}_abs"] = 0.0
        frame[f"{metric}_tolerance"] = [tolerance.value for tolerance in tolerances]
        frame[f"{metric}_tolerance_rule"] = [tolerance.rule for tolerance in tolerances]
        frame[f"{metric}_tolerance_from"] = [tolerance.origin for tolerance in tolerances]
        rules[metric] = sorted(set(frame[f"{metric}_tolerance_rule"]))
    return frame, rules


def findings(frame: "pd.DataFrame") -> list[Finding]:
    """Every breach in a prepared frame, worst first (missing sides before differences)."""
    out: list[Finding] = []
    for row in frame.to_dict("records"):
        common = dict(business_date=row["business_date"], source_system=row["source_system"], cut=row["cut"],
                      cut_value=row["cut_value"])
        if row["is_missing_in_warehouse"]:
            out.append(Finding(**common, metric="day", kind="missing_in_warehouse", value=row["count_diff_rel"],
                               tolerance=None, tolerance_origin="", control=float(row["control_order_count"]),
                               warehouse=float(row["warehouse_order_count"])))
        if row["is_missing_in_control"]:
            out.append(Finding(**common, metric="day", kind="missing_in_control", value=None, tolerance=None,
                               tolerance_origin="", control=float(row["control_order_count"]),
                               warehouse=float(row["warehouse_order_count"])))
            continue
        if row["is_missing_in_warehouse"]:
            continue  # the differences are -100%: the missing day says it
        for metric, column in METRIC_COLUMNS.items():
            value, tolerance = row[column], row[f"{metric}_tolerance"]
            control, warehouse = float(row[f"control_{metric}"]), float(row[f"warehouse_{metric}"])
            if value is None or value != value:  # null or NaN: control 0, warehouse not
                out.append(Finding(**common, metric=metric, kind="undefined", value=None, tolerance=tolerance,
                                   tolerance_origin=row[f"{metric}_tolerance_from"], control=control,
                                   warehouse=warehouse))
            elif row[f"{column}_abs"] > tolerance:
                out.append(Finding(**common, metric=metric, kind="difference", value=float(value),
                                   tolerance=float(tolerance), tolerance_origin=row[f"{metric}_tolerance_from"],
                                   control=control, warehouse=warehouse))
    return sorted(out, key=lambda f: (-f.severity, f.business_date, f.source_system, f.cut != "total", f.metric))


def check_reconciliation(paths: DataPaths, thresholds: Thresholds | None = None) -> GateResult:
    """Runs the reconciliation suite on the warehouse under ``paths``."""
    thresholds = thresholds or load_thresholds()
    frame = select_window(read_reconciliation(paths), thresholds.window)
    return validate_reconciliation(frame, thresholds=thresholds, paths=paths)


def validate_reconciliation(frame: "pd.DataFrame", *, thresholds: Thresholds, paths: DataPaths | None) -> GateResult:
    """Validates rows of reconciliation_orders_daily (already windowed) against the tolerances."""
    prepared, rules = prepare(frame, thresholds)
    suites = suites_module()
    with gx_session(paths) as session:
        outcome = run_suite(
            session, frame=prepared, suite=suites.reconciliation_suite(rules), data_source="warehouse",
            asset=MODEL, parameters=thresholds.parameters(), index_columns=INDEX_COLUMNS,
        )
    breaches = findings(prepared)
    passed = outcome.success and not breaches
    metadata = _metadata(prepared, breaches, thresholds)
    if passed:
        description = (f"{metadata['rows_checked']} rows over {metadata['days_checked']} day(s) within tolerance; "
                       f"largest difference: {metadata['worst_difference_text']}")
    elif breaches:
        more = f"; and {len(breaches) - 3} more" if len(breaches) > 3 else ""
        description = "; ".join(finding.text() for finding in breaches[:3]) + more
    elif prepared.empty:
        description = (f"no reconciliation rows in the window {thresholds.window!r}: the control totals of the "
                       f"latest dump did not arrive or the model is empty")
    else:
        description = "; ".join(failed.summary() for failed in outcome.failed[:3])
    return GateResult(
        name=CHECK_NAME, passed=passed, description=description, failed_expectations=outcome.failed,
        metadata=metadata, evaluated_expectations=outcome.evaluated,
        data_docs=str(data_docs_index(paths)) if paths else None,
        data_docs_pages=[outcome.page] if outcome.page else [],
    )


def _metadata(frame: "pd.DataFrame", breaches: list[Finding], thresholds: Thresholds) -> dict[str, Any]:
    worst = _worst_difference(frame)
    by_source = {}
    for source, group in frame.groupby("source_system", sort=True):
        by_source[source] = {
            metric: _round(group[f"{column}_abs"].max()) for metric, column in METRIC_COLUMNS.items()
        }
    days = sorted(frame["business_date"].unique()) if not frame.empty else []
    return {
        "window": str(thresholds.window),
        "days_checked": len(days),
        "first_day": days[0] if days else None,
        "last_day": days[-1] if days else None,
        "rows_checked": int(len(frame)),
        "rows_by_source": {str(k): int(v) for k, v in frame["source_system"].value_counts().sort_index().items()},
        "breach_count": len(breaches),
        "breaches": [finding.as_dict() for finding in breaches[:50]],
        "worst_difference": worst,
        "worst_difference_text": _worst_text(worst),
        "max_abs_relative_difference_by_source": by_source,
        "tolerances": {source: dict(values) for source, values in thresholds.tolerances.items()},
        "cut_overrides": [
            {"rule": o.describe(), "tolerances": o.tolerances, "reason": o.reason} for o in thresholds.cut_overrides
        ],
        "thresholds_file": str(thresholds.source_file),
        "differences_by_day": differences_table(frame),
        "breaches_table": breaches_table(breaches),
    }


def _worst_difference(frame: "pd.DataFrame") -> dict[str, Any] | None:
    """The row and metric with the largest |relative difference| relative to its tolerance (an undefined one
    counts as infinite); on ties the latest day and the total cut, which read best."""
    import pandas as pd

    if frame.empty:
        return None
    candidates = []
    for metric, column in METRIC_COLUMNS.items():
        tolerance = frame[f"{metric}_tolerance"].where(frame[f"{metric}_tolerance"] > 0, 1e-12)
        candidates.append(pd.DataFrame({
            "row": frame.index, "metric": metric,
            "ratio": (frame[f"{column}_abs"] / tolerance).fillna(float("inf")),
            "day": frame["business_date"], "is_cut": frame["cut"] != "total",
        }))
    ranked = pd.concat(candidates, ignore_index=True).sort_values(
        ["ratio", "is_cut", "day", "metric"], ascending=[False, True, False, False], kind="stable")
    best = ranked.iloc[0]
    row, metric = frame.loc[best["row"]], best["metric"]
    value = row[METRIC_COLUMNS[metric]]
    return {
        "day": row["business_date"], "source": row["source_system"], "cut": row["cut"],
        "cut_value": row["cut_value"], "metric": metric,
        "value": None if value != value else float(value),
        "tolerance": float(row[f"{metric}_tolerance"]),
        "control": float(row[f"control_{metric}"]), "warehouse": float(row[f"warehouse_{metric}"]),
    }


def _worst_text(worst: dict[str, Any] | None) -> str:
    if worst is None:
        return "none (no rows)"
    cut = "" if worst["cut"] == "total" else f" {worst['cut']} {worst['cut_value']}"
    value = "undefined" if worst["value"] is None else f"{worst['value']:+.2%}"
    return (f"{worst['day']} {worst['source']}{cut} {METRIC_WORDS[worst['metric']]} {value} "
            f"(tolerance {_percent(worst['tolerance'])})")


def differences_table(frame: "pd.DataFrame") -> str:
    """Markdown: per day and source (total cut), control vs warehouse and the relative differences."""
    if frame.empty:
        return "_no rows in the window_"
    over = _over_tolerance(frame)
    totals = frame[frame["cut"] == "total"]
    all_days = sorted(totals["business_date"].unique())
    days = set(all_days[-TABLE_DAYS:])
    lines = [
        "| day | source | control orders | warehouse orders | count diff | control amount | warehouse amount "
        "| amount diff | cuts over tolerance | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for index, row in totals.sort_values(["business_date", "source_system"], ascending=[False, True]).iterrows():
        if row["business_date"] not in days:
            continue
        same_day = (frame["business_date"] == row["business_date"]) & (frame["source_system"] == row["source_system"])
        cuts_over = int((over & same_day & (frame["cut"] != "total")).sum())
        status = "**BREACH**" if over[index] or cuts_over else "ok"
        lines.append(
            f"| {row['business_date']} | {row['source_system']} | {row['control_order_count']:,} "
            f"| {row['warehouse_order_count']:,} | {_signed(row['count_diff_rel'])} "
            f"| {row['control_order_amount']:,.2f} | {row['warehouse_order_amount']:,.2f} "
            f"| {_signed(row['amount_diff_rel'])} | {cuts_over} | {status} |"
        )
    if len(all_days) > TABLE_DAYS:
        lines.append(f"\n_Showing the latest {TABLE_DAYS} days of the window._")
    return "\n".join(lines)


def breaches_table(breaches: list[Finding], limit: int = 50) -> str:
    if not breaches:
        return "_no breaches_"
    lines = ["| day | source | cut | metric | relative difference | tolerance | control | warehouse | problem |",
             "|---|---|---|---|---:|---:|---:|---:|---|"]
    for finding in breaches[:limit]:
        cut = "total" if finding.cut == "total" else f"{finding.cut} {finding.cut_value}"
        lines.append(
            f"| {finding.business_date} | {finding.source_system} | {cut} | {METRIC_WORDS.get(finding.metric, finding.metric)} "
            f"| {_signed(finding.value)} | {_percent(finding.tolerance)} | {finding.control:,.2f} "
            f"| {finding.warehouse:,.2f} | {finding.kind.replace('_', ' ')} |"
        )
    if len(breaches) > limit:
        lines.append(f"\n_{len(breaches) - limit} more not shown._")
    return "\n".join(lines)


def _over_tolerance(rows: "pd.DataFrame") -> "pd.Series":
    over = rows["is_missing_in_control"].astype(bool) | rows["is_missing_in_warehouse"].astype(bool)
    for metric, column in METRIC_COLUMNS.items():
        over |= rows[column].isna() | (rows[f"{column}_abs"] > rows[f"{metric}_tolerance"])
    return over


def _signed(value: Any) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:+.2%}"


def _percent(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:g}%"


def _round(value: Any) -> float | None:
    if value is None or value != value:
        return None
    return round(float(value), 6)
