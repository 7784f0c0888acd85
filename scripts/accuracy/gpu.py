"""The GPU section of the survey: what runs on a CUDA device, written for any ``device``.

PyTorch eager (every op), torch.compile (inductor by default; the forward functions compiled,
the VJPs differentiating them), scaled_dot_product_attention under each backend (math,
efficient, flash, cuDNN) through the attention adapter, the Triton tutorial's fused softmax,
JAX, and the sink and soft-cap formulations of :mod:`.sinks` (PyTorch's
concatenate-softmax-drop sink, flex_attention with a soft-cap score_mod).
``python scripts/accuracy_survey.py --gpu`` runs them on "cuda"; the tests run the same
loaders with device "cpu" (and the "eager" compile backend, which traces without generating
code) so the path is exercised without a GPU. Triton needs a GPU, or TRITON_INTERPRET=1 (its
interpreter) to run on the CPU; it is listed unavailable otherwise.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from .attention import BACKENDS, sdpa_softmax
from .frameworks import jax_jit, torch_eager, torch_functions
from .model import Implementation, Unavailable
from .sinks import flex_attention_softcap, torch_sink_concat


def torch_compiled(device: str, backend: str) -> Implementation:
    import torch

    name = f"torch.compile {backend} ({device.upper()})"
    return Implementation(name, "torch", torch_functions(device, backend), torch.__version__)


def triton_fused(device: str) -> Implementation:
    if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise Unavailable("Triton runs on a GPU (or on the CPU with TRITON_INTERPRET=1)")
    import triton

    from . import triton_softmax

    def softmax(z: Any) -> Any:
        return triton_softmax.softmax(z.to(device))

    name = f"Triton fused softmax ({device.upper()})"
    return Implementation(name, "torch", {"softmax": softmax}, triton.__version__)


def gpu_loaders(
    device: str = "cuda", compile_backend: str = "inductor"
) -> dict[str, Callable[[], Implementation]]:
    """The GPU section's implementations on ``device``, by command-line name."""
    loaders: dict[str, Callable[[], Implementation]] = {
        "torch-gpu": lambda: torch_eager(device),
        "torch-compile": lambda: torch_compiled(device, compile_backend),
    }
    for backend in BACKENDS:
        loaders[f"sdpa-{backend}-gpu"] = functools.partial(sdpa_softmax, backend, device)
    loaders["triton"] = lambda: triton_fused(device)
    loaders["jax-gpu"] = lambda: jax_jit(device)
    # sinks and soft-caps (issue 21): the concatenate-softmax-drop sink, flex_attention's cap
    loaders["torch-sink-concat-gpu"] = lambda: torch_sink_concat(device)
    loaders["flex-softcap-gpu"] = lambda: flex_attention_softcap(device)
    return loaders
