"""The model of a catalogue family: a :class:`Family` turns a :class:`Context` into :class:`Row` s.

A family is a pure function of its context (format, suite, op and its own seeded generator), so
it can be imported and called on its own: :mod:`symsoftmax.vectors.catalogue` lists the families
of the generated suites, :mod:`symsoftmax.vectors.blocks` those built around block boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.ops import OPERATIONS
from symsoftmax.rounding import round_array
from symsoftmax.vectors.model import OPS

__all__ = [
    "MAX_SHORT_K",
    "MAX_SHORT_K_JACOBIAN",
    "QUADRATIC_OPS",
    "Context",
    "Family",
    "Floats",
    "Row",
    "family_rng",
]

Floats = npt.NDArray[np.float64]

# Ops whose cost grows as K²: the Jacobian has K² outputs.
QUADRATIC_OPS = tuple(op for op in OPS if OPERATIONS[op].dims == 2)
# Every family except long-row and the block-structured ones keeps K at most this; the Jacobian
# (K² outputs, each an mpmath evaluation for its 40-digit decimal) at most MAX_SHORT_K_JACOBIAN.
MAX_SHORT_K = 64
MAX_SHORT_K_JACOBIAN = 10
_FLOAT8_PRECISION = 4  # float8_e4m3fn; float8_e5m2 has 3


@dataclass(frozen=True)
class Context:
    """What a family needs to make its rows: the format, the suite, the op and its generator."""

    fmt: Format
    suite: str
    op: str
    rng: np.random.Generator

    def ks(self, candidates: tuple[int, ...]) -> tuple[int, ...]:
        """The row lengths of ``candidates`` this op takes (the Jacobian stops at 10)."""
        limit = MAX_SHORT_K_JACOBIAN if self.op in QUADRATIC_OPS else MAX_SHORT_K
        return tuple(k for k in candidates if k <= limit)

    def pick(self, quick: int, standard: int, exhaustive: int) -> int:
        """A count per suite."""
        return {"quick": quick, "standard": standard, "exhaustive": exhaustive}[self.suite]

    @property
    def overflow(self) -> float:
        """t: the largest format value with e^t ≤ max."""
        return self.fmt.exp_overflow_threshold

    def row(self, values: list[float] | Floats) -> Floats:
        """A row of exact format values (floats given here must already be format values).

        Except in float8 (p ≤ 4): the families' literals (−100, 0.1, …) are chosen exact in the
        formats of ≥ 8 bits; in float8 they are rounded to the format (±inf is NaN in E4M3).
        """
        array = np.asarray(values, dtype=np.float64)
        rounded = round_array(array, self.fmt)
        if self.fmt.precision <= _FLOAT8_PRECISION:
            return rounded
        # exact: the same bit patterns (a format value rounds to itself, its sign of zero and
        # NaN kept; ±inf exist in these formats); one comparison instead of four array ops
        if rounded.tobytes() != array.tobytes():
            raise AssertionError(f"catalogue row is not exact in {self.fmt.name}: {values}")
        return array


@dataclass(frozen=True)
class Row:
    """One input row: logits z, an optional temperature, sink and soft-cap, and a comment."""

    z: Floats
    comment: str
    temperature: float | None = None
    sink: float | None = None  # a row with a sink or a soft-cap is made for SINK_OPS only
    softcap: float | None = None


@dataclass(frozen=True)
class Family:
    """A named generator of rows; every test made from it carries ``flags``."""

    name: str
    flags: tuple[str, ...]
    make: Callable[[Context], list[Row]]
    ops: tuple[str, ...] = OPS


def family_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one family: PCG64 seeded with (seed, a hash of the family's name).

    Each family has its own stream, so adding or resizing one family leaves the others unchanged.
    """
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, digest])))
