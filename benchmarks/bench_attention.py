#!/usr/bin/env python
"""Cost of the attention adapter (symsoftmax.testing.attention_as_softmax) on long rows.

A row of K logits takes ⌈K/D⌉ kernel calls (D = head_dim), each over all K keys with a K×D
value matrix, so a row costs about K² reads whatever D is (docs/attention.md). For batches of
rows of the standard suite's long lengths (4096 ×4, 8192 ×3, 32768 ×3, float32) this prints the
seconds of one adapter call with: a kernel that returns zeros (the adapter's own work), the
NumPy float32 attention of docs/attention.md, and PyTorch's SDPA math backend at D = 64 and 256
when torch is installed. The baseline measured in the same run is a float32 NumPy softmax of the
same rows; the ratio is adapter call / baseline. Each case is run ``--repeat`` times, the
fastest kept.

    python benchmarks/bench_attention.py               # K = 4096, 8192, 32768
    python benchmarks/bench_attention.py --k 4096      # one length
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from symsoftmax.testing import attention_as_softmax

ROWS = {4096: 4, 8192: 3, 32768: 3}  # the standard suite's long rows and their counts


def zeros(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    return np.zeros(q.shape, q.dtype)


def numpy_attention(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    s = (q.astype(np.float32) @ np.swapaxes(k.astype(np.float32), -1, -2)) * scale
    if attn_mask is not None:
        s = np.where(attn_mask, s, -np.inf)
    with np.errstate(invalid="ignore"):
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        return ((p @ v.astype(np.float32)) / p.sum(axis=-1, keepdims=True)).astype(q.dtype)


def sdpa_math(q: Any, k: Any, v: Any, attn_mask: Any = None, scale: Any = None) -> Any:
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, scale=scale
        )


def softmax(z: Any) -> Any:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def best_of(repeat: int, fn: Callable[[Any], Any], z: Any) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(z)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, choices=sorted(ROWS), action="append")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    cases: list[tuple[str, Callable[..., Any], str, int]] = [
        ("zeros (adapter only)", zeros, "numpy", 64),
        ("numpy attention", numpy_attention, "numpy", 64),
    ]
    if importlib.util.find_spec("torch") is not None:
        cases += [("torch SDPA math", sdpa_math, "torch", 64)]
        cases += [("torch SDPA math", sdpa_math, "torch", 256)]
    rng = np.random.default_rng(0)
    print(f"{'K':>6} {'rows':>4} {'kernel':22} {'D':>4} {'calls':>5} {'seconds':>8} {'ratio':>9}")
    for k in args.k or sorted(ROWS):
        z = rng.normal(0, 4, (ROWS[k], k)).astype(np.float32)
        baseline = best_of(args.repeat, softmax, z)
        base = "numpy softmax (base)"
        print(f"{k:6d} {len(z):4d} {base:22} {'':>4} {1:5d} {baseline:8.4f} {1:9.0f}")
        for name, kernel, framework, head_dim in cases:
            adapted = attention_as_softmax(kernel, framework=framework, head_dim=head_dim)
            seconds = best_of(args.repeat, adapted, z)
            calls = -(-k // head_dim)
            print(
                f"{k:6d} {len(z):4d} {name:22} {head_dim:4d} {calls:5d} {seconds:8.3f} "
                f"{seconds / baseline:9.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
