"""Hard second inputs for the two-input ops: cotangents g of the VJPs, targets y of cross-entropy.

Each row of the batch draws one kind: random format bit patterns (every binade), N(0, 1),
constant (the VJPs' exact zeros), one-hot (a Jacobian row; a hard label), nearly constant
(g_i − ⟨g, s⟩ cancels), alternating ±large, values near ±max, subnormals, sums exactly 0
(Γ = 0: log_softmax_vjp is g itself), label-smoothing-like and uniform targets, many zeros,
and (optionally) a NaN or ±inf entry. Shared by tests/test_fast_gradients.py and
tests/test_fast_path_differential.py.
"""

from __future__ import annotations

import zlib

import numpy as np

from symsoftmax.formats import Format
from symsoftmax.rounding import round_array

_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}
KINDS = (
    "bits",
    "normal",
    "constant",
    "one-hot",
    "nearly-constant",
    "alternating",
    "huge",
    "subnormal",
    "zero-sum",
    "smoothed",
    "uniform",
    "zeros",
)


def _bits(fmt: Format, rng: np.random.Generator, k: int) -> np.ndarray:
    width = fmt.numpy_dtype.itemsize * 8
    raw = rng.integers(0, 2**width, size=k, dtype=_UINT[width], endpoint=False)
    with np.errstate(invalid="ignore"):
        values = raw.view(fmt.numpy_dtype).astype(np.float64)
    return np.where(np.isfinite(values), values, 0.0)


def second_row(fmt: Format, rng: np.random.Generator, k: int, kind: str) -> np.ndarray:
    """One row of ``k`` format values of the given kind (see :data:`KINDS`)."""
    if kind == "bits":
        return _bits(fmt, rng, k)
    if kind == "normal":
        return round_array(rng.normal(0.0, 1.0, k), fmt)
    if kind == "constant":
        return np.full(k, _bits(fmt, rng, 1)[0])
    if kind == "one-hot":
        row = np.zeros(k)
        row[int(rng.integers(0, k))] = 1.0
        return row
    if kind == "nearly-constant":
        big = 2.0 ** int(rng.integers(0, min(fmt.precision, 12)))
        noise = rng.normal(0.0, big * 2.0 ** -int(rng.integers(2, fmt.precision + 2)), k)
        return round_array(big + noise, fmt)
    if kind == "alternating":
        big = 2.0 ** min(fmt.precision // 2, 10)
        signs = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
        return round_array(signs * big + rng.normal(0.0, 1.0 / 16, k), fmt)
    if kind == "huge":
        return round_array(rng.choice([-1.0, 1.0], k) * fmt.max * rng.uniform(0.25, 1.0, k), fmt)
    if kind == "subnormal":
        quantum = fmt.smallest_subnormal
        return round_array(rng.integers(-8, 9, k) * quantum, fmt)
    if kind == "zero-sum":  # ±pairs (and a 0 for odd k): Σ = 0 exactly
        half = round_array(rng.normal(0.0, 4.0, k // 2), fmt)
        row = np.concatenate([half, -half, np.zeros(k % 2)])
        return rng.permutation(row)
    if kind == "smoothed":
        row = np.full(k, float(round_array(np.array([0.125 / max(k - 1, 1)]), fmt)[0]))
        row[int(rng.integers(0, k))] = 0.875
        return row
    if kind == "uniform":
        return np.full(k, float(round_array(np.array([1.0 / k]), fmt)[0]))
    row = round_array(rng.normal(0.0, 2.0, k), fmt)  # "zeros": mostly zeros
    row[rng.random(k) < 0.7] = 0.0
    return row


def second_inputs(
    fmt: Format,
    rng: np.random.Generator,
    shape: tuple[int, int],
    kinds: tuple[str, ...] = KINDS,
    specials: float = 0.0,
) -> np.ndarray:
    """(n, K) second inputs, each row of a random kind; a fraction ``specials`` of the rows gets
    a NaN or ±inf entry (the engine's NaN rows)."""
    n, k = shape
    out = np.zeros(shape)
    for r in range(n):
        out[r] = second_row(fmt, rng, k, kinds[int(rng.integers(0, len(kinds)))])
        if specials and k and rng.random() < specials:
            out[r, int(rng.integers(0, k))] = rng.choice([np.nan, np.inf, -np.inf])
    return out


def seeded(rows: np.ndarray, salt: int = 0) -> np.random.Generator:
    """A generator seeded by the rows' bytes: the same second inputs for the same rows."""
    return np.random.default_rng([zlib.crc32(np.ascontiguousarray(rows).tobytes()), salt])
