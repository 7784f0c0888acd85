"""symsoftmax.reference on empty rows and on tuples of axes (docs/reference.md, "Inputs").

Empty rows follow SciPy, ONNX and onnxruntime: softmax/log_softmax (and every derivative) of an
empty row is empty, logsumexp is −inf (log of the empty sum), cross_entropy is 0 (−Σ over no
entries). A tuple ``axis`` is the op over the joint axes, as ``scipy.special.softmax``,
``log_softmax`` and ``logsumexp`` do; checked against SciPy and against flattening by hand.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.special
from bitwise import same_bits

import symsoftmax.reference as ref
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.rounding import round_array

FORMATS = ["float64", "float32", "float16", "bfloat16"]
ROW_OPS = ("softmax", "log_softmax", "jacobian")
PAIRED_OPS = ("softmax_vjp", "log_softmax_vjp", "cross_entropy", "cross_entropy_grad")


def _inputs(op: str, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """x alone, or x with a second input of its shape (cotangent or a target)."""
    if op in PAIRED_OPS:
        return x, np.full(x.shape, 0.25)
    return (x,)


# ---- empty rows ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_row_of_every_op(fmt: str) -> None:
    empty: list[float] = []
    assert same_bits(ref.logsumexp(empty, fmt), np.float64(-math.inf))
    assert same_bits(ref.softmax(empty, fmt), np.zeros(0))
    assert same_bits(ref.log_softmax(empty, fmt), np.zeros(0))
    assert same_bits(ref.jacobian(empty, fmt), np.zeros((0, 0)))
    assert same_bits(ref.softmax_vjp(empty, empty, fmt), np.zeros(0))
    assert same_bits(ref.log_softmax_vjp(empty, empty, fmt), np.zeros(0))
    assert same_bits(ref.cross_entropy(empty, empty, fmt), np.float64(0.0))  # +0, the empty sum
    assert same_bits(ref.cross_entropy_grad(empty, empty, fmt), np.zeros(0))
    assert ref.softmax(empty, fmt).dtype == ref.softmax([1.0], fmt).dtype


def test_empty_row_logsumexp_is_minus_inf() -> None:
    # log of the empty sum 0: -inf for one empty row and for each row of an empty batch
    assert same_bits(ref.logsumexp([], "float64"), np.float64(-math.inf))
    batch = np.zeros((3, 0))
    assert same_bits(ref.logsumexp(batch, "float64"), np.full(3, -math.inf))


def test_empty_rows_with_temperature() -> None:
    assert ref.logsumexp([], "float32", temperature=2) == -math.inf
    assert ref.softmax(np.zeros((2, 0)), "float32", temperature="0.5").shape == (2, 0)


@pytest.mark.parametrize(
    ("shape", "axis", "row_shape", "reduced_shape", "jacobian_shape"),
    [
        ((3, 0), -1, (3, 0), (3,), (3, 0, 0)),  # three empty rows
        ((0, 3), -1, (0, 3), (0,), (0, 3, 3)),  # no rows (empty batch)
        ((0, 3), 0, (0, 3), (3,), (3, 0, 0)),  # three empty rows along axis 0
        ((2, 0, 4), 1, (2, 0, 4), (2, 4), (2, 4, 0, 0)),
        ((2, 0, 4), (0, 2), (2, 0, 4), (0,), (0, 8, 8)),  # empty batch, K = 8
        ((2, 0, 4), (1, 2), (2, 0, 4), (2,), (2, 0, 0)),  # joint K = 0
        ((0,), 0, (0,), (), (0, 0)),
    ],
)
def test_empty_shapes(
    shape: tuple[int, ...],
    axis: int | tuple[int, ...],
    row_shape: tuple[int, ...],
    reduced_shape: tuple[int, ...],
    jacobian_shape: tuple[int, ...],
) -> None:
    x = np.zeros(shape)
    for op in ("softmax", "log_softmax", "softmax_vjp", "log_softmax_vjp", "cross_entropy_grad"):
        assert ref.evaluate(op, *_inputs(op, x), dtype="float32", axis=axis).rounded.shape == (
            row_shape
        ), op
    assert ref.jacobian(x, "float32", axis=axis).shape == jacobian_shape
    lse = ref.logsumexp(x, "float32", axis=axis)
    ce = ref.cross_entropy(x, x, "float32", axis=axis)
    assert lse.shape == ce.shape == reduced_shape
    k = math.prod(shape[a] for a in np.atleast_1d(axis))
    # K = 0: every row is empty (−inf, 0); K > 0: an empty batch, nothing to compute
    assert (k == 0) == (lse.size > 0)
    assert (lse == -math.inf).all() and (ce == 0).all() and not np.signbit(ce).any()


def test_empty_rows_in_decimals_and_binary_precision() -> None:
    result = ref.evaluate("logsumexp", np.zeros((2, 0)), dtype="float64", digits=20)
    assert result.decimals is not None and result.decimals.tolist() == ["-inf", "-inf"]
    assert [str(v) for v in result.values(200)] == ["-inf", "-inf"]
    loss = ref.evaluate("cross_entropy", [], [], dtype="float16", digits=12)
    assert loss.decimals is not None and loss.decimals.tolist() == "0"
    softmax = ref.evaluate("softmax", np.zeros((2, 0)), dtype="float16", digits=12)
    assert softmax.decimals is not None and softmax.decimals.shape == (2, 0)


# ---- a tuple of axes ---------------------------------------------------------------------------


def _flattened(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The op axes (ascending) moved last and flattened in C order: rows (batch..., K)."""
    axes = tuple(sorted(a % x.ndim for a in axes))
    moved = np.moveaxis(x, axes, range(x.ndim - len(axes), x.ndim))
    return moved.reshape((*moved.shape[: x.ndim - len(axes)], -1))


