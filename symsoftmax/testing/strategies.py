"""Hypothesis strategies: hard softmax inputs in any format, and cases with their exact answers.

A property test of your kernel in a few lines: draw a case (a row built like the catalogue's
hard rows, block structure included, with its correctly rounded reference values), call the
kernel, judge it with :func:`symsoftmax.testing.assert_softmax_close` (the validator's pass rule):

>>> import numpy as np
>>> from hypothesis import given, settings
>>> from symsoftmax.testing import assert_softmax_close
>>> from symsoftmax.testing.strategies import cases
>>> @settings(max_examples=20, deadline=None, derandomize=True, database=None)
... @given(cases("softmax", "float32"))
... def test_my_softmax(case):
...     z = case.z.astype(np.float64)
...     with np.errstate(invalid="ignore"):
...         e = np.exp(z - z.max())
...     assert_softmax_close((e / e.sum()).astype(np.float32), case)
>>> test_my_softmax()

(docs/testing.md runs this example.) Every row is made of Hypothesis primitives
(``st.integers``, ``st.floats`` of the format's width, ``st.sampled_from``, ``st.lists``), never
from a seed for NumPy, so a failure shrinks to a short, simple row: a plain row to its fewest,
simplest entries, a block-structured one to its fewest blocks, the smallest block size and the
simplest fill. The families follow the catalogue's (:mod:`symsoftmax.vectors.catalogue`; a drawn
row carries the catalogue flag of its family, and docs/vectors.md says what each probes), plus
the block structures of online (blockwise) softmax kernels — issue 10 of this project and the
public bug reports it lists:

* ``masked-leading-block``, ``masked-middle-block``, ``masked-tail-block``: blocks fully
  masked (−inf), the rest finite (e^{(−inf) − (−inf)} = NaN, flashinfer #4401);
* ``masked-block-far-below``: leading masked blocks, then every logit in [−300, −50] (a
  running max reset to 0 underflows the rest, flash-attention #2082);
* ``below-sentinel``: every logit below a sentinel used as the running max's start
  (:data:`SENTINELS`, those the format holds), the largest just above or below it (flashinfer
  #4267);
* ``max-in-last-block``: the row max in the last, partial block, after blocks whose maxima are
  far lower; ``block-max-increasing`` / ``-decreasing``: every block rescales the state, or none;
* ``block-boundary-length``: K ∈ {b − 1, b, b + 1, 2b − 1, 2b + 1} with the max or a −inf in
  the tail (a missing bounds check on the last partial block, NNkernels.jl #16);
* ``nan-in-block``: a NaN at a block start, a block boundary or in the last partial block (a
  NaN-ignoring max, lattice #740).

They are the catalogue's block families (:mod:`symsoftmax.vectors.blocks`, same flags and notes)
drawn instead of enumerated.

The block size b is drawn from ``block`` (default :data:`BLOCK_SIZES`); pass ``block=64`` (or a
strategy) to aim at your kernel's. Block-structured rows have up to three full blocks and a
partial one.

A case's reference values come from the engine (:func:`symsoftmax.reference.evaluate`, its
fast path for the rounded outputs, the exact values to 160 bits): milliseconds for a row of 64,
so 100 examples cost seconds. Hypothesis does not count drawing time against its deadline, but
a slow kernel may need ``deadline=None``.

Needs Hypothesis (the ``hypothesis`` or ``test`` extra); the core package does not.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import mpmath
import numpy as np
import numpy.typing as npt

try:
    from hypothesis import reject
    from hypothesis import strategies as st
    from hypothesis.strategies import DrawFn, SearchStrategy
except ImportError as _missing:  # the core install has no Hypothesis
    raise ImportError(
        "symsoftmax.testing.strategies needs Hypothesis: pip install 'symsoftmax[hypothesis]' "
        "(or hypothesis>=6.100)"
    ) from _missing

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, Format, get_format
from symsoftmax.ops import OPERATIONS
from symsoftmax.reference import evaluate
from symsoftmax.rounding import round_array, round_exact
from symsoftmax.testing import SoftmaxCase
from symsoftmax.vectors.blocks import BLOCK_SIZES as _SUITE_BLOCK_SIZES
from symsoftmax.vectors.blocks import SENTINELS
from symsoftmax.vectors.builder import answers_for
from symsoftmax.vectors.catalogue import (
    COTANGENTS,
    MAX_SHORT_K,
    MAX_SHORT_K_JACOBIAN,
    TARGETS,
    Companion,
)
from symsoftmax.vectors.model import INPUT_KEYS, OPS, TestCase, expected_shape
from symsoftmax.vectors.values import ln_rounded, next_down, next_up, step

__all__ = [
    "BLOCK_FAMILIES",
    "BLOCK_SIZES",
    "FAMILIES",
    "SENTINELS",
    "DrawnRow",
    "blockwise_rows",
    "cases",
    "drawn_rows",
    "format_values",
    "landmarks",
    "rows",
]

Floats = npt.NDArray[np.float64]

BLOCK_SIZES: tuple[int, ...] = _SUITE_BLOCK_SIZES["standard"]
"""Block (tile) sizes of online softmax and attention kernels, the standard suite's: the
default ``block``."""

_TILE = 8  # a long row is a tile of at most this many drawn entries, repeated (see _tiled)
_MAX_BLOCKS = 3  # full blocks of a block-structured row, besides a partial one
_EXACT_BITS = 160  # binary precision of the exact values, printed with _EXACT_DIGITS digits
_EXACT_DIGITS = 40
_COTANGENT_BOUND = 1024.0  # drawn cotangents lie in [−2^10, 2^10] (see _second_input)


# --------------------------------------------------------------------------------------------
# values of a format
# --------------------------------------------------------------------------------------------


def landmarks(dtype: str | Format) -> tuple[float, ...]:
    """The values of ``dtype`` where softmax code breaks, simplest first, each a format value.

    ±0, ±1, 2^p (where the format's integers stop), the exp overflow threshold t = ln(max)
    rounded down and its neighbours, −t, ln(2/smallest subnormal) negated (e^z at the underflow
    threshold), the smallest and largest subnormal, the smallest normal, max and its lower
    neighbour, −max, and ±inf and NaN where the format has them.
    """
    return _landmarks(get_format(dtype))


@functools.cache
def _landmarks(fmt: Format) -> tuple[float, ...]:
    t = fmt.exp_overflow_threshold
    underflow = ln_rounded(mpmath.ldexp(1, -fmt.underflow_exponent), fmt)
    values = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        round_exact(2.0**fmt.precision, fmt),
        t,
        next_down(t, fmt),
        next_up(t, fmt),
        -t,
        -underflow,
        fmt.smallest_subnormal,
        -fmt.smallest_subnormal,
        next_down(fmt.tiny, fmt),
        fmt.tiny,
        -fmt.tiny,
        fmt.max,
        next_down(fmt.max, fmt),
        -fmt.max,
        math.inf,
        -math.inf,
        math.nan,
    ]
    exact = round_array(np.asarray(values), fmt)  # ±inf become NaN in a finite-only format
    unique: dict[str, float] = {}
    for value in exact.tolist():
        unique.setdefault(repr(value), value)  # keeps −0 apart from 0, one NaN
    return tuple(unique.values())


_WIDTHS: tuple[tuple[Literal[16, 32, 64], str], ...] = (
    (16, "float16"),
    (32, "float32"),
    (64, "float64"),
)


def _carrier(fmt: Format) -> tuple[Literal[16, 32, 64], Format]:
    """The narrowest IEEE interchange format (width, Format) that holds every value of ``fmt``."""
    for width, name in _WIDTHS:
        carrier = FORMATS[name]
        if (
            fmt.precision <= carrier.precision
            and fmt.emin >= carrier.emin
            and fmt.emax <= carrier.emax
        ):
            return width, carrier
    raise InputError(f"{fmt.name} does not fit in float64")


def _checked_bound(value: float | None, fmt: Format, name: str) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and round_exact(value, fmt) == value):
        raise InputError(f"{name}={value!r} is not a finite {fmt.name} value")
    return float(value)


def format_values(
    dtype: str | Format = "float32",
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_nan: bool | None = None,
    allow_infinity: bool | None = None,
    allow_subnormal: bool = True,
) -> SearchStrategy[float]:
    """Exact values of ``dtype`` (as Python floats): its :func:`landmarks`, then any value.

    The arguments mean what they mean for ``st.floats``: NaN is allowed unless a bound is given,
    ±inf unless both are (never in a format without infinities); bounds must be values of the
    format. Any value is drawn by ``st.floats`` at the width of the narrowest IEEE format that
    holds ``dtype`` (float16 for the 8-bit formats, float32 for bfloat16) and rounded to
    ``dtype``, so it shrinks as ``st.floats`` does, towards 0 and simple numbers; the landmarks
    come first, so a failure at one of them shrinks to 0 or to that landmark.
    """
    fmt = get_format(dtype)
    low = _checked_bound(min_value, fmt, "min_value")
    high = _checked_bound(max_value, fmt, "max_value")
    nan_ok = (low is None and high is None) if allow_nan is None else allow_nan
    inf_ok = (low is None or high is None) if allow_infinity is None else allow_infinity
    inf_ok = inf_ok and fmt.infinities
    if not inf_ok:  # values beyond max would round to ±inf (or NaN in a finite-only format)
        low = -fmt.max if low is None else max(low, -fmt.max)
        high = fmt.max if high is None else min(high, fmt.max)
    width, carrier = _carrier(fmt)
    drawn = st.floats(
        min_value=low,
        max_value=high,
        allow_nan=False,  # NaN is a landmark (st.floats takes none with bounds, which a
        allow_infinity=inf_ok,  # finite-only format always has)
        allow_subnormal=None if allow_subnormal else False,  # None: as far as the bounds allow
        width=width,
    )
    if carrier is not fmt:
        drawn = drawn.map(lambda v: float(round_array(np.asarray([v]), fmt)[0]))
        if not allow_subnormal:  # the carrier's normals can be fmt's subnormals
            drawn = drawn.filter(lambda v: v == 0 or not abs(v) < fmt.tiny)

    def fits(v: float) -> bool:
        if math.isnan(v):
            return nan_ok
        if math.isinf(v):
            return inf_ok and (v < 0 or high is None) and (v > 0 or low is None)
        if not allow_subnormal and 0 < abs(v) < fmt.tiny:
            return False
        return (low is None or v >= low) and (high is None or v <= high)

    special = [v for v in landmarks(fmt) if fits(v)]
    return st.one_of(st.sampled_from(special), drawn) if special else drawn


@functools.lru_cache(maxsize=4096)  # families ask for the same ranges draw after draw
def _finite_values(fmt: Format, low: float, high: float) -> SearchStrategy[float]:
    return format_values(fmt, min_value=low, max_value=high, allow_nan=False)


# --------------------------------------------------------------------------------------------
# rows: one strategy per family
# --------------------------------------------------------------------------------------------


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


def _plain(s: _Spec) -> SearchStrategy[DrawnRow]:
    def make(values: list[float]) -> DrawnRow:
        return DrawnRow(s.row(values), ("drawn",), f"drawn values, K={len(values)}")

    if s.max_size <= MAX_SHORT_K:
        return st.lists(s.elements, min_size=s.min_size, max_size=s.max_size).map(make)

    @st.composite
    def long(draw: DrawFn) -> DrawnRow:
        return make(list(_entries(draw, s.elements, draw(st.integers(s.min_size, s.max_size)))))

    return long()


def _constant_row(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(1)
    if sizes is None:
        return None
    finite = [v for v in landmarks(s.fmt) if math.isfinite(v)]

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        c = draw(st.one_of(st.sampled_from(finite), s.elements))
        k = draw(sizes)
        return DrawnRow(s.row([c] * k), ("constant-row",), f"constant row of {c!r}, K={k}")

    return make()


def _dominant_entry(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(2)
    if sizes is None:
        return None
    t = s.t
    gaps = [s.exact(g) for g in (8.0, 20.0, 40.0, t / 2, t, 2 * t) if g <= s.fmt.max]

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        k = draw(sizes)
        z = _entries(draw, s.values(-1.0, 0.0), k - 1)
        gap = draw(st.one_of(st.sampled_from(gaps), s.values(1.0, s.fmt.max)))
        where = draw(st.integers(0, k - 1))
        z = np.insert(z, where, gap)
        return DrawnRow(s.row(z), ("dominant-entry",), f"one entry {gap!r} above [−1, 0], K={k}")

    return make()


def _tie_at_max(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(2)
    if sizes is None:
        return None

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        k = draw(sizes)
        top = draw(st.one_of(st.sampled_from([0.0, 3.0, -2.0]), s.elements))
        z = _entries(draw, s.values(-s.fmt.max, top), k)
        z[_positions(draw, k, least=2)] = top
        return DrawnRow(s.row(z), ("tie-at-max",), f"entries tie at max {top!r}, K={k}")

    return make()


def _near_tie(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(2, MAX_SHORT_K)
    if sizes is None:
        return None
    fmt = s.fmt
    inner = step(fmt.max, -2, fmt)  # m ± 2 neighbours stay finite
    tops = [s.exact(v) for v in (1.0, 0.5, 1.5, 100.0, s.t, -3.0, 2.0**fmt.precision)]

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        m = draw(st.one_of(st.sampled_from(tops), s.values(-inner, inner)))
        k = draw(sizes)
        offsets = draw(st.lists(st.integers(-2, 2), min_size=k, max_size=k))
        z = [step(m, i, fmt) for i in offsets]
        return DrawnRow(s.row(z), ("near-tie",), f"{m!r} and neighbours {offsets}")

    return make()


def _exp_overflow(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(1, MAX_SHORT_K)
    if sizes is None:
        return None
    fmt, t = s.fmt, s.t
    around_t = st.integers(-2, 2).map(lambda i: step(t, i, fmt))
    others = st.sampled_from([0.0, -t, s.exact(2 * t)])

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        k = draw(sizes)
        z = draw(st.lists(st.one_of(around_t, others), min_size=k, max_size=k))
        return DrawnRow(s.row(z), ("exp-overflow",), f"entries at ln(max) ± 2 ulp, K={k}")

    return make()


def _wide_spread(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(2)
    if sizes is None:
        return None
    t = s.t
    tops = [t, 0.0, s.exact(t / 2)]
    spreads = [s.exact(v) for v in (2 * t, 3 * t, 1.5 * t)]

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        k = draw(sizes)
        top = draw(st.sampled_from(tops))
        bottom = max(s.exact(top - draw(st.sampled_from(spreads))), -s.fmt.max)
        z = _entries(draw, s.values(bottom, top), k - 2)
        where = sorted(draw(st.lists(st.integers(0, k - 2), min_size=2, max_size=2)))
        z = np.insert(np.insert(z, where[0], top), where[1] + 1, bottom)
        return DrawnRow(s.row(z), ("wide-spread",), f"spread {top!r} − {bottom!r}, K={k}")

    return make()


def _subnormal_output(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    """[0, …, −d] with e^−d in the subnormal range or at the underflow thresholds."""
    sizes = s.sizes(2, 3)
    if sizes is None:
        return None
    fmt = s.fmt
    thresholds = {  # e^−d: half the smallest subnormal, the smallest subnormal, 2^emin
        "underflow-threshold": ln_rounded(mpmath.ldexp(1, -fmt.underflow_exponent), fmt),
        "smallest-subnormal": ln_rounded(mpmath.ldexp(1, -fmt.quantum_exponent(fmt.emin)), fmt),
        "tiny": ln_rounded(mpmath.ldexp(1, -fmt.emin), fmt),
    }
    binades = st.integers(fmt.emin - fmt.precision + 1, fmt.emin - 1).map(
        lambda e: ("binade", ln_rounded(mpmath.ldexp(1.5, -e), fmt))  # the binade's middle
    )

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        name, d = draw(st.one_of(st.sampled_from(sorted(thresholds.items())), binades))
        d = step(d, draw(st.integers(-4, 4)), fmt)
        k = draw(sizes)
        z = np.zeros(k)
        z[draw(st.integers(0, k - 1))] = -d
        flags: tuple[str, ...] = ("subnormal-output",)
        if name != "binade":
            flags = (*flags, "underflow-threshold")
        return DrawnRow(s.row(z), flags, f"e^−{d!r} near {name}, K={k}")

    return make()


def _format_max(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(1, 4)
    if sizes is None:
        return None
    fmt = s.fmt
    extremes = st.sampled_from([fmt.max, -fmt.max, 0.0, next_down(fmt.max, fmt)])

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        k = draw(sizes)
        z = draw(st.lists(extremes, min_size=k, max_size=k))
        return DrawnRow(s.row(z), ("format-max",), f"max, −max and 0: {z}")

    return make()


def _with_specials(
    flag: str, value: float, least_finite: int
) -> Callable[[_Spec], SearchStrategy[DrawnRow] | None]:
    """A family: a drawn row with ``value`` at drawn positions (≥ 1; ≥ ``least_finite`` not)."""

    def family(s: _Spec) -> SearchStrategy[DrawnRow] | None:
        sizes = s.sizes(1 + least_finite)
        if sizes is None:
            return None

        @st.composite
        def make(draw: DrawFn) -> DrawnRow:
            k = draw(sizes)
            z = _entries(draw, s.elements, k)
            where = _positions(draw, k, most=k - least_finite)
            z[where] = value
            return DrawnRow(s.row(z), (flag,), f"{value!r} at {where[:8]}, K={k}")

        return make()

    return family


def _all_neg_inf(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(1)
    if sizes is None:
        return None
    return sizes.map(
        lambda k: DrawnRow(np.full(k, -math.inf), ("all-neg-inf",), f"fully masked, K={k}")
    )


def _negative_only(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    sizes = s.sizes(1)
    if sizes is None:
        return None
    t = s.t
    big = [s.exact(v) for v in (-2 * t, -(t + 10), -s.fmt.max)]

    @st.composite
    def make(draw: DrawFn) -> DrawnRow:
        k = draw(sizes)
        z = _entries(draw, s.values(-s.fmt.max, -1.0), k)
        z[draw(st.integers(0, k - 1))] = draw(st.sampled_from(big))
        return DrawnRow(s.row(z), ("negative-only",), f"negative entries, K={k}")

    return make()


# ---- block structure (issue 10) ------------------------------------------------------------


@dataclass(frozen=True)
class _Blocks:
    """A row of ``full`` blocks of ``b`` entries and a partial block of ``tail`` entries."""

    b: int
    full: int
    tail: int

    @property
    def k(self) -> int:
        return self.b * self.full + self.tail

    @property
    def count(self) -> int:
        return self.full + (self.tail > 0)

    def block(self, j: int) -> slice:
        return slice(j * self.b, min((j + 1) * self.b, self.k))

    def describe(self) -> str:
        return f"{self.full} block(s) of {self.b} + {self.tail}, K={self.k}"


def _frame(draw: DrawFn, s: _Spec, least_full: int = 1, least_tail: int = 0) -> _Blocks:
    """A layout of 0..3 full blocks and a partial one (K is set by the blocks, not max_size);
    everything shrinks towards fewer blocks, the smallest block size and a shorter tail."""
    assert s.blocks is not None
    b = draw(s.blocks)
    full = draw(st.integers(least_full, _MAX_BLOCKS))
    tail = draw(st.integers(max(least_tail, full == 0), b - 1))
    frame = _Blocks(b, full, tail)
    if frame.k < s.min_size:
        reject()
    return frame


BlockMake = Callable[[DrawFn, _Spec], DrawnRow]


def _block_family(make: BlockMake, needs: str | None = None) -> Family:
    """A family over block layouts; ``needs``: the _Spec switch it needs ("masked", "allow_nan")."""

    def family(s: _Spec) -> SearchStrategy[DrawnRow] | None:
        if s.blocks is None or (needs is not None and not getattr(s, needs)):
            return None
        return st.composite(lambda draw: make(draw, s))()

    return family


def _masked_block(where: str) -> BlockMake:
    """leading: the first j blocks, then finite ones; middle: one block between finite ones;
    tail: the last block, partial or full, after finite ones."""
    flag = f"masked-{where}-block"

    def make(draw: DrawFn, s: _Spec) -> DrawnRow:
        least_full = 2 if where == "middle" else 1
        frame = _frame(draw, s, least_full, least_tail=int(where != "tail"))
        if frame.count < 2:
            reject()
        z = _tiled(draw, s.elements, frame.k)
        if where == "leading":
            masked = slice(0, draw(st.integers(1, frame.count - 1)) * frame.b)
        elif where == "middle":
            masked = frame.block(draw(st.integers(1, frame.count - 2)))
        else:
            masked = frame.block(frame.count - 1)
        z[masked] = -math.inf
        return DrawnRow(
            s.row(z), (flag,), f"{masked.start}..{masked.stop} masked, {frame.describe()}"
        )

    return make


def _masked_block_far_below(draw: DrawFn, s: _Spec) -> DrawnRow:
    frame = _frame(draw, s, least_full=1, least_tail=1)
    j = draw(st.integers(1, frame.full))
    z = _tiled(draw, s.values(-300.0, -50.0), frame.k)
    z[: j * frame.b] = -math.inf
    comment = f"{j} leading block(s) masked, the rest in [−300, −50], {frame.describe()}"
    return DrawnRow(s.row(z), ("masked-block-far-below",), comment)


def _sentinel_levels(fmt: Format) -> list[float]:
    return [round_exact(v, fmt) for v in SENTINELS if -v <= fmt.max]


def _below_sentinel(draw: DrawFn, s: _Spec) -> DrawnRow:
    fmt = s.fmt
    level = draw(st.sampled_from(_sentinel_levels(fmt)))
    top = step(level, draw(st.integers(-2, 2)), fmt)  # just below, at, or just above it
    top = top if math.isfinite(top) else level  # below −max (float8_e5m2 holds −5e4 as −49152)
    frame = _frame(draw, s, least_full=0)
    floor = max(s.exact(2 * level), -fmt.max)
    z = _tiled(draw, s.values(floor, min(top, level)), frame.k)
    z[draw(st.integers(0, frame.k - 1))] = top
    comment = f"max {top!r} by sentinel {level!r}, {frame.describe()}"
    return DrawnRow(s.row(z), ("below-sentinel",), comment)


def _below_sentinel_family(s: _Spec) -> SearchStrategy[DrawnRow] | None:
    """No family in a format that holds none of the sentinels (float8_e4m3fn: max 448)."""
    return _block_family(_below_sentinel)(s) if _sentinel_levels(s.fmt) else None


def _max_in_last_block(draw: DrawFn, s: _Spec) -> DrawnRow:
    frame = _frame(draw, s, least_full=1, least_tail=1)
    t = s.t
    gap = draw(st.sampled_from([s.exact(v) for v in (20.0, 50.0, 100.0, t, 2 * t)]))
    top = draw(st.one_of(st.just(0.0), s.values(-t, t)))
    low = s.exact(top - gap)
    z = _tiled(draw, s.values(max(s.exact(low - t), -s.fmt.max), low), frame.k)
    z[frame.full * frame.b + draw(st.integers(0, frame.tail - 1))] = top
    comment = f"max {top!r} in the last block, {gap!r} above the rest, {frame.describe()}"
    return DrawnRow(s.row(z), ("max-in-last-block",), comment)


def _block_maxima(direction: int) -> BlockMake:
    """Block j's maximum is top − |j − j_max|·δ, j_max the last block (rising: every block
    rescales the running state) or the first (falling: none does)."""
    flag = "block-max-increasing" if direction > 0 else "block-max-decreasing"

    def make(draw: DrawFn, s: _Spec) -> DrawnRow:
        frame = _frame(draw, s, least_full=1)
        t = s.t
        delta = draw(st.sampled_from([s.exact(v) for v in (1.0, 8.0, 30.0, t / 2, t)]))
        top = draw(st.one_of(st.just(0.0), s.values(-t, t)))
        offsets = _tiled(draw, s.values(0.0, 2 * delta), frame.k)  # how far below its block's max
        z = np.empty(frame.k)
        peak_block = frame.count - 1 if direction > 0 else 0
        for j in range(frame.count):
            block = frame.block(j)
            peak = top - abs(j - peak_block) * delta
            z[block] = peak - offsets[block]
            z[block.start] = peak
        comment = f"block maxima {direction * delta:+g} per block, {frame.describe()}"
        return DrawnRow(s.row(z), (flag,), comment)

    return make


def _block_boundary_length(draw: DrawFn, s: _Spec) -> DrawnRow:
    assert s.blocks is not None
    b = draw(s.blocks)
    k = draw(st.sampled_from([b - 1, b, b + 1, 2 * b - 1, 2 * b + 1]))
    if k < max(s.min_size, 1):
        reject()
    z = _tiled(draw, s.elements, k)
    kind = draw(st.sampled_from(["max", "masked"] if s.masked and k > 1 else ["max"]))
    last = (k - 1) // b * b  # the start of the last block, partial unless b divides K
    where = last + draw(st.integers(0, k - 1 - last))
    if kind == "max":
        z[where] = min(s.exact(float(np.max(z)) + 1.0), s.fmt.max)
    else:
        z[where] = -math.inf
        if np.isneginf(z).all():
            reject()
    comment = f"K={k} for block {b}, {kind} at {where}"
    return DrawnRow(s.row(z), ("block-boundary-length",), comment)


def _nan_in_block(draw: DrawFn, s: _Spec) -> DrawnRow:
    frame = _frame(draw, s, least_full=1)
    z = _tiled(draw, s.elements, frame.k)
    starts = [j * frame.b for j in range(frame.count)]
    where = draw(st.sampled_from(sorted({*starts, frame.b - 1, frame.k - 1})))
    z[where] = math.nan
    return DrawnRow(s.row(z), ("nan-in-block",), f"NaN at {where}, {frame.describe()}")


FAMILIES: dict[str, Family] = {
    "drawn": _plain,
    "constant-row": _constant_row,
    "dominant-entry": _dominant_entry,
    "tie-at-max": _tie_at_max,
    "near-tie": _near_tie,
    "exp-overflow": _exp_overflow,
    "wide-spread": _wide_spread,
    "subnormal-output": _subnormal_output,
    "format-max": _format_max,
    "neg-inf-entries": _with_specials("neg-inf-entries", -math.inf, 1),
    "all-neg-inf": _all_neg_inf,
    "nan-input": _with_specials("nan-input", math.nan, 0),
    "pos-inf": _with_specials("pos-inf", math.inf, 0),
    "negative-only": _negative_only,
}
"""The row families by name: the catalogue's (a plain "drawn" row stands for its single-entry,
two-entries and random families), then the block-structured ones (:data:`BLOCK_FAMILIES`)."""

BLOCK_FAMILIES: dict[str, Family] = {
    "masked-leading-block": _block_family(_masked_block("leading"), needs="masked"),
    "masked-middle-block": _block_family(_masked_block("middle"), needs="masked"),
    "masked-tail-block": _block_family(_masked_block("tail"), needs="masked"),
    "masked-block-far-below": _block_family(_masked_block_far_below, needs="masked"),
    "below-sentinel": _below_sentinel_family,
    "max-in-last-block": _block_family(_max_in_last_block),
    "block-max-increasing": _block_family(_block_maxima(+1)),
    "block-max-decreasing": _block_family(_block_maxima(-1)),
    "block-boundary-length": _block_family(_block_boundary_length),
    "nan-in-block": _block_family(_nan_in_block, needs="allow_nan"),
}
FAMILIES.update(BLOCK_FAMILIES)

# The switch of rows() that turns a (non-block) family off.
_NEEDS = {
    "neg-inf-entries": "masked",
    "all-neg-inf": "masked",
    "nan-input": "allow_nan",
    "pos-inf": "allow_infinity",
}


def _block_sizes(block: int | SearchStrategy[int] | bool | None) -> SearchStrategy[int] | None:
    if block is None or block is False:
        return None
    if block is True:
        return st.sampled_from(BLOCK_SIZES)
    if isinstance(block, int):
        if block < 2:
            raise InputError(f"block must be at least 2, got {block}")
        return st.just(block)
    return block


def drawn_rows(
    dtype: str | Format = "float32",
    *,
    min_size: int = 1,
    max_size: int = MAX_SHORT_K,
    elements: SearchStrategy[float] | None = None,
    block: int | SearchStrategy[int] | bool | None = True,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    masked: bool = True,
    families: Sequence[str] | None = None,
) -> SearchStrategy[DrawnRow]:
    """Hard rows with their family's flags and a comment (:class:`DrawnRow`); see :func:`rows`."""
    fmt = get_format(dtype)
    if not 0 <= min_size <= max_size:
        raise InputError(f"need 0 ≤ min_size ≤ max_size, got {min_size} and {max_size}")
    names = list(FAMILIES) if families is None else list(families)
    unknown = [name for name in names if name not in FAMILIES]
    if unknown:
        raise InputError(f"unknown family {unknown[0]!r}; expected one of {', '.join(FAMILIES)}")
    finite = format_values(fmt, allow_nan=False, allow_infinity=False)
    spec = _Spec(
        fmt=fmt,
        elements=finite if elements is None else elements,
        min_size=min_size,
        max_size=max_size,
        blocks=_block_sizes(block),
        allow_nan=allow_nan,
        allow_infinity=allow_infinity and fmt.infinities,
        masked=masked and fmt.infinities,
    )
    chosen = []
    for name in names:
        switch = _NEEDS.get(name)
        if switch is not None and not getattr(spec, switch):
            continue
        strategy = FAMILIES[name](spec)
        if strategy is not None:
            chosen.append(strategy)
    if not chosen:
        raise InputError(f"no row family of {', '.join(names)} fits these options")
    return st.one_of(chosen)


