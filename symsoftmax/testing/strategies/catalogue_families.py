"""The row families of the catalogue (:mod:`symsoftmax.vectors.catalogue`), one strategy each:
constant rows, dominant entries, ties, overflow, subnormal outputs, ±max, specials."""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath
import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from symsoftmax.testing.strategies.spec import (
    DrawnRow,
    Family,
    _entries,
    _positions,
    _Spec,
)
from symsoftmax.testing.strategies.values import landmarks
from symsoftmax.vectors.catalogue import (
    MAX_SHORT_K,
)
from symsoftmax.vectors.values import ln_rounded, next_down, step


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


CATALOGUE_FAMILIES: dict[str, Family] = {
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
"""The catalogue's row families by name (a plain "drawn" row stands for its single-entry,
two-entries and random families)."""
