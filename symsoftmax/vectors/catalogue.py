"""The catalogue of test families: declarative input generators, each with its flags.

Modelled on SciPy's ``scipy/special/_mptestutils.py`` argument generators (linear and log-spaced
points of both signs) and on Wycheproof's flags (each flag documents what it probes and which
implementation bug it catches, :data:`NOTES`). A :class:`Family` turns a :class:`Context` (format,
suite, op, seeded generator) into :class:`Row` objects: the logits z (and a temperature where
used). :mod:`symsoftmax.vectors.builder` adds the second input of the two-input ops from a
:class:`Companion` (cotangents for the VJPs, targets for cross-entropy) and the reference values.

Every value is a format value constructed exactly (:mod:`symsoftmax.vectors.values`); nothing here
calls libm, so a seed gives the same rows on every platform.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np

from symsoftmax.formats import Format
from symsoftmax.rounding import round_array, round_exact
from symsoftmax.vectors.blocks import BLOCK_FAMILIES, BLOCK_FLAGS, BLOCK_NOTES
from symsoftmax.vectors.family import (
    MAX_SHORT_K,
    MAX_SHORT_K_JACOBIAN,
    QUADRATIC_OPS,
    Context,
    Family,
    Floats,
    Row,
    family_rng,
)
from symsoftmax.vectors.model import TEMPERATURE_OPS, Note
from symsoftmax.vectors.values import (
    ceil_log2,
    ln_rounded,
    next_down,
    next_up,
    random_logspaced,
    random_normal,
    random_uniform,
    step,
)

__all__ = [
    "ATTENTION_LONG_K",
    "ATTENTION_OPS",
    "BLOCK_FLAGS",
    "COTANGENTS",
    "FAMILIES",
    "LONG_K",
    "MAX_SHORT_K",
    "MAX_SHORT_K_JACOBIAN",
    "NOTES",
    "QUADRATIC_LONG_K",
    "QUADRATIC_OPS",
    "TARGETS",
    "Companion",
    "Context",
    "Family",
    "Row",
    "family_rng",
    "long_row_lengths",
]

# Row length of the long-row family per suite. float16 accumulation stops growing at 2048 and
# bfloat16 at 256 (adding 1 to 2^p is lost), so these lengths expose low-precision sums.
LONG_K = {"quick": (300,), "standard": (300, 4096), "exhaustive": (300, 4096, 1 << 20)}
# The Jacobian's long rows stop just beyond bfloat16's 256 in the standard suite. (The softmax
# VJP, once K² in the reference engine, is O(K) per row since it shares ḡ across the row: 0.6 s
# for a row of 4096 with its decimals.)
QUADRATIC_LONG_K = {"quick": (), "standard": (260,), "exhaustive": (260, 1024)}
# Attention rows (a softmax over the keys of a long context) for the ops an attention kernel
# computes: 8192 and 32768 entries on top of LONG_K, outside the quick suite.
ATTENTION_OPS = ("softmax", "log_softmax", "logsumexp")
ATTENTION_LONG_K = {"quick": (), "standard": (8192, 32768), "exhaustive": (8192, 32768)}


NOTES: dict[str, Note] = {
    "constant-row": Note(
        "All entries equal: the exact softmax is 1/K, log_softmax is −ln K, logsumexp is c + ln K.",
        "Wrong normalisation, an off-by-one K, or a max-shift that is not exact (c − c ≠ 0).",
    ),
    "dominant-entry": Note(
        "One entry far above the rest: the output is one-hot up to rounding.",
        "Loss of the small outputs (flushed or badly rounded) and log_softmax computed as "
        "log(softmax), which returns −inf instead of a finite value.",
    ),
    "tie-at-max": Note(
        "Several entries equal the row maximum.",
        "argmax-based shortcuts that give the whole mass to one of the tied entries.",
    ),
    "near-tie": Note(
        "Entries at the maximum and its neighbouring format values.",
        "Inexact differences z − max, and comparisons that treat near-equal entries as equal.",
    ),
    "exp-overflow": Note(
        "Inputs at and just above ln(max), the largest value whose exp is finite in the format "
        "(88.72 in float32, as in oneDNN benchdnn's 88, 89, 90).",
        "No max-shift: exp(z) overflows to inf and inf/inf gives NaN.",
    ),
    "wide-spread": Note(
        "max − min exceeds ln(max): exp of the row's range cannot be represented.",
        "Shifting by the mean or the first entry instead of the maximum (exp overflows or the "
        "whole row underflows).",
    ),
    "subnormal-output": Note(
        "Inputs whose smallest outputs fall in the subnormal range (and log_softmax outputs "
        "−e^−d in it).",
        "Flush-to-zero arithmetic and exp implementations that lose accuracy below 2^emin.",
    ),
    "underflow-threshold": Note(
        "Outputs on either side of half the smallest subnormal, where correct rounding switches "
        "between 0 and the smallest subnormal.",
        "Double rounding and sloppy exp near the underflow threshold.",
    ),
    "format-max": Note(
        "The format's largest finite value, alone and mixed with −max and 0.",
        "Overflow outside the shift: e^max, and sums such as max + max, overflow (while "
        "logsumexp(max, max) = max + ln 2 rounds to max), and z/T in temperature scaling.",
    ),
    "neg-inf-entries": Note(
        "Some entries are −inf (masked positions); their outputs are exactly 0 (−inf in "
        "log_softmax).",
        "NaN from −inf − (−inf) or from 0·inf in the derivative; masks handled as large "
        "negative finite values.",
    ),
    "all-neg-inf": Note(
        "Every entry is −inf (a fully masked row). The field disagrees: SciPy and PyTorch "
        "return NaN (0/0); FlashAttention and masked softmax return zeros.",
        "A crash or an answer that is neither convention (e.g. a uniform row).",
    ),
    "nan-input": Note(
        "A NaN in some position (first, middle, last, with infinities): every output is NaN.",
        "max implementations that skip NaN (fmax) and return a finite row.",
    ),
    "pos-inf": Note(
        "+inf entries. The field disagrees: the limit is uniform over the +inf entries; an "
        "IEEE max-shift gives NaN (inf − inf).",
        "A crash, or an answer that is neither the limit nor NaN.",
    ),
    "negative-only": Note(
        "All entries negative, some of large magnitude.",
        "Shifting by the largest magnitude instead of the maximum (exp overflows), or no shift "
        "at all (every exp underflows and 0/0 gives NaN).",
    ),
    "single-entry": Note(
        "K = 1: softmax is exactly 1, log_softmax exactly 0, logsumexp the entry itself.",
        "Loops and reductions that assume K ≥ 2; log1p(s) with s from an empty sum.",
    ),
    "two-entries": Note(
        "K = 2, the sigmoid case, with differences over the whole range.",
        "Special-cased K = 2 code (sigmoid) that is not bitwise or accuracy-equivalent.",
    ),
    "long-row": Note(
        "Long rows: 300 and 4096 entries (standard), also 2^20 (exhaustive); 8192 and 32768 "
        "too for softmax, log_softmax and logsumexp, the lengths of attention rows; 260 and "
        "1024 for the Jacobian, which has K² outputs. float16 accumulation stops growing at "
        "2048, bfloat16 at 256.",
        "Sums accumulated in the input format (stall), and error growing linearly in K.",
    ),
    **BLOCK_NOTES,
    "temperature-small": Note(
        "Temperature T close to 0 (down to the smallest subnormal): softmax((z − max)/T).",
        "Computing z/T before the shift: z/T overflows and inf − inf gives NaN.",
    ),
    "temperature-large": Note(
        "Very large temperature (up to the format's max): the output tends to uniform.",
        "Multiplying by a reciprocal 1/T that is subnormal or flushed to zero.",
    ),
    "random-normal": Note(
        "Approximately normal entries (Irwin–Hall) with standard deviation 1, 8 and 64.",
        "General accuracy: error beyond the published bounds (Blanchard, Higham & Higham 2021).",
    ),
    "random-uniform": Note(
        "Uniform entries in [−a, a) for a = 1, 16 and a power of two above ln(max).",
        "General accuracy, including rows whose spread crosses the exp overflow threshold.",
    ),
    "random-logspaced": Note(
        "Log-uniform magnitudes of both signs, from below the unit roundoff to above ln(max).",
        "Accuracy across binades: tiny differences that must not be lost, large ones that "
        "saturate.",
    ),
    "cotangent-cancellation": Note(
        "VJP cotangents of opposite signs, or nearly constant: g − ⟨g, s⟩ cancels.",
        "Computing the VJP as J·g with an explicit Jacobian, or in an order that cancels "
        "catastrophically.",
    ),
    "cotangent-one-hot": Note(
        "VJP cotangent e_j: the result is the j-th row of the Jacobian.",
        "Transposed Jacobians and index mix-ups in the backward pass.",
    ),
    "target-one-hot": Note(
        "Cross-entropy against a one-hot target (hard label).",
        "Gradient s − y with the wrong sign or the wrong index; loss from log(softmax) that "
        "becomes inf when the target's probability underflows.",
    ),
    "target-smoothed": Note(
        "Cross-entropy against a label-smoothed target (1 − ε on one class, ε spread).",
        "Implementations that assume a one-hot target (gather instead of a dot product).",
    ),
    "target-uniform": Note(
        "Cross-entropy against the uniform target 1/K (as close as the format allows; the "
        "target sums to 1 exactly).",
        "Loss computed as −log s_target only; accuracy of Σ y·log_softmax.",
    ),
}


def _cycle(ks: tuple[int, ...], n: int) -> list[int]:
    return [ks[i % len(ks)] for i in range(n)]


def _shuffle_place(ctx: Context, row: Floats, value: float, count: int = 1) -> Floats:
    """Put ``value`` at ``count`` random positions of ``row``."""
    out = row.copy()
    positions = ctx.rng.choice(out.size, size=count, replace=False)
    out[positions] = value
    return out


# --------------------------------------------------------------------------------------------
# families
# --------------------------------------------------------------------------------------------


def _constant_rows(ctx: Context) -> list[Row]:
    fmt, t = ctx.fmt, ctx.overflow
    values = [0.0, 1.0, -1.0, 2.5, -7.75, t, next_up(t, fmt), -t, fmt.max, -fmt.max, fmt.tiny]
    ks = ctx.ks((2, 3, 5, 7, 10, 64) if ctx.suite != "quick" else (3, 10))
    if ctx.suite == "quick":
        values = [0.0, t, -fmt.max]
    return [
        Row(ctx.row([c] * k), f"constant row of {c!r}, K={k}: output 1/K")
        for c in values
        for k in ks
    ]


def _dominant_entry(ctx: Context) -> list[Row]:
    fmt, t = ctx.fmt, ctx.overflow
    gaps = [round_exact(g, fmt) for g in (8.0, 20.0, 40.0, t / 2, t, 2 * t)]
    if ctx.suite == "quick":
        gaps = gaps[1::2]
    rows = []
    for gap in gaps:
        for k in ctx.ks((2, 3, 8, 33)):
            base = random_uniform(ctx.rng, fmt, k, 0, negative=True)
            rows.append(
                Row(_shuffle_place(ctx, base, gap), f"one entry {gap!r} above the rest, K={k}")
            )
    return rows


def _tie_at_max(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    rows = []
    for k, ties in [(2, 2), (3, 2), (3, 3), (5, 2), (8, 4), (16, 3), (33, 5)][: ctx.pick(3, 7, 7)]:
        for top in (0.0, 3.0, -2.0, round_exact(100.5, fmt)):
            base = top - 1.0 + random_uniform(ctx.rng, fmt, k, -1, negative=True)
            base = round_array(base, fmt)
            rows.append(Row(_shuffle_place(ctx, base, top, ties), f"{ties} entries tie at max"))
    return rows


def _near_tie(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    tops = [0.5, 1.0, 1.5, 100.0, ctx.overflow, -3.0, round_exact(2.0**fmt.precision, fmt)]
    if ctx.suite == "quick":
        tops = tops[:3]
    rows = []
    for m in tops:
        up, down = next_up(m, fmt), next_down(m, fmt)
        rows += [
            Row(ctx.row([m, up]), f"{m!r} and its upper neighbour"),
            Row(ctx.row([down, m]), f"{m!r} and its lower neighbour"),
            Row(ctx.row([down, m, up]), f"{m!r} between both neighbours"),
            Row(ctx.row([m, m, next_down(down, fmt), up]), f"neighbours of {m!r}, two steps"),
        ]
    return rows


def _exp_overflow(ctx: Context) -> list[Row]:
    fmt, t = ctx.fmt, ctx.overflow
    above = next_up(t, fmt)
    floor_t = float(math.floor(t))
    benchdnn = [round_exact(floor_t + i, fmt) for i in range(3)]  # float32: 88, 89, 90
    rows = [
        Row(ctx.row([t]), "ln(max) rounded down: exp is finite"),
        Row(ctx.row([t, above]), "at and just above the exp overflow threshold"),
        Row(ctx.row([above, 0.0]), "just above the exp overflow threshold, with 0"),
        Row(ctx.row(benchdnn), "integers around ln(max) (benchdnn 88, 89, 90 in float32)"),
        Row(ctx.row([t] * 8), "eight entries at ln(max): the unshifted sum overflows"),
        Row(ctx.row([step(t, 4, fmt), step(t, 2, fmt), t, -t]), "above ln(max) with −ln(max)"),
        Row(ctx.row([2 * t, t, 0.0]), "twice ln(max)"),
    ]
    for k in (4, 16) if ctx.suite != "quick" else (4,):
        base = round_array(t + random_uniform(ctx.rng, fmt, k, 2), fmt)
        rows.append(Row(base, f"random entries around ln(max), K={k}"))
    return rows


def _wide_spread(ctx: Context) -> list[Row]:
    fmt, t = ctx.fmt, ctx.overflow
    rows = [
        Row(ctx.row([t, -t]), "ln(max) and −ln(max): spread 2 ln(max)"),
        Row(ctx.row([0.0, round_exact(-3 * t, fmt)]), "spread 3 ln(max)"),
        Row(ctx.row([round_exact(t / 2, fmt), round_exact(-t, fmt)]), "spread 1.5 ln(max)"),
    ]
    count = ctx.pick(2, 12, 60)
    for k in _cycle(ctx.ks((2, 3, 6, 17)), count):
        scale = ceil_log2(2 * t)
        z = random_uniform(ctx.rng, fmt, k, scale)
        z[0], z[-1] = round_exact(t, fmt), round_exact(-t, fmt)  # spread at least 2t
        rows.append(Row(z, f"random row spanning ±ln(max), K={k}"))
    return rows


def _subnormal_output(ctx: Context) -> list[Row]:
    """Rows [0, −d] (and [0, 0, −d]) with e^−d in the subnormal range."""
    fmt = ctx.fmt
    p, emin = fmt.precision, fmt.emin
    exponents = range(emin - 1, emin - p, -1)  # binades of the subnormal range
    if ctx.suite == "quick":
        exponents = range(emin - 1, emin - p, -max(1, (p - 1) // 3))
    rows = []
    for e in exponents:
        d = ln_rounded(mpmath.ldexp(1.5, -e), fmt)  # a target in the middle of the binade
        rows.append(Row(ctx.row([0.0, -d]), f"output ≈ 2^{e}·(2/3): subnormal"))
        if ctx.suite != "quick":
            rows.append(Row(ctx.row([0.0, 0.0, -d]), f"output ≈ 2^{e}/3: subnormal"))
    d = ln_rounded(mpmath.ldexp(1, -fmt.emin), fmt)
    rows += [Row(ctx.row([0.0, -step(d, i, fmt)]), "output near 2^emin") for i in (-1, 0, 1)]
    return rows


def _underflow_threshold(ctx: Context) -> list[Row]:
    """e^−d on either side of half the smallest subnormal (rounds to 0 below, up above)."""
    fmt = ctx.fmt
    d0 = ln_rounded(mpmath.ldexp(1, -fmt.underflow_exponent), fmt)  # e^−d0: the underflow threshold
    steps = range(-4, 5) if ctx.suite != "quick" else range(-1, 2)
    rows = [
        Row(ctx.row([0.0, -step(d0, i, fmt)]), f"ln(2/smallest subnormal) {i:+d} ulp")
        for i in steps
    ]
    d1 = ln_rounded(mpmath.ldexp(1, -fmt.quantum_exponent(fmt.emin)), fmt)  # e^−d1: 2^(emin−p+1)
    rows += [
        Row(ctx.row([0.0, -step(d1, i, fmt)]), f"ln(1/smallest subnormal) {i:+d} ulp")
        for i in (-1, 0, 1)
    ]
    return rows


def _format_max(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    m = fmt.max
    rows = [
        Row(ctx.row([m]), "max alone"),
        Row(ctx.row([m, m]), "max, max: logsumexp max + ln 2 rounds to max; e^max overflows"),
        Row(ctx.row([m, -m]), "max and −max"),
        Row(ctx.row([-m, -m]), "−max, −max"),
        Row(ctx.row([m, 0.0]), "max and 0"),
        Row(ctx.row([-m, 0.0]), "−max and 0"),
        Row(ctx.row([m, m, -m, 0.0]), "max twice, −max and 0"),
        Row(ctx.row([m, next_down(m, fmt)]), "max and its lower neighbour"),
        Row(ctx.row([-m, next_up(-m, fmt), -m]), "−max and its upper neighbour"),
    ]
    # quick: the engine's 40-digit decimals of e^(−2·max) are slow in float16 (seconds a row)
    return rows[:4] if ctx.suite == "quick" else rows


def _neg_inf_entries(ctx: Context) -> list[Row]:
    fmt, inf = ctx.fmt, math.inf
    rows = [
        Row(ctx.row([0.0, -inf]), "0 and −inf"),
        Row(ctx.row([-inf, 5.0]), "−inf and 5"),
        Row(ctx.row([fmt.max, -inf]), "max and −inf"),
        Row(ctx.row([-fmt.max, -inf, -inf]), "−max and two −inf"),
    ]
    for k in ctx.ks((3, 8, 16))[: ctx.pick(1, 3, 3)]:
        for masked in (1, k // 2, k - 1):
            base = random_normal(ctx.rng, fmt, k, 1)
            rows.append(Row(_shuffle_place(ctx, base, -inf, masked), f"{masked} of {k} masked"))
    return rows


def _all_neg_inf(ctx: Context) -> list[Row]:
    return [Row(ctx.row([-math.inf] * k), f"fully masked row, K={k}") for k in (1, 2, 3, 8)]


def _nan_input(ctx: Context) -> list[Row]:
    nan, inf = math.nan, math.inf
    rows = [
        Row(ctx.row([nan]), "NaN alone"),
        Row(ctx.row([nan, nan]), "two NaN"),
        Row(ctx.row([nan, inf]), "NaN with +inf"),
        Row(ctx.row([-inf, nan]), "NaN with −inf"),
        Row(ctx.row([ctx.fmt.max, nan, 0.0]), "NaN with max"),
    ]
    for k in (4, 9)[: ctx.pick(1, 2, 2)]:
        base = random_normal(ctx.rng, ctx.fmt, k, 2)
        for position, where in ((0, "first"), (k // 2, "middle"), (k - 1, "last")):
            z = base.copy()
            z[position] = nan
            rows.append(Row(z, f"NaN {where} of {k}"))
    return rows


def _pos_inf(ctx: Context) -> list[Row]:
    fmt, inf = ctx.fmt, math.inf
    rows = [
        Row(ctx.row([inf]), "+inf alone"),
        Row(ctx.row([inf, 0.0]), "+inf and 0"),
        Row(ctx.row([0.0, inf, 1.0]), "+inf in the middle"),
        Row(ctx.row([inf, inf, 0.0]), "two +inf: limit 1/2 each"),
        Row(ctx.row([inf, -inf]), "+inf and −inf"),
        Row(ctx.row([inf, fmt.max]), "+inf and max"),
        Row(ctx.row([inf, inf, inf, -1.0, 2.0]), "three +inf: limit 1/3 each"),
    ]
    return rows


def _negative_only(ctx: Context) -> list[Row]:
    fmt, t = ctx.fmt, ctx.overflow
    big = round_exact(2 * t, fmt)
    rows = [
        Row(ctx.row([-1.0, -2.0, -3.0]), "−1, −2, −3"),
        Row(ctx.row([-0.5, -100.0]), "max|z| is the minimum"),
        Row(ctx.row([-1.0, -round_exact(t + 10, fmt)]), "shifting by max|z| overflows exp"),
        Row(ctx.row([-big, round_exact(-big - 1, fmt)]), "all below −2 ln(max): unshifted 0/0"),
        Row(ctx.row([-fmt.max, -1.0]), "−max and −1"),
    ]
    for k in ctx.ks((3, 8, 20))[: ctx.pick(1, 3, 3)]:
        for scale in (0, 4, ceil_log2(t) + 1):
            z = -np.abs(random_normal(ctx.rng, fmt, k, scale)) - 2.0**scale
            rows.append(Row(round_array(z, fmt), f"negative row, scale 2^{scale}, K={k}"))
    return rows


def _single_entry(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    values = [0.0, 1.0, -1.0, 0.1, ctx.overflow, next_up(ctx.overflow, fmt), fmt.max, -fmt.max]
    values += [fmt.tiny, fmt.smallest_subnormal, -0.0]
    return [Row(ctx.row([round_exact(v, fmt)]), f"K=1, z={v!r}") for v in values]


def _two_entries(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    count = ctx.pick(4, 100, 1000)
    gaps = random_logspaced(ctx.rng, fmt, count, -fmt.precision - 2, ceil_log2(ctx.overflow) + 2)
    offsets = random_normal(ctx.rng, fmt, count, 3)
    rows = []
    for gap, offset in zip(gaps, offsets, strict=True):
        second = round_exact(float(offset) - float(gap), fmt)
        rows.append(Row(ctx.row([offset, second]), f"K=2, difference ≈ {float(gap):.3g}"))
    return rows


def long_row_lengths(op: str, suite: str) -> tuple[int, ...]:
    """The lengths of the long-row family for ``op`` in ``suite``, ascending."""
    if op in QUADRATIC_OPS:
        return QUADRATIC_LONG_K[suite]
    extra = ATTENTION_LONG_K[suite] if op in ATTENTION_OPS else ()
    return tuple(sorted(LONG_K[suite] + extra))


def _long_row(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    ks = long_row_lengths(ctx.op, ctx.suite)
    minus8 = -8.0
    rows = []
    for k in ks:
        rows.append(Row(np.zeros(k), f"K={k} zeros: output 1/K (sums of ones stall in 16 bits)"))
        tail = np.full(k, minus8)
        tail[0] = 0.0
        rows.append(
            Row(tail, f"K={k}: one 0, the rest −8 (e^−8 < half an ulp of 1 in 16-bit formats)")
        )
        if ctx.op in QUADRATIC_OPS:  # K² outputs: the two rows that probe the stall
            continue
        rows.append(Row(random_uniform(ctx.rng, fmt, k, 0, negative=True), f"K={k}: U[−1, 0)"))
        if k <= 4096:
            rows.append(Row(random_normal(ctx.rng, fmt, k, 2), f"K={k}: normal, σ = 4"))
    return rows


def _temperature_small(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    tiny = [round_exact(2.0**-10, fmt), round_exact(1e-30, fmt)]  # 2^−10 is 0 in float8_e4m3fn
    candidates = [*tiny, fmt.tiny, fmt.smallest_subnormal]
    temps = sorted({t for t in candidates if t > 0}, reverse=True)  # 1e-30 is 0 in float16
    if ctx.suite == "quick":
        temps = temps[-2:]
    rows = [Row(ctx.row([1.0, 2.0]), f"z = [1, 2], T = {temp!r}: [0, 1]", temp) for temp in temps]
    for temp in temps:
        z = random_normal(ctx.rng, fmt, 5, 0)
        rows.append(Row(z, f"random z, T = {temp!r}", temp))
        near = ctx.row([1.0, next_down(1.0, fmt), 0.0])
        rows.append(Row(near, f"near tie, T = {temp!r}", temp))
    return rows


def _temperature_large(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    temps = [2.0**10, round_exact(2.0**fmt.precision, fmt), next_down(fmt.max, fmt), fmt.max]
    temps = [t for t in temps if t <= fmt.max]  # 2^10 is beyond float8_e4m3fn's 448
    if ctx.suite == "quick":
        temps = temps[2:]
    rows = []
    for temp in temps:
        rows.append(Row(ctx.row([1.0, 2.0, 3.0]), f"z = [1, 2, 3], T = {temp!r}", temp))
        rows.append(Row(ctx.row([fmt.max, -fmt.max]), f"z = [max, −max], T = {temp!r}", temp))
        z = random_logspaced(ctx.rng, fmt, 4, 0, fmt.emax)
        rows.append(Row(z, f"log-spaced z up to max, T = {temp!r}", temp))
    return rows


def _random_normal(ctx: Context) -> list[Row]:
    n = ctx.pick(3, 200, 2000)
    ks = ctx.ks((2, 3, 4, 5, 7, 8, 10, 16, 31, 64))
    return [
        Row(random_normal(ctx.rng, ctx.fmt, k, scale), f"normal, σ = 2^{scale}, K={k}")
        for scale in (0, 3, 6)
        for k in _cycle(ks, n)
    ]


def _random_uniform(ctx: Context) -> list[Row]:
    n = ctx.pick(3, 200, 2000)
    ks = ctx.ks((2, 3, 4, 6, 8, 9, 12, 16, 40, 64))
    scales = (0, 4, ceil_log2(ctx.overflow) + 1)
    return [
        Row(random_uniform(ctx.rng, ctx.fmt, k, scale), f"U[−2^{scale}, 2^{scale}), K={k}")
        for scale in scales
        for k in _cycle(ks, n)
    ]


def _random_logspaced(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    n = ctx.pick(4, 600, 6000)
    low, high = -fmt.precision - 2, ceil_log2(ctx.overflow) + 2
    ks = ctx.ks((2, 3, 4, 5, 8, 11, 16, 32, 64))
    return [
        Row(random_logspaced(ctx.rng, fmt, k, low, high), f"log-spaced 2^{low}..2^{high}, K={k}")
        for k in _cycle(ks, n)
    ]


FAMILIES: tuple[Family, ...] = (
    Family("constant-row", ("constant-row",), _constant_rows),
    Family("dominant-entry", ("dominant-entry",), _dominant_entry),
    Family("tie-at-max", ("tie-at-max",), _tie_at_max),
    Family("near-tie", ("near-tie",), _near_tie),
    Family("exp-overflow", ("exp-overflow",), _exp_overflow),
    Family("wide-spread", ("wide-spread",), _wide_spread),
    Family("subnormal-output", ("subnormal-output",), _subnormal_output),
    Family(
        "underflow-threshold", ("subnormal-output", "underflow-threshold"), _underflow_threshold
    ),
    Family("format-max", ("format-max",), _format_max),
    Family("neg-inf-entries", ("neg-inf-entries",), _neg_inf_entries),
    Family("all-neg-inf", ("all-neg-inf",), _all_neg_inf),
    Family("nan-input", ("nan-input",), _nan_input),
    Family("pos-inf", ("pos-inf",), _pos_inf),
    Family("negative-only", ("negative-only",), _negative_only),
    Family("single-entry", ("single-entry",), _single_entry),
    Family("two-entries", ("two-entries",), _two_entries),
    Family("long-row", ("long-row",), _long_row),
    Family("temperature-small", ("temperature-small",), _temperature_small, TEMPERATURE_OPS),
    Family("temperature-large", ("temperature-large",), _temperature_large, TEMPERATURE_OPS),
    Family("random-normal", ("random-normal",), _random_normal),
    Family("random-uniform", ("random-uniform",), _random_uniform),
    Family("random-logspaced", ("random-logspaced",), _random_logspaced),
    *BLOCK_FAMILIES,
)


# --------------------------------------------------------------------------------------------
# companions: the second input of the VJPs (cotangent g) and of cross-entropy (target y)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Companion:
    """A generator of the second input for a row of length k, with the flags it adds."""

    name: str
    flags: tuple[str, ...]
    make: Callable[[np.random.Generator, Format, int], Floats]


def _cotangent_random(rng: np.random.Generator, fmt: Format, k: int) -> Floats:
    return random_normal(rng, fmt, k, 0)


def _cotangent_cancellation(rng: np.random.Generator, fmt: Format, k: int) -> Floats:
    """Alternating large opposite signs, or a large constant plus a small perturbation."""
    big = 2.0 ** min(fmt.precision // 2, 10)
    if rng.integers(0, 2):
        signs = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
        return round_array(signs * big + random_normal(rng, fmt, k, -4), fmt)
    return round_array(big + random_normal(rng, fmt, k, -2), fmt)


def _one_hot(rng: np.random.Generator, fmt: Format, k: int) -> Floats:
    """1 at one random position, 0 elsewhere: a cotangent that picks out one output's
    gradient, or the target of a hard label."""
    e = np.zeros(k)
    e[int(rng.integers(0, k))] = 1.0
    return e


def _uniform_counts(fmt: Format, k: int) -> Floats:
    """1/K as close as exact format values allow, with Σ = 1 exactly.

    On the grid 2^−s, s = p − 1 + ⌊log2 K⌋, the counts ⌊2^s/K⌋ (+1 on the first 2^s mod K
    entries) sum to 2^s and are below 2^p, so each count·2^−s is a format value.
    """
    s = fmt.precision - 1 + ceil_log2(k + 1) - 1
    total = 1 << s
    counts = np.full(k, total // k, dtype=np.int64)
    counts[: total % k] += 1
    return np.ldexp(counts.astype(np.float64), -s)


def _is_exact(values: Floats, fmt: Format) -> bool:
    return bool(np.array_equal(round_array(values, fmt), values))


def _power_of_two_floor(k: int) -> int:
    return 1 << (k.bit_length() - 1)


def _target_smoothed(rng: np.random.Generator, fmt: Format, k: int) -> Floats:
    """Label smoothing with ε = 1/8: 7/8 on one class, 1/8 spread evenly over the others.

    The spread part is 1/8 times the uniform target of the other K − 1 entries, so Σy = 1
    exactly and every entry is a format value.
    """
    y = np.zeros(k)
    label = int(rng.integers(0, k))
    if k == 1:
        y[0] = 1.0
        return y
    others = np.ldexp(_uniform_counts(fmt, k - 1), -3)
    if not _is_exact(others, fmt):  # ε/(K−1) deep in the subnormals: spread ε over 2^j entries
        m = _power_of_two_floor(k - 1)
        m = min(m, 1 << (-3 - fmt.quantum_exponent(fmt.emin)))  # float8: 2^−3/m is a value
        others = np.zeros(k - 1)
        others[:m] = math.ldexp(1.0, -3 - (m.bit_length() - 1))
    y[np.arange(k) != label] = others
    y[label] = 0.875
    return y


def _target_uniform(rng: np.random.Generator, fmt: Format, k: int) -> Floats:
    y = _uniform_counts(fmt, k)
    if not _is_exact(y, fmt):  # float8, long rows: 1 spread evenly over 2^j entries instead
        m = min(_power_of_two_floor(k), 1 << -fmt.quantum_exponent(fmt.emin))  # 1/m a value
        y = np.zeros(k)
        y[:m] = math.ldexp(1.0, -(m.bit_length() - 1))
    if not _is_exact(y, fmt):
        raise AssertionError(f"uniform target for K={k} is not exact in {fmt.name}")
    return y


COTANGENTS: tuple[Companion, ...] = (
    Companion("random", (), _cotangent_random),
    Companion("cancellation", ("cotangent-cancellation",), _cotangent_cancellation),
    Companion("one-hot", ("cotangent-one-hot",), _one_hot),
)
TARGETS: tuple[Companion, ...] = (
    Companion("one-hot", ("target-one-hot",), _one_hot),
    Companion("smoothed", ("target-smoothed",), _target_smoothed),
    Companion("uniform", ("target-uniform",), _target_uniform),
)
