"""A zoo of NumPy softmax kernels for the sharp (per-component) verdict: correct kernels of every
algorithm class, and one buggy kernel per bug class that the normwise verdict lets through.

Each kernel models a real GPU/CPU kernel: its input is an array of the storage format (float32,
float16, bfloat16; rows along the last axis, any leading shape, so it serves per row and with
``batch=True``), every operation runs in the *state* precision :data:`STATE` (float32, as GPU
kernels keep 16-bit inputs), exponentials are NumPy's float32 ``exp``/``exp2`` (faithful), and the
result is rounded once to the storage format. The algorithm classes are those the validator
declares (``two-pass``, ``one-pass --block B``, ``split --splits S``, ``exp2``):

* two-pass: m = max z, e_j = e^{z_j − m}, Σ = Σ_j e_j (NumPy's pairwise sum, or a strictly
  sequential one), s_j = e_j/Σ or e_j·fl(1/Σ) — Blanchard, Higham & Higham, "Accurately
  computing the log-sum-exp and softmax functions", IMA J. Numer. Anal. 41(4), 2021, Alg. 2.2;
  log_softmax t_j − log Σ and logsumexp m + log Σ from the same shifted terms (their Alg. 2.1);
* one-pass: the online normalizer, a running (m, d) rescaled by e^{m_old − m_new} whenever a
  block raises the maximum, then e^{z − m}/d (Milakov & Gimelshein 2018, "Online normalizer
  calculation for softmax"; ``blockwise_kernels``), or FlashAttention's single pass that rescales
  the unnormalized outputs with the same factor (Dao et al. 2022, "FlashAttention", Alg. 1);
* split: S contiguous splits each reduced to (m_i, d_i), merged by m = max m_i,
  d = Σ_i d_i·e^{m_i − m} (split-KV "Flash-Decoding", Dao et al. 2023);
* exp2: e^t computed as 2^{t·log₂e} with log₂e a float32 constant (FlashAttention-2's exps).

The bugs (:data:`BUGGY`) are small realistic changes of those kernels, one per row of the
issue's table; each :class:`Kernel` says where the pattern comes from and which rows of the
standard suite should expose it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import blockwise_kernels as bk
import ml_dtypes
import numpy as np
from attention_candidates import LOG2E

from symsoftmax.formats import get_format

__all__ = [
    "BUGGY",
    "CORRECT",
    "FORMATS",
    "STATE",
    "Kernel",
    "approx_exp",
    "clamped_exp",
    "combine_in_storage",
    "exp2_bf16_log2e",
    "exp2_softmax",
    "fast_exp",
    "flash_softmax",
    "ftz_outputs",
    "inf_clamp",
    "log_softmax",
    "logsumexp",
    "long_row_fast_exp",
    "lse_fast_exp",
    "masked_leak",
    "one_pass_sloppy_rescale",
    "one_pass_softmax",
    "sequential_sum",
    "sloppy_exp",
    "split_softmax",
    "two_pass_softmax",
    "two_pass_softmax_reciprocal",
]

STATE = np.float32
FORMATS = ("float32", "float16", "bfloat16")
Array = np.ndarray
Exp = Callable[[Array], Array]

LN_U_STATE = math.log(get_format("float32").unit_roundoff)  # ln 2^−24 ≈ −16.64
LOG2E_BF16 = STATE(ml_dtypes.bfloat16(LOG2E))  # 1.4453125: log₂e with 8 significand bits
LEAK_FLOOR = STATE(-64.0)
LONG_ROW = 2048  # rows longer than this take the fast path of long_row_fast_exp
FAST_EXP_ERROR = 1e-4
SLOPPY_EXP_ERROR = 1e-5
WIGGLE = 50.0  # angular frequency (per unit of the argument) of approx_exp's relative error


# --------------------------------------------------------------------------------- primitives


def _guarded(m: Array) -> Array:
    """The shift actually subtracted: m, or 0 where m = −inf (a row or block of −inf only keeps
    e^{−inf} = 0 instead of e^{(−inf) − (−inf)} = NaN; the guard of ``blockwise_kernels``)."""
    return np.where(np.isneginf(m), 0, m).astype(m.dtype)


def _shifted(x: Array, guard: bool = True) -> tuple[Array, Array]:
    """(m, t): m = max over the last axis (kept), t = x − m (m guarded unless ``guard`` is
    False: then a row of −inf only gives t = NaN), both in x's precision."""
    m = np.max(x, axis=-1, keepdims=True)
    return m, x - (_guarded(m) if guard else m)


