"""Survey loaders for attention sinks and logit soft-capping (issue 21).

Each loader returns an :class:`~accuracy.model.Implementation` whose softmax, log_softmax and
logsumexp take ``sink=`` and ``softcap=`` keywords (Python floats, or None), as ``validate``
passes them to the tests of the attention-sink, soft-cap and sink-and-softcap families
(docs/vectors.md); their other tests run as the plain op.

* ``torch_sink_concat``: PyTorch eager as model code writes it — the sink logit concatenated to
  the scores, softmax (log_softmax, logsumexp) over the extended row, the sink's column dropped
  (GPT-OSS's reference ``sdpa``: ``torch.cat([QK, S], dim=-1)``, ``torch.softmax``,
  ``W[..., :-1]``), and the cap as Gemma 2's model code writes it (``x / c``, ``tanh``,
  ``* c``) before the mask is added (−inf logits are the mask: capping them would give −c);
* ``jax_sink_concat``: the same in JAX (``jnp.concatenate``, ``jax.nn.softmax``, jit-compiled);
* ``flex_attention_softcap``: PyTorch's ``flex_attention`` on the CPU with a soft-cap
  ``score_mod`` and the mask applied after it, through an attention-shaped call
  (:func:`symsoftmax.testing.attention_as_softmax`: q = e₁, k_j = z_j·e₁, V = I, scale 1, so
  each score is z_j exactly); no sink (flex_attention has none). Without ``torch.compile`` it
  runs PyTorch's unfused eager implementation (it says so in a warning); :class:`Unavailable`
  with the reason where it does not run.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from symsoftmax.formats import get_format

from .frameworks import TORCH_CPU_CLASSES
from .model import Declared, Implementation, Unavailable

FORMATS = ("float64", "float32", "float16", "bfloat16")
OPS = ("softmax", "log_softmax", "logsumexp")

__all__ = ["SINK_LOADERS", "flex_attention_softcap", "jax_sink_concat", "torch_sink_concat"]


# ------------------------------------------------------------------------------- PyTorch


def _torch_capped(z: Any, softcap: float | None) -> Any:
    """Gemma 2's cap on the scores (z / c, tanh, * c), the mask (−inf logits) added after."""
    import torch

    if softcap is None:
        return z
    masked = torch.isneginf(z)
    scores = torch.where(masked, torch.zeros_like(z), z)
    capped = torch.tanh(scores / softcap) * softcap
    return capped.masked_fill(masked, float("-inf"))


def _torch_extended(z: Any, sink: float | None, softcap: float | None) -> tuple[Any, bool]:
    """The capped row with the sink logit concatenated last (GPT-OSS), and whether it was."""
    import torch

    x = _torch_capped(z, softcap)
    if sink is None:
        return x, False
    s = torch.full((*x.shape[:-1], 1), sink, dtype=x.dtype, device=x.device)
    return torch.cat([x, s], dim=-1), True


def torch_sink_functions(device: str = "cpu") -> dict[str, Any]:
    """softmax, log_softmax, logsumexp of the extended row, the sink's column dropped, run on
    ``device`` (the GPU section runs them on "cuda")."""
    import torch

    def softmax(z: Any, sink: float | None = None, softcap: float | None = None) -> Any:
        x, extended = _torch_extended(z.to(device), sink, softcap)
        w = torch.softmax(x, dim=-1)
        return w[..., :-1] if extended else w

    def log_softmax(z: Any, sink: float | None = None, softcap: float | None = None) -> Any:
        x, extended = _torch_extended(z.to(device), sink, softcap)
        w = torch.log_softmax(x, dim=-1)
        return w[..., :-1] if extended else w

    def logsumexp(z: Any, sink: float | None = None, softcap: float | None = None) -> Any:
        return torch.logsumexp(_torch_extended(z.to(device), sink, softcap)[0], dim=-1)

    return {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}


def torch_sink_concat(device: str = "cpu") -> Implementation:
    import torch

    return Implementation(
        f"PyTorch sink concat ({device.upper()})",
        "torch",
        torch_sink_functions(device),
        torch.__version__,
        # the same CPU kernels on the extended row
        classes=dict(TORCH_CPU_CLASSES) if device == "cpu" else {},
    )


# ----------------------------------------------------------------------------------- JAX


