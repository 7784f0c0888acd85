"""Array conversion between NumPy and the framework a candidate function is written in.

A candidate always receives arrays of the target format and returns them; the validator works
on NumPy. ``numpy`` passes arrays through; ``torch`` converts through DLPack (``torch.from_dlpack``
/ ``numpy.from_dlpack``, zero-copy) and bfloat16 — which DLPack exchange with ml_dtypes does not
cover — through a 16-bit integer view of the same bits; ``jax`` converts through NumPy
(``jax.numpy.asarray`` / ``numpy.asarray``), JAX's own bfloat16 being ml_dtypes'. The float8
formats go to torch like bfloat16, through an 8-bit integer view (torch.float8_e4m3fn and
torch.float8_e5m2 have the same bit layouts as ml_dtypes').

``tensorflow`` converts through NumPy (``tf.convert_to_tensor`` / ``Tensor.numpy``): its
bfloat16 and float8 types are ml_dtypes'. ``paddle`` refuses ml_dtypes' arrays, so bfloat16
and float8 go through the integer view and ``Tensor.view`` (paddle.bfloat16,
paddle.float8_e4m3fn, paddle.float8_e5m2: the same bit layouts). ``mlx`` (``mlx.core``; on
Linux it needs ``pip install 'mlx[cpu]'``) converts with an explicit dtype, because
``mx.array`` of a float64 array makes float32, and returns bfloat16 through the integer view
(MLX arrays of bfloat16 have no NumPy buffer format); MLX has no float8 type.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError

__all__ = ["FRAMEWORKS", "Adapter", "get_adapter"]

FRAMEWORKS = ("numpy", "torch", "jax", "tensorflow", "paddle", "mlx")
# the module each framework's arrays come from, and how to install it when it is missing
_MODULES = {
    "torch": ("torch", "pip install torch"),
    "jax": ("jax.numpy", "pip install jax"),
    "tensorflow": ("tensorflow", "pip install tensorflow"),
    "paddle": ("paddle", "pip install paddlepaddle"),
    "mlx": ("mlx.core", "pip install 'mlx[cpu]' (on Linux MLX needs the cpu extra)"),
}
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
        return _TO_FRAMEWORK[self.name](array)

    def to_numpy(self, value: Any) -> npt.NDArray[Any]:
        """The candidate's result as a NumPy array (its dtype kept, not converted)."""
        module = type(value).__module__
        if self.name != "numpy" and module.startswith(_MODULES[self.name][0].split(".")[0]):
            return _TO_NUMPY[self.name](value)
        return np.asarray(value)


def _torch_in(array: npt.NDArray[Any]) -> Any:
    torch = _module("torch")
    if array.dtype.name in _BIT_VIEWS:
        integer, name = _BIT_VIEWS[array.dtype.name]
        bits = np.ascontiguousarray(array).view(integer)
        return torch.from_numpy(bits.copy()).view(getattr(torch, name))
    return torch.from_dlpack(np.ascontiguousarray(array))


def _torch_out(value: Any) -> npt.NDArray[Any]:
    torch = _module("torch")
    tensor = value.detach().cpu().resolve_conj().resolve_neg().contiguous()
    for format_name, (integer, name) in _BIT_VIEWS.items():
        if tensor.dtype == getattr(torch, name, None):
            bits = tensor.view(getattr(torch, _INT_VIEWS[integer])).numpy()
            return _bits_as(bits, format_name)
    return np.from_dlpack(tensor)


def _jax_in(array: npt.NDArray[Any]) -> Any:
    return _module("jax.numpy").asarray(array)


def _tensorflow_in(array: npt.NDArray[Any]) -> Any:
    return _module("tensorflow").convert_to_tensor(np.ascontiguousarray(array))


def _tensorflow_out(value: Any) -> npt.NDArray[Any]:
    return np.asarray(value.numpy())


def _paddle_in(array: npt.NDArray[Any]) -> Any:
    paddle = _module("paddle")
    name = array.dtype.name
    if name not in _BIT_VIEWS:
        return paddle.to_tensor(np.ascontiguousarray(array))
    # to_tensor of uint16 already gives bfloat16 (Paddle's legacy spelling); view the others
    tensor = paddle.to_tensor(_unsigned_bits(array))
    return tensor if tensor.dtype == getattr(paddle, name) else tensor.view(getattr(paddle, name))


def _paddle_out(value: Any) -> npt.NDArray[Any]:
    paddle = _module("paddle")
    for name in _BIT_VIEWS:
        if value.dtype == getattr(paddle, name, None):
            unsigned = "uint16" if name == "bfloat16" else "uint8"
            return _bits_as(value.view(getattr(paddle, unsigned)).numpy(), name)
    return np.asarray(value.numpy())


def _mlx_in(array: npt.NDArray[Any]) -> Any:
    mx = _module("mlx.core")
    name = array.dtype.name
    if name.startswith("float8"):
        raise InputError(f"MLX has no {name} type (framework 'mlx')")
    if name == "bfloat16":
        return mx.array(_unsigned_bits(array)).view(mx.bfloat16)
    dtype = getattr(mx, name, None)
    # mx.array(a float64 array) makes float32: the dtype is given explicitly
    return mx.array(array, dtype=dtype) if dtype is not None else mx.array(array)


def _mlx_out(value: Any) -> npt.NDArray[Any]:
    mx = _module("mlx.core")
    if value.dtype == mx.bfloat16:
        return _bits_as(np.array(value.view(mx.uint16)), "bfloat16")
    return np.array(value)


def _unsigned_bits(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The bit patterns of a bfloat16 or float8 array as unsigned integers of the same width."""
    unsigned = np.uint16 if array.dtype.itemsize == 2 else np.uint8
    return np.ascontiguousarray(array).view(unsigned).copy()


def _bits_as(bits: npt.NDArray[Any], format_name: str) -> npt.NDArray[Any]:
    """Integer bit patterns read as the ml_dtypes format ``format_name``."""
    import ml_dtypes

    return np.asarray(bits).view(getattr(ml_dtypes, format_name))


_TO_FRAMEWORK: dict[str, Callable[[npt.NDArray[Any]], Any]] = {
    "torch": _torch_in,
    "jax": _jax_in,
    "tensorflow": _tensorflow_in,
    "paddle": _paddle_in,
    "mlx": _mlx_in,
}
_TO_NUMPY: dict[str, Callable[[Any], npt.NDArray[Any]]] = {
    "torch": _torch_out,
    "jax": np.asarray,
    "tensorflow": _tensorflow_out,
    "paddle": _paddle_out,
    "mlx": _mlx_out,
}


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        top = name.split(".")[0]
        install = next((how for module, how in _MODULES.values() if module == name), "")
        raise InputError(
            f"framework {top!r} is not installed ({install or f'pip install {top}'})"
        ) from None


def get_adapter(framework: str) -> Adapter:
    """The adapter for one of :data:`FRAMEWORKS` (InputError if unknown or not installed)."""
    if framework not in FRAMEWORKS:
        raise InputError(
            f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}"
        )
    if framework != "numpy":
        _module(_MODULES[framework][0])
    return Adapter(framework)
