"""The quality gate's Great Expectations suites, code-first (GX 1.x).

Each function returns a gx.ExpectationSuite; orchestration/quality/gx_runner.py saves it (add_or_update) in the
file context under <data>/quality/gx, pairs it with a pandas batch read from DuckDB read-only, runs it through a
checkpoint and builds the Data Docs. Numbers analysts tune are never written here: they are suite parameters
({"$PARAMETER": "..."}) filled at run time from expectations/thresholds.yml.

This module is loaded by file path (it is not part of the installed package) and only after GX is imported,
which takes seconds: never import it at module level of code Dagster loads.
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.expectations.row_conditions import Column  # noqa: E402

# A deliverable address: one @, no spaces, a dot in the domain. Normalised (lower-case, trimmed) upstream.
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"

CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "push": "phone"}

RECONCILIATION_SUITE = "reconciliation_orders_daily"
CUSTOMERS_SUITE = "profile_integrity.customers"
ORDERS_SUITE = "profile_integrity.orders"

# The reconciliation batch: reconciliation_orders_daily rows in the window, plus per metric the size of the
# relative difference (<metric>_diff_rel_abs) and the tolerance rule that applies to the row
# (<metric>_tolerance_rule: a source such as "erp", or an override such as "pos__store__override_1").
RECONCILIATION_METRIC_COLUMNS = {"order_count": "count_diff_rel", "order_amount": "amount_diff_rel"}


def reconciliation_suite(rules_by_metric: dict[str, list[str]]) -> gx.ExpectationSuite:
    """Every row's count and amount differences within tolerance; no day missing on either side."""
    expectations: list = [
        gx.expectations.ExpectTableRowCountToBeBetween(
            min_value=1, description="The reconciliation window holds at least one row (control totals arrived)."),
    ]
    for metric, column in RECONCILIATION_METRIC_COLUMNS.items():
        expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(
            column=column,
            description=f"{metric} relative difference is defined: the system reports no {metric} for a day and "
                        f"cut where the warehouse has orders (or has no row for it at all).",
        ))
        for rule in rules_by_metric.get(metric, []):
            parameter = f"{rule}__{metric}_max_relative_difference"
            expectations.append(gx.expectations.ExpectColumnValuesToBeBetween(
                column=f"{column}_abs",
                min_value=0,
                max_value={"$PARAMETER": parameter},
                row_condition=Column(f"{metric}_tolerance_rule") == rule,
                description=f"|{column}| within tolerance {parameter} for rows under rule {rule!r} "
                            f"(expectations/thresholds.yml).",
            ))
    expectations += [
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="is_missing_in_warehouse", value_set=[False],
            description="No day and cut the system reports orders for is empty in the warehouse."),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="is_missing_in_control", value_set=[False],
            description="No day and cut is missing from the system's control totals."),
    ]
    return gx.ExpectationSuite(name=RECONCILIATION_SUITE, expectations=expectations)


def customers_integrity_suite() -> gx.ExpectationSuite:
    """customers mart: one row per customer_id; contactable only with consent, an address and no suppression."""
    expectations: list = [
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, description="The customers mart is not empty."),
        gx.expectations.ExpectColumnValuesToNotBeNull(column="customer_id", description="Every customer has an id."),
        gx.expectations.ExpectColumnValuesToBeUnique(
            column="customer_id", description="customer_id is unique: one profile per person."),
        gx.expectations.ExpectColumnValuesToMatchRegex(
            column="email", regex=EMAIL_REGEX, description="Profile emails are valid addresses (nulls allowed)."),
        gx.expectations.ExpectColumnValuesToMatchRegex(
            column="phone", regex=E164_REGEX, description="Profile phones are E.164 (nulls allowed)."),
    ]
    for channel, address in CHANNEL_ADDRESS.items():
        contactable = Column(f"is_{channel}_contactable") == True  # noqa: E712 (a condition object, not a test)
        expectations += [
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=f"has_{channel}_consent", value_set=[True], row_condition=contactable,
                description=f"Every {channel}-contactable customer has {channel} consent."),
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=address, row_condition=contactable,
                description=f"Every {channel}-contactable customer has an {address}."),
            gx.expectations.ExpectColumnValuesToBeNull(
                column=f"{channel}_suppressed_by", row_condition=contactable,
                description=f"No {channel}-contactable customer is suppressed (unsubscribe, bounce, complaint) "
                            f"on {channel} since the consent."),
        ]
    return gx.ExpectationSuite(name=CUSTOMERS_SUITE, expectations=expectations)


def orders_integrity_suite() -> gx.ExpectationSuite:
    """orders mart (rows with a customer_id): order_id unique, no orphan orders. The gate validates only the
    orders that can break it (orchestration/quality/integrity.py: ORDERS_SQL): every copy of a repeated
    order_id and every order whose customer is missing; an empty batch means all orders hold."""
    return gx.ExpectationSuite(name=ORDERS_SUITE, expectations=[
        gx.expectations.ExpectColumnValuesToBeUnique(column="order_id", description="order_id is unique."),
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="customer_exists", value_set=[True],
            description="No orphan orders: every order's customer_id exists in the customers mart."),
    ])


def export_audience_suite(
    destination: str, channel: str, required_columns: list[str], present_columns: list[str],
    address_column: str, consent_column: str, segment_column: str | None,
) -> gx.ExpectationSuite:
    """An export file's rows: the destination's columns, valid addresses, only contactable people, no repeats."""
    present = set(present_columns)
    expectations: list = [
        gx.expectations.ExpectColumnToExist(column=name, description=f"{destination} requires column {name!r}.")
        for name in dict.fromkeys([*required_columns, address_column, consent_column])
    ]
    if address_column in present:
        expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(
            column=address_column, description=f"Every {channel} contact has its {address_column}."))
    for column, regex, what in (("email", EMAIL_REGEX, "a valid email address"), ("phone", E164_REGEX, "in E.164")):
        if column in present:
            expectations.append(gx.expectations.ExpectColumnValuesToMatchRegex(
                column=column, regex=regex, description=f"Every {column} is {what}."))
    if consent_column in present:
        expectations += [
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=consent_column, description=f"Consent on {channel} is known for every contact."),
            gx.expectations.ExpectColumnValuesToBeInSet(
                column=consent_column, value_set=[True],
                description=f"No contact without {channel} consent (or suppressed on {channel}) is exported."),
        ]
    if "customer_id" in present:
        if segment_column and segment_column in present:
            expectations.append(gx.expectations.ExpectCompoundColumnsToBeUnique(
                column_list=["customer_id", segment_column], description="Nobody appears twice in one segment."))
        else:
            expectations.append(gx.expectations.ExpectColumnValuesToBeUnique(
                column="customer_id", description="Nobody appears twice in the export."))
    return gx.ExpectationSuite(name=f"export_contract.{destination}.audience", expectations=expectations)


def export_segment_sizes_suite(destination: str) -> gx.ExpectationSuite:
    """Segment sizes (one row per segment) against the previous export: change within the bound."""
    return gx.ExpectationSuite(name=f"export_contract.{destination}.segment_sizes", expectations=[
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="size_change_rel_abs", min_value=0,
            max_value={"$PARAMETER": "segment_size_max_relative_change"},
            row_condition=Column("is_bounded") == True,  # noqa: E712 (a condition object, not a test)
            description="Each segment's size changed by at most segment_size_max_relative_change since the "
                        "previous export (expectations/thresholds.yml). Not bounded: segments without a previous "
                        "size, and segments below segment_size_min_rows both before and now."),
    ])
