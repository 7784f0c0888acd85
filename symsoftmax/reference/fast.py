"""Vectorized fast path (being built): settles nothing yet, so the mpmath route decides all."""

from __future__ import annotations

from typing import Any


def settle(problem: Any, out: Any, pending: Any) -> None:
    """Fill ``out`` where a float64 evaluation with a rigorous bound decides the rounding."""
