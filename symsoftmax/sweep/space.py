"""The input space of an exhaustive run: every row of K bit patterns of a format.

Row number i (0 ≤ i < 2^(b·K), b the format's width in bits) holds, at position j, the bit
pattern (i >> b·(K − 1 − j)) mod 2^b: the rows in lexicographic order of their patterns. Every
pattern is taken — ±0, subnormals, normals, ±inf and each NaN encoding — so the space is
the whole set of inputs a kernel can be handed (as TestFloat enumerates operands).

A space is refused when it cannot finish: more than :data:`MAX_ROWS` rows (float16 and
bfloat16 K = 2, 2^32 rows, are the largest accepted), with its row count and an estimate at
:data:`ROWS_PER_SECOND`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format

__all__ = ["MAX_K", "MAX_ROWS", "ROWS_PER_SECOND", "Space"]

MAX_ROWS = 1 << 32
"""Largest space accepted (float16 / bfloat16 K = 2)."""
ROWS_PER_SECOND = 2e6
"""Rows per second per core of a NumPy candidate, reference and judge, as measured on this
project's 2-core machine (docs/performance.md, "Short rows and exhaustive runs": 2.2 M rows/s in
one process for float16 K = 2; the full space, 2^32 rows, in 19 min on 2 cores): the basis of the
estimate a refusal states."""
MAX_K = 64


@dataclass(frozen=True)
class Space:
    """All rows of ``k`` bit patterns of ``fmt`` (see the module docstring)."""

    fmt: Format
    k: int

    @classmethod
    def of(cls, dtype: str | Format, k: int) -> Space:
        """The space, or InputError when K is out of range or the space cannot finish."""
        fmt = get_format(dtype)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be an integer in 1..{MAX_K}, got {k!r}")
        space = cls(fmt, k)
        if space.size > MAX_ROWS:
            raise InputError(
                f"{fmt.name} K = {k} has {space.size:.3g} rows (2^{space.bits * k}): about "
                f"{_duration(space.size / ROWS_PER_SECOND)} at {ROWS_PER_SECOND:.2g} rows/s per "
                f"core; exhaustive runs take at most 2^32 rows"
            )
        return space

    @property
    def bits(self) -> int:
        """Width of one value in bits."""
        return self.fmt.numpy_dtype.itemsize * 8

    @property
    def size(self) -> int:
        """Number of rows, 2^(bits·K)."""
        return 1 << (self.bits * self.k)

    def patterns(self, start: int, stop: int) -> npt.NDArray[np.uint64]:
        """Bit patterns of rows start..stop−1, shape (stop − start, K)."""
        return self.patterns_of(np.arange(start, stop, dtype=np.uint64))

    def patterns_of(self, index: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """Bit patterns of the rows numbered ``index`` (any order), shape (len(index), K)."""
        index = np.asarray(index, dtype=np.uint64)
        shifts = np.arange(self.k - 1, -1, -1, dtype=np.uint64) * np.uint64(self.bits)
        mask = np.uint64((1 << self.bits) - 1)
        return (index[:, None] >> shifts[None, :]) & mask

    def rows(self, start: int, stop: int) -> npt.NDArray[np.generic]:
        """Rows start..stop−1 in the format's own dtype, shape (stop − start, K)."""
        return self.rows_of(np.arange(start, stop, dtype=np.uint64))

    def rows_of(self, index: npt.NDArray[np.uint64]) -> npt.NDArray[np.generic]:
        """The rows numbered ``index`` (any order) in the format's dtype, shape (len, K)."""
        uint = np.dtype(f"uint{self.bits}")
        return self.patterns_of(index).astype(uint).view(self.fmt.numpy_dtype)

    def hex_patterns(self, row: int) -> list[str]:
        """The bit patterns of one row as hex strings (0x3c00, …)."""
        digits = self.bits // 4
        return [f"0x{int(p):0{digits}x}" for p in self.patterns(row, row + 1)[0]]


def _duration(seconds: float) -> str:
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("hours", 3600.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"
