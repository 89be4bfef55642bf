"""Web tracking: sessions of page, product and cart events; a web order ends its session with
checkout_started and order_completed. Some carts are abandoned. Times are UTC.

device_id is an anonymous cookie; user_id is set on sessions where the person is logged in, which is what
lets the warehouse stitch devices to people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import WEB_EVENTS

from .catalog import CATEGORIES, Catalog
from .columns import contract_table, integers, lookup, pick, tags, timestamps
from .config import DAY, LOCAL_UTC_OFFSET_HOURS, Calendar, GeneratorConfig
from .persons import BROWSER, Persons
from .reference import SHOP_URL
from .rng import hex_ids, stream
from .sequences import Sequences
from .shop import WebOrders
from .timeline import Clock, arrival

EVENT_TYPES = ("page_view", "product_view", "add_to_cart", "remove_from_cart", "checkout_started", "order_completed")
PAGE_VIEW, PRODUCT_VIEW, ADD, REMOVE, CHECKOUT, COMPLETED = range(6)
UTC_SHIFT = LOCAL_UTC_OFFSET_HOURS * 3600
HOME, CHECKOUT_PAGE, SUCCESS_PAGE, FIRST_CATEGORY = 0, 1, 2, 3
FIRST_PRODUCT = FIRST_CATEGORY + len(CATEGORIES)


def page_urls(catalog: Catalog) -> pa.Array:
    """Every page of the site: home, checkout, success, the category pages, then one page per product."""
    fixed = [f"{SHOP_URL}/", f"{SHOP_URL}/checkout", f"{SHOP_URL}/checkout/success"]
    fixed += [f"{SHOP_URL}/catalog/{code.lower()}" for code, *_ in CATEGORIES]
    products = pc.binary_join_element_wise(f"{SHOP_URL}/product/", catalog.sku, "")
    return pa.concat_arrays([pa.array(fixed, pa.string()), products.cast(pa.string())])


def device_ids(seed: int, counters: np.ndarray) -> pa.Array:
    return hex_ids(counters, seed, "device", 16)


@dataclass
class Events:
    person: np.ndarray
    at: np.ndarray  # UTC seconds
    kind: np.ndarray
    device: np.ndarray  # global device counter
    user_id: np.ndarray  # 0 when anonymous
    session: np.ndarray  # global session counter
    product: np.ndarray  # catalog index, -1 when none
    price: np.ndarray
    quantity: np.ndarray
    order_id: np.ndarray  # 0 when none
    page: np.ndarray  # index into page_urls()


def build_events(
    config: GeneratorConfig, calendar: Calendar, clock: Clock, catalog: Catalog, persons: Persons,
    orders: WebOrders, chunk: int, sequences: Sequences,
) -> Events:
    rng = stream(config.seed, "web", chunk)
    tracked = persons.n_devices > 0

    # Order sessions: page_view, (product_view, add_to_cart) per line, checkout_started, order_completed.
    has_session = tracked[orders.person]
    o = np.flatnonzero(has_session)
    items = orders.lines.count[o]
    o_len = 3 + 2 * items
    o_person = orders.person[o]
    o_end = orders.created_at[o] - UTC_SHIFT
    o_user = orders.user_id[o]

    # Browse sessions: a landing page, product views, sometimes a cart left behind.
    browse_mean = np.where(persons.segment == BROWSER, 8.0, 5.0) * persons.intensity
    b_counts = np.where(tracked, rng.poisson(browse_mean), 0)
    b_person = np.repeat(np.arange(persons.size), b_counts)
    b_start = clock.moments(rng, persons.start_day[b_person], persons.end_day[b_person], "web") - UTC_SHIFT
    nb = len(b_person)
    b_len = 1 + np.minimum(rng.poisson(3.0, nb), 20)
    cart = (rng.random(nb) < 0.3) & (b_len >= 2)
    remove = cart & (rng.random(nb) < 0.2) & (b_len >= 4)
    logged = persons.has_account[b_person] & (persons.registered_at[b_person] - UTC_SHIFT <= b_start) & (rng.random(nb) < 0.5)
    b_user = np.where(logged, persons.user_id[b_person], 0)

    # All sessions side by side; events expanded session by session.
    s_person = np.r_[o_person, b_person]
    s_len = np.r_[o_len, b_len]
    s_user = np.r_[o_user, b_user]
    gap = rng.integers(15, 150, len(s_person))
    s_start = np.r_[o_end - (o_len - 1) * gap[: len(o)], b_start]
    s_device = persons.device_start[s_person] + (rng.random(len(s_person)) * persons.n_devices[s_person]).astype(np.int64)
    session_counter = sequences.take("web_session", len(s_person)) + np.arange(len(s_person))

    n = int(s_len.sum())
    session = np.repeat(np.arange(len(s_person)), s_len)
    first = np.cumsum(s_len) - s_len
    pos = np.arange(n) - first[session]
    length = s_len[session]
    at = s_start[session] + pos * gap[session]

    kind = np.where(rng.random(n) < 0.75, PRODUCT_VIEW, PAGE_VIEW).astype(np.int8)
    kind[pos == 0] = PAGE_VIEW
    product = catalog.sample_online(rng, n)
    price = catalog.price[product]
    quantity = np.zeros(n, np.int64)
    order_id = np.zeros(n, np.int64)

    # Order sessions take their products, prices and quantities from the order lines.
    in_order = np.r_[np.ones(len(o), bool), np.zeros(nb, bool)][session]
    order_row = np.r_[o, np.zeros(nb, np.int64)][session]
    item_event = in_order & (pos >= 1) & (pos < length - 2)
    line = np.where(item_event, orders.lines.start[order_row] + (pos - 1) // 2, 0)
    is_view = (pos - 1) % 2 == 0
    kind = np.where(item_event, np.where(is_view, PRODUCT_VIEW, ADD), kind)
    if item_event.any():
        product = np.where(item_event, orders.lines.product[line], product)
        price = np.where(item_event, orders.lines.price[line], price)
        quantity = np.where(item_event & ~is_view, orders.lines.quantity[line], quantity)
    kind = np.where(in_order & (pos == length - 2), CHECKOUT, kind)
    completed = in_order & (pos == length - 1)
    kind = np.where(completed, COMPLETED, kind)
    order_id = np.where(completed, orders.order_id[order_row], 0)

    # Abandoned carts: a product view, add_to_cart of that product (and sometimes remove_from_cart), no order.
    s_cart = np.r_[np.zeros(len(o), bool), cart][session]
    s_remove = np.r_[np.zeros(len(o), bool), remove][session]
    view_pos = length - np.where(s_remove, 3, 2)
    viewed = product[np.clip(first[session] + view_pos, 0, n - 1)]
    for offset, event_kind, flag in ((0, PRODUCT_VIEW, s_cart), (1, ADD, s_cart), (2, REMOVE, s_remove)):
        at_pos = flag & (pos == view_pos + offset)
        kind[at_pos] = event_kind
        product[at_pos] = viewed[at_pos]
    price = np.where(item_event, price, catalog.price[product])
    quantity[~in_order & ((kind == ADD) | (kind == REMOVE))] = 1
    product[(kind == PAGE_VIEW) | (kind == CHECKOUT) | (kind == COMPLETED)] = -1

    # Keep events inside the generated UTC days, in time order.
    day = np.floor_divide(at - calendar.epoch0, DAY)
    keep = np.flatnonzero((day >= 0) & (day < calendar.n_business_days))
    keep = keep[np.argsort(at[keep], kind="stable")]
    session, at, kind, product, price, quantity, order_id = (
        a[keep] for a in (session, at, kind, product, price, quantity, order_id))
    # Page: the product's page for product and cart events; the home page or a category for page views.
    category_page = np.where(rng.random(len(at)) < 0.5, HOME, FIRST_CATEGORY + catalog.category[np.maximum(product, 0)])
    page = np.select([product >= 0, kind == PAGE_VIEW, kind == CHECKOUT], [FIRST_PRODUCT + product, category_page, CHECKOUT_PAGE],
                     SUCCESS_PAGE)
    return Events(
        person=s_person[session], at=at, kind=kind, device=s_device[session], user_id=s_user[session],
        session=session_counter[session], product=product, price=np.where(product >= 0, price, -1),
        quantity=quantity, order_id=order_id, page=page,
    )


def event_tables(
    config: GeneratorConfig, calendar: Calendar, catalog: Catalog, events: Events, chunk: int, sequences: Sequences,
):
    rng = stream(config.seed, "web_rows", chunk)
    n = len(events.at)
    event_counter = sequences.take("web_event", n) + np.arange(n)
    event_id = hex_ids(event_counter, config.seed, "event", 16)
    late = rng.random(n) < config.rate("late_rows")
    first, late = arrival(calendar, events.at, late)
    # Sessions and devices of a chunk have contiguous counters: name each once, look them up per event.
    device_base, session_base = (int(a.min()) if len(a) else 0 for a in (events.device, events.session))
    device = device_ids(config.seed, np.arange(device_base, int(events.device.max(initial=device_base)) + 1))
    session = hex_ids(np.arange(session_base, int(events.session.max(initial=session_base)) + 1), config.seed, "session", 16)
    cart = (events.kind == ADD) | (events.kind == REMOVE)
    pages = page_urls(catalog)
    for dump in range(calendar.days):
        rows = np.flatnonzero(first == dump)
        yield WEB_EVENTS, dump, contract_table(WEB_EVENTS, {
            "event_id": lookup(event_id, rows),
            "event_type": pick(EVENT_TYPES, events.kind[rows]),
            "occurred_at": timestamps(events.at[rows]),
            "device_id": lookup(device, events.device[rows] - device_base),
            "user_id": integers(events.user_id[rows], valid=events.user_id[rows] > 0),
            "session_id": lookup(session, events.session[rows] - session_base),
            "page_url": lookup(pages, events.page[rows]),
            "product_id": lookup(catalog.sku, events.product[rows]),
            "price": integers(events.price[rows], valid=events.product[rows] >= 0),
            "quantity": integers(events.quantity[rows], valid=cart[rows]),
            "order_id": integers(events.order_id[rows], valid=events.order_id[rows] > 0),
        }, tags(len(rows), late_rows=late[rows]))
