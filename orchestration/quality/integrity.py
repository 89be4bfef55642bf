"""Profile integrity gate: one profile per person, no orphan orders, contactability consistent with consent.

The customers mart is what every segment and export reads contact data from; a duplicated customer_id sends
two messages (and two discounts) to one person, and a contactable flag without consent is a legal problem.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from orchestration.quality.gx_runner import data_docs_index, gx_session, run_suite, suites_module
from orchestration.quality.results import GateResult
from orchestration.quality.suspects import address_suspect, require_covered, signature, suite_regexes
from orchestration.quality.warehouse import read_frame
from orchestration.settings import DataPaths

if TYPE_CHECKING:
    import pandas as pd

CHECK_NAME = "profile_integrity"
THIS_FILE = "orchestration/quality/integrity.py"
CHANNELS = ("email", "sms", "push")
CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "push": "phone"}  # as the customers mart defines it

CUSTOMER_COLUMNS = ["customer_id", "email", "phone"] + [
    column for channel in CHANNELS
    for column in (f"is_{channel}_contactable", f"has_{channel}_consent", f"{channel}_suppressed_by")
]

# The customers suite, like the orders suite below, is validated on the rows that can break it, found by DuckDB:
# every copy of a repeated customer_id, rows without one, rows contactable on a channel without consent or an
# address or with a suppression, emails and phones that do not match the suite's regular expressions, plus the
# first customer by id, so that the batch is empty exactly when the mart is (the suite's "not empty"
# expectation). Every row the suite would flag in the whole mart is among them, so it fails exactly when it
# would on every customer, with the same rows in its report; reading and validating all 753k customers of the
# 1M-person sample took 3.6 s alone, the suspects 0.8 s (docs/performance.md, section V).
#
# The regular expressions are the suite's own, with the guard for the ways DuckDB's differ from Python's
# (orchestration/quality/suspects.py).
CUSTOMERS_SQL = """
with

repeated_customer_ids as (
    select customer_id
    from customers
    where customer_id is not null
    group by customer_id
    having count(*) > 1
)

select {columns}
from customers
where customer_id is null
    or customer_id in (select customer_id from repeated_customer_ids)
    or customer_id = (select min(customer_id) from customers)
    or {email_suspect}
    or {phone_suspect}
    {contactability}
order by customer_id
"""

# Whole-mart figures the suspects alone cannot give. The duplicate and null ids can: every copy of a repeated
# customer_id and every row without one is a suspect.
CUSTOMER_FIGURES_SQL = """
select
    count(*) as customers_checked,
    {channels}
from customers
"""


def _contactable(channel: str) -> dict[str, Any]:
    """The customers suite's row condition for a channel's contactability expectations, as GX stores it."""
    return {"column": {"name": f"is_{channel}_contactable"}, "operator": "==", "parameter": True, "type": "comparison"}


# Every expectation of the customers suite that CUSTOMERS_SQL selects suspects for: (type, arguments without the
# regular expression, which the query takes from the suite). An expectation added to or changed in the suite
# without the query would be validated on rows chosen for other expectations and could miss every failing row,
# so the check refuses to run then (SuiteNotCoveredError), naming the expectation.
COVERED_CUSTOMER_EXPECTATIONS = [
    ("expect_table_row_count_to_be_between", {"min_value": 1}),
    ("expect_column_values_to_not_be_null", {"column": "customer_id"}),
    ("expect_column_values_to_be_unique", {"column": "customer_id"}),
    ("expect_column_values_to_match_regex", {"column": "email"}),
    ("expect_column_values_to_match_regex", {"column": "phone"}),
] + [
    expectation for channel in CHANNELS for expectation in (
        ("expect_column_values_to_be_in_set",
         {"column": f"has_{channel}_consent", "value_set": [True], "row_condition": _contactable(channel)}),
        ("expect_column_values_to_not_be_null",
         {"column": CHANNEL_ADDRESS[channel], "row_condition": _contactable(channel)}),
        ("expect_column_values_to_be_null",
         {"column": f"{channel}_suppressed_by", "row_condition": _contactable(channel)}),
    )
]


# The same for the orders suite and ORDERS_SQL (below).
COVERED_ORDER_EXPECTATIONS = [
    ("expect_column_values_to_be_unique", {"column": "order_id"}),
    ("expect_column_values_to_be_in_set", {"column": "customer_exists", "value_set": [True]}),
]


def _covered_by(expectations: list[tuple[str, dict[str, Any]]]) -> Any:
    known = {signature(kind, kwargs) for kind, kwargs in expectations}
    return lambda kind, kwargs: signature(kind, kwargs) in known


def customer_regexes(suite: Any) -> dict[str, str]:
    """The customers suite's regular expression per column, once CUSTOMERS_SQL is known to cover the suite."""
    require_covered(suite, _covered_by(COVERED_CUSTOMER_EXPECTATIONS), "CUSTOMERS_SQL", THIS_FILE)
    return suite_regexes(suite)