def jax_sink_functions() -> dict[str, Any]:
    """The concatenation formulation in JAX, one jit-compiled function per op and per
    (sink given, cap given), the sink and cap traced arguments in the row's dtype."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    reducers = {
        "softmax": jax.nn.softmax,
        "log_softmax": jax.nn.log_softmax,
        "logsumexp": jax.nn.logsumexp,
    }

    def extended(z: Any, s: Any, c: Any, has_sink: bool, has_cap: bool) -> Any:
        x = z
        if has_cap:
            masked = jnp.isneginf(z)
            x = jnp.where(masked, -jnp.inf, jnp.tanh(jnp.where(masked, 0, z) / c) * c)
        if has_sink:
            x = jnp.concatenate([x, jnp.broadcast_to(s, (*x.shape[:-1], 1))], axis=-1)
        return x

    @functools.cache
    def compiled(op: str, has_sink: bool, has_cap: bool) -> Any:
        def fn(z: Any, s: Any, c: Any) -> Any:
            out = reducers[op](extended(z, s, c, has_sink, has_cap), axis=-1)
            return out[..., :-1] if has_sink and op != "logsumexp" else out

        return jax.jit(fn)

    def make(op: str) -> Any:
        def fn(z: Any, sink: float | None = None, softcap: float | None = None) -> Any:
            dtype = z.dtype
            s = jnp.asarray(0.0 if sink is None else sink, dtype=dtype)
            c = jnp.asarray(1.0 if softcap is None else softcap, dtype=dtype)
            return compiled(op, sink is not None, softcap is not None)(z, s, c)

        fn.__name__ = fn.__qualname__ = op
        return fn

    return {op: make(op) for op in OPS}


def jax_sink_concat() -> Implementation:
    import jax

    from .frameworks import jax_jit

    classes: dict[tuple[str, str], Declared] = dict(jax_jit("cpu").classes)  # same XLA kernels
    return Implementation(
        "JAX sink concat (CPU)", "jax", jax_sink_functions(), jax.__version__, classes=classes
    )


# ------------------------------------------------------------------------ flex_attention


def _flex_with_cap(softcap: float | None) -> Any:
    """flex_attention in SDPA's calling convention (q, k, v, attn_mask, scale) with a soft-cap
    score_mod; the boolean mask (False = masked) applied after the cap, as model code does
    (a mask inside the capped score would become −c)."""
    import torch
    from torch.nn.attention.flex_attention import flex_attention

    def flex(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: float | None = None) -> Any:
        keep = None if attn_mask is None else attn_mask.reshape(attn_mask.shape[0], -1)

        def score_mod(score: Any, b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
            if softcap is not None:
                score = torch.tanh(score / softcap) * softcap
            if keep is not None:
                score = torch.where(keep[b, kv_idx], score, -float("inf"))
            return score

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "called without torch.compile()": eager on CPU
            return flex_attention(q, k, v, score_mod=score_mod, scale=scale)

    return flex


def flex_softcap_functions(device: str = "cpu") -> dict[str, Any]:
    """softmax through flex_attention with the cap as its score_mod (V = I), on ``device``."""
    from symsoftmax.testing.attention import attention_as_softmax

    @functools.cache
    def candidate(softcap: float | None) -> Any:
        flex = _flex_with_cap(softcap)
        return attention_as_softmax(flex, framework="torch", mask="boolean", device=device)

    def softmax(z: Any, softcap: float | None = None) -> Any:
        return candidate(softcap)(z)

    return {"softmax": softmax}


def flex_attention_softcap(device: str = "cpu") -> Implementation:
    try:
        import torch
        from torch.nn.attention import flex_attention  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"no torch.nn.attention.flex_attention here ({exc})") from None
    functions = flex_softcap_functions(device)
    unsupported: dict[tuple[str, str], str] = {}
    for fmt in FORMATS:
        probe = np.array([0.0, 1.0, -np.inf], dtype=get_format(fmt).numpy_dtype)
        try:
            functions["softmax"](probe, softcap=50.0)
        except Exception as exc:  # no CPU kernel for this format
            unsupported[("softmax", fmt)] = str(exc).strip().splitlines()[0][:200]
    if len(unsupported) == len(FORMATS):
        raise Unavailable(
            f"flex_attention does not run here: {unsupported[('softmax', 'float32')]}"
        )
    return Implementation(
        f"PyTorch flex_attention soft-cap ({device.upper()}, eager)",
        "numpy",
        functions,
        torch.__version__,
        unsupported,
    )


SINK_LOADERS = {
    "torch-sink-concat": torch_sink_concat,
    "jax-sink-concat": jax_sink_concat,
    "flex-softcap": flex_attention_softcap,
}
"""The loaders by survey name, for scripts/accuracy_survey.py's LOADERS."""