def rows(
    dtype: str | Format = "float32",
    *,
    min_size: int = 1,
    max_size: int = MAX_SHORT_K,
    elements: SearchStrategy[float] | None = None,
    block: int | SearchStrategy[int] | bool | None = True,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    masked: bool = True,
    families: Sequence[str] | None = None,
) -> SearchStrategy[npt.NDArray[Any]]:
    """Hard rows as NumPy arrays of ``dtype``, drawn from every family (:data:`FAMILIES`).

    ``min_size``/``max_size`` bound the length of the catalogue families' rows; a
    block-structured row has 1–3 full blocks and a partial one (``block``: a block size, a
    strategy of them, True for :data:`BLOCK_SIZES`, None for no block-structured rows).
    ``elements``: the finite entries of plain rows and of the fills (default: any finite value
    of the format, landmarks first). ``allow_nan``, ``allow_infinity`` (+inf) and ``masked``
    (−inf) switch those families off. ``families``: only these (names of :data:`FAMILIES`).
    """
    fmt = get_format(dtype)
    return drawn_rows(
        fmt,
        min_size=min_size,
        max_size=max_size,
        elements=elements,
        block=block,
        allow_nan=allow_nan,
        allow_infinity=allow_infinity,
        masked=masked,
        families=families,
    ).map(lambda row: row.z.astype(fmt.numpy_dtype))


