"""Timing helpers shared by the benchmarks: a baseline measured in the same run, interleaved."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def numpy_softmax(x: np.ndarray) -> np.ndarray:
    """NumPy's max-shifted softmax along the last axis: the baseline of the reference benchmarks."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def interleaved_min(
    first: Callable[[], object], second: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Best-of-``repeats`` seconds of ``first`` and ``second``, run alternately so that a load
    change on the shared machine affects both."""
    best_a = best_b = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        first()
        best_a = min(best_a, time.perf_counter() - start)
        start = time.perf_counter()
        second()
        best_b = min(best_b, time.perf_counter() - start)
    return best_a, best_b
