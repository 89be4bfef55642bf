"""Identifiers as people and clerks type them: phone formats, email case and spaces, name typos, placeholders.

Each function takes the clean values and a defect rate and returns the typed values, counting what it dirtied
in a ``Tally`` (the summary's defect counts).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .reference import PLACEHOLDER_EMAIL, PLACEHOLDER_PHONE
from .rng import digit_strings


class Tally(Counter):
    """Occurrences of value-level defects (records affected), for summary.json."""

    def add(self, defect: str, count) -> None:
        self[defect] += int(count)


def phone_strings(national: np.ndarray, fmt: np.ndarray) -> pa.Array:
    """10-digit national numbers written in one of five formats:
    0 ``+79161234567``, 1 ``+7 (916) 123-45-67``, 2 ``89161234567``, 3 ``9161234567``, 4 ``8 916 123 45 67``."""
    national = np.asarray(national, dtype=np.int64)
    code = digit_strings(national // 10_000_000, 3)
    a = digit_strings(national // 10_000 % 1000, 3)
    b = digit_strings(national // 100 % 100, 2)
    c = digit_strings(national % 100, 2)
    plain = digit_strings(national, 10)
    variants = [
        pc.binary_join_element_wise("+7", plain, ""),
        pc.binary_join_element_wise("+7 (", code, ") ", a, "-", b, "-", c, ""),
        pc.binary_join_element_wise("8", plain, ""),
        plain,
        pc.binary_join_element_wise("8 ", code, " ", a, " ", b, " ", c, ""),
    ]
    return pc.choose(pa.array(np.asarray(fmt, dtype=np.int8)), *variants)


def e164(national: np.ndarray) -> pa.Array:
    return phone_strings(national, np.zeros(len(national), np.int8))


def typed_phones(
    rng: np.random.Generator, national: np.ndarray, tally: Tally, rate: float, placeholder_rate: float = 0.0
) -> pa.Array:
    n = len(national)
    messy = rng.random(n) < rate
    fmt = np.where(messy, rng.integers(1, 5, n), 0)
    phones = phone_strings(national, fmt)
    placeholder = rng.random(n) < placeholder_rate
    tally.add("phone_formats", messy.sum())
    tally.add("placeholder_identifiers", placeholder.sum())
    return pc.if_else(pa.array(placeholder), PLACEHOLDER_PHONE, phones)


def typed_emails(
    rng: np.random.Generator, emails: pa.Array, tally: Tally, rate: float, placeholder_rate: float = 0.0
) -> pa.Array:
    """Variants: 1 upper case, 2 capitalised, 3 leading space, 4 trailing space, 5 mixed case with spaces."""
    n = len(emails)
    messy = rng.random(n) < rate
    kind = np.where(messy, rng.integers(1, 6, n), 0).astype(np.int8)
    variants = [
        emails,
        pc.utf8_upper(emails),
        pc.utf8_capitalize(emails),
        pc.binary_join_element_wise(" ", emails, ""),
        pc.binary_join_element_wise(emails, "  ", ""),
        pc.binary_join_element_wise(" ", pc.utf8_capitalize(emails), " ", ""),
    ]
    placeholder = rng.random(n) < placeholder_rate
    tally.add("email_case_spaces", (messy & emails.is_valid().to_numpy(zero_copy_only=False)).sum())
    tally.add("placeholder_identifiers", placeholder.sum())
    return pc.if_else(pa.array(placeholder), PLACEHOLDER_EMAIL, pc.choose(pa.array(kind), *variants))


_HOMOGLYPHS = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y"}


def typo_names(rng: np.random.Generator, names: np.ndarray, tally: Tally, rate: float) -> np.ndarray:
    """Names with typos for a share of records: adjacent letters swapped, a letter dropped or doubled,
    a Cyrillic letter replaced by its Latin look-alike, ё written е, or all lower case."""
    names = np.asarray(names, dtype=str)
    hit = np.flatnonzero(rng.random(len(names)) < rate)
    if len(hit) == 0:
        return names
    width = max(names.dtype.itemsize // 4, 2)
    subset = names[hit].astype(f"<U{width + 1}")
    codes = subset.view(np.uint32).reshape(len(hit), width + 1).copy()
    length = np.char.str_len(subset)
    pos = np.minimum((rng.random(len(hit)) * np.maximum(length - 1, 1)).astype(int) + 1, np.maximum(length - 1, 0))
    kind = rng.integers(0, 6, len(hit))
    cols = np.arange(width + 1)[None, :]
    rows = np.arange(len(hit))
    index = np.broadcast_to(cols, codes.shape).copy()
    swap = (kind == 0) & (length >= 3)
    at = np.minimum(pos, length - 2)[swap]  # swap letters at..at+1, never the capital
    index[rows[swap], at] = at + 1
    index[rows[swap], at + 1] = at
    drop = (kind == 1) & (length >= 4)
    index[drop] = np.where(cols >= pos[drop, None], np.minimum(cols + 1, width), cols)
    double = kind == 2
    index[double] = np.where(cols > pos[double, None], cols - 1, cols)
    codes = np.take_along_axis(codes, index, axis=1)
    homoglyph = kind == 3
    for cyr, lat in _HOMOGLYPHS.items():
        codes[homoglyph] = np.where(codes[homoglyph] == ord(cyr), ord(lat), codes[homoglyph])
    yo = kind == 4
    codes[yo] = np.where(codes[yo] == ord("ё"), ord("е"), codes[yo])
    result = codes.view(f"<U{width + 1}").ravel()
    lower = kind == 5
    result[lower] = np.char.lower(result[lower])
    tally.add("name_typos", (result != names[hit]).sum())
    out = names.astype(f"<U{width + 1}")
    out[hit] = result
    return out