def approx_exp(t: Array, rel: float, phase: float) -> Array:
    """e^t·(1 + rel·sin(W·t + phase)), W = :data:`WIGGLE`, in the state precision: a fast exp whose
    relative error oscillates with amplitude ``rel`` (as a minimax polynomial's error does);
    where W·t is not finite (t = ±inf, NaN, or |t| near the float32 max) the exact e^t is kept."""
    t = np.asarray(t, dtype=STATE)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        e = np.exp(t)
        wiggle = STATE(1) + STATE(rel) * np.sin(STATE(WIGGLE) * t + STATE(phase))
        return np.where(np.isfinite(wiggle), e * wiggle, e).astype(STATE)


def fast_exp(t: Array) -> Array:
    """A fast exp with 1e-4 relative error, already 1e-4 off at t = 0 (e^0 ≈ 1.0001)."""
    return approx_exp(t, FAST_EXP_ERROR, math.pi / 2)


def sloppy_exp(t: Array) -> Array:
    """An exp with 1e-5 relative error, exact at 0 (a block keeping the maximum rescales by 1)."""
    return approx_exp(t, SLOPPY_EXP_ERROR, 0.0)


def _exp2_times(c: Any) -> Exp:
    """t ↦ 2^{fl(t·c)}: the exp of an exp2 kernel with log₂e folded in as the constant c."""
    c = STATE(c)

    def exp(t: Array) -> Array:
        return np.exp2(t * c)

    return exp


def _clamped_exp(t: Array) -> Array:
    """e^t, but 0 for t < ln u of the state format (a term below u·e^0 is "negligible")."""
    return np.where(t < LN_U_STATE, STATE(0), np.exp(t))


def _leaky_exp(t: Array) -> Array:
    """e^{max(t, −64)}: shifted logits clipped at −64, so e^{−inf} becomes e^{−64} ≈ 1.6e−28."""
    return np.exp(np.maximum(t, LEAK_FLOOR))


def _pairwise_sum(e: Array) -> Array:
    """Σ over the last axis (kept), NumPy's float32 sum (pairwise summation, its base case of
    up to 128 terms unrolled into 8 partial sums)."""
    return np.sum(e, axis=-1, keepdims=True)


def _sequential_sum(e: Array) -> Array:
    """Σ over the last axis (kept), strictly left to right in e's precision:
    ``np.add.accumulate`` is a plain loop, S_k = fl(S_{k−1} + e_k) (Higham 2002, §4.1)."""
    return np.add.accumulate(e, axis=-1)[..., -1:]


# ------------------------------------------------------------------------------- two-pass


def _softmax(
    z: Any,
    exp: Exp = np.exp,
    total: Callable[[Array], Array] = _pairwise_sum,
    *,
    inverse: bool = False,
    guard: bool = True,
) -> Array:
    """e_j/Σ (or e_j·fl_storage(1/Σ) with ``inverse``), e_j = exp(z_j − max z), in STATE,
    rounded to z's format (``guard``: see :func:`_shifted`)."""
    z = np.asarray(z)
    if z.shape[-1] == 0:
        return z.copy()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        e = exp(_shifted(z.astype(STATE), guard)[1])
        d = total(e)
        out = e * (STATE(1) / d).astype(z.dtype).astype(STATE) if inverse else e / d
    return out.astype(z.dtype)


def _log_softmax(z: Any, exp: Exp = np.exp) -> Array:
    """t_j − log Σ_k e^{t_k}, t = z − max z, in STATE, rounded to z's format."""
    z = np.asarray(z)
    if z.shape[-1] == 0:
        return z.copy()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        t = _shifted(z.astype(STATE))[1]
        out = t - np.log(_pairwise_sum(exp(t)))
    return out.astype(z.dtype)


def _logsumexp(z: Any, exp: Exp = np.exp) -> Array:
    """m + log Σ_k e^{z_k − m}, m = max z, in STATE, rounded to z's format (−inf if empty)."""
    z = np.asarray(z)
    if z.shape[-1] == 0:
        return np.full(z.shape[:-1], -np.inf, dtype=z.dtype)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        m, t = _shifted(z.astype(STATE))
        out = (_guarded(m) + np.log(_pairwise_sum(exp(t))))[..., 0]
    return out.astype(z.dtype)


