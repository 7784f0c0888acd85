"""Block-structured families: rows built around the block boundaries of an online softmax.

An online (streaming) softmax — the inner loop of FlashAttention-style attention kernels —
visits a row in blocks of b entries and keeps a running maximum m and a running sum d of
e^{z − m}, rescaling d by e^{m_old − m_new} whenever a block raises the maximum (Milakov &
Gimelshein 2018, "Online normalizer calculation for softmax"; Dao et al. 2022, FlashAttention).
Its bugs live where the plain max-shifted softmax has none: in fully masked blocks, at the
running maximum's starting value, in the rescaling, and at the last, partial block. The families
here put the hard entries exactly there, for every block size b a kernel is likely to use
(:data:`BLOCK_SIZES`); the notes (:data:`BLOCK_NOTES`) cite the public tracker issues of each bug
class (issue 10 of this project). The rows are pure functions of the :class:`Context`, like every
catalogue family; every value is a format value built exactly (no libm).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import wraps

import mpmath
import numpy as np
import numpy.typing as npt

from symsoftmax.formats import get_format
from symsoftmax.rounding import round_array, round_exact
from symsoftmax.vectors.family import QUADRATIC_OPS, Context, Family, Floats, Row
from symsoftmax.vectors.model import Note
from symsoftmax.vectors.values import (
    ceil_log2,
    ln_rounded,
    next_down,
    next_up,
    random_normal,
    split_rows,
    uniform_draws,
    uniform_values,
)

__all__ = [
    "BLOCK_FAMILIES",
    "BLOCK_FLAGS",
    "BLOCK_NOTES",
    "BLOCK_SIZES",
    "MAX_BLOCK_K_JACOBIAN",
    "SENTINELS",
    "STATE_FORMATS",
    "block_sizes",
]

# Block sizes per suite: the tile widths of attention kernels (FlashAttention's 64 and 128,
# split-KV chunks of 256, warp slices of 16 and 32). The Jacobian (K² outputs) takes b = 16 only,
# in rows of at most 2b + b/2 entries, and none in the quick suite.
BLOCK_SIZES = {
    "quick": (16, 64),
    "standard": (16, 32, 64, 128, 256),
    "exhaustive": (16, 32, 64, 128, 256),
}
QUADRATIC_BLOCK_SIZES = {"quick": (), "standard": (16,), "exhaustive": (16,)}
MAX_BLOCK_K_JACOBIAN = 40
# Finite starting values of the running maximum seen in kernels (flashinfer #4267: −5·10⁴,
# logits near −2.5·10⁵ in production); a format takes those it can hold.
SENTINELS = (-1.0e4, -3.0e4, -5.0e4, -1.0e5, -2.5e5)
# "Far below" a sentinel: e^−2048 underflows in every state format (float64's limit is −745),
# so a kernel that starts its maximum at the sentinel zeroes the row whatever it keeps d in.
SENTINEL_DROP = 2048.0
# Formats a kernel keeps its running state in: a block far below the exp underflow of each.
STATE_FORMATS = ("float16", "float32", "float64")

_TRACKERS = {
    "inf": "flashinfer #4401, burn #4697, llama.cpp forks",
    "zero-max": "flash-attention #2082",
    "sentinel": "flashinfer #4267",
    "nan": "lattice #740",
    "tail": "NNkernels.jl #16",
}

BLOCK_NOTES: dict[str, Note] = {
    "masked-leading-block": Note(
        "The first block(s) of b entries are all −inf (b = 16 … 256), the rest finite: the "
        "running maximum is still −inf when the first finite block arrives.",
        "e^{(−inf) − (−inf)} = NaN from an unguarded rescale of a fully masked leading block, "
        f"poisoning the row ({_TRACKERS['inf']}).",
    ),
    "masked-middle-block": Note(
        "A fully −inf block (a split-KV chunk or a warp's slice) between finite blocks.",
        "A chunk whose local state is (−inf, 0) merged with −inf − (−inf) = NaN, or divided by "
        f"its zero sum ({_TRACKERS['inf']}).",
    ),
    "masked-tail-block": Note(
        "The last full block, or the last partial block, is all −inf.",
        "The same NaN from the final chunk of a split-KV merge; a final rescale by a "
        "masked block's maximum.",
    ),
    "masked-block-far-below": Note(
        "A fully masked first block, then every logit far below 0: in [−306, −50], and below "
        "−ln(1/smallest subnormal) of float16, float32 and float64 ([−64, −32], [−256, −128], "
        "[−2048, −1024]), where e^{z − 0} underflows in that state format. The row is valid: "
        "its maximum shifts it.",
        "A fully masked block that sets the running maximum to 0 instead of −inf, so the later "
        f"blocks underflow and the row is zeroed ({_TRACKERS['zero-max']}).",
    ),
    "below-sentinel": Note(
        "Every logit just below, or 2048 below, a finite sentinel used as the running "
        "maximum's start (−1e4, −3e4, −5e4, −1e5, −2.5e5, those the format holds), and for "
        "contrast a row whose maximum is just above it.",
        "A running maximum initialised to a finite sentinel instead of −inf: the rows below it "
        f"underflow to zeros ({_TRACKERS['sentinel']}).",
    ),
    "max-in-last-block": Note(
        "The row maximum sits in the last, partial block; the blocks before it have maxima "
        "16, 64 and 2·ln(max) lower.",
        "A missing or stale final rescale (the accumulated sum kept at the old maximum), and a "
        f"tail read without a bounds check ({_TRACKERS['tail']}).",
    ),
    "block-max-increasing": Note(
        "Block maxima rising block by block (steps 1, 8 and ln(max)/2): every block rescales "
        "the running sum.",
        "A wrong rescale factor (e^{m_new − m_old} for e^{m_old − m_new}, or none), and error "
        "that grows with the number of rescales.",
    ),
    "block-max-decreasing": Note(
        "Block maxima falling block by block: the first block holds the maximum, no later "
        "block rescales.",
        "Kernels that rescale or renormalise unconditionally, and those that take the last "
        "block's maximum as the row's.",
    ),
    "block-boundary-length": Note(
        "Row lengths around block multiples, K ∈ {b − 1, b, b + 1, 2b − 1, 2b + 1}, with the "
        "maximum or a −inf as the last entry (in the partial block).",
        "Off-by-one block counts, and a last partial block read without a bounds check: "
        f"lanes past K loaded as 0.0 instead of −inf ({_TRACKERS['tail']}).",
    ),
    "nan-in-block": Note(
        "A NaN as the first entry of a block, on both sides of a block boundary, in the last "
        "partial block, and alone in an otherwise masked block: every output is NaN.",
        "A NaN-ignoring block maximum or sum (fmax, nansum) that drops the NaN lane and leaves a "
        f"plausible distribution ({_TRACKERS['nan']}).",
    ),
}
BLOCK_FLAGS = tuple(BLOCK_NOTES)

Make = Callable[[Context], list[Row]]


def block_sizes(ctx: Context, *, tile: bool = False) -> tuple[int, ...]:
    """The block sizes b of this suite and op.

    The quick suite keeps b = 16, and b = 64 too (``tile=True``) in the three families that
    catch the published bugs at the usual tile width; the Jacobian takes b = 16 outside quick.
    """
    sizes = (QUADRATIC_BLOCK_SIZES if ctx.op in QUADRATIC_OPS else BLOCK_SIZES)[ctx.suite]
    return sizes if ctx.suite != "quick" or tile else sizes[:1]


def _capped(make: Make) -> Make:
    """``make`` with the Jacobian's rows cut at :data:`MAX_BLOCK_K_JACOBIAN` entries."""

    @wraps(make)
    def rows(ctx: Context) -> list[Row]:
        made = make(ctx)
        if ctx.op in QUADRATIC_OPS:
            return [row for row in made if row.z.size <= MAX_BLOCK_K_JACOBIAN]
        return made

    return rows


