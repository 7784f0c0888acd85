"""Array conversion between NumPy and the framework a candidate function is written in.

A candidate always receives arrays of the target format and returns them; the validator works
on NumPy. ``numpy`` passes arrays through; ``torch`` converts through DLPack (``torch.from_dlpack``
/ ``numpy.from_dlpack``, zero-copy) and bfloat16 — which DLPack exchange with ml_dtypes does not
cover — through a 16-bit integer view of the same bits; ``jax`` converts through NumPy
(``jax.numpy.asarray`` / ``numpy.asarray``), JAX's own bfloat16 being ml_dtypes'. The float8
formats go to torch like bfloat16, through an 8-bit integer view (torch.float8_e4m3fn and
torch.float8_e5m2 have the same bit layouts as ml_dtypes').
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError

__all__ = ["FRAMEWORKS", "Adapter", "get_adapter"]

FRAMEWORKS = ("numpy", "torch", "jax")
# Formats DLPack does not carry between ml_dtypes and torch: (integer view, torch dtype name)
_BIT_VIEWS = {
    "bfloat16": (np.int16, "bfloat16"),
    "float8_e4m3fn": (np.uint8, "float8_e4m3fn"),
    "float8_e5m2": (np.uint8, "float8_e5m2"),
}
_INT_VIEWS = {np.int16: "int16", np.uint8: "uint8"}


@dataclass(frozen=True)
class Adapter:
    """How to hand an array to a candidate and take its result back."""

    name: str

    def to_framework(self, array: npt.NDArray[Any]) -> Any:
        if self.name == "numpy":
            return array
        if self.name == "torch":
            torch = _module("torch")
            if array.dtype.name in _BIT_VIEWS:
                integer, name = _BIT_VIEWS[array.dtype.name]
                bits = np.ascontiguousarray(array).view(integer)
                return torch.from_numpy(bits.copy()).view(getattr(torch, name))
            return torch.from_dlpack(np.ascontiguousarray(array))
        jnp = _module("jax.numpy")
        return jnp.asarray(array)

    def to_numpy(self, value: Any) -> npt.NDArray[Any]:
        """The candidate's result as a NumPy array (its dtype kept, not converted)."""
        if self.name == "torch" and type(value).__module__.startswith("torch"):
            torch = _module("torch")
            tensor = value.detach().cpu().resolve_conj().resolve_neg().contiguous()
            for format_name, (integer, name) in _BIT_VIEWS.items():
                if tensor.dtype == getattr(torch, name, None):
                    import ml_dtypes

                    bits = tensor.view(getattr(torch, _INT_VIEWS[integer])).numpy()
                    return bits.view(getattr(ml_dtypes, format_name))
            return np.from_dlpack(tensor)
        return np.asarray(value)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        top = name.split(".")[0]
        raise InputError(f"framework {top!r} is not installed (pip install {top})") from None


def get_adapter(framework: str) -> Adapter:
    """The adapter for ``numpy``, ``torch`` or ``jax`` (InputError if unknown or not installed)."""
    if framework not in FRAMEWORKS:
        raise InputError(
            f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}"
        )
    if framework != "numpy":
        _module("torch" if framework == "torch" else "jax.numpy")
    return Adapter(framework)