def two_pass_softmax(z: Any) -> Array:
    """The textbook shifted softmax: e^{z_j − m}/Σ_k e^{z_k − m} (BHH Alg. 2.2), float32 state."""
    return _softmax(z)


def two_pass_softmax_reciprocal(z: Any) -> Array:
    """e^{z_j − m}·r with r = 1/Σ rounded to the storage format (one division per row)."""
    return _softmax(z, inverse=True)


def sequential_sum(z: Any) -> Array:
    """Two-pass softmax whose Σ is a strictly sequential float32 loop: on long rows of one
    repeated value below the max its error grows like (K − 1)·u (the bound's γ_n is nearly
    attained), the tightness witness of the sum's bound."""
    return _softmax(z, total=_sequential_sum)


def exp2_softmax(z: Any) -> Array:
    """Two-pass softmax with e^t = 2^{fl(t·log₂e)}, log₂e a float32 constant (FlashAttention-2)."""
    return _softmax(z, exp=_exp2_times(LOG2E))


def log_softmax(z: Any) -> Array:
    """The textbook two-pass log_softmax t_j − log Σ e^{t_k}, t = z − max z (BHH Alg. 2.1)."""
    return _log_softmax(z)


def logsumexp(z: Any) -> Array:
    """The textbook two-pass logsumexp m + log Σ e^{z_k − m} (BHH Alg. 2.1)."""
    return _logsumexp(z)


# ------------------------------------------------------------------------ one-pass and split


