"""What every row family shares: the drawn row, the user's choices (:class:`_Spec`) and the
drawing helpers (entries, tiles, positions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from symsoftmax.formats import Format
from symsoftmax.rounding import round_array, round_exact
from symsoftmax.testing.strategies.values import _finite_values
from symsoftmax.vectors.catalogue import (
    MAX_SHORT_K,
)

Floats = npt.NDArray[np.float64]

_TILE = 8  # a long row is a tile of at most this many drawn entries, repeated (see _tiled)


@dataclass(frozen=True)
class DrawnRow:
    """A drawn row: logits ``z`` (format values as float64), its family's flags, a comment."""

    z: Floats
    flags: tuple[str, ...]
    comment: str


@dataclass(frozen=True)
class _Spec:
    """What every family strategy reads: the format and the user's choices."""

    fmt: Format
    elements: SearchStrategy[float]  # the finite entries of plain rows and of fills
    min_size: int
    max_size: int
    blocks: SearchStrategy[int] | None  # block sizes; None: no block-structured rows
    allow_nan: bool
    allow_infinity: bool  # +inf entries
    masked: bool  # −inf entries

    @property
    def t(self) -> float:
        return self.fmt.exp_overflow_threshold

    def exact(self, value: float) -> float:
        return round_exact(value, self.fmt)

    def row(self, values: Sequence[float] | Floats) -> Floats:
        """Entries rounded to the format (computed ones such as c − offset; others stay)."""
        return round_array(np.asarray(values, dtype=np.float64), self.fmt)

    def sizes(self, low: int, high: int | None = None) -> SearchStrategy[int] | None:
        """Row lengths in [max(low, min_size), min(high, max_size)]; None if that is empty."""
        first = max(low, self.min_size)
        last = self.max_size if high is None else min(high, self.max_size)
        return st.integers(first, last) if first <= last else None

    def values(self, low: float, high: float) -> SearchStrategy[float]:
        """Finite format values in [low, high] (bounds rounded into the format)."""
        return _finite_values(self.fmt, self.exact(low), self.exact(high))


Family = Callable[[_Spec], "SearchStrategy[DrawnRow] | None"]


def _tiled(draw: DrawFn, values: SearchStrategy[float], k: int) -> Floats:
    """k entries: a drawn tile of 1..8 values repeated. A long row stays a few draws, and
    shrinks to a constant row."""
    tile = draw(st.lists(values, min_size=1, max_size=_TILE))
    return np.resize(np.asarray(tile, dtype=np.float64), k)


def _entries(draw: DrawFn, values: SearchStrategy[float], k: int) -> Floats:
    """k entries, each drawn when the row is short (≤ MAX_SHORT_K), else :func:`_tiled`."""
    if k > MAX_SHORT_K:
        return _tiled(draw, values, k)
    return np.asarray(draw(st.lists(values, min_size=k, max_size=k)), dtype=np.float64)


def _positions(draw: DrawFn, k: int, least: int = 1, most: int | None = None) -> list[int]:
    """Distinct positions in a row of k (at least ``least``, at most ``most``)."""
    most = k if most is None else most
    return sorted(draw(st.sets(st.integers(0, k - 1), min_size=least, max_size=most)))