def blockwise_rows(
    dtype: str | Format = "float32", block: int | SearchStrategy[int] | bool = True, **options: Any
) -> SearchStrategy[npt.NDArray[Any]]:
    """Block-structured rows only (:data:`BLOCK_FAMILIES`): :func:`rows` with those families.

    ``block``: a block size, a strategy of them, or True for :data:`BLOCK_SIZES`.
    """
    return rows(dtype, block=block, families=list(BLOCK_FAMILIES), **options)


# --------------------------------------------------------------------------------------------
# cases: a row, its second input and temperature, and the reference values
# --------------------------------------------------------------------------------------------


def _companion(
    draw: DrawFn, fmt: Format, k: int, kinds: tuple[Companion, ...]
) -> tuple[Floats, tuple[str, ...], str]:
    """The second input from one of the catalogue's companions (cotangents or targets).

    A companion draws from a NumPy generator (one-hot positions, signs): here, and only here, the
    seed is a drawn integer (shrinking to 0), so that the values are exactly the catalogue's
    constructions rather than a second copy of them.
    """
    companion = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    try:
        values = companion.make(np.random.default_rng(seed), fmt, k)
    except AssertionError:  # e.g. a uniform target that the format cannot hold exactly
        reject()
    return values, companion.flags, companion.name