def _normalized(z: Array, m: Array, d: Array) -> Array:
    """The second pass of an online or split kernel: e^{z_j − m}/d, rounded to z's format."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        out = np.exp(z.astype(STATE) - _guarded(m)) / d
    return out.astype(z.dtype)


def one_pass_softmax(z: Any, block: int = 64) -> Array:
    """The online normalizer over blocks of ``block`` entries, then e^{z − m}/d
    (``blockwise_kernels.softmax``, correct: no bug)."""
    return bk.softmax(z, block=block, state=STATE)


def _online(
    x: Array, block: int, rescale: Exp = np.exp, held: Any = STATE, outputs: bool = False
) -> tuple[Array, Array, Array | None]:
    """(m, d, o) of the online recurrence over blocks of x (STATE): m_b = max(m_{b−1}, max z_b),
    α = rescale(m_{b−1} − m_b), d_b = d_{b−1}·α + Σ_b e^{z − m_b} (rounded to ``held`` after each
    block); with ``outputs``, o holds the unnormalized e^{z − m} of the blocks so far, all
    rescaled by α at each block (FlashAttention's accumulator with V = I)."""
    m = np.full((*x.shape[:-1], 1), -np.inf, dtype=STATE)
    d = np.zeros_like(m)
    o = np.zeros_like(x) if outputs else None
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        for index, blk in enumerate(bk._blocks(x, block, None)):
            start = index * block
            m_new, _, p = bk._step(m, blk, None)
            alpha = rescale(m - _guarded(m_new))
            d = (d * alpha + np.sum(p, axis=-1, keepdims=True)).astype(held).astype(STATE)
            if o is not None:
                o[..., :start] *= alpha
                o[..., start : start + block] = p
            m = m_new
    return m, d, o


def flash_softmax(z: Any, block: int = 64) -> Array:
    """Single-pass softmax: the outputs of earlier blocks rescaled by e^{m_old − m_new} at each
    block, divided by d at the end (FlashAttention's o/ℓ with V = I)."""
    z = np.asarray(z)
    _, d, o = _online(z.astype(STATE), block, outputs=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (o / d).astype(z.dtype)


def split_softmax(z: Any, splits: int = 4) -> Array:
    """Split-KV softmax: ``splits`` contiguous splits, each reduced to (m_i, d_i) (by
    ``blockwise_kernels.online_state`` in one block), merged as m = max m_i,
    d = Σ_i d_i·e^{m_i − m}, then e^{z − m}/d."""
    z = np.asarray(z)
    x = z.astype(STATE)
    parts = [
        bk.online_state(chunk, block=max(1, chunk.shape[-1]), state=STATE)
        for chunk in np.array_split(x, splits, axis=-1)
    ]
    ms = np.concatenate([mi for mi, _ in parts], axis=-1)
    ds = np.concatenate([di for _, di in parts], axis=-1)
    m = np.max(ms, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        d = np.sum(ds * np.exp(ms - _guarded(m)), axis=-1, keepdims=True)
    return _normalized(z, m, d)


# -------------------------------------------------------------------------------- the bugs


def clamped_exp(z: Any) -> Array:
    """Two-pass softmax whose exp returns 0 for t < ln u (u = 2^−24 of the float32 state)."""
    return _softmax(z, exp=_clamped_exp)


def ftz_outputs(z: Any) -> Array:
    """Two-pass softmax whose outputs below the storage format's smallest normal flush to 0."""
    out = two_pass_softmax(z)
    tiny = get_format(out.dtype.name).tiny
    return np.where(np.abs(out.astype(STATE)) < tiny, np.zeros_like(out), out).astype(out.dtype)


def long_row_fast_exp(z: Any) -> Array:
    """Two-pass softmax that sends rows longer than 2048 to a path with a 1e-4 fast exp."""
    z = np.asarray(z)
    return _softmax(z, exp=fast_exp if z.shape[-1] > LONG_ROW else np.exp)


def exp2_bf16_log2e(z: Any) -> Array:
    """The exp2 kernel with log₂e stored as a bfloat16 constant (1.4453125, 1.8e−3 too large)."""
    return _softmax(z, exp=_exp2_times(LOG2E_BF16))


def combine_in_storage(z: Any, block: int = 32) -> Array:
    """The online normalizer whose cross-block combine d·α + Σ_block is rounded to the storage
    format after each block, then e^{z − m}/d."""
    z = np.asarray(z)
    m, d, _ = _online(z.astype(STATE), block, held=z.dtype)
    return _normalized(z, m, d)


def lse_fast_exp(z: Any) -> Array:
    """Two-pass logsumexp with the 1e-4 fast exp."""
    return _logsumexp(z, exp=fast_exp)


def masked_leak(z: Any) -> Array:
    """Two-pass softmax whose shifted logits z − max z (unguarded: a fully masked row is NaN, as
    (−inf) − (−inf) makes it) are clipped at −64: e^{−inf} leaks as 1.6e−28."""
    return _softmax(z, exp=_leaky_exp, guard=False)


def inf_clamp(z: Any) -> Array:
    """Two-pass softmax of z with +inf entries clamped to the largest finite value of its format
    (NaN and −inf kept)."""
    z = np.asarray(z)
    top = get_format(z.dtype.name).max
    return two_pass_softmax(np.minimum(z.astype(STATE), top).astype(z.dtype))


def one_pass_sloppy_rescale(z: Any, block: int = 64) -> Array:
    """The single-pass kernel (:func:`flash_softmax`) whose rescale factor comes from an exp with
    1e-5 relative error."""
    z = np.asarray(z)
    _, d, o = _online(z.astype(STATE), block, rescale=sloppy_exp, outputs=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (o / d).astype(z.dtype)


# ------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Kernel:
    """One kernel of the zoo: the callable (a module-level function or a functools.partial of
    one, so that ``validate`` can also run it isolated), the op it computes, its algorithm class
    with parameters, the storage formats it is meant for; for a bug, where the pattern comes
    from and which rows of the standard suite should expose it."""

    fn: Callable[..., Array]
    op: str
    algorithm: str  # "two-pass", "one-pass", "split", "exp2"
    formats: tuple[str, ...] = FORMATS
    block: int | None = None
    splits: int | None = None
    state: str = "float32"
    source: str = ""
    exposed_by: str = ""


ONE_PASS_BLOCKS = (16, 64, 256, 1024)
SPLITS = (2, 3, 8)

CORRECT: dict[str, Kernel] = {
    "two_pass_softmax": Kernel(
        two_pass_softmax, "softmax", "two-pass", formats=(*FORMATS, "float8_e5m2")
    ),
    "two_pass_softmax_reciprocal": Kernel(two_pass_softmax_reciprocal, "softmax", "two-pass"),
    "sequential_sum": Kernel(sequential_sum, "softmax", "two-pass"),
    **{
        f"one_pass_softmax_b{b}": Kernel(
            functools.partial(one_pass_softmax, block=b), "softmax", "one-pass", block=b
        )
        for b in ONE_PASS_BLOCKS
    },
    "flash_softmax_b64": Kernel(
        functools.partial(flash_softmax, block=64), "softmax", "one-pass", block=64
    ),
    **{
        f"split_softmax_s{s}": Kernel(
            functools.partial(split_softmax, splits=s), "softmax", "split", splits=s
        )
        for s in SPLITS
    },
    "exp2_softmax": Kernel(exp2_softmax, "softmax", "exp2"),
    "log_softmax": Kernel(log_softmax, "log_softmax", "two-pass"),
    "logsumexp": Kernel(logsumexp, "logsumexp", "two-pass"),
}

BUGGY: dict[str, Kernel] = {
    "clamped_exp": Kernel(
        clamped_exp,
        "softmax",
        "two-pass",
        formats=("float32", "bfloat16"),
        source="vectorised fast exps that return 0 below a cutoff, and 'skip negligible terms' "
        "shortcuts (a term below u·e^0 cannot change Σ, but it is an output)",
        exposed_by="entries 17 to 87 below the max, whose output is zeroed: two-entries, "
        "random-logspaced, wide-spread, underflow-threshold",
    ),
    "ftz_outputs": Kernel(
        ftz_outputs,
        "softmax",
        "two-pass",
        formats=(*FORMATS, "float8_e5m2"),
        source="kernels built with flush-to-zero (nvcc --use_fast_math implies --ftz=true; "
        "-ffast-math sets x86 FTZ/DAZ)",
        exposed_by="subnormal-output and underflow-threshold: outputs below 2^emin of the format",
    ),
    "long_row_fast_exp": Kernel(
        long_row_fast_exp,
        "softmax",
        "two-pass",
        formats=("float32",),
        source="a separate long-row code path (another kernel past a length threshold) built "
        "with a low-accuracy polynomial exp",
        exposed_by="long-row at K = 4096, 8192, 32768 (U[−1, 0) and normal σ = 4 rows)",
    ),
    "exp2_bf16_log2e": Kernel(
        exp2_bf16_log2e,
        "softmax",
        "exp2",
        formats=("float16",),
        source="log₂e folded into the softmax scale and stored in a 16-bit type (bfloat16)",
        exposed_by="entries far below the max (relative error 1.8e−3·|t_j|): random-normal, "
        "random-logspaced, wide-spread, two-entries",
    ),
    "combine_in_storage": Kernel(
        functools.partial(combine_in_storage, block=32),
        "softmax",
        "one-pass",
        formats=("float16",),
        block=32,
        source="an accumulator type defaulting to the element type T (half), so the "
        "cross-block combine d·α + Σ rounds to float16",
        exposed_by="long-row K ≥ 4096 (122 ulp on K = 32768 'one 0, the rest −8'): a common "
        "factor 1 + θ far beyond the float32 state's sum bound",
    ),
    "lse_fast_exp": Kernel(
        lse_fast_exp,
        "logsumexp",
        "two-pass",
        formats=("float16", "bfloat16"),
        source="a logsumexp (cross-entropy) kernel using a fast exp",
        exposed_by="single-entry and rows whose logsumexp is small in magnitude (e^0 ≠ 1: "
        "bfloat16 [1e−30] → 1e−4)",
    ),
    "masked_leak": Kernel(
        masked_leak,
        "softmax",
        "two-pass",
        formats=("float32", "bfloat16"),
        source="a framework that clips shifted logits at −64 before the exp",
        exposed_by="neg-inf-entries and the masked-*-block rows ([0, −inf] → [1, 1.6e−28]); "
        "entries more than 64 below the max",
    ),
    "inf_clamp": Kernel(
        inf_clamp,
        "softmax",
        "two-pass",
        formats=(*FORMATS, "float8_e5m2"),
        source="inputs sanitised by clamping +inf to the format's largest finite value "
        "(as np.nan_to_num does for +inf)",
        exposed_by="pos-inf: '+inf and max' ([+inf, max] → [½, ½])",
    ),
    "one_pass_sloppy_rescale": Kernel(
        functools.partial(one_pass_sloppy_rescale, block=64),
        "softmax",
        "one-pass",
        formats=("float32",),
        block=64,
        source="the rescale factor e^{m_old − m_new} computed with a cheaper exp than the "
        "weights (a fast intrinsic in the correction step)",
        exposed_by="block-max-increasing (every block rescales the outputs before it) and the "
        "long random rows, whose maximum rises in early blocks",
    ),
}