def _normal(ctx: Context, k: int) -> Floats:
    """k entries, approximately normal with σ = 1."""
    return random_normal(ctx.rng, ctx.fmt, k, 0)


def _below_rows(
    ctx: Context,
    parts: Sequence[tuple[int, float, int]],
    draws: Sequence[npt.NDArray[np.int64]] | None = None,
) -> list[Floats]:
    """For each (k, high, width_log2) in ``parts``, in order, k entries in
    [high − 2^width_log2, high] rounded to the format (at most ``high``): ``high`` plus
    :func:`random_uniform`'s negative values, rounded. The generator is called row by row (the
    same values as one row at a time), the additions and roundings once for all (elementwise).
    ``draws``: the rows' :func:`uniform_draws`, where the caller drew them between its own."""
    if not parts:
        return []
    shapes = [(k, width_log2) for k, _, width_log2 in parts]
    if draws is None:
        draws = [uniform_draws(ctx.rng, k, negative=True) for k, _ in shapes]
    steps = uniform_values(ctx.fmt, draws, shapes)
    highs = np.repeat(np.array([high for _, high, _ in parts]), [k for k, _, _ in parts])
    return split_rows(round_array(highs + np.concatenate(steps), ctx.fmt), shapes)


def _masked(z: Floats, *spans: tuple[int, int]) -> Floats:
    """``z`` with the entries of each [start, stop) span set to −inf."""
    out = z.copy()
    for start, stop in spans:
        out[start:stop] = -math.inf
    return out


