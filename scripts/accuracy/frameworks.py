"""NumPy, SciPy, PyTorch and JAX implementations of every op the survey covers.

NumPy is written twice — naively (no max shift) and max-shifted — with the derived ops from
:mod:`.formulas`; SciPy provides softmax, log_softmax and logsumexp (scipy.special) and the
cross-entropy is composed from them (SciPy has none); PyTorch and JAX provide every op through
their own functions and automatic differentiation. PyTorch and JAX take a ``device`` ("cpu" or
"cuda"): the GPU section (:mod:`.gpu`) runs the same functions on a CUDA device, and the tests
run that path on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.validation.componentwise import KernelClass

from .formulas import derived_ops
from .model import Declared, Implementation, declare

NARROW = ("float16", "bfloat16")
FORWARD = ("softmax", "log_softmax", "logsumexp")


def _in_storage(fmt: str, why: str) -> dict[tuple[str, str], Declared]:
    return declare(FORWARD, (fmt,), KernelClass(state=fmt), why)


NARROW_STATE: dict[tuple[str, str], Declared] = {
    key: value
    for fmt in NARROW
    for key, value in _in_storage(
        fmt,
        f"NumPy evaluates exp, the sum and the division of a {fmt} array in {fmt} "
        "(its ufuncs compute in the operands' type), so the state format is the storage one",
    ).items()
}
"""NumPy (and SciPy, which calls NumPy) compute half-precision data in half precision."""


def numpy_naive() -> Implementation:
    """e^z / Σe^z with no max shift: overflows for large logits (the classic mistake)."""

    def softmax(z: Any) -> Any:
        e = np.exp(z)
        return e / e.sum()

    def log_softmax(z: Any) -> Any:
        return z - np.log(np.exp(z).sum())

    def logsumexp(z: Any) -> Any:
        return np.log(np.exp(z).sum())

    fns = {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}
    return Implementation(
        "NumPy naive", "numpy", fns | derived_ops(softmax, log_softmax), np.__version__
    )


def numpy_shifted() -> Implementation:
    """The max-shifted algorithm, every step in the input's precision."""

    def softmax(z: Any) -> Any:
        e = np.exp(z - z.max())
        return e / e.sum()

    def log_softmax(z: Any) -> Any:
        t = z - z.max()
        return t - np.log(np.exp(t).sum())

    def logsumexp(z: Any) -> Any:
        m = z.max()
        return m + np.log(np.exp(z - m).sum())

    fns = {"softmax": softmax, "log_softmax": log_softmax, "logsumexp": logsumexp}
    return Implementation(
        "NumPy max-shifted",
        "numpy",
        fns | derived_ops(softmax, log_softmax),
        np.__version__,
        classes=NARROW_STATE,
    )


def scipy_special() -> Implementation:
    """scipy.special's softmax, log_softmax and logsumexp; cross-entropy composed from them."""
    import scipy
    import scipy.special as sp

    def logsumexp(z: Any) -> Any:
        return np.asarray(sp.logsumexp(z)).astype(z.dtype)  # 0-d; keep the input's dtype

    fns = {"softmax": sp.softmax, "log_softmax": sp.log_softmax, "logsumexp": logsumexp}
    fns["cross_entropy"] = derived_ops(sp.softmax, sp.log_softmax)["cross_entropy"]
    unsupported = {}
    for op in ("softmax", "log_softmax", "logsumexp"):
        for fmt in ("float16", "bfloat16"):
            problem = _refusal(fns[op], fmt)
            if problem:
                unsupported[(op, fmt)] = problem
    return Implementation(
        "SciPy (scipy.special)",
        "numpy",
        fns,
        scipy.__version__,
        unsupported,
        classes=NARROW_STATE,
    )


def _refusal(fn: Any, fmt: str) -> str:
    """The library's message if ``fn`` refuses a two-entry row of ``fmt`` ("" if it runs)."""
    try:
        fn(np.array([0.0, 1.0], dtype=get_format(fmt).numpy_dtype))
    except Exception as exc:  # e.g. a dtype the library's array API layer does not accept
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return ""


