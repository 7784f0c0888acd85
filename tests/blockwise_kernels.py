"""Blockwise (online) softmax kernels in NumPy: one correct, and one per published bug class.

They model what a GPU attention kernel does with one row: the logits are visited in blocks of
``block`` entries, a running state (m, d) — the maximum so far and the sum of e^{z − m} so
far — is kept in ``state`` precision (float32, as GPU kernels keep it for float16/bfloat16
inputs), and each new block rescales the old state by e^{m_old − m_new} (Milakov &
Gimelshein 2018, "Online normalizer calculation for softmax"). The bug variants are the ones
reported in public trackers (issue 10 of this project):

* ``sentinel``: the running max starts at the finite sentinel −5·10⁴ instead of −inf, so a row
  whose logits are all below it underflows to zeros (flashinfer #4267);
* ``masked_block_zero_max``: a fully masked block sets the running max to 0, so later blocks far
  below 0 underflow and the row is zeroed (flash-attention #2082);
* ``inf_minus_inf``: no guard on a fully masked block, so e^{(−inf) − (−inf)} = NaN poisons the
  row (flashinfer #4401, burn #4697);
* ``nan_dropped``: a NaN-ignoring max and sum (``fmax``/``nansum``) drop a NaN lane and leave a
  plausible distribution (lattice #740);
* ``no_tail_check``: the last partial block is read without a bounds check; the lanes past K
  load 0.0 instead of −inf (NNkernels.jl #16).

Every function takes rows along the last axis (any leading shape), so it serves both as a
per-row candidate and with ``batch=True``. ``attention`` is the same loop as the inner loop of
a fused attention kernel (PyTorch SDPA's calling convention), for the attention adapter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BUGS = ("sentinel", "masked_block_zero_max", "inf_minus_inf", "nan_dropped", "no_tail_check")
SENTINEL = -5.0e4


def _blocks(x: np.ndarray, block: int, bug: str | None) -> list[np.ndarray]:
    """The row split into blocks along the last axis; the last one padded as the kernel loads it."""
    k = x.shape[-1]
    out = []
    for start in range(0, k, block):
        blk = x[..., start : start + block]
        if bug == "no_tail_check" and blk.shape[-1] < block:
            pad = np.zeros((*blk.shape[:-1], block - blk.shape[-1]), dtype=x.dtype)
            blk = np.concatenate([blk, pad], axis=-1)  # out-of-bounds lanes read as 0.0
        out.append(blk)
    return out


def _initial_max(shape: tuple[int, ...], dtype: Any, bug: str | None) -> np.ndarray:
    return np.full(shape, SENTINEL if bug == "sentinel" else -np.inf, dtype=dtype)


def _step(
    m: np.ndarray, blk: np.ndarray, bug: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One online update: (new max, factor e^{m_old − m_new} for the old state, block weights)."""
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        if bug == "nan_dropped":
            block_max = np.fmax.reduce(blk, axis=-1, keepdims=True)
            m_new = np.fmax(m, block_max)
        else:
            block_max = np.max(blk, axis=-1, keepdims=True)
            m_new = np.maximum(m, block_max)
        if bug == "masked_block_zero_max":
            m_new = np.where(np.isneginf(m_new), 0, m_new).astype(m.dtype)
        if bug in ("inf_minus_inf", "masked_block_zero_max"):
            alpha = np.exp(m - m_new)
            p = np.exp(blk - m_new)
        else:
            # The guard: while every entry so far is −inf, keep the state (−inf, 0) as it is.
            safe = np.where(np.isneginf(m_new), 0, m_new).astype(m.dtype)
            alpha = np.exp(m - safe)
            p = np.exp(blk - safe)
    return m_new, alpha, p


def _sum(p: np.ndarray, bug: str | None) -> np.ndarray:
    if bug == "nan_dropped":
        return np.nansum(p, axis=-1, keepdims=True)
    return np.sum(p, axis=-1, keepdims=True)


