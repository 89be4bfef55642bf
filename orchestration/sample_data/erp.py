"""1C sales documents: the web orders mirrored, phone orders, in-store orders, cancellations and returns.

Documents are immutable: each arrives once, in the dump of its day (or the next one when late).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import ERP_SALES

from . import reference as ref
from .basket import Lines, concat_lines, make_lines, reorder
from .catalog import Catalog
from .columns import NULL_STRING, contract_table, integers, lookup, pick, tags, take, timestamps, where
from .config import DAY, Calendar, GeneratorConfig
from .contacts import Tally, typed_phones, typo_names
from .control import ControlTotals
from .persons import HEAVY_ERP, Persons
from .rng import stream
from .sequences import Sequences
from .shop import WebOrders
from .timeline import NEVER, Clock, arrival

PHONE_ORDERS_PER_PERSON = np.array([0.0, 0.2, 0.2, 4.0, 0.0, 0.0])
STORE_ORDERS_PER_PERSON = np.array([0.15, 0.0, 0.2, 0.0, 0.0, 0.0])
WEB, PHONE, STORE = range(3)  # index into reference.ERP_CHANNELS
SALE, RETURN = 0, 1


@dataclass
class Documents:
    person: np.ndarray
    number: pa.Array
    at: np.ndarray
    kind: np.ndarray  # SALE | RETURN
    cancelled: np.ndarray
    channel: np.ndarray
    site_order: pa.Array
    store: np.ndarray  # -1 when none
    walk_in: np.ndarray  # anonymous buyer at a store counter
    phone: pa.Array
    card: pa.Array
    late: np.ndarray
    lines: Lines

    def totals(self) -> np.ndarray:
        return self.lines.totals()


def _returns(rng, calendar, at: np.ndarray, eligible: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Which documents get a return document, and when (2-14 days later, inside the generated span)."""
    when = at + rng.integers(2 * DAY, 14 * DAY, len(at))
    chosen = eligible & (rng.random(len(at)) < share) & (when < calendar.span_end)
    return np.flatnonzero(chosen), when[chosen]