def _masked_leading_block(ctx: Context) -> list[Row]:
    rows = []
    for b in block_sizes(ctx, tile=True):
        k = 2 * b + b // 2
        z = _normal(ctx, k)
        rows.append(Row(_masked(z, (0, b)), f"b={b}: the first block of {k} entries masked"))
        if ctx.suite != "quick":
            rows.append(Row(_masked(z, (0, 2 * b)), f"b={b}: the first two blocks masked, K={k}"))
            one = _masked(_normal(ctx, b + 1), (0, b))
            rows.append(Row(one, f"b={b}: the first block masked, one finite entry after it"))
    return rows


def _masked_middle_block(ctx: Context) -> list[Row]:
    rows = []
    for b in block_sizes(ctx):
        k = 2 * b + b // 2
        rows.append(Row(_masked(_normal(ctx, k), (b, 2 * b)), f"b={b}: block 2 of 3 masked"))
        if ctx.suite != "quick":
            z = _masked(_normal(ctx, 4 * b), (b, 3 * b))
            rows.append(Row(z, f"b={b}: blocks 2 and 3 of 4 masked (split-KV middle chunks)"))
    return rows


def _masked_tail_block(ctx: Context) -> list[Row]:
    rows = []
    for b in block_sizes(ctx):
        k = 2 * b + b // 2
        rows.append(Row(_masked(_normal(ctx, k), (2 * b, k)), f"b={b}: the partial tail masked"))
        if ctx.suite != "quick":
            last = _masked(_normal(ctx, 2 * b), (b, 2 * b))
            rows.append(Row(last, f"b={b}: the last block masked"))
            z = _masked(_normal(ctx, k), (b, k))
            rows.append(Row(z, f"b={b}: the last block and the tail masked, K={k}"))
    return rows


def _underflow_band(name: str) -> tuple[float, int]:
    """(high, width): the band [2·high, high) with high = −2^⌈log2 d⌉ below −d, where
    d = ln(2^(p − emin)) is where e^−d falls below half the smallest subnormal of ``name``."""
    state = get_format(name)
    d = ln_rounded(mpmath.ldexp(1, -state.underflow_exponent), get_format("float64"))
    width = ceil_log2(d)
    return -math.ldexp(1.0, width), width