def _unflattened(out: np.ndarray, x_shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    axes = tuple(sorted(a % len(x_shape) for a in axes))
    batch = [n for i, n in enumerate(x_shape) if i not in axes]
    joint = [x_shape[a] for a in axes]
    moved = out.reshape((*batch, *joint))
    return np.moveaxis(moved, range(len(batch), len(x_shape)), axes)


def _axis_cases() -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every non-empty set of axes of several shapes, once with negative numbers."""
    cases = []
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (1, 4, 1)]:
        ndim = len(shape)
        for r in range(1, ndim + 1):
            for axes in itertools.combinations(range(ndim), r):
                cases.append((shape, axes))
        cases.append((shape, tuple(a - ndim for a in range(ndim))[::-1]))
    return cases


@pytest.mark.parametrize(("shape", "axes"), _axis_cases())
def test_axis_tuple_agrees_with_scipy_and_with_flattening(
    shape: tuple[int, ...], axes: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(abs(hash((shape, axes))) % 2**32)
    x = rng.standard_normal(shape) * 4
    for name in ("softmax", "log_softmax", "logsumexp"):
        ours = getattr(ref, name)(x, "float64", axis=axes)
        theirs = getattr(scipy.special, name)(x, axis=axes)
        assert ours.shape == np.shape(theirs), name
        # SciPy is not correctly rounded: log_softmax near 0 has absolute, not relative, error
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-13, err_msg=name)
        # bit for bit: the same values as the op on rows flattened by hand
        flat = getattr(ref, name)(_flattened(x, axes), "float64")
        want = flat if name == "logsumexp" else _unflattened(flat, shape, axes)
        assert same_bits(ours, want), name


@pytest.mark.parametrize("op", PAIRED_OPS)
@pytest.mark.parametrize("axes", [(0, 2), (-1, 0), (1,), (0, 1, 2)])
def test_axis_tuple_for_the_two_input_ops(op: str, axes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    z = round_array(rng.standard_normal((2, 3, 4)), "float32")
    other = round_array(rng.standard_normal((2, 3, 4)), "float32")
    ours = ref.evaluate(op, z, other, dtype="float32", axis=axes).rounded
    flat = ref.evaluate(op, _flattened(z, axes), _flattened(other, axes), dtype="float32").rounded
    want = flat if op == "cross_entropy" else _unflattened(flat, z.shape, axes)
    assert same_bits(ours, want)


def test_jacobian_over_joint_axes_is_k_by_k() -> None:
    x = round_array(np.random.default_rng(3).standard_normal((2, 3, 4)), "float32")
    jac = ref.jacobian(x, "float32", axis=(0, 2))
    assert jac.shape == (3, 8, 8)
    assert same_bits(jac, ref.jacobian(_flattened(x, (0, 2)), "float32"))
    assert ref.evaluate("jacobian", x, dtype="float32", axis=(2, 0)).axis == (0, 2)


def test_result_axis_is_normalised() -> None:
    x = np.zeros((2, 3))
    assert ref.evaluate("softmax", x, dtype="float32", axis=-1).axis == 1
    assert ref.evaluate("softmax", x, dtype="float32", axis=(-1,)).axis == (1,)
    assert ref.evaluate("softmax", x, dtype="float32", axis=[1, 0]).axis == (0, 1)
    assert ref.evaluate("softmax", x, dtype="float32", axis=np.int64(0)).axis == 0


def test_single_axis_tuple_equals_the_int() -> None:
    x = round_array(np.random.default_rng(5).standard_normal((3, 4)), "bfloat16")
    for op in ("softmax", "logsumexp", "jacobian"):
        a = ref.evaluate(op, x, dtype="bfloat16", axis=0).rounded
        b = ref.evaluate(op, x, dtype="bfloat16", axis=(0,)).rounded
        assert same_bits(a, b), op


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ((0, 0), r"softmax: axis=\(0, 0\) names an axis twice \(of an input of shape \(2, 3, 4"),
        ((0, -3), r"axis=\(0, -3\) names an axis twice"),
        ((0, 3), r"softmax: axis 3 out of range for an input of shape \(2, 3, 4\)"),
        ((-4,), r"axis -4 out of range for an input of shape \(2, 3, 4\)"),
        (5, r"axis 5 out of range"),
        ((), r"axis \(\) names no axis"),
        ((0, 1.0), r"axis 1.0 is not an integer"),
        (True, r"axis True is not an integer"),
        ("0", r"axis '0' is not an integer"),
    ],
)
def test_bad_axes_are_refused_in_one_line(axis: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        ref.softmax(np.zeros((2, 3, 4)), "float32", axis=axis)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_bad_axis_of_a_two_input_op() -> None:
    with pytest.raises(InputError, match=r"softmax_vjp: axis 2 out of range .* shape \(2, 3\)"):
        ref.softmax_vjp(np.zeros((2, 3)), np.zeros((2, 3)), "float32", axis=(0, 2))


# ---- the reference command line: `--input FILE` with [] is an empty row -----------------------


def test_reference_cli_empty_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert main(["reference", "logsumexp", "--dtype", "float32", "--input", str(empty)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "logsumexp in float32, K = 0",
        "  value  -inf  -inf  exact -inf",
    ]
    assert (
        main(["reference", "softmax", "--dtype", "float16", "--input", str(empty), "--json"]) == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["output"] == [] and document["exact"] == []
    args = ["reference", "cross_entropy", "--dtype", "float32", "--input", str(empty)]
    assert main([*args, "--target", f"@{empty}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["output"] == ["0x0.0p+0"]
    # no VALUES at all is still a slip, not an empty row
    assert main(["reference", "softmax", "--dtype", "float32"]) == 2
    assert "no values" in capsys.readouterr().err