def _second_input(
    draw: DrawFn, op: str, fmt: Format, k: int
) -> tuple[str, Floats, tuple[str, ...], str] | None:
    """(name, values, flags, kind) of the op's second input, None for a one-input op."""
    inputs = OPERATIONS[op].inputs
    if len(inputs) < 2:
        return None
    name = inputs[1]
    if name == "g" and not draw(st.booleans()):  # a drawn cotangent (shrinks to a constant) first
        # |g| ≤ 2^10 like the catalogue's: cotangents across the whole range (3e38 next to
        # 1e-45) send the reference's Ziv loop to thousands of bits, seconds a case
        bound = min(_COTANGENT_BOUND, fmt.max)
        return name, _tiled(draw, _finite_values(fmt, -bound, bound), k), (), "drawn"
    values, flags, kind = _companion(draw, fmt, k, COTANGENTS if name == "g" else TARGETS)
    return name, values, flags, kind


def _reference_test(
    op: str, fmt: Format, inputs: dict[str, Floats], flags: tuple[str, ...], comment: str
) -> TestCase:
    """The test of one row, as a vector file holds it: the correctly rounded outputs (the
    engine's fast path), the exact values and the named answers where the field disagrees.

    The vector builder prints each exact value as its correctly rounded 40-digit decimal, which
    the engine computes exactly — seconds for values like e^−2·10^5 (a row spanning ±max in
    float16). Here the exact value is correctly rounded to 160 bits and printed with 40 digits:
    within 2^−130 of it, far below the hi + lo double the pass rule reads (about 2^−106).
    """
    k = inputs["z"].size
    rows = [inputs[name][np.newaxis] for name in INPUT_KEYS[op]]
    temperature = inputs.get("temperature")
    expected, exact = {}, {}
    for output in OPERATIONS[op].outputs:
        result = evaluate(
            output.reference,
            *rows,
            dtype=fmt,
            temperature=None if temperature is None else float(temperature),
        )
        shape = expected_shape(op, output.key, k)
        expected[output.key] = np.asarray(result.rounded[0], dtype=np.float64).reshape(shape)
        values = np.asarray(result.values(_EXACT_BITS)[0], dtype=object).reshape(shape)
        exact[output.key] = np.vectorize(_decimal, otypes=[object])(values)
    answers = answers_for(op, inputs, expected)
    return TestCase(
        tc_id=1,
        comment=comment,
        flags=flags,
        inputs=inputs,
        expected=expected,
        exact=exact,
        result="acceptable" if answers else "valid",
        acceptable=answers,
    )


