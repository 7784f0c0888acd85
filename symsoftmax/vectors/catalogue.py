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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from symsoftmax.formats import Format, get_format
from symsoftmax.ops import OPERATIONS, SINK_OPS
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
    random_logspaced_rows,
    random_normal,
    random_normal_rows,
    random_uniform,
    random_uniform_rows,
    step,
)

__all__ = [
    "ATTENTION_LONG_K",
    "ATTENTION_OPS",
    "BLOCK_FLAGS",
    "COTANGENTS",
    "FAMILIES",
    "FORMAT_TARGETS",
    "LONG_K",
    "MAX_SHORT_K",
    "MAX_SHORT_K_JACOBIAN",
    "NOTES",
    "QUADRATIC_LONG_K",
    "QUADRATIC_OPS",
    "SHARP_FAMILIES",
    "SHARP_LONG_FLAGS",
    "TARGETS",
    "Companion",
    "Context",
    "Family",
    "Row",
    "consecutive_values",
    "exp_rounded",
    "family_rng",
    "flag_in_format",
    "long_row_lengths",
    "nu_half_length",
    "sequential_sum_error",
    "sequential_sum_errors",
    "state_format",
    "straddle_ln",
    "tight_entries",
    "tight_entry",
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
    "tail-at-ln-u": Note(
        "Rows [0, t], and rows of K = 8, 64 and 1024 (one 0, the rest t), with t the format "
        "values just below and just above ln u, u the unit roundoff (ln u ≈ −16.6 in float32, "
        "−7.6 in float16, −5.5 in bfloat16): the small outputs e^t/(1 + (K − 1)e^t) are about u. "
        "K = 1024 for softmax, log_softmax and logsumexp only.",
        'Kernels that set e^t := 0 for t < ln u (a clamped fast exp, "skip negligible terms"): '
        "the small outputs become 0 (1.2·10^7 ulp in float32), which a normwise rule scaled by "
        "the largest output does not see.",
    ),
    "tail-at-underflow": Note(
        "Rows of K = 8, 64 and 1024 (one 0, the rest t) with t just below and just above ln of "
        "the smallest normal and ln of the smallest subnormal of the format: K − 1 outputs at "
        "the normal/subnormal boundary, or at the smallest subnormal.",
        "Subnormal outputs flushed to zero (flush-to-zero arithmetic, an exp or a division "
        "that loses the subnormal range), many in one row.",
    ),
    "prefix-max-ramp": Note(
        "Rows whose running maximum rises at almost every entry: an increasing ramp from −16 to "
        "0 (K = 8192), one with noise of a step (K = 4096), 1024 consecutive format values from "
        "−8 upward, one ulp apart, and ALiBi biases −d/32, d the distance to the query "
        "(causal, K = 4096; query in the middle, K = 2048): over 1000 prefix-maximum records "
        "per row in float16 and wider formats, 1024 in bfloat16's consecutive row (float8 has "
        "under 100 values there). Softmax, log_softmax and logsumexp.",
        "One-pass (online) kernels whose rescale factor e^(m_old − m_new) is inaccurate (a fast "
        "exp, one rounded in a narrow format): the error compounds over every rescale, "
        "thousands of times in one row.",
    ),
    "nu-below-half": Note(
        "Rows just short of the length where n·u reaches 1/2 and the worst-case bound switches "
        "to its √n form: K = 64, 96, 127 in bfloat16, K = 512, 768, 1023 in float16 (other "
        "formats reach it among the short rows or beyond any row); random and constant rows. "
        "Softmax, log_softmax and logsumexp.",
        "Errors hidden where the normwise bound is loosest: a cross-block combine in the "
        "storage format, a log2(e) rounded to a narrow format in an exp2 kernel.",
    ),
    "pos-inf-beside-max": Note(
        "+inf beside the format's largest finite value: [+inf, max], [max, +inf], "
        "[+inf, max, 0], in the float8 formats with infinities (float8_e5m2). The limit is "
        "[1, 0] (uniform over the +inf entries); NaN is acceptable.",
        "+inf clamped to max, which gives [½, ½]: in float8 (u = 1/8) that error is within a "
        "normwise bound.",
    ),
    "sum-near-bound": Note(
        "Witnesses that a correct sequential sum in the state format (float32; float64 for "
        "float64 data) comes near its error bound: one 0 then K − 1 copies of c (K = 4096, "
        "8192), with c chosen so that e^c rounds every addition the same way (relative error "
        "about (K − 1)u/4); and rows of c alone (K = 4096, 8192, 16384; softmax exactly 1/K). "
        "Softmax, log_softmax and logsumexp.",
        "Verdicts too strict for correct kernels (a correct kernel must pass these rows), and "
        "sums kept in the storage format (float16 stalls at 2048, bfloat16 at 256).",
    ),
    "temperature-small": Note(
        "Temperature T close to 0 (down to the smallest subnormal): softmax((z − max)/T).",
        "Computing z/T before the shift: z/T overflows and inf − inf gives NaN.",
    ),
    "temperature-large": Note(
        "Very large temperature (up to the format's max): the output tends to uniform.",
        "Multiplying by a reciprocal 1/T that is subnormal or flushed to zero.",
    ),
    "attention-sink": Note(
        "An attention sink s (a logit in the units of the scaled scores, e^s joins the sum, its "
        "output is dropped; GPT-OSS and successors): far above the logits (100), at the max, far "
        "below, −inf (plain softmax), at the format's max, with every logit masked and with "
        "K = 0 (softmax 0, log_softmax −inf, lse = s).",
        "The sink dropped on a generic path (the plain softmax returned); a sink left out of the "
        "maximum and rescale (a sink of 100 gives an infinite LSE, or NaN through inf/inf); an "
        "empty or masked row with a sink returning NaN instead of 0 and lse = s.",
    ),
    "soft-cap": Note(
        "Soft-capped logits c·tanh(z/c) (Gemma 2: c = 50 on attention scores, 30 on the final "
        "logits): |z/c| beyond the format's exp overflow (4400 at c = 50), tiny and huge c, "
        "±inf logits (+inf caps to c, −inf stays a mask), with and without a sink (not capped).",
        "tanh written as (e^x − e^−x)/(e^x + e^−x), NaN for |z/c| beyond ~88 in float32; "
        "z·tanh(z/c) instead of c·tanh(z/c); the cap applied to the sink; +inf left uncapped.",
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
    # [offset, offset − gap rounded]: the rounding of the float64 difference (round_array and
    # round_exact are the same rule), the exactness check once for all the rows
    pairs = ctx.row(np.stack([offsets, round_array(offsets - gaps, fmt)], axis=1))
    return [
        Row(z, f"K=2, difference ≈ {float(gap):.3g}") for z, gap in zip(pairs, gaps, strict=True)
    ]


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
    shapes = [(k, scale) for scale in (0, 3, 6) for k in _cycle(ks, n)]
    return [
        Row(z, f"normal, σ = 2^{scale}, K={k}")
        for (k, scale), z in zip(shapes, random_normal_rows(ctx.rng, ctx.fmt, shapes), strict=True)
    ]


def _random_uniform(ctx: Context) -> list[Row]:
    n = ctx.pick(3, 200, 2000)
    ks = ctx.ks((2, 3, 4, 6, 8, 9, 12, 16, 40, 64))
    scales = (0, 4, ceil_log2(ctx.overflow) + 1)
    shapes = [(k, scale) for scale in scales for k in _cycle(ks, n)]
    return [
        Row(z, f"U[−2^{scale}, 2^{scale}), K={k}")
        for (k, scale), z in zip(shapes, random_uniform_rows(ctx.rng, ctx.fmt, shapes), strict=True)
    ]


def _random_logspaced(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    n = ctx.pick(4, 600, 6000)
    low, high = -fmt.precision - 2, ceil_log2(ctx.overflow) + 2
    ks = ctx.ks((2, 3, 4, 5, 8, 11, 16, 32, 64))
    sizes = _cycle(ks, n)
    return [
        Row(z, f"log-spaced 2^{low}..2^{high}, K={k}")
        for k, z in zip(sizes, random_logspaced_rows(ctx.rng, fmt, sizes, low, high), strict=True)
    ]


# --------------------------------------------------------------------------------------------
# rows for per-component error bounds: small outputs, long rescale chains, near-tight sums
# --------------------------------------------------------------------------------------------

# Row lengths of the tail families: the short ones for every op (ctx.ks caps them), 1024 for the
# ops the per-component verdict judges (softmax, log_softmax, logsumexp: ATTENTION_OPS).
TAIL_K = 1024
# Ramps span 2^4 = 16 (outputs from 1 down to e^−16, about float32's u); ALiBi rows use the
# slope 2^−5 of Press, Smith & Lewis 2022 (ALiBi, 8 heads), so the causal row spans 128.
RAMP_K = 8192
NOISY_RAMP_K = 4096
RAMP_SPAN_LOG2 = 4
ALIBI_K = (4096, 2048)  # the causal row (query last), the bidirectional one (query in the middle)
ALIBI_SLOPE_LOG2 = -5
CONSECUTIVE_K = 1024  # format values from −8 upward, one ulp apart
CONSECUTIVE_START = -8.0
# n·u = 1/2 at K = 2^(p − 1); nu-below-half targets the formats where that length lies beyond
# the short rows and within NU_HALF_MAX_K: bfloat16 (128) and float16 (1024).
NU_HALF_MAX_K = 1024
# sum-near-bound: lengths of the witnesses [0, c, …, c] and of the constant rows [c, …, c], and
# the candidates c = −1 − j/16 (j < 64).
TIGHT_K = (4096, 8192)
CONSTANT_K = (4096, 8192, 16384)
TIGHT_CANDIDATES = -1.0 - np.arange(64) / 16
_FLOAT32 = get_format("float32")
_MATH_BITS = 256  # mpmath precision of the logarithms and exponentials below


def nu_half_length(fmt: Format) -> int:
    """2^(p − 1): the row length n at which n·u = 1/2 (u = 2^−p), where the worst-case bound of
    Blanchard, Higham & Higham 2021 switches from its n·u form to its √n form."""
    return 1 << (fmt.precision - 1)


def _nu_targets(fmt: Format) -> bool:
    return MAX_SHORT_K < nu_half_length(fmt) <= NU_HALF_MAX_K


def _float8_with_inf(fmt: Format) -> bool:
    return fmt.infinities and fmt.numpy_dtype.itemsize == 1


# The flags whose rows exist in some formats only, with the test of those formats.
FORMAT_TARGETS: dict[str, Callable[[Format], bool]] = {
    "nu-below-half": _nu_targets,
    "pos-inf-beside-max": _float8_with_inf,
}
# Flags whose rows go beyond MAX_SHORT_K (besides long-row and the block-structured flags).
SHARP_LONG_FLAGS = (
    "tail-at-ln-u",
    "tail-at-underflow",
    "prefix-max-ramp",
    "nu-below-half",
    "sum-near-bound",
)


def flag_in_format(flag: str, fmt: Format) -> bool:
    """Whether the catalogue makes rows with ``flag`` in ``fmt`` (:data:`FORMAT_TARGETS`)."""
    target = FORMAT_TARGETS.get(flag)
    return target is None or target(fmt)


def state_format(fmt: Format) -> Format:
    """The format a kernel accumulates in: float64 for float64 data, float32 for the narrower
    formats (kernels sum float16, bfloat16 and float8 data in float32)."""
    return fmt if fmt.precision >= _FLOAT32.precision else _FLOAT32


def straddle_ln(value: float, fmt: Format) -> tuple[float, float]:
    """The values of ``fmt`` just below and just above ln(value), for a power of two value ≠ 1
    (ln(value) is then irrational, never a format value); ln at 256 bits, no libm."""
    r = ln_rounded(value, fmt)
    with mpmath.workprec(_MATH_BITS):
        below = r < mpmath.log(value)
    return (r, next_up(r, fmt)) if below else (next_down(r, fmt), r)


def _tail_lengths(ctx: Context, short: tuple[int, ...]) -> tuple[int, ...]:
    """The row lengths of a tail family: the first of ``short`` in the quick suite; else
    ``short`` (capped by the op) and :data:`TAIL_K` for softmax, log_softmax and logsumexp."""
    if ctx.suite == "quick":
        return ctx.ks(short)[:1]
    return ctx.ks(short) + ((TAIL_K,) if ctx.op in ATTENTION_OPS else ())


def _tail_row(ctx: Context, t: float, k: int) -> Floats:
    """[0, t] for k = 2; else k − 1 entries t and one 0 (the maximum) at a random position."""
    if k == 2:
        return ctx.row([0.0, t])
    return _shuffle_place(ctx, ctx.row([t] * k), 0.0)


def _tail_rows(
    ctx: Context, landmarks: list[tuple[str, float]], short: tuple[int, ...]
) -> list[Row]:
    """Tail rows with t just below and just above ln of each landmark value."""
    rows = []
    for name, value in landmarks:
        below, above = straddle_ln(value, ctx.fmt)
        for t, side in ((below, "below"), (above, "above")):
            for k in _tail_lengths(ctx, short):
                rows.append(
                    Row(
                        _tail_row(ctx, t, k),
                        f"K={k}: one 0, the rest t = {t!r}, just {side} ln({name})",
                    )
                )
    return rows


def _tail_at_ln_u(ctx: Context) -> list[Row]:
    return _tail_rows(ctx, [("u", ctx.fmt.unit_roundoff)], (2, 8, 64))


def _tail_at_underflow(ctx: Context) -> list[Row]:
    # K = 2 at these landmarks is in subnormal-output and underflow-threshold already
    landmarks = [
        ("smallest normal", ctx.fmt.tiny),
        ("smallest subnormal", ctx.fmt.smallest_subnormal),
    ]
    return _tail_rows(ctx, landmarks, (8, 64))


def _ramp(ctx: Context, k: int, *, noise: bool = False) -> Floats:
    """z_j = a·(j − k + 1), a = 2^(4 − log2 k) for k a power of two: increasing from −16 to 0,
    every entry a new maximum (before rounding); ``noise`` adds U[−a, a)."""
    a_log2 = RAMP_SPAN_LOG2 - (k.bit_length() - 1)
    z = np.ldexp(np.arange(1 - k, 1, dtype=np.float64), a_log2)
    if noise:
        z = z + random_uniform(ctx.rng, ctx.fmt, k, a_log2)
    return round_array(z, ctx.fmt)


def _alibi(ctx: Context, k: int, query: int) -> Floats:
    """z_j = −m·|i − j| with m = 2^−5 and i = ``query``: the ALiBi bias of one query row."""
    distance = np.abs(np.arange(k) - query).astype(np.float64)
    return round_array(-np.ldexp(distance, ALIBI_SLOPE_LOG2), ctx.fmt)


def consecutive_values(fmt: Format, start: float, k: int) -> Floats | None:
    """The k values of ``fmt`` from ``start`` < 0 upward, one ulp apart (None if fewer than k lie
    in [start, 0)). The bit patterns of positive values are monotone in the value (IEEE 754
    §3.4), so the magnitudes are the patterns of |start| counted down."""
    unsigned = np.dtype(f"uint{8 * fmt.numpy_dtype.itemsize}")
    top = int(np.asarray(-start, dtype=fmt.numpy_dtype).view(unsigned))
    if top < k:
        return None
    patterns = (top - np.arange(k)).astype(unsigned)
    return -patterns.view(fmt.numpy_dtype).astype(np.float64)


def _prefix_max_ramp(ctx: Context) -> list[Row]:
    if ctx.suite == "quick":
        return []
    causal, middle = ALIBI_K
    rows = [
        Row(_ramp(ctx, RAMP_K), f"K={RAMP_K}: increasing ramp from −16 to 0"),
        Row(_ramp(ctx, NOISY_RAMP_K, noise=True), f"K={NOISY_RAMP_K}: ramp with noise of a step"),
        Row(_alibi(ctx, causal, causal - 1), f"K={causal}: causal ALiBi bias, slope 2^−5"),
        Row(_alibi(ctx, middle, middle // 2), f"K={middle}: ALiBi bias, query in the middle"),
    ]
    run = consecutive_values(ctx.fmt, CONSECUTIVE_START, CONSECUTIVE_K)
    if run is not None:
        rows.append(Row(run, f"K={CONSECUTIVE_K}: consecutive values from −8 up, one ulp apart"))
    return rows


def _nu_below_half(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    if ctx.suite == "quick" or not _nu_targets(fmt):
        return []
    n = nu_half_length(fmt)
    rows = []
    for k in (n // 2, 3 * n // 4, n - 1):
        value = float(random_normal(ctx.rng, fmt, 1, 0)[0])
        rows += [
            Row(random_normal(ctx.rng, fmt, k, 0), f"K={k} (n·u = {k}/{2 * n}): normal, σ = 1"),
            Row(random_uniform(ctx.rng, fmt, k, 3, negative=True), f"K={k}: U[−8, 0)"),
            Row(ctx.row([value] * k), f"K={k}: constant row of {value!r}, output 1/K"),
        ]
    return rows


def _pos_inf_beside_max(ctx: Context) -> list[Row]:
    if not _float8_with_inf(ctx.fmt):
        return []
    m, inf = ctx.fmt.max, math.inf
    return [
        Row(ctx.row([inf, m]), "+inf then max: limit [1, 0], clamping gives [½, ½]"),
        Row(ctx.row([m, inf]), "max then +inf: limit [0, 1]"),
        Row(ctx.row([inf, m, 0.0]), "+inf, max and 0: limit [1, 0, 0]"),
    ]


def exp_rounded(value: float, fmt: Format) -> float:
    """e^value rounded to nearest in ``fmt`` (mpmath at 256 bits, then one exact rounding)."""
    with mpmath.workprec(_MATH_BITS):
        return round_exact(mpmath.exp(value), fmt)


def sequential_sum_error(x: float, k: int, state: Format) -> Fraction:
    """Relative error of 1 + x + … + x (k − 1 copies of x) summed left to right in ``state``.

    ``np.add.accumulate`` is the recursive sum, one IEEE addition after another (each partial
    sum rounded), the order whose bound (k − 1)u/(1 − (k − 1)u) Higham 2002 §4.2 derives; the
    error is taken against the exact sum (Fractions).
    """
    return sequential_sum_errors(x, (k,), state)[0]


def sequential_sum_errors(x: float, ks: Sequence[int], state: Format) -> list[Fraction]:
    """:func:`sequential_sum_error` for each k of ``ks``, from one running sum: the recursive
    sum of the first k terms is the (k − 1)th partial sum of the longest row (each partial sum
    depends on the terms before it alone)."""
    if not ks:
        return []
    terms = np.full(max(ks), x, dtype=state.numpy_dtype)
    terms[0] = 1
    partials = np.add.accumulate(terms)
    errors = []
    for k in ks:
        computed = Fraction(float(partials[k - 1]))
        exact = 1 + (k - 1) * Fraction(x)
        errors.append(abs(computed - exact) / exact)
    return errors


def tight_entry(fmt: Format, k: int) -> tuple[float, float]:
    """(c, r): the candidate c (:data:`TIGHT_CANDIDATES` rounded to ``fmt``) whose e^c, rounded
    to the state format, makes the sequential sum of [1, e^c, …] (k terms) err most; r is that
    relative error over (k − 1)u of the state format. Constant addends round the same way at
    every step of a binade, so the errors add up instead of cancelling."""
    return tight_entries(fmt, (k,))[0]


def tight_entries(fmt: Format, ks: Sequence[int]) -> list[tuple[float, float]]:
    """:func:`tight_entry` for each k of ``ks``; each candidate's e^c and running sum computed
    once for all of them."""
    state = state_format(fmt)
    candidates = [float(c) for c in np.unique(round_array(TIGHT_CANDIDATES, fmt))]
    errors = [sequential_sum_errors(exp_rounded(c, state), ks, state) for c in candidates]
    entries = []
    for i, k in enumerate(ks):
        scale = (k - 1) * Fraction(state.unit_roundoff)
        scored = [(e[i], candidate) for e, candidate in zip(errors, candidates, strict=True)]
        error, c = max(scored, key=lambda pair: pair[0])  # the first of equal errors
        entries.append((c, float(error / scale)))
    return entries


def _sum_near_bound(ctx: Context) -> list[Row]:
    """Witnesses [0, c, …, c] for each of TIGHT_K, then constant rows of the last witness's c."""
    if ctx.suite == "quick":
        return []
    state = state_format(ctx.fmt).name
    rows, c = [], 0.0
    for k, (c, ratio) in zip(TIGHT_K, tight_entries(ctx.fmt, TIGHT_K), strict=True):
        text = f"K={k}: 0 then {c!r}: a sequential {state} sum errs by {ratio:.2f}·(K − 1)u"
        witness = np.full(k, c)  # an array, not a list of k floats: a row of 8192 converts slowly
        witness[0] = 0.0
        rows.append(Row(ctx.row(witness), text))
    rows += [
        Row(ctx.row(np.full(k, c)), f"K={k}: constant row of {c!r}, output 1/K") for k in CONSTANT_K
    ]
    return rows


def _sink_values(fmt: Format) -> list[tuple[float, str]]:
    """The sinks of the attention-sink family: far above, far below, −inf, the format's max."""
    out = [
        (round_exact(100.0, fmt), "far above the logits"),
        (round_exact(-100.0, fmt), "far below"),
    ]
    if fmt.infinities:
        out.append((-math.inf, "−inf: plain softmax"))
    out.append((fmt.max, "at the format's max"))
    return out


def _attention_sink(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    near_zero = ctx.row([0.0, 0.5, -1.0, 0.25])
    rows = [
        Row(near_zero, f"logits ~0, sink {s!r}: {what}", sink=s) for s, what in _sink_values(fmt)
    ]
    rows.append(
        Row(ctx.row([1.0, 2.0, 3.0]), "sink at the max (3): the top share halves", sink=3.0)
    )
    rows.append(Row(ctx.row([0.0]), "K=1, sink 0 (softmax₁): [1/2]", sink=0.0))
    if fmt.infinities:
        masked = ctx.row([-math.inf] * 3)
        rows.append(Row(masked, "every logit masked, sink 2.5: softmax 0, lse 2.5", sink=2.5))
        # a mask hole that empties whole split-KV partial ranges (2, 4 or 8 splits of K = 8):
        # a pipeline that adds the sink per split, or per non-empty split, counts it twice
        hole = ctx.row([0.0, -1.0, -math.inf, -math.inf, -math.inf, -math.inf, 1.0, 2.0])
        rows.append(Row(hole, "mask hole over whole splits, sink 0.5: counted once", sink=0.5))
        leading = ctx.row([-math.inf] * 12 + [0.5, -0.25, 1.0, 0.0])
        rows.append(Row(leading, "first 12 of 16 masked, sink 1: counted once", sink=1.0))
    if len(OPERATIONS[ctx.op].inputs) == 1:  # a VJP of K = 0 has no outputs (and no g to draw)
        rows.append(Row(ctx.row([]), "K=0, sink 2.5: lse = 2.5", sink=2.5))
    for k in ctx.ks((4, 16, 64))[: ctx.pick(1, 3, 3)]:
        z = random_normal(ctx.rng, fmt, k, 2)
        s = float(random_normal(ctx.rng, fmt, 1, 2)[0])  # σ = 4, from the integer stream
        rows.append(Row(z, f"normal z (σ = 4), K={k}, sink {s!r}", sink=s))
    return rows


def _softcap_overflow_logits(ctx: Context, c: float) -> Floats:
    """[z, −z, 0, 1] with |z/c| beyond the format's exp overflow (4400 at c = 50 in float32)."""
    fmt = ctx.fmt
    z = min(round_exact(c * (ctx.overflow + 2), fmt), fmt.max)
    z = max(z, round_exact(4400.0, fmt)) if fmt.max >= 4400.0 else z
    return ctx.row([z, -z, 0.0, 1.0])


def _soft_cap(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    c50, c30 = round_exact(50.0, fmt), round_exact(30.0, fmt)
    rows = [
        Row(
            _softcap_overflow_logits(ctx, c50),
            f"|z/c| beyond exp overflow, c = {c50!r}",
            softcap=c50,
        ),
        Row(ctx.row([1.0, 2.0, 3.0]), f"tiny c = {fmt.tiny!r}: a near tie", softcap=fmt.tiny),
        Row(ctx.row([1.0, 2.0, 3.0]), f"huge c = {fmt.max!r}: as uncapped", softcap=fmt.max),
    ]
    if len(OPERATIONS[ctx.op].inputs) == 1:
        # not for the VJPs: their ±max components are sech²(max/c)·…, about e^(−10^307) in
        # float64, beyond what the engine's exact interval ends can hold (it refuses them)
        rows.append(Row(ctx.row([fmt.max, -fmt.max, 0.0]), f"z = ±max, c = {c30!r}", softcap=c30))
    if fmt.infinities:
        z = ctx.row([math.inf, 1.0, -math.inf, 0.0])
        rows.append(Row(z, f"+inf caps to c, −inf masked, c = {c30!r}", softcap=c30))
    for k in ctx.ks((8, 32))[: ctx.pick(1, 2, 2)]:
        z = random_normal(ctx.rng, fmt, k, 5)
        rows.append(Row(z, f"final logits (Gemma 2), σ = 32, K={k}, c = {c30!r}", softcap=c30))
    return rows


def _sink_and_softcap(ctx: Context) -> list[Row]:
    fmt = ctx.fmt
    c50 = round_exact(50.0, fmt)
    z = _softcap_overflow_logits(ctx, c50)
    rows = [
        Row(z, f"sink 2.5, c = {c50!r}", sink=2.5, softcap=c50),
        Row(
            z, f"sink = c = {c50!r}: ties the capped +max only in the limit", sink=c50, softcap=c50
        ),
        Row(
            z,
            f"sink 100 above every capped logit (c = {c50!r})",
            sink=round_exact(100.0, fmt),
            softcap=c50,
        ),
    ]
    if fmt.infinities:
        masked = ctx.row([-math.inf, -math.inf])
        rows.append(Row(masked, "every logit masked, sink 1, c = 50", sink=1.0, softcap=c50))
    return rows


SHARP_FAMILIES: tuple[Family, ...] = (
    Family("tail-at-ln-u", ("tail-at-ln-u",), _tail_at_ln_u),
    Family("tail-at-underflow", ("tail-at-underflow", "subnormal-output"), _tail_at_underflow),
    Family("prefix-max-ramp", ("prefix-max-ramp",), _prefix_max_ramp, ATTENTION_OPS),
    Family("nu-below-half", ("nu-below-half",), _nu_below_half, ATTENTION_OPS),
    Family("pos-inf-beside-max", ("pos-inf-beside-max", "pos-inf"), _pos_inf_beside_max),
    Family("sum-near-bound", ("sum-near-bound",), _sum_near_bound, ATTENTION_OPS),
)


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
    *SHARP_FAMILIES,
    # last, so that the tcIds of the families above stay as they were
    Family("attention-sink", ("attention-sink",), _attention_sink, SINK_OPS),
    Family("soft-cap", ("soft-cap",), _soft_cap, SINK_OPS),
    Family("sink-and-softcap", ("attention-sink", "soft-cap"), _sink_and_softcap, SINK_OPS),
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
