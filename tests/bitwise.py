"""Bitwise comparison of float results for the tests: NaN equals NaN, −0 differs from +0.

The reference engine promises the format's value exactly, sign of zero included, so its tests
compare bit for bit rather than with a tolerance.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def differ(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Elementwise: where a and b are not the same value (NaN ≡ NaN; −0 ≢ +0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    same = ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))
    return ~same


def same_bits(a: npt.ArrayLike, b: npt.ArrayLike) -> bool:
    """Same shape and the same value everywhere, bit for bit (see :func:`differ`)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(a.shape == b.shape and not differ(a, b).any())
