"""The web shop: accounts, orders and order lines.

An order moves through stages (created as new/paid, shipped, delivered or cancelled, maybe returned); each
stage change re-delivers the order (and its lines) in the dump of that day, in its latest state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import SHOP_CUSTOMERS, SHOP_ORDER_ITEMS, SHOP_ORDERS

from . import reference as ref
from .basket import Lines, make_lines
from .catalog import Catalog
from .columns import constant, contract_table, integers, lookup, pick, tags, take, texts, timestamps, where
from .config import DAY, Calendar, GeneratorConfig
from .contacts import Tally, typed_emails, typed_phones, typo_names
from .control import ControlTotals
from .persons import HEAVY_ERP, Persons
from .rng import stream
from .sequences import Sequences
from .timeline import NEVER, Clock, arrival, emissions, time_of_day

WEB_ORDERS_PER_PERSON = np.array([0.0, 3.5, 2.0, 0.3, 0.0, 1.0])  # by segment, before the intensity factor
NEW, PAID, SHIPPED, DELIVERED, CANCELLED, RETURNED = range(6)  # index into reference.SHOP_STATUSES
DELIVERY_TYPES = ("courier", "pickup", "post")
PAYMENT_METHODS = ("card", "sbp", "cash")


@dataclass
class WebOrders:
    person: np.ndarray  # index into the chunk's persons
    order_id: np.ndarray
    order_number: pa.Array
    user_id: np.ndarray  # 0 for guest checkout
    stages: np.ndarray  # (n, 4) created, shipped, delivered|cancelled, returned; NEVER when not (yet) happening
    status: np.ndarray  # (n, 4) status reached at each stage
    email: pa.Array
    phone: pa.Array
    delivery: np.ndarray
    payment: np.ndarray
    total: np.ndarray
    late: np.ndarray
    lines: Lines

    @property
    def created_at(self) -> np.ndarray:
        return self.stages[:, 0]

    @property
    def cancelled(self) -> np.ndarray:
        return self.status[:, 2] == CANCELLED


def build_web_orders(
    config: GeneratorConfig, calendar: Calendar, clock: Clock, catalog: Catalog, persons: Persons, chunk: int,
    sequences: Sequences, tally: Tally,
) -> WebOrders:
    rng = stream(config.seed, "shop_orders", chunk)
    counts = rng.poisson(WEB_ORDERS_PER_PERSON[persons.segment] * persons.intensity)
    counts = np.where(persons.segment == HEAVY_ERP, 1, counts)
    person = np.repeat(np.arange(persons.size), counts)
    created = clock.moments(rng, persons.start_day[person], persons.end_day[person], "web")
    order = np.argsort(created, kind="stable")
    person, created = person[order], created[order]
    n = len(person)
    order_id = 1_000_001 + sequences.take("shop_order", n) + np.arange(n)
    order_number = pc.binary_join_element_wise("W-", pc.cast(pa.array(order_id), pa.string()), "")

    logged_in = persons.has_account[person] & (persons.registered_at[person] <= created) & (rng.random(n) > 0.05)
    user_id = np.where(logged_in, persons.user_id[person], 0)
    # Guests type what they like: test@test.ru and 0000000000 come from the guest checkout.
    guest_placeholder = config.rate("placeholder_identifiers") * 3 * ~logged_in
    email = typed_emails(rng, take(persons.contact_email, person), tally, config.rate("email_case_spaces"))
    phone = typed_phones(rng, persons.phone[person], tally, config.rate("phone_formats"))
    placeholder_email = rng.random(n) < guest_placeholder
    placeholder_phone = rng.random(n) < guest_placeholder
    tally.add("placeholder_identifiers", placeholder_email.sum() + placeholder_phone.sum())
    email = where(placeholder_email, ref.PLACEHOLDER_EMAIL, email)
    phone = where(placeholder_phone, ref.PLACEHOLDER_PHONE, phone)
    phone = where(~logged_in & (rng.random(n) < 0.1), pa.scalar(None, pa.string()), phone)

    payment = rng.choice(3, n, p=[0.6, 0.2, 0.2])
    delivery = rng.choice(3, n, p=[0.45, 0.4, 0.15])
    rate = config.rate("cancelled_and_returned")
    u = rng.random(n)
    cancelled = u < rate * 0.6
    returned = (u >= rate * 0.6) & (u < rate)
    tally.add("cancelled_and_returned", cancelled.sum() + returned.sum())

    stages = np.full((n, 4), NEVER, dtype=np.int64)
    stages[:, 0] = created
    shipped = created + rng.integers(4 * 3600, 36 * 3600, n)
    delivered = shipped + rng.integers(12 * 3600, 5 * DAY, n)
    stages[:, 1] = np.where(cancelled, NEVER, shipped)
    stages[:, 2] = np.where(cancelled, created + rng.integers(600, 20 * 3600, n), delivered)
    stages[:, 3] = np.where(returned, delivered + rng.integers(DAY, 14 * DAY, n), NEVER)
    stages[stages >= calendar.span_end] = NEVER
    status = np.empty((n, 4), dtype=np.int8)
    status[:, 0] = np.where(payment == 2, NEW, PAID)
    status[:, 1] = SHIPPED
    status[:, 2] = np.where(cancelled, CANCELLED, DELIVERED)
    status[:, 3] = RETURNED

    lines = make_lines(rng, catalog, n, online=True, unknown_rate=config.rate("unknown_sku"), tally=tally)
    return WebOrders(
        person=person, order_id=order_id, order_number=order_number, user_id=user_id, stages=stages,
        status=status, email=email, phone=phone, delivery=delivery, payment=payment, total=lines.totals(),
        late=rng.random(n) < config.rate("late_rows"), lines=lines,
    )


def order_tables(orders: WebOrders, calendar: Calendar, totals: ControlTotals):
    """(contract, dump, table) for the orders and order lines of every dump; feeds the shop's control totals."""
    first_dump, _ = arrival(calendar, orders.created_at, orders.late)
    created_day = np.floor_divide(orders.created_at - calendar.epoch0, DAY)
    for dump, emitted in enumerate(emissions(calendar, orders.stages, orders.late)):
        rows, stage = emitted.rows, emitted.stage
        n = len(rows)
        status = orders.status[rows, stage]
        yield SHOP_ORDERS, dump, contract_table(SHOP_ORDERS, {
            "order_id": integers(orders.order_id[rows]),
            "order_number": lookup(orders.order_number, rows),
            "user_id": integers(orders.user_id[rows], valid=orders.user_id[rows] > 0),
            "email": lookup(orders.email, rows),
            "phone": lookup(orders.phone, rows),
            "status": pick(ref.SHOP_STATUSES, status),
            "created_at": timestamps(orders.created_at[rows]),
            "updated_at": timestamps(orders.stages[rows, stage]),
            "currency": constant("RUB", n),
            "total_amount": integers(orders.total[rows]),
            "delivery_type": pick(DELIVERY_TYPES, orders.delivery[rows]),
            "payment_method": pick(PAYMENT_METHODS, orders.payment[rows]),
        }, tags(n, late_rows=emitted.late))
        index = orders.lines.of(rows)
        lines = orders.lines
        line_late = np.repeat(emitted.late, lines.count[rows])
        yield SHOP_ORDER_ITEMS, dump, contract_table(SHOP_ORDER_ITEMS, {
            "order_id": integers(orders.order_id[lines.parent[index]]),
            "line_no": integers(lines.line_no[index]),
            "product_id": lookup(lines.sku, index),
            "product_name": lookup(lines.name, index),
            "quantity": integers(lines.quantity[index]),
            "price": integers(lines.price[index]),
            "amount": integers(lines.amount[index]),
        }, tags(len(index), late_rows=line_late, unknown_sku=lines.unknown[index]))

        # The shop's own report: orders created that day and not cancelled, as known at this dump.
        known = np.flatnonzero(first_dump <= dump)
        reached = np.where(orders.stages[known] < calendar.cutoff(dump), np.arange(4), -1).max(axis=1)
        live = known[orders.status[known, reached] != CANCELLED]
        totals.add("shop", dump, created_day[live], orders.total[live])