def online_state(
    z: Any, block: int = 64, state: Any = np.float32, bug: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The final (m, d) of the online recurrence over the last axis, in ``state`` precision."""
    x = np.asarray(z).astype(state)
    m = _initial_max((*x.shape[:-1], 1), x.dtype, bug)
    d = np.zeros_like(m)
    for blk in _blocks(x, block, bug):
        m_new, alpha, p = _step(m, blk, bug)
        with np.errstate(invalid="ignore", over="ignore"):
            d = d * alpha + _sum(p, bug)
        m = m_new
    return m, d


def softmax(z: Any, block: int = 64, state: Any = np.float32, bug: str | None = None) -> np.ndarray:
    """Two-pass online softmax: (m, d) blockwise, then e^{z − m}/d, rounded to z's dtype."""
    z = np.asarray(z)
    if z.shape[-1] == 0:
        return z.copy()
    m, d = online_state(z, block, state, bug)
    x = z.astype(state)
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        if bug == "nan_dropped":
            x = np.where(np.isnan(x), -np.inf, x)
        out = np.exp(x - m) / d
    return out.astype(z.dtype)


def log_softmax(
    z: Any, block: int = 64, state: Any = np.float32, bug: str | None = None
) -> np.ndarray:
    """z − m − log d from the online state, rounded to z's dtype."""
    z = np.asarray(z)
    if z.shape[-1] == 0:
        return z.copy()
    m, d = online_state(z, block, state, bug)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # z − m: −max − max
        out = z.astype(state) - m - np.log(d)
    return out.astype(z.dtype)


def logsumexp(
    z: Any, block: int = 64, state: Any = np.float32, bug: str | None = None
) -> np.ndarray:
    """m + log d from the online state, rounded to z's dtype (−inf for an empty row)."""
    z = np.asarray(z)
    if z.shape[-1] == 0:
        return np.full(z.shape[:-1], -np.inf, dtype=z.dtype)
    m, d = online_state(z, block, state, bug)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (m + np.log(d))[..., 0]
    return out.astype(z.dtype)


def attention(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: float | None = None,
    *,
    block: int = 64,
    state: Any = np.float32,
    bug: str | None = None,
) -> np.ndarray:
    """Fused attention, SDPA convention: softmax(scale·q kᵀ + mask) v, one pass over key blocks.

    ``q``: (..., L, E), ``k``: (..., S, E), ``v``: (..., S, Ev). ``attn_mask``: boolean (False =
    masked) or additive, broadcastable to (..., L, S). The accumulator o is rescaled with the
    same factor as d: o_k = o_{k−1}·e^{m_{k−1} − m_k} + Σ_block e^{s − m_k}·v (FlashAttention).
    """
    q, k, v = (np.asarray(a) for a in (q, k, v))
    out_dtype = q.dtype
    qs, ks, vs = (a.astype(state) for a in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = (qs @ np.swapaxes(ks, -1, -2)) * np.asarray(scale, dtype=state)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        if mask.dtype == bool:
            scores = np.where(mask, scores, -np.inf).astype(state)
        else:
            scores = (scores + mask.astype(state)).astype(state)
    m = _initial_max((*scores.shape[:-1], 1), scores.dtype, bug)
    d = np.zeros_like(m)
    o = np.zeros((*scores.shape[:-1], vs.shape[-1]), dtype=scores.dtype)
    n = scores.shape[-1]
    for start in range(0, n, block):
        blk = scores[..., start : start + block]
        vblk = vs[..., start : start + block, :]
        if bug == "no_tail_check" and blk.shape[-1] < block:
            extra = block - blk.shape[-1]
            blk = np.concatenate([blk, np.zeros((*blk.shape[:-1], extra), blk.dtype)], axis=-1)
            vblk = np.concatenate(
                [vblk, np.zeros((*vblk.shape[:-2], extra, vblk.shape[-1]), vblk.dtype)], axis=-2
            )
        m_new, alpha, p = _step(m, blk, bug)
        with np.errstate(invalid="ignore", over="ignore"):
            d = d * alpha + _sum(p, bug)
            pv = np.nan_to_num(p, nan=0.0) @ vblk if bug == "nan_dropped" else p @ vblk
            o = o * alpha + pv
        m = m_new
    with np.errstate(invalid="ignore", divide="ignore"):
        out = o / d
    return out.astype(out_dtype)