def torch_functions(device: str = "cpu", compile_backend: str | None = None) -> dict[str, Any]:
    """PyTorch's softmax, log_softmax, logsumexp, cross_entropy (probability targets) and, by
    autograd, the VJPs and (eager only) the Jacobian (torch.func.jacrev), run on ``device``.

    With ``compile_backend`` (e.g. "inductor"), the forward functions go through torch.compile
    (dynamic shapes) and the VJPs differentiate the compiled functions; torch.func transforms of
    compiled functions are not supported, so that variant has no Jacobian.
    """
    import torch
    import torch.nn.functional as F

    forward: dict[str, Any] = {
        "softmax": lambda z: torch.softmax(z, dim=-1),
        "log_softmax": lambda z: torch.log_softmax(z, dim=-1),
        "logsumexp": lambda z: torch.logsumexp(z, dim=-1),
        "cross_entropy": lambda z, y: F.cross_entropy(z[None], y[None], reduction="sum"),
    }
    if compile_backend is not None:
        forward = {
            op: torch.compile(fn, backend=compile_backend, dynamic=True)
            for op, fn in forward.items()
        }

    def vjp_of(op: str) -> Any:
        def vjp(z: Any, g: Any) -> Any:
            z = z.to(device).detach().requires_grad_(True)
            (dz,) = torch.autograd.grad(forward[op](z), z, g.to(device))
            return dz

        return vjp

    def cross_entropy(z: Any, y: Any) -> tuple[Any, Any]:
        z = z.to(device).detach().requires_grad_(True)
        loss = forward["cross_entropy"](z, y.to(device))
        (grad,) = torch.autograd.grad(loss, z)
        return loss.detach(), grad

    def on_device(op: str) -> Any:
        return lambda z: forward[op](z.to(device))

    fns = {op: on_device(op) for op in ("softmax", "log_softmax", "logsumexp")}
    fns |= {"softmax_vjp": vjp_of("softmax"), "log_softmax_vjp": vjp_of("log_softmax")}
    fns["cross_entropy"] = cross_entropy
    if compile_backend is None:
        jacrev = torch.func.jacrev(forward["softmax"])
        fns["jacobian"] = lambda z: jacrev(z.to(device))
    return fns


TORCH_CPU_CLASSES = {
    key: value
    for fmt in NARROW
    for key, value in declare(
        ("log_softmax", "logsumexp"),
        (fmt,),
        KernelClass(state=fmt),
        f"the CPU kernel rounds Σe^(z−m) to {fmt} before its log: [0, −10.8046875] gives "
        f"logsumexp 0 = log(fl(1 + 2.03e−5)), exact 2.03e−5",
    ).items()
}
"""PyTorch's CPU log_softmax and logsumexp of half-precision data."""


def torch_eager(device: str = "cpu") -> Implementation:
    import torch

    return Implementation(
        f"PyTorch ({device.upper()})",
        "torch",
        torch_functions(device),
        torch.__version__,
        classes=TORCH_CPU_CLASSES if device == "cpu" else {},
    )


def jax_functions(device: str = "cpu") -> dict[str, Any]:
    """JAX (jit-compiled, x64 enabled): jax.nn's softmax, log_softmax and logsumexp, the VJPs by
    jax.vjp, the Jacobian by jax.jacrev, and the cross-entropy −Σ y·log_softmax(z) (optax-free)
    with its gradient by jax.value_and_grad; the inputs are placed on ``device`` (JAX computes
    where the data is)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    where = jax.devices("gpu" if device == "cuda" else device)[0]

    def vjp_of(f: Any) -> Any:
        return lambda z, g: jax.vjp(f, z)[1](g)[0]

    def loss(z: Any, y: Any) -> Any:
        return -jnp.sum(y * jax.nn.log_softmax(z))

    jitted = {
        "softmax": jax.jit(jax.nn.softmax),
        "log_softmax": jax.jit(jax.nn.log_softmax),
        "logsumexp": jax.jit(jax.nn.logsumexp),
        "softmax_vjp": jax.jit(vjp_of(jax.nn.softmax)),
        "log_softmax_vjp": jax.jit(vjp_of(jax.nn.log_softmax)),
        "jacobian": jax.jit(jax.jacrev(jax.nn.softmax)),
        "cross_entropy": jax.jit(jax.value_and_grad(loss)),
    }

    def placed(fn: Any) -> Any:
        return lambda *args: fn(*(jax.device_put(a, where) for a in args))

    return {op: placed(fn) for op, fn in jitted.items()}


def jax_jit(device: str = "cpu") -> Implementation:
    import jax

    classes: dict[tuple[str, str], Declared] = {}
    if device == "cpu":
        flush = "XLA's CPU backend flushes subnormal results (and inputs) to zero"
        classes |= declare(FORWARD, ("float64", "float32"), KernelClass(), flush, ftz=True)
        for fmt in NARROW:
            why = f"{flush}; and it evaluates {fmt} data in {fmt} (exp, sum, log)"
            classes |= declare(FORWARD, (fmt,), KernelClass(state=fmt), why, ftz=True)
    return Implementation(
        f"JAX ({device.upper()})", "jax", jax_functions(device), jax.__version__, classes=classes
    )