def require_orders_covered(suite: Any) -> None:
    require_covered(suite, _covered_by(COVERED_ORDER_EXPECTATIONS), "ORDERS_SQL", THIS_FILE)


def _contactable_inconsistent(channel: str) -> str:
    """SQL: contactable on ``channel`` without consent or an address, or with a suppression."""
    return (f"is_{channel}_contactable and (has_{channel}_consent is distinct from true "
            f"or {CHANNEL_ADDRESS[channel]} is null or {channel}_suppressed_by is not null)")


def _customers_sql() -> str:
    contactability = "\n    ".join(f"or ({_contactable_inconsistent(channel)})" for channel in CHANNELS)
    return CUSTOMERS_SQL.format(columns=", ".join(CUSTOMER_COLUMNS), contactability=contactability,
                                email_suspect=address_suspect("email", "email_regex"),
                                phone_suspect=address_suspect("phone", "phone_regex"))


def _customer_figures_sql() -> str:
    channels = ",\n    ".join(
        f"count(*) filter (where is_{channel}_contactable) as contactable_{channel},\n    "
        f"count(*) filter (where {_contactable_inconsistent(channel)}) as inconsistent_{channel}"
        for channel in CHANNELS
    )
    return CUSTOMER_FIGURES_SQL.format(channels=channels)


# The orders suite (order_id unique, every order's customer exists) can only fail on two kinds of row: an order
# whose customer is missing, and the copies of an order_id that appears more than once. DuckDB finds those
# with a join and a group by, and only they are read into pandas for GX: the suite fails on them exactly when
# it would fail on every order, with the same unexpected rows, and a night reads a handful of rows instead of
# every order (at 1M persons: 2.7M orders, 6.1 s of reading and validating, against under a second).
ORDERS_SQL = """
with

orders_with_customer as (
    select
        orders.order_id,
        orders.customer_id,
        customers.customer_id is not null as customer_exists
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
    where orders.customer_id is not null
),

repeated_order_ids as (
    select order_id
    from orders_with_customer
    group by order_id
    having count(*) > 1
)

select *
from orders_with_customer
where not customer_exists
    or order_id in (select order_id from repeated_order_ids)
order by order_id, customer_id
"""

ORDERS_CHECKED_SQL = "select count(*) as orders_checked from orders where customer_id is not null"


@dataclass(frozen=True)
class CustomersToCheck:
    """The customers that can break the customers suite (CUSTOMERS_SQL), and the whole mart's figures:
    customers_checked, null and duplicate ids (from the suspects), contactable and inconsistent per channel."""

    suspects: "pd.DataFrame"
    figures: dict[str, Any]


@dataclass(frozen=True)
class OrdersToCheck:
    """The orders that can break the orders suite (ORDERS_SQL), and how many orders with a customer there are."""

    suspects: "pd.DataFrame"
    checked: int


def read_customers(paths: DataPaths) -> CustomersToCheck:
    regexes = customer_regexes(suites_module().customers_integrity_suite())
    suspects = read_frame(paths, _customers_sql(),
                          {"email_regex": regexes["email"], "phone_regex": regexes["phone"]})
    row = read_frame(paths, _customer_figures_sql()).iloc[0]
    ids = suspects["customer_id"]
    figures: dict[str, Any] = {
        "customers_checked": int(row["customers_checked"]),
        "duplicate_customer_ids": int(ids.dropna().duplicated(keep=False).sum()),
        "null_customer_ids": int(ids.isna().sum()),
    }
    figures["contactable_by_channel"] = {channel: int(row[f"contactable_{channel}"]) for channel in CHANNELS}
    figures["contactable_without_consent_address_or_with_suppression"] = {
        channel: int(row[f"inconsistent_{channel}"]) for channel in CHANNELS}
    return CustomersToCheck(suspects=suspects, figures=figures)