def _decimal(value: Any) -> str:
    """An mpmath value as the vector files write it: a decimal, "nan", "inf", "-inf", "0"."""
    if not value:
        return "0"
    return str(mpmath.nstr(value, _EXACT_DIGITS, min_fixed=1, max_fixed=0))


def cases(
    op: str = "softmax",
    dtype: str | Format = "float32",
    *,
    temperature: bool = False,
    max_size: int | None = None,
    **options: Any,
) -> SearchStrategy[SoftmaxCase]:
    """Cases of ``op`` in ``dtype``: a hard row (:func:`rows`; ``options`` go there), the second
    input the op takes (a cotangent g, a target y), and the correctly rounded reference values.

    The strategy counterpart of :func:`symsoftmax.testing.cases`: a drawn case is a
    :class:`~symsoftmax.testing.SoftmaxCase` (``case.z``, ``case.args``, ``case.expected``), and
    ``assert_softmax_close(got, case)`` judges an output by the validator's pass rule
    (:class:`symsoftmax.validation.PassRule`: ``mode``, ``max_ulp``, ``ftz``). Special values get
    the named answers of the vector files (an all −inf row: NaN or the masked zeros).
    ``temperature=True`` also draws T (None, or a positive format value) for the ops that take
    one; call the kernel with ``case.test.inputs.get("temperature")``. The Jacobian (K² outputs)
    keeps K ≤ 10 and has no block-structured rows.
    """
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    fmt = get_format(dtype)
    quadratic = OPERATIONS[op].dims == 2
    if quadratic:
        options["block"] = None
    limit = MAX_SHORT_K_JACOBIAN if quadratic else MAX_SHORT_K
    row_strategy = drawn_rows(fmt, max_size=limit if max_size is None else max_size, **options)
    temperatures: SearchStrategy[float | None] = st.none()
    if temperature and OPERATIONS[op].temperature:
        positive = format_values(fmt, min_value=fmt.smallest_subnormal, max_value=fmt.max)
        temperatures = st.one_of(st.none(), positive)

    @st.composite
    def make(draw: DrawFn) -> SoftmaxCase:
        row = draw(row_strategy)
        inputs = {"z": row.z}
        flags, comment = row.flags, row.comment
        second = _second_input(draw, op, fmt, row.z.size)
        if second is not None:
            name, values, extra, kind = second
            inputs[name] = values
            flags, comment = (*flags, *extra), f"{comment}; {name}: {kind}"
        t = draw(temperatures)
        if t is not None:
            inputs["temperature"] = np.asarray(t, dtype=np.float64)
            flags, comment = (*flags, "temperature"), f"{comment}; T = {t!r}"
        return SoftmaxCase(op, fmt.name, _reference_test(op, fmt, inputs, flags, comment))

    return make()