def _masked_block_far_below(ctx: Context) -> list[Row]:
    # [−306, −50]: the example band; then one band per state format
    bands = [(-50.0, 8), *(_underflow_band(name) for name in STATE_FORMATS)]
    bands = [(high, width) for high, width in bands if high - 2**width >= -ctx.fmt.max]
    if ctx.suite == "quick":
        bands = bands[2:3]  # float32's, the usual state format
    specs = [(b, high, width) for b in block_sizes(ctx, tile=True) for high, width in bands]
    parts = [(2 * b + b // 2, high, width) for b, high, width in specs]
    return [
        Row(
            _masked(z, (0, b)),
            f"b={b}: first block masked, the rest in [{high - 2**width:g}, {high:g}]",
        )
        for (b, high, width), z in zip(specs, _below_rows(ctx, parts), strict=True)
    ]


def _beside(s: float, ctx: Context) -> tuple[float, float]:
    """The largest format value below ``s`` and the smallest above it."""
    r = round_exact(s, ctx.fmt)
    below = r if r < s else next_down(r, ctx.fmt)
    above = r if r > s else next_up(r, ctx.fmt)
    return below, above


def _below_sentinel(ctx: Context) -> list[Row]:
    sentinels = [s for s in SENTINELS if -s <= ctx.fmt.max]
    specs, draws, places = [], [], []
    for b in block_sizes(ctx):
        for s in sentinels:
            below, above = _beside(s, ctx)
            far, _ = _beside(s - SENTINEL_DROP, ctx)
            sides = ((below, "just below"), (far, "far below"), (above, "just above"))
            for top, where in sides[: ctx.pick(2, 3, 3)]:
                # the generator's order: a row's entries, then the place of its maximum
                draws.append(uniform_draws(ctx.rng, b + 1, negative=True))
                places.append(int(ctx.rng.integers(0, b + 1)))
                specs.append((b, s, top, where))
    # within 8 of top: the row is not one-hot
    zs = _below_rows(ctx, [(b + 1, top, 3) for b, _, top, _ in specs], draws)
    rows = []
    for (b, s, top, where), z, place in zip(specs, zs, places, strict=True):
        z[place] = top
        rows.append(Row(z, f"max {top:g}, {where} the sentinel {s:g}, K={b + 1}"))
    return rows


def _max_in_last_block(ctx: Context) -> list[Row]:
    gaps = [16.0, 64.0, round_exact(2 * ctx.overflow, ctx.fmt)][: ctx.pick(1, 3, 3)]
    shapes = ((1, 2), (3, 16))  # (full blocks before the tail, tail = b / this)
    specs = [
        (b, full, max(1, b // part), gap)
        for b in block_sizes(ctx)
        for full, part in shapes[: ctx.pick(1, 2, 2)]
        for gap in gaps
    ]
    # head, then tail, row after row: the generator's order, one row after another
    parts = [p for b, full, tail, gap in specs for p in ((full * b, -gap, 3), (tail, -0.5, 2))]
    drawn = _below_rows(ctx, parts)
    rows = []
    for i, (b, _full, tail, gap) in enumerate(specs):
        head, last = drawn[2 * i], drawn[2 * i + 1]
        last[-1] = -0.5
        z = np.concatenate([head, last])
        rows.append(Row(z, f"b={b}: max −0.5 in a tail of {tail} after blocks {gap:g} lower"))
    return rows


def _staircases(ctx: Context, specs: Sequence[tuple[int, int, float]]) -> list[Floats]:
    """For each (b, k, rise), a row whose block j has maximum (j − n/2)·rise, n blocks (the
    last one partial): block j drawn below its top and led by it. The blocks of all the rows
    are drawn in one :func:`_below_rows`, in row order."""
    parts, starts = [], []
    for b, k, rise in specs:
        n = -(-k // b)
        for j, start in enumerate(range(0, k, b)):
            top = round_exact((j - n // 2) * rise, ctx.fmt)
            parts.append((min(start + b, k) - start, top, 2))
            starts.append(start)
    blocks = iter(zip(_below_rows(ctx, parts), parts, starts, strict=True))
    rows = []
    for b, k, _rise in specs:
        z = np.empty(k)
        for _ in range(-(-k // b)):
            block, (size, top, _width), start = next(blocks)
            z[start : start + size] = block
            z[start] = top
        rows.append(z)
    return rows


def _block_max_monotone(ctx: Context, sign: int) -> list[Row]:
    rises = [1.0, 8.0, round_exact(ctx.overflow / 2, ctx.fmt)][: ctx.pick(1, 3, 3)]
    word = "increasing" if sign > 0 else "decreasing"
    specs = [
        (b, k, rise)
        for b in block_sizes(ctx)
        for k in (2 * b + b // 2, 4 * b + b // 2)[: ctx.pick(1, 2, 2)]
        for rise in rises
    ]
    staircases = _staircases(ctx, [(b, k, sign * rise) for b, k, rise in specs])
    return [
        Row(z, f"b={b}, K={k}: block maxima {word} by {rise:g}")
        for (b, k, rise), z in zip(specs, staircases, strict=True)
    ]


def _block_max_increasing(ctx: Context) -> list[Row]:
    return _block_max_monotone(ctx, +1)


def _block_max_decreasing(ctx: Context) -> list[Row]:
    return _block_max_monotone(ctx, -1)


def _block_boundary_length(ctx: Context) -> list[Row]:
    specs = []
    for b in block_sizes(ctx, tile=True):
        lengths = (b - 1, b, b + 1, 2 * b - 1, 2 * b + 1)
        specs += [(b, k) for k in (lengths if ctx.suite != "quick" else lengths[2:3])]
    # [−9, −1]: lanes read as 0.0 would be the maximum
    bases = _below_rows(ctx, [(k, -1.0, 3) for _, k in specs])
    rows = []
    for (b, k), base in zip(specs, bases, strict=True):
        for last, what in ((-0.5, "the maximum"), (-math.inf, "−inf")):
            z = base.copy()
            z[-1] = last
            rows.append(Row(z, f"b={b}, K={k}: {what} last"))
    return rows


def _nan_in_block(ctx: Context) -> list[Row]:
    rows = []
    for b in block_sizes(ctx):
        k = 2 * b + b // 2
        z = _normal(ctx, k)
        places = [([b], "first entry of block 2")]
        if ctx.suite != "quick":
            places += [
                ([k - 1], "in the partial tail"),
                ([b - 1], "last entry before a boundary"),
                ([b - 1, b], "both sides"),
            ]
        for positions, where in places:
            row = z.copy()
            row[positions] = math.nan
            rows.append(Row(row, f"b={b}, K={k}: NaN {where}"))
        if ctx.suite != "quick":
            row = _masked(z, (b, 2 * b))
            row[b] = math.nan
            rows.append(Row(row, f"b={b}: NaN first in a block otherwise masked"))
    return rows


BLOCK_FAMILIES: tuple[Family, ...] = tuple(
    Family(flag, (flag,), _capped(make))
    for flag, make in (
        ("masked-leading-block", _masked_leading_block),
        ("masked-middle-block", _masked_middle_block),
        ("masked-tail-block", _masked_tail_block),
        ("masked-block-far-below", _masked_block_far_below),
        ("below-sentinel", _below_sentinel),
        ("max-in-last-block", _max_in_last_block),
        ("block-max-increasing", _block_max_increasing),
        ("block-max-decreasing", _block_max_decreasing),
        ("block-boundary-length", _block_boundary_length),
        ("nan-in-block", _nan_in_block),
    )
)
