"""Reductions along the rows of a (n, K) array, fast when K is small.

NumPy reduces along a short last axis (``a.max(axis=1)`` of shape (n, 2)) one row at a time:
some 20× slower than an elementwise ufunc on the columns (``np.maximum(a[:, 0], a[:, 1])``),
measured in benchmarks/bench_short_rows.py. For K ≤ :data:`COLUMNS_UP_TO` these fold the columns
with the ufunc instead; the results are the same (max/min/any/all exactly; the sum adds left to
right, as NumPy does for fewer than 8 terms — its pairwise summation starts at 8 elements).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["COLUMNS_UP_TO", "row_all", "row_any", "row_max", "row_min", "row_sum"]

COLUMNS_UP_TO = 7  # pairwise summation would change a sum of 8 or more terms


def _fold(ufunc: np.ufunc, a: npt.NDArray[Any], keepdims: bool) -> npt.NDArray[Any]:
    if a.ndim != 2 or not 1 <= a.shape[1] <= COLUMNS_UP_TO:
        return ufunc.reduce(a, axis=-1, keepdims=keepdims)
    out = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        ufunc(out, a[:, j], out=out)
    return out[:, None] if keepdims else out


def row_max(a: npt.NDArray[Any], keepdims: bool = False) -> npt.NDArray[Any]:
    """``a.max(axis=1)`` (NaN propagates, as np.maximum)."""
    return _fold(np.maximum, a, keepdims)


def row_min(a: npt.NDArray[Any], keepdims: bool = False) -> npt.NDArray[Any]:
    """``a.min(axis=1)``."""
    return _fold(np.minimum, a, keepdims)


def row_sum(a: npt.NDArray[Any], keepdims: bool = False) -> npt.NDArray[Any]:
    """``a.sum(axis=1)``, the same bits for K ≤ 7 (left-to-right)."""
    return _fold(np.add, a, keepdims)


def row_any(a: npt.NDArray[np.bool_], keepdims: bool = False) -> npt.NDArray[np.bool_]:
    """``a.any(axis=1)``."""
    return _fold(np.logical_or, a, keepdims)


def row_all(a: npt.NDArray[np.bool_], keepdims: bool = False) -> npt.NDArray[np.bool_]:
    """``a.all(axis=1)``."""
    return _fold(np.logical_and, a, keepdims)
