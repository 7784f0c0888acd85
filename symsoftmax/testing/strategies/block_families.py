"""The block-structured row families of online (blockwise) softmax kernels (issue 10): masked
blocks, sentinels, block maxima, boundary lengths, NaN in a block."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from symsoftmax.formats import Format
from symsoftmax.rounding import round_exact
from symsoftmax.testing.strategies.spec import (
    DrawnRow,
    Family,
    _Spec,
    _tiled,
)
from symsoftmax.vectors.blocks import BLOCK_SIZES as _SUITE_BLOCK_SIZES
from symsoftmax.vectors.blocks import SENTINELS
from symsoftmax.vectors.values import step

BLOCK_SIZES: tuple[int, ...] = _SUITE_BLOCK_SIZES["standard"]
"""Block (tile) sizes of online softmax and attention kernels, the standard suite's: the
default ``block``."""

_MAX_BLOCKS = 3  # full blocks of a block-structured row, besides a partial one


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