def build_documents(
    config: GeneratorConfig, calendar: Calendar, clock: Clock, catalog: Catalog, persons: Persons,
    orders: WebOrders, chunk: int, sequences: Sequences, tally: Tally,
) -> Documents:
    rng = stream(config.seed, "erp", chunk)
    rate = config.rate("cancelled_and_returned")
    unknown_rate = config.rate("unknown_sku")

    # Web orders, mirrored the same day; a cancelled order's document is cancelled too.
    web_at = np.minimum(orders.created_at + rng.integers(60, 1200, len(orders.person)),
                        (orders.created_at // DAY + 1) * DAY - 1)
    web_lines = orders.lines.copy_for(np.arange(len(orders.person)))
    returned = orders.stages[:, 3] != NEVER
    ret_idx = np.flatnonzero(returned)
    web_ret_lines = orders.lines.copy_for(ret_idx)
    web_ret_at = orders.stages[ret_idx, 3] + rng.integers(600, 6 * 3600, len(ret_idx))
    web_ret_at = np.minimum(web_ret_at, calendar.span_end - 1)

    # Phone orders (heavy buyers: dozens), and orders placed at a store counter.
    phone_counts = rng.poisson(PHONE_ORDERS_PER_PERSON[persons.segment] * persons.intensity)
    phone_counts = np.where(persons.segment == HEAVY_ERP, rng.integers(20, 61, persons.size), phone_counts)
    phone_person = np.repeat(np.arange(persons.size), phone_counts)
    phone_at = clock.moments(rng, persons.start_day[phone_person], persons.end_day[phone_person], "phone")
    phone_lines = make_lines(rng, catalog, len(phone_person), online=False, unknown_rate=unknown_rate, tally=tally)
    store_counts = np.where(persons.home_store >= 0,
                            rng.poisson(STORE_ORDERS_PER_PERSON[persons.segment] * persons.intensity), 0)
    store_person = np.repeat(np.arange(persons.size), store_counts)
    store_at = clock.moments(rng, persons.start_day[store_person], persons.end_day[store_person], "store")
    store_lines = make_lines(rng, catalog, len(store_person), online=False, unknown_rate=unknown_rate, tally=tally)

    own_person = np.r_[phone_person, store_person]
    own_at = np.r_[phone_at, store_at]
    own_cancelled = rng.random(len(own_person)) < rate * 0.5
    own_ret, own_ret_at = _returns(rng, calendar, own_at, ~own_cancelled, rate * 0.5)
    own_lines = concat_lines([phone_lines, store_lines])
    own_channel = np.r_[np.full(len(phone_person), PHONE), np.full(len(store_person), STORE)]
    tally.add("cancelled_and_returned", own_cancelled.sum() + len(own_ret))

    n_web, n_ret, n_own = len(orders.person), len(ret_idx), len(own_person)
    person = np.r_[orders.person, orders.person[ret_idx], own_person, own_person[own_ret]]
    at = np.r_[web_at, web_ret_at, own_at, own_ret_at]
    kind = np.r_[np.zeros(n_web, int), np.ones(n_ret, int), np.zeros(n_own, int), np.ones(len(own_ret), int)]
    cancelled = np.r_[orders.cancelled, np.zeros(n_ret, bool), own_cancelled, np.zeros(len(own_ret), bool)]
    channel = np.r_[np.full(n_web + n_ret, WEB), own_channel, own_channel[own_ret]]
    source_order = np.r_[np.arange(n_web), ret_idx, np.full(n_own + len(own_ret), -1)]
    lines = concat_lines([web_lines, web_ret_lines, own_lines, own_lines.copy_for(own_ret)])

    order = np.lexsort((np.arange(len(at)), at))
    person, at, kind, cancelled, channel, source_order = (
        a[order] for a in (person, at, kind, cancelled, channel, source_order))
    lines = reorder(lines, order)
    n = len(order)
    number = pc.binary_join_element_wise(
        "ЧБ00-", pc.utf8_lpad(pc.cast(pa.array(1 + sequences.take("erp_document", n) + np.arange(n)), pa.string()), 7, "0"), "")
    site_order = pc.take(orders.order_number, pa.array(source_order, mask=source_order < 0))

    store = np.where(channel == STORE, persons.home_store[person], -1)
    walk_in = (channel == STORE) & (rng.random(n) < 0.4)
    phone = typed_phones(rng, persons.phone[person], tally, config.rate("phone_formats"),
                         config.rate("placeholder_identifiers") * (channel != STORE))
    # Clerks type the store's own number for walk-in buyers: one phone shared by crowds of strangers.
    store_phone = walk_in & (rng.random(n) < min(1.0, 10 * config.rate("placeholder_identifiers")))
    tally.add("placeholder_identifiers", store_phone.sum())
    store_phone_text = typed_phones(rng, ref.STORE_PHONES[np.maximum(store, 0)], Tally(), 1.0)
    phone = where(walk_in, where(store_phone, store_phone_text, NULL_STRING), phone)
    member = persons.is_member[person] & (persons.enrolled_at[person] <= at)
    card_share = np.array([0.3, 0.5, 0.7])[channel]
    card = where(member & (rng.random(n) < card_share), take(persons.card_no, person), NULL_STRING)
    return Documents(
        person=person, number=number, at=at, kind=kind, cancelled=cancelled, channel=channel,
        site_order=site_order, store=store, walk_in=walk_in, phone=phone, card=card,
        late=rng.random(n) < config.rate("late_rows"), lines=lines,
    )


def document_tables(
    config: GeneratorConfig, calendar: Calendar, persons: Persons, docs: Documents, chunk: int, tally: Tally,
    totals: ControlTotals,
):
    rng = stream(config.seed, "erp_names", chunk)
    # The counterparty is 1C master data: one code and one (possibly mistyped) name per person.
    code = pc.binary_join_element_wise("К-", pc.utf8_lpad(pc.cast(pa.array(persons.person_id), pa.string()), 7, "0"), "")
    full = typo_names(rng, persons.full_names(), tally, config.rate("name_typos"))
    name = where(docs.walk_in, ref.ERP_WALK_IN_NAME, pa.array(full[docs.person]))
    counterparty = where(docs.walk_in, ref.ERP_WALK_IN_CODE, take(code, docs.person))
    status = np.where(docs.cancelled, 1, 0)
    first, late = arrival(calendar, docs.at, docs.late)
    doc_totals = docs.totals()
    sale = (docs.kind == SALE) & ~docs.cancelled
    day = np.floor_divide(docs.at - calendar.epoch0, DAY)
    lines = docs.lines
    for dump in range(calendar.days):
        rows = np.flatnonzero(first == dump)
        index = lines.of(rows)
        parent = lines.parent[index]
        yield ERP_SALES, dump, contract_table(ERP_SALES, {
            "Номер документа": lookup(docs.number, parent),
            "Номер строки": integers(lines.line_no[index]),
            "Дата документа": timestamps(docs.at[parent]),
            "Вид операции": pick((ref.ERP_SALE, ref.ERP_RETURN), docs.kind[parent]),
            "Статус": pick((ref.ERP_POSTED, ref.ERP_CANCELLED), status[parent]),
            "Канал продаж": pick(ref.ERP_CHANNELS, docs.channel[parent]),
            "Номер заказа сайта": lookup(docs.site_order, parent),
            "Магазин": pick(ref.STORE_CODES, docs.store[parent]),
            "Код контрагента": lookup(counterparty, parent),
            "Контрагент": lookup(name, parent),
            "Телефон": lookup(docs.phone, parent),
            "Дисконтная карта": lookup(docs.card, parent),
            "Артикул": lookup(lines.sku, index),
            "Номенклатура": lookup(lines.name, index),
            "Количество": integers(lines.quantity[index] * 100),
            "Цена": integers(lines.price[index]),
            "Сумма": integers(lines.amount[index]),
        }, tags(len(index), late_rows=late[parent], unknown_sku=lines.unknown[index]))
        known = sale & (first <= dump)
        totals.add("erp", dump, day[known], doc_totals[known])
        totals.add("erp", dump, day[known], doc_totals[known], "channel", docs.channel[known], list(ref.ERP_CHANNELS))
