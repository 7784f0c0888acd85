"""Attention functions for the attention adapter's tests (and recipes of docs/attention.md).

Module-level functions, so that the CLI and ``isolate=True`` can import them by name:

* ``attention`` and one function per bug class of ``blockwise_kernels`` (``sentinel``, …): the
  NumPy blockwise kernel in PyTorch SDPA's convention ``attn(q, k, v, attn_mask, scale)``;
* ``flash_bshd``: the same kernel in flash-attn's convention, (batch, seq, heads, dim) layout,
  ``attn(q, k, v, softmax_scale=…, causal=False)``;
* ``attention_lse``: the kernel returning ``(out, lse)``, the log-sum-exp of the scores from the
  same online recurrence in float32 (as flash-attn returns ``softmax_lse``);
* ``scores_softmax``: q·kᵀ·scale + mask in the inputs' own format, then a float64 softmax and
  P·V in float64 rounded to the format: the adapter's embedding must give the same bits as that
  softmax applied to z directly;
* ``exp2_attention``: FlashAttention-2's scaled exp2 with an FMA (docs/attention.md);
* ``sdpa_math``, ``sdpa_default``, ``sdpa_cpu_flash_lse`` (PyTorch) and ``jax_attention`` (JAX),
  importing their framework when called.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from blockwise_kernels import BUGS, attention, logsumexp

__all__ = [
    "BUGS",
    "attention",
    "attention_lse",
    "exp2_attention",
    "flash_bshd",
    "jax_attention",
    "scores",
    "scores_softmax",
    "sdpa_cpu_flash_lse",
    "sdpa_default",
    "sdpa_math",
    "with_bug",
]


def with_bug(bug: str | None) -> Any:
    """``blockwise_kernels.attention`` with ``bug``, in SDPA's calling convention."""

    def kernel(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
        return attention(q, k, v, attn_mask, scale, bug=bug)

    kernel.__name__ = kernel.__qualname__ = bug or "attention"
    return kernel


sentinel = with_bug("sentinel")
masked_block_zero_max = with_bug("masked_block_zero_max")
inf_minus_inf = with_bug("inf_minus_inf")
nan_dropped = with_bug("nan_dropped")
no_tail_check = with_bug("no_tail_check")


def flash_bshd(q: Any, k: Any, v: Any, softmax_scale: Any = None, causal: bool = False) -> Any:
    """flash-attn's ``flash_attn_func`` convention: (batch, seq, heads, dim), no mask."""
    assert causal is False
    swap = [np.swapaxes(a, 1, 2) for a in (q, k, v)]
    return np.swapaxes(attention(*swap, scale=softmax_scale), 1, 2)


def scores(q: Any, k: Any, attn_mask: Any = None, scale: Any = None) -> np.ndarray:
    """q·kᵀ·scale + mask, computed in float32 (exact for the adapter's q, k in every format)."""
    s = np.matmul(q.astype(np.float32), np.swapaxes(k.astype(np.float32), -1, -2))
    s = s * np.float32(1.0 if scale is None else scale)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask.astype(np.float32)
    return s.astype(np.float32)


def attention_lse(
    q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None, *, bug: str | None = None
) -> tuple[Any, Any]:
    """``(out, lse)``: the blockwise kernel's output and the log-sum-exp of its scores, float32,
    of shape (batch, heads, queries) as flash-attn returns ``softmax_lse``."""
    lse = logsumexp(scores(q, k, attn_mask, scale), bug=bug)
    return attention(q, k, v, attn_mask, scale, bug=bug), lse


def scores_softmax(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    """A float64 softmax of the scores, P·V in float64, rounded to the inputs' dtype."""
    s = scores(q, k, attn_mask, scale).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    return (p @ v.astype(np.float64)).astype(q.dtype)


LOG2E = np.float32(np.log2(np.e))


def exp2_attention(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    """FlashAttention-2's exponentials: 2^fma(s, c, −m·c), c = scale·log₂e in float32 (the FMA
    modelled in float64, where the product of two float32 values is exact), float32 weights,
    ℓ and P·V; a fully masked row shifts by 0."""
    s = scores(q, k, attn_mask, scale)
    c = np.float32(np.float32(1.0 if scale is None else scale) * LOG2E)
    m = s.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        mc = np.where(np.isneginf(m), 0, m * c).astype(np.float32)  # overflows near the max
        x = (s.astype(np.float64) * c - mc.astype(np.float64)).astype(np.float32)
        p = np.exp2(x)
        out = (p @ v.astype(np.float32)) / p.sum(axis=-1, keepdims=True)
    return out.astype(q.dtype)


def sdpa_math(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    """PyTorch's SDPA restricted to its math backend."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, scale=scale
        )


def sdpa_default(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    """PyTorch's SDPA with the backend it picks itself (on the CPU: its flash kernel)."""
    import torch

    return torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, scale=scale
    )


def sdpa_cpu_flash_lse(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    """PyTorch's CPU flash kernel, ``(out, logsumexp)`` (a private ATen op; additive mask)."""
    import torch

    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    return op(q, k, v, attn_mask=attn_mask, scale=scale)


def jax_attention(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    """``jax.nn.dot_product_attention`` ((batch, seq, heads, dim); boolean ``mask=``)."""
    import jax

    return jax.nn.dot_product_attention(q, k, v, mask=attn_mask, scale=scale)
