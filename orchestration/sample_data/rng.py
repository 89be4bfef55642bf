"""Deterministic random streams and identifiers.

Every concern draws from its own stream keyed by (seed, concern name, chunk ...), so adding draws to one
concern never shifts another. Identifiers that must be unique (event ids, message ids, device ids) are not
random draws but a bijective 64-bit mix of a counter: unique by construction, random-looking, reproducible.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def stream(seed: int, *keys: str | int) -> np.random.Generator:
    spawn_key = tuple(zlib.crc32(key.encode()) if isinstance(key, str) else int(key) for key in keys)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=int(seed), spawn_key=spawn_key)))


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, so distinct inputs give distinct outputs."""
    x = np.asarray(values, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def salt(seed: int, name: str) -> int:
    return int(mix64(np.array([(int(seed) << 32) ^ zlib.crc32(name.encode())], dtype=np.uint64))[0])


def fixed_width_strings(matrix: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix of ASCII bytes as an Arrow string array, without a Python loop."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int64) * width).astype(np.int32 if n * width < 2**31 else np.int64)
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix)])


_HEX_PAIRS = np.array([[_HEX[i >> 4], _HEX[i & 15]] for i in range(256)], dtype=np.uint8)


def hex_ids(counters: np.ndarray, seed: int, name: str, width: int = 16) -> pa.Array:
    """Unique 16-character hex ids for unique counters."""
    if width != 16:
        raise ValueError("hex ids are 16 characters")
    with np.errstate(over="ignore"):
        x = mix64(np.asarray(counters, dtype=np.uint64) + np.uint64(salt(seed, name)))
    big_endian = x.astype(">u8").view(np.uint8).reshape(len(x), 8)
    return fixed_width_strings(_HEX_PAIRS[big_endian].reshape(len(x), 16))


def digit_strings(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of non-negative integers, fixed width."""
    values = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (values[:, None] // powers[None, :]) % 10
    return fixed_width_strings((digits + 48).astype(np.uint8))
