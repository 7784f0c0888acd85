"""The tensorflow, paddle and mlx adapters (symsoftmax/validation/adapters.py).

Each installed framework: every bit pattern of bfloat16 and the float8 formats goes in as the
framework's own type and comes back unchanged (Paddle and MLX refuse ml_dtypes' arrays: the
integer view), float64 stays float64 (``mx.array`` of a float64 array would make float32), and
a softmax written in the framework is judged through the adapter: a correct one passes, an
unshifted one fails. A framework that is not installed is skipped with the reason.
"""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.validation import validate
from symsoftmax.validation.adapters import FRAMEWORKS, Adapter, get_adapter
from symsoftmax.validation.sources import custom_vectors

MODULES = {"tensorflow": "tensorflow", "paddle": "paddle", "mlx": "mlx.core"}
BIT_FORMATS = ("bfloat16", "float8_e4m3fn", "float8_e5m2")
NO_TYPE = {("mlx", "float8_e4m3fn"), ("mlx", "float8_e5m2")}  # MLX has no float8 type


@pytest.fixture(autouse=True, scope="module")
def paddle_before_tensorflow():
    """paddlepaddle 3.3 crashes the process (SIGSEGV) when imported after tensorflow 2.21."""
    if importlib.util.find_spec("paddle") is not None:
        importlib.import_module("paddle")


def _framework(name: str):
    return pytest.importorskip(MODULES[name], reason=f"{name} is not installed")


@pytest.mark.parametrize("dtype", BIT_FORMATS)
@pytest.mark.parametrize("framework", list(MODULES))
def test_bit_view_formats_round_trip(framework, dtype):
    _framework(framework)
    fmt = get_format(dtype)
    width = np.uint8 if fmt.numpy_dtype.itemsize == 1 else np.uint16
    patterns = np.arange(np.iinfo(width).max + 1, dtype=np.uint64).astype(width)
    adapter = get_adapter(framework)
    if (framework, dtype) in NO_TYPE:
        with pytest.raises(InputError, match=f"no {dtype} type"):
            adapter.to_framework(patterns.view(fmt.numpy_dtype))
        return
    value = adapter.to_framework(patterns.view(fmt.numpy_dtype))
    assert _dtype_name(value) == dtype
    back = adapter.to_numpy(value)
    assert back.dtype == fmt.numpy_dtype
    assert np.array_equal(back.view(width), patterns)


@pytest.mark.parametrize("framework", list(MODULES))
def test_float64_stays_float64(framework):
    module = _framework(framework)
    row = 1.0 + np.arange(4) * 2.0**-40  # distinct in float64, equal in float32
    adapter = get_adapter(framework)
    value = adapter.to_framework(row)
    assert value.dtype == module.float64
    back = adapter.to_numpy(value)
    assert back.dtype == np.float64
    assert np.array_equal(back, row)


def _dtype_name(value) -> str:
    """``bfloat16`` of tf's "<dtype: 'bfloat16'>", "paddle.bfloat16" and "mlx.core.bfloat16"."""
    text = str(value.dtype)
    return text.split("'")[1] if "'" in text else text.rsplit(".", 1)[-1]


def _softmaxes(framework: str):
    """The textbook max-shifted softmax and the unshifted one, written in ``framework`` (its
    own exp, max and sum: the adapter is under test, not the library's softmax)."""
    if framework == "tensorflow":
        tf = _framework(framework)
        exp, top, total = tf.exp, tf.reduce_max, tf.reduce_sum
    elif framework == "paddle":
        paddle = _framework(framework)
        exp, top, total = paddle.exp, paddle.max, paddle.sum
    else:
        mx = _framework(framework)
        exp, top, total = mx.exp, mx.max, mx.sum

    def shifted(z):
        e = exp(z - top(z))
        return e / total(e)

    return shifted, lambda z: exp(z) / total(exp(z))


@pytest.mark.parametrize("framework", list(MODULES))
def test_softmax_judged_through_the_adapter(framework):
    good, unshifted = _softmaxes(framework)
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0, 3.0], [1000.0, 999.0, -5.0]])
    report = validate(good, vectors=vf, framework=framework)
    assert report.passed, report.summary_line()
    assert not validate(unshifted, vectors=vf, framework=framework).passed


def test_missing_mlx_names_the_cpu_extra(monkeypatch):
    real_import = builtins.__import__

    def no_mlx(name, *args, **kwargs):
        if name.startswith("mlx"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlx)
    monkeypatch.delitem(importlib.sys.modules, "mlx.core", raising=False)
    monkeypatch.delitem(importlib.sys.modules, "mlx", raising=False)
    with pytest.raises(InputError, match=r"framework 'mlx' is not installed .*mlx\[cpu\]"):
        get_adapter("mlx")


def test_unknown_framework_lists_the_new_ones():
    with pytest.raises(InputError) as info:
        get_adapter("keras")
    assert str(info.value).count("\n") == 0
    for name in ("tensorflow", "paddle", "mlx"):
        assert name in FRAMEWORKS
        assert name in str(info.value)


def test_results_of_another_library_pass_through_numpy():
    """A candidate that answers in NumPy under a framework adapter is read as NumPy."""
    out = Adapter("paddle").to_numpy(np.array([0.5, 0.5], dtype=np.float32))
    assert out.dtype == np.float32