def read_orders(paths: DataPaths) -> OrdersToCheck:
    checked = read_frame(paths, ORDERS_CHECKED_SQL)["orders_checked"].iloc[0]
    return OrdersToCheck(suspects=read_frame(paths, ORDERS_SQL), checked=int(checked))


def check_profile_integrity(paths: DataPaths) -> GateResult:
    """Runs the profile integrity suites on the warehouse under ``paths``."""
    return validate_profile_integrity(read_customers(paths), read_orders(paths), paths=paths)


def validate_profile_integrity(
    customers: CustomersToCheck, orders: OrdersToCheck | None = None, *, paths: DataPaths | None = None,
) -> GateResult:
    """Validates the customers that can break the customers suite (read_customers) and, when given, the orders
    that can break the orders suite (read_orders). ``paths``: the data directory for GX's files and Data Docs;
    None validates in memory only."""
    suites = suites_module()
    outcomes = []
    with gx_session(paths) as session:
        outcomes.append(run_suite(session, frame=customers.suspects, suite=suites.customers_integrity_suite(),
                                  data_source="warehouse", asset="customers", index_columns=["customer_id"]))
        if orders is not None:
            orders_suite = suites.orders_integrity_suite()
            require_orders_covered(orders_suite)
            outcomes.append(run_suite(session, frame=orders.suspects, suite=orders_suite,
                                      data_source="warehouse", asset="orders", index_columns=["order_id"]))
    failed = [_counted_over_every_row(failure, suites, customers, orders)
              for outcome in outcomes for failure in outcome.failed]
    metadata = _metadata(customers, orders)
    passed = all(outcome.success for outcome in outcomes)
    if passed:
        description = (f"{metadata['customers_checked']} customers and {metadata['orders_checked']} orders with a "
                       f"customer: ids unique, no orphan orders, contactability consistent with consent")
    else:
        description = "; ".join(_problem(failure) for failure in failed[:3])
        if len(failed) > 3:
            description += f"; and {len(failed) - 3} more"
    return GateResult(
        name=CHECK_NAME, passed=passed, description=description, failed_expectations=failed, metadata=metadata,
        evaluated_expectations=sum(outcome.evaluated for outcome in outcomes),
        data_docs=str(data_docs_index(paths)) if paths else None,
        data_docs_pages=[outcome.page for outcome in outcomes if outcome.page],
    )


def _counted_over_every_row(failure, suites, customers: CustomersToCheck, orders: OrdersToCheck | None):
    """GX counted the suspect rows it was given; the report's "n of N rows" is out of the rows the expectation
    covers in the whole mart: every customer, the customers contactable on the channel of its row condition, or
    every order with a customer."""
    if failure.element_count is None:
        return failure
    if failure.suite == suites.CUSTOMERS_SUITE:
        if failure.condition_column is None:
            return replace(failure, element_count=customers.figures["customers_checked"])
        channel = failure.condition_column.removeprefix("is_").removesuffix("_contactable")
        return replace(failure, element_count=customers.figures["contactable_by_channel"][channel])
    if failure.suite == suites.ORDERS_SUITE and orders is not None:
        return replace(failure, element_count=orders.checked)
    return failure


def _problem(failure) -> str:
    count = "" if failure.unexpected_count is None else f": {failure.unexpected_count} row(s)"
    sample = ""
    if failure.sample:
        first = failure.sample[0]
        sample = f", e.g. {first if not isinstance(first, dict) else ', '.join(f'{k}={v}' for k, v in first.items())}"
    return f"{failure.suite}: {failure.description.rstrip('.')} fails{count}{sample}"


def _metadata(customers: CustomersToCheck, orders: OrdersToCheck | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        **customers.figures,
        "orders_checked": 0 if orders is None else orders.checked,
    }
    if orders is not None and "customer_exists" in orders.suspects:
        suspects = orders.suspects
        metadata["orphan_orders"] = int((~suspects["customer_exists"].astype(bool)).sum())
        metadata["duplicate_order_ids"] = int(suspects["order_id"].dropna().duplicated(keep=False).sum())
    return metadata
