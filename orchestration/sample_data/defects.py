"""Line-level defects: malformed lines, duplicate lines, truncated last lines, redelivered files.

Value-level defects (phone formats, email case, typos, placeholders, family emails, cancellations, late rows,
unknown SKUs) are made where the values are generated; this module damages lines of finished batches and files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingest import contracts as c
from orchestration.ingest.contracts import TableContract

# Tables whose files carry row defects: the transactional extracts (not the catalog snapshots, not the totals).
TRANSACTIONAL = (
    c.SHOP_CUSTOMERS, c.SHOP_ORDERS, c.SHOP_ORDER_ITEMS, c.ERP_SALES, c.POS_RECEIPTS, c.POS_RECEIPT_LINES,
    c.LOYALTY_MEMBERS, c.WEB_EVENTS, c.ESP_ACTIVITY,
)
TRANSACTIONAL_KEYS = frozenset(contract.key for contract in TRANSACTIONAL)

ROW_DEFECTS = ("wrong_column_count", "bad_date", "non_numeric_amount", "invalid_json")


def bad_dates(fmt: str) -> list[str]:
    """Values that look like the column's format but are no date: 30 February, month 13, all zeros."""
    def render(year, month, day):
        return (fmt.replace("%Y", year).replace("%m", month).replace("%d", day)
                .replace("%H", "12").replace("%M", "30").replace("%S", "00"))
    return [render("2025", "02", "30"), render("2025", "13", "01"), render("0000", "00", "00"), "unknown"]


def non_numbers(contract: TableContract) -> list[str]:
    if contract.decimal_comma:
        return ["н/д", "#ЗНАЧ!", "12,3,4", "сто"]
    return ["N/A", "#VALUE!", "12.3.4", "abc"]


def _columns_of(contract: TableContract, types: tuple[str, ...]) -> list[int]:
    return [i for i, column in enumerate(contract.columns) if column.required and column.type in types]


@dataclass
class Corruption:
    columns: dict[str, pa.Array]  # the formatter's corruption columns
    defect: np.ndarray  # per row: index into ROW_DEFECTS, -1 for a clean row


def plan_corruption(
    rng: np.random.Generator, contract: TableContract, n: int, rates: dict[str, float], exclude: np.ndarray
) -> Corruption | None:
    """Chooses which rows of a batch to make malformed, at most one defect per row."""
    if contract.key not in TRANSACTIONAL_KEYS:
        return None
    date_cols = _columns_of(contract, ("date", "timestamp"))
    number_cols = _columns_of(contract, ("decimal",)) or _columns_of(contract, ("integer", "bigint"))
    if contract.format == "jsonl":
        active = {"invalid_json": rates["invalid_json"]}
    else:
        active = {
            "wrong_column_count": rates["wrong_column_count"],
            "bad_date": rates["bad_date"] if date_cols else 0.0,
            "non_numeric_amount": rates["non_numeric_amount"] if number_cols else 0.0,
        }
    u = rng.random(n)
    defect = np.full(n, -1, dtype=np.int8)
    low = 0.0
    for name, rate in active.items():
        defect[(u >= low) & (u < low + rate)] = ROW_DEFECTS.index(name)
        low += rate
    defect[exclude] = -1
    bad_col = np.full(n, -1, dtype=np.int16)
    values_list: list[str] = []
    bad_val = np.full(n, -1, dtype=np.int64)  # index into values_list
    wcc = np.zeros(n, dtype=np.int8)
    bad_json = np.zeros(n, dtype=np.int8)
    for code, name in enumerate(ROW_DEFECTS):
        rows = np.flatnonzero(defect == code)
        if len(rows) == 0:
            continue
        if name == "wrong_column_count":
            wcc[rows] = np.where(rng.random(len(rows)) < 0.5, -1, 1)
        elif name == "invalid_json":
            bad_json[rows] = rng.integers(1, 4, len(rows))
        else:
            candidates = date_cols if name == "bad_date" else number_cols
            column = np.asarray(candidates)[rng.integers(0, len(candidates), len(rows))]
            bad_col[rows] = column
            for col in np.unique(column):  # one iteration per column
                values = (
                    bad_dates(contract.timestamp_format if contract.columns[col].type == "timestamp" else contract.date_format)
                    if name == "bad_date" else non_numbers(contract)
                )
                at = rows[column == col]
                bad_val[at] = len(values_list) + rng.integers(0, len(values), len(at))
                values_list.extend(values)
    columns = {
        "_bad_col": pa.array(bad_col, mask=bad_col < 0),
        "_bad_val": pc.take(pa.array(values_list, pa.string()), pa.array(bad_val, mask=bad_val < 0)),
        "_wcc": pa.array(wcc),
        "_bad_json": pa.array(bad_json),
    }
    return Corruption(columns=columns, defect=defect)


def duplicate_order(rng: np.random.Generator, n: int, rate: float, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Output order of a batch with some lines repeated further down the batch (exact duplicates).
    Returns (source row per output line, is-duplicate per output line)."""
    sources = np.flatnonzero((rng.random(n) < rate) & ~exclude)
    if len(sources) == 0:
        return np.arange(n), np.zeros(n, bool)
    # A copy lands after a row between its source and up to 200 rows further.
    after = np.minimum(sources + rng.integers(0, 200, len(sources)), n - 1)
    keys = np.r_[np.arange(n) * 2, after * 2 + 1]
    rows = np.r_[np.arange(n), sources]
    order = np.argsort(keys, kind="stable")
    return rows[order], np.r_[np.zeros(n, bool), np.ones(len(sources), bool)][order]


def truncate_line(line: str, contract: TableContract) -> str:
    """Cuts a line (without its line ending) mid-way so the field count is wrong (or the JSON invalid)."""
    if contract.format == "jsonl":
        return line[: max(1, len(line) // 2)]
    delimiter, quote = contract.delimiter, contract.quote
    positions, inside = [], False
    for i, char in enumerate(line):  # one line per truncated file
        if quote and char == quote:
            inside = not inside
        elif char == delimiter and not inside:
            positions.append(i)
    keep = len(contract.columns) // 2
    cut = positions[keep - 1] if len(positions) >= keep else len(line) // 2
    following = line[cut + 1 : cut + 3]
    if following and not (quote and following.startswith(quote)) and delimiter not in following:
        return line[: cut + 1 + len(following)]
    return line[:cut]

