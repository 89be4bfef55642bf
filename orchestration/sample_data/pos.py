"""Store tills: receipts and their lines, sales and returns, loyalty card scanned or anonymous.

receipt_no runs per store and restarts at 1 every January, so the same number repeats across stores and
years: only store + year + number identifies a receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from orchestration.ingest.contracts import POS_RECEIPT_LINES, POS_RECEIPTS

from . import reference as ref
from .basket import Lines, concat_lines, make_lines, reorder
from .catalog import Catalog
from .columns import NULL_STRING, contract_table, integers, lookup, pick, tags, take, timestamps, where
from .config import DAY, Calendar, GeneratorConfig
from .contacts import Tally
from .control import ControlTotals
from .persons import Persons
from .rng import stream
from .sequences import Sequences
from .timeline import Clock, arrival, time_of_day

RECEIPTS_PER_PERSON = np.array([4.5, 0.0, 3.0, 0.0, 0.0, 0.0])
SALE, RETURN = 0, 1


def receipts_before_history(config: GeneratorConfig, calendar: Calendar) -> np.ndarray:
    """Receipts each store had issued between 1 January and the first history day (numbering continues)."""
    first = calendar.first_business_day
    elapsed = (first - first.replace(month=1, day=1)).days
    per_store_day = config.persons * 1.9 / calendar.n_business_days / len(ref.STORES)
    rng = stream(config.seed, "pos_before_history")
    return np.rint(elapsed * per_store_day * rng.uniform(0.6, 1.4, len(ref.STORES))).astype(np.int64)


@dataclass
class Receipts:
    person: np.ndarray
    store: np.ndarray
    till: np.ndarray
    number: np.ndarray
    year: np.ndarray
    sold_at: np.ndarray
    operation: np.ndarray
    card: pa.Array
    payment: np.ndarray
    late: np.ndarray
    lines: Lines


def build_receipts(
    config: GeneratorConfig, calendar: Calendar, clock: Clock, catalog: Catalog, persons: Persons, chunk: int,
    sequences: Sequences, tally: Tally,
) -> Receipts:
    rng = stream(config.seed, "pos", chunk)
    counts = np.where(persons.home_store >= 0, rng.poisson(RECEIPTS_PER_PERSON[persons.segment] * persons.intensity), 0)
    person = np.repeat(np.arange(persons.size), counts)
    n_sales = len(person)
    sold_at = clock.moments(rng, persons.start_day[person], persons.end_day[person], "store")
    away = rng.random(n_sales) < 0.1  # now and then a purchase in another store of the chain
    store = np.where(away, rng.integers(0, len(ref.STORES), n_sales), persons.home_store[person])
    lines = make_lines(rng, catalog, n_sales, online=False, unknown_rate=config.rate("unknown_sku"), tally=tally)
    payment = (rng.random(n_sales) < 0.3).astype(np.int64)  # 0 card, 1 cash
    scans = rng.random(n_sales) < 0.7

    # Returns: the whole receipt brought back to the same store 1-14 days later, in opening hours.
    back_day = np.floor_divide(sold_at - calendar.epoch0, DAY) + rng.integers(1, 15, n_sales)
    back_at = calendar.epoch0 + back_day * DAY + time_of_day(rng, n_sales, "store")
    ret = np.flatnonzero((rng.random(n_sales) < config.rate("cancelled_and_returned") * 0.5) & (back_at < calendar.span_end))
    tally.add("cancelled_and_returned", len(ret))

    person = np.r_[person, person[ret]]
    store = np.r_[store, store[ret]]
    at = np.r_[sold_at, back_at[ret]]
    operation = np.r_[np.zeros(n_sales, int), np.ones(len(ret), int)]
    payment = np.r_[payment, payment[ret]]
    scans = np.r_[scans, scans[ret]]
    lines = concat_lines([lines, lines.copy_for(ret)])
    order = np.lexsort((np.arange(len(at)), at))
    person, store, at, operation, payment, scans = (a[order] for a in (person, store, at, operation, payment, scans))
    lines = reorder(lines, order)
    n = len(order)

    year = at.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    number = sequences.receipt_numbers(store, year)
    member = persons.is_member[person] & (persons.enrolled_at[person] <= at) & scans
    card = where(member, take(persons.card_no, person), NULL_STRING)
    till = 1 + (rng.random(n) * np.where(store < 6, 5, 3)).astype(np.int64)
    return Receipts(
        person=person, store=store, till=till, number=number, year=year, sold_at=at, operation=operation,
        card=card, payment=payment, late=rng.random(n) < config.rate("late_rows"), lines=lines,
    )


def receipt_tables(calendar: Calendar, receipts: Receipts, totals: ControlTotals):
    first, late = arrival(calendar, receipts.sold_at, receipts.late)
    receipt_totals = receipts.lines.totals()
    sale = receipts.operation == SALE
    day = np.floor_divide(receipts.sold_at - calendar.epoch0, DAY)
    lines = receipts.lines
    for dump in range(calendar.days):
        rows = np.flatnonzero(first == dump)
        store_code = pick(ref.STORE_CODES, receipts.store[rows])
        sold_at = timestamps(receipts.sold_at[rows])
        yield POS_RECEIPTS, dump, contract_table(POS_RECEIPTS, {
            "store_code": store_code,
            "till_no": integers(receipts.till[rows]),
            "receipt_no": integers(receipts.number[rows]),
            "sold_at": sold_at,
            "operation": pick(("sale", "return"), receipts.operation[rows]),
            "card_no": lookup(receipts.card, rows),
            "payment_type": pick(("card", "cash"), receipts.payment[rows]),
            "total_amount": integers(receipt_totals[rows]),
        }, tags(len(rows), late_rows=late[rows]))
        index = lines.of(rows)
        parent = lines.parent[index]
        yield POS_RECEIPT_LINES, dump, contract_table(POS_RECEIPT_LINES, {
            "store_code": pick(ref.STORE_CODES, receipts.store[parent]),
            "receipt_no": integers(receipts.number[parent]),
            "sold_at": timestamps(receipts.sold_at[parent]),
            "line_no": integers(lines.line_no[index]),
            "sku": lookup(lines.sku, index),
            "quantity": integers(lines.quantity[index] * 100),
            "price": integers(lines.price[index]),
            "amount": integers(lines.amount[index]),
        }, tags(len(index), late_rows=late[parent], unknown_sku=lines.unknown[index]))
        known = sale & (first <= dump)
        totals.add("pos", dump, day[known], receipt_totals[known])
        totals.add("pos", dump, day[known], receipt_totals[known], "store", receipts.store[known], list(ref.STORE_CODES))
