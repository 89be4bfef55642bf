"""Lines of orders, documents and receipts: products, quantities, prices, discounts, unknown SKUs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .catalog import Catalog
from .columns import take, where
from .contacts import Tally

QUANTITIES = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 4])
DISCOUNTS = np.array([0, 0, 0, 0, 0, 0, 0, 5, 10, 10, 15, 20, 30])


@dataclass
class Lines:
    """Lines of a set of parents, grouped by parent in parent order."""

    parent: np.ndarray
    line_no: np.ndarray  # 1-based within the parent
    product: np.ndarray  # catalog index
    sku: pa.Array
    name: pa.Array
    quantity: np.ndarray  # units
    price: np.ndarray  # kopecks per unit
    amount: np.ndarray  # kopecks, after discount
    unknown: np.ndarray  # bool: the SKU is in no catalog
    start: np.ndarray  # per parent: index of its first line
    count: np.ndarray  # per parent: number of lines

    def totals(self) -> np.ndarray:
        return np.add.reduceat(self.amount, self.start) if len(self.amount) else np.zeros(0, np.int64)

    def of(self, parents: np.ndarray) -> np.ndarray:
        """Line indices of the given parents, in the given parent order."""
        counts = self.count[parents]
        firsts = np.repeat(self.start[parents] - np.cumsum(counts) + counts, counts)
        return firsts + np.arange(counts.sum())

    def copy_for(self, parents: np.ndarray) -> "Lines":
        """The same lines under new parents numbered 0..len(parents)-1 (a mirror or a return document)."""
        index = self.of(parents)
        counts = self.count[parents]
        return Lines(
            parent=np.repeat(np.arange(len(parents)), counts), line_no=self.line_no[index],
            product=self.product[index], sku=take(self.sku, index), name=take(self.name, index),
            quantity=self.quantity[index], price=self.price[index], amount=self.amount[index],
            unknown=self.unknown[index], start=np.cumsum(counts) - counts, count=counts,
        )


def concat_lines(parts: list[Lines]) -> Lines:
    offset, out = 0, []
    for part in parts:
        out.append((part, offset))
        offset += len(part.count)
    line_offsets = np.cumsum([0] + [len(part.parent) for part in parts])[:-1]
    return Lines(
        parent=np.concatenate([p.parent + o for p, o in out]) if parts else np.zeros(0, np.int64),
        line_no=np.concatenate([p.line_no for p in parts]),
        product=np.concatenate([p.product for p in parts]),
        sku=pa.concat_arrays([p.sku for p in parts]),
        name=pa.concat_arrays([p.name for p in parts]),
        quantity=np.concatenate([p.quantity for p in parts]),
        price=np.concatenate([p.price for p in parts]),
        amount=np.concatenate([p.amount for p in parts]),
        unknown=np.concatenate([p.unknown for p in parts]),
        start=np.concatenate([p.start + lo for p, lo in zip(parts, line_offsets)]),
        count=np.concatenate([p.count for p in parts]),
    )


def reorder(lines: Lines, order: np.ndarray) -> Lines:
    """Lines regrouped for parents taken in ``order`` (parent i of the result is old parent order[i])."""
    index = lines.of(order)
    counts = lines.count[order]
    return Lines(
        parent=np.repeat(np.arange(len(order)), counts), line_no=lines.line_no[index], product=lines.product[index],
        sku=take(lines.sku, index), name=take(lines.name, index), quantity=lines.quantity[index],
        price=lines.price[index], amount=lines.amount[index], unknown=lines.unknown[index],
        start=np.cumsum(counts) - counts, count=counts,
    )


def make_lines(
    rng: np.random.Generator, catalog: Catalog, n_parents: int, online: bool, unknown_rate: float, tally: Tally,
    mean_extra_lines: float = 2.0,
) -> Lines:
    count = 1 + np.minimum(rng.poisson(mean_extra_lines, n_parents), 14)
    n = int(count.sum())
    parent = np.repeat(np.arange(n_parents), count)
    start = np.cumsum(count) - count
    line_no = np.arange(n) - np.repeat(start, count) + 1
    product = catalog.sample_online(rng, n) if online else catalog.sample_store(rng, n)
    quantity = QUANTITIES[rng.integers(0, len(QUANTITIES), n)]
    price = catalog.price[product]
    discount = DISCOUNTS[rng.integers(0, len(DISCOUNTS), n)]
    amount = price * quantity * (100 - discount) // 100
    unknown = rng.random(n) < unknown_rate
    tally.add("unknown_sku", unknown.sum())
    sku = take(catalog.sku, product)
    if unknown.any():
        sku = where(unknown, catalog.unknown_skus(rng, product), sku)
    return Lines(
        parent=parent, line_no=line_no, product=product, sku=sku, name=take(catalog.name, product),
        quantity=quantity, price=price, amount=amount, unknown=unknown, start=start, count=count,
    )