def customer_tables(
    config: GeneratorConfig, calendar: Calendar, persons: Persons, chunk: int, tally: Tally
):
    """Accounts, delivered when registered and again when changed (re-typed phone, moved city)."""
    rng = stream(config.seed, "shop_customers", chunk)
    account = np.flatnonzero(persons.has_account)
    account = account[np.argsort(persons.user_id[account], kind="stable")]
    n = len(account)
    registered = persons.registered_at[account]
    changed = rng.random(n) < 0.15
    change_at = registered + rng.integers(DAY, 600 * DAY, n)
    recent = rng.random(n) < 0.01  # some accounts are edited in the daily dumps' days
    last_days = calendar.n_business_days - max(calendar.days - 1, 1)
    change_at = np.where(recent, calendar.epoch0 + rng.integers(last_days, calendar.n_business_days, n) * DAY
                         + time_of_day(rng, n, "web"), change_at)
    changed |= recent
    stages = np.full((n, 2), NEVER, dtype=np.int64)
    stages[:, 0] = registered
    stages[:, 1] = np.where(changed & (change_at > registered) & (change_at < calendar.span_end), change_at, NEVER)

    rate_phone = config.rate("phone_formats")
    email = typed_emails(rng, take(persons.contact_email, account), tally, config.rate("email_case_spaces"))
    phone_v1 = typed_phones(rng, persons.phone[account], tally, rate_phone, config.rate("placeholder_identifiers"))
    phone_v1 = where(rng.random(n) < 0.1, pa.scalar(None, pa.string()), phone_v1)
    phone_v2 = typed_phones(rng, persons.phone[account], tally, min(1.0, rate_phone * 1.5))
    first = typo_names(rng, persons.first_name[account], tally, config.rate("name_typos"))
    last = typo_names(rng, persons.last_name[account], tally, config.rate("name_typos"))
    city_v1 = persons.city[account]
    moved = rng.random(n) < 0.2
    city_v2 = np.where(moved, rng.integers(0, len(ref.CITY_NAMES), n), city_v1)

    phones = pa.concat_arrays([phone_v1, phone_v2])
    for dump, emitted in enumerate(emissions(calendar, stages)):
        rows, stage = emitted.rows, emitted.stage
        v2 = stage == 1
        yield SHOP_CUSTOMERS, dump, contract_table(SHOP_CUSTOMERS, {
            "user_id": integers(persons.user_id[account[rows]]),
            "email": lookup(email, rows),
            "phone": lookup(phones, np.where(v2, rows + n, rows)),
            "first_name": texts(first[rows]),
            "last_name": texts(last[rows]),
            "city": pick(ref.CITY_NAMES, np.where(v2, city_v2[rows], city_v1[rows])),
            "registered_at": timestamps(registered[rows]),
            "updated_at": timestamps(stages[rows, stage]),
        })
