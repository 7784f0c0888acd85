"""PyTorch's scaled_dot_product_attention as a softmax, one implementation per SDPA backend.

The kernel is wrapped by :func:`symsoftmax.testing.attention_as_softmax` (the exact
construction of docs/attention.md: scores q·k_j = z_j, one-hot values, −inf through the
boolean mask), with the backend pinned by ``torch.nn.attention.sdpa_kernel`` so PyTorch cannot
fall back to another one. A backend that cannot run a format on the device (e.g. the
efficient and cuDNN kernels on the CPU) is found by one call on a two-entry row at load time
and recorded as unsupported with PyTorch's error.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.testing.attention import attention_as_softmax
from symsoftmax.validation.componentwise import KernelClass

from .model import Declared, Implementation, declare

BACKENDS = {  # the survey's name → torch.nn.attention.SDPBackend member
    "math": "MATH",
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
}
FORMATS = ("float64", "float32", "float16", "bfloat16")


def sdpa_function(backend: str) -> Any:
    """F.scaled_dot_product_attention restricted to one backend (SDPA's calling convention)."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    member = getattr(SDPBackend, BACKENDS[backend])

    def sdpa(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: float | None = None) -> Any:
        with sdpa_kernel(member):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)

    sdpa.__qualname__ = f"scaled_dot_product_attention[{backend}]"
    return sdpa


def sdpa_softmax(backend: str, device: str = "cpu") -> Implementation:
    """SDPA under ``backend`` on ``device`` as a softmax candidate (NumPy rows in and out)."""
    import torch

    softmax = attention_as_softmax(sdpa_function(backend), framework="torch", device=device)
    unsupported = {}
    for fmt in FORMATS:
        probe = np.array([0.0, 1.0], dtype=get_format(fmt).numpy_dtype)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyTorch warns why each backend is not viable
                softmax(probe)
        except Exception as exc:  # the backend has no kernel for this format on this device
            unsupported[("softmax", fmt)] = str(exc).strip().splitlines()[0]
    name = f"PyTorch SDPA {backend} ({device.upper()})"
    classes: dict[tuple[str, str], Declared] = {}
    if backend == "flash" and device == "cpu":
        why = (
            "PyTorch's CPU flash-attention kernel flushes subnormal probabilities to zero "
            "(e.g. e^−88.18 → 0 in float32)"
        )
        classes = declare(("softmax",), FORMATS, KernelClass(), why, ftz=True)
    return Implementation(
        name, "numpy", {"softmax": softmax}, torch.__version__, unsupported, classes=classes
    )
