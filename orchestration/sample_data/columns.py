"""Typed Arrow columns in the formatter's conventions, and contract-shaped tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest.contracts import TableContract

NULL_STRING = pa.scalar(None, pa.string())


def timestamps(seconds, valid=None) -> pa.Array:
    values = np.asarray(seconds, dtype=np.int64)
    mask = None if valid is None else ~np.asarray(valid, bool)
    return pa.array(np.where(mask, 0, values) if mask is not None else values, pa.int64(), mask=mask).cast(
        pa.timestamp("s")
    )


def dates(days, valid=None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, bool)
    return pa.array(np.asarray(days, dtype=np.int32), pa.int32(), mask=mask).cast(pa.date32())


def integers(values, valid=None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, bool)
    return pa.array(np.asarray(values, dtype=np.int64), pa.int64(), mask=mask)


def booleans(values, valid=None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, bool)
    return pa.array(np.asarray(values, dtype=bool), pa.bool_(), mask=mask)


def texts(values) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    return pa.array(np.asarray(values), pa.string())


def constant(value: str, n: int) -> pa.Array:
    return pc.take(pa.array([value], pa.string()), pa.array(np.zeros(n, dtype=np.int8)))


def pick(values, codes) -> pa.Array:
    """Strings by code: values[codes] (codes < 0 give null)."""
    codes = np.asarray(codes)
    return pc.take(pa.array(list(values), pa.string()), pa.array(codes, mask=codes < 0))


def where(condition, a, b) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(condition, bool)), a, b)


def take(array, indices) -> pa.Array:
    return pc.take(array, pa.array(np.asarray(indices, dtype=np.int64)))


def lookup(values, indices) -> pa.DictionaryArray:
    """values[indices] for a file column, without copying the strings (a dictionary array); a negative
    index gives null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    indices = np.asarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=indices < 0), values)


def tags(n: int, **flags: np.ndarray) -> pa.Array | None:
    """A ``_tag`` column: comma-joined names of the defects flagged on each row, null for clean rows."""
    active = {name: np.asarray(flag, bool) for name, flag in flags.items() if flag is not None and np.any(flag)}
    if not active:
        return None
    names = list(active)
    bits = sum(flag.astype(np.int64) << i for i, flag in enumerate(active.values()))
    labels = [",".join(name for i, name in enumerate(names) if code >> i & 1) or None for code in range(1 << len(names))]
    return pick(labels, np.where(bits > 0, bits, -1))


def contract_table(contract: TableContract, columns: dict, tag: pa.Array | None = None) -> pa.Table:
    missing = [name for name in contract.column_names if name not in columns]
    extra = [name for name in columns if name not in contract.column_names]
    if missing or extra:
        raise ValueError(f"{contract.key}: columns missing {missing}, unexpected {extra}")
    table = pa.table({name: columns[name] for name in contract.column_names})
    if tag is not None:
        table = table.append_column("_tag", tag)
    return table
