"""Attention kernels with a per-head sink and a soft-cap, for tests/test_attention_sinks.py.

NumPy kernels in PyTorch's SDPA convention, ``attn(q, k, v, attn_mask=None, scale=None,
sinks=None, softcap=None)`` with q, k, v of shape (batch, heads, seq, dim), computed in a
float32 state and rounded once to the input format:

* the sink as GPT-OSS's reference attention adds it (gpt-oss, ``gpt_oss/torch/model.py``,
  ``sdpa``): one logit per head, in the units of the scaled scores, concatenated to each row
  of scores, the softmax taken over the extended row, the sink's column dropped;
* the soft-cap as Gemma 2 applies it (Gemma Team, "Gemma 2", 2024; Hugging Face
  ``Gemma2Attention``): scores·scale, then c·tanh(s/c), then the mask.

:func:`attention` is correct; the others have one defect each: :func:`sink_ignored` takes
``sinks=`` and drops it, :func:`other_head_sink` gives head h the sink of head h + 1 (mod H),
:func:`cap_ignored` takes ``softcap=`` and drops it. :func:`attention_lse` also returns the
log-sum-exp of the extended row (sink included, as FlashAttention-style kernels with sinks
return it), :func:`lse_without_sink` that of the scores alone. :func:`torch_attention` is
:func:`attention` in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STATE = np.float32


def _scores(q: Any, k: Any, scale: float | None, softcap: float | None, mask: Any) -> Any:
    """(B, H, S, K) float32 scores: q·kᵀ·scale, capped, then masked (−inf where False)."""
    s = (q.astype(STATE) @ np.swapaxes(k.astype(STATE), -1, -2)) * STATE(
        1.0 if scale is None else scale
    )
    if softcap is not None:
        c = STATE(softcap)
        s = np.tanh(s / c) * c
    return s if mask is None else np.where(mask, s, -np.inf).astype(STATE)


def _weights(s: Any, sinks: Any) -> tuple[Any, Any]:
    """(softmax weights of the scores, natural log-sum-exp) of the rows extended by the sink of
    their head (sinks: (H,) or None), the sink's column dropped."""
    if sinks is not None:
        column = np.broadcast_to(np.asarray(sinks, STATE).reshape(1, -1, 1, 1), (*s.shape[:-1], 1))
        s = np.concatenate([s, column], axis=-1)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = s.max(axis=-1, keepdims=True)
        m = np.where(np.isneginf(m), STATE(0), m)  # a fully masked row: lse log 0 = −inf
        p = np.exp(s - m)
        total = p.sum(axis=-1, keepdims=True)
        w = p / total
        lse = (m + np.log(total))[..., 0]
    return (w[..., :-1] if sinks is not None else w), lse


def _attend(
    q: Any, k: Any, v: Any, mask: Any, scale: Any, sinks: Any, softcap: Any
) -> tuple[Any, Any]:
    w, lse = _weights(_scores(q, k, scale, softcap, mask), sinks)
    with np.errstate(invalid="ignore"):
        return (w @ v.astype(STATE)).astype(q.dtype), lse


def attention(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> Any:
    """Correct: the sink of each head in its own row, the cap on the scaled scores."""
    return _attend(q, k, v, attn_mask, scale, sinks, softcap)[0]


def sink_ignored(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> Any:
    """Takes ``sinks=`` and drops it (a backend whose forward is vanilla attention)."""
    return _attend(q, k, v, attn_mask, scale, None, softcap)[0]


def other_head_sink(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> Any:
    """Head h reads the sink of head h + 1 (mod H): an off-by-one head index."""
    shifted = None if sinks is None else np.roll(np.asarray(sinks), -1)
    return _attend(q, k, v, attn_mask, scale, shifted, softcap)[0]


def cap_ignored(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> Any:
    """Takes ``softcap=`` and drops it (the cap skipped on this path)."""
    return _attend(q, k, v, attn_mask, scale, sinks, None)[0]


def attention_lse(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> tuple[Any, Any]:
    """(output, lse (B, H, S) float32): the log-sum-exp of the row extended by the sink."""
    return _attend(q, k, v, attn_mask, scale, sinks, softcap)


def lse_without_sink(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> tuple[Any, Any]:
    """The output with the sink, but the log-sum-exp of the scores alone."""
    out = _attend(q, k, v, attn_mask, scale, sinks, softcap)[0]
    return out, _attend(q, k, v, attn_mask, scale, None, softcap)[1]


def torch_attention(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    scale: Any = None,
    sinks: Any = None,
    softcap: Any = None,
) -> Any:
    """:func:`attention` in PyTorch (float32 state), GPT-OSS's concatenate-softmax-drop."""
    import torch

    s = (q.float() @ k.float().transpose(-1, -2)) * (1.0 if scale is None else scale)
    if softcap is not None:
        s = torch.tanh(s / softcap) * softcap
    if attn_mask is not None:
        s = s.masked_fill(~attn_mask, -torch.inf)
    if sinks is not None:
        column = sinks.float().reshape(1, -1, 1, 1).expand(*s.shape[:-1], 1)
        s = torch.cat([s, column], dim=-1)
    w = torch.softmax(s, dim=-1)
    if sinks is not None:
        w = w[..., :-1]
    return (w @ v.float()).to(q.dtype)
