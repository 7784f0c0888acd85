"""Behaviour of the generated NumPy functions: stability, special values, shapes, input errors,
the generated source. Accuracy against mpmath is in test_numeric_accuracy.py."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symsoftmax
from symsoftmax.errors import InputError
from symsoftmax.numeric import GeneratedFunction

inf, nan = np.inf, np.nan
NAMES = ("softmax", "log_softmax", "logsumexp", "jacobian", "vjp")


def make(name: str, K: int, temperature: float | None = None) -> GeneratedFunction:
    fn: GeneratedFunction = getattr(symsoftmax, f"lambdify_{name}")(K, temperature)
    return fn


def call(fn: GeneratedFunction, z: np.ndarray) -> np.ndarray:
    """Call with z (and a fixed g for the VJP)."""
    if fn.name == "vjp":
        g = np.linspace(-1, 1, fn.K).astype(np.asarray(z).dtype)
        return fn(z, np.broadcast_to(g, np.shape(z)))
    return fn(z)


@pytest.fixture(autouse=True)
def warnings_are_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------------------------------
# stability and special values
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", [[1000.0, 1000.0], [-1000.0, -1000.0], [1e308, 1e308]])
def test_large_equal_logits_give_one_half(row: list[float]) -> None:
    assert make("softmax", 2)(row).tolist() == [0.5, 0.5]
    assert make("log_softmax", 2)(row).tolist() == [-np.log(2), -np.log(2)]
    assert make("logsumexp", 2)(row) == row[0] + np.log(2)


def test_minus_inf_entry_is_masked() -> None:
    assert make("softmax", 2)([-inf, 0.0]).tolist() == [0.0, 1.0]
    assert make("log_softmax", 2)([-inf, 0.0]).tolist() == [-inf, 0.0]
    assert make("logsumexp", 2)([-inf, 0.0]) == 0.0
    assert make("jacobian", 2)([-inf, 0.0]).tolist() == [[0.0, -0.0], [-0.0, 0.0]]


def test_huge_spread_does_not_overflow() -> None:
    """z − m overflows to −inf for [1.7e308, −1.7e308]: e^{−inf} = 0, no warning escapes."""
    assert make("softmax", 2)([1.7e308, -1.7e308]).tolist() == [1.0, 0.0]
    assert make("logsumexp", 2)([1.7e308, -1.7e308]) == 1.7e308


def test_temperature_shifts_before_scaling() -> None:
    """(z − m)/T, not z/T − m/T: T = 1e-308 would overflow z/T (numerics.md)."""
    assert make("softmax", 2, 1e-308)([1.0, 2.0]).tolist() == [0.0, 1.0]
    # T·logsumexp(z/T) = 1 + T·ln 2, which rounds to 1; z/T − m/T would have overflowed first
    assert make("logsumexp", 2, 1e-308)([1.0, 1.0]) == 1.0


# Documented in docs/numeric.md, "Special values": as SciPy does, a row whose maximum is −inf or
# NaN follows IEEE arithmetic on the unshifted formula, and a +inf maximum makes softmax and
# log_softmax all NaN (the IEEE max-shift) while logsumexp is +inf.
SPECIAL_ROWS = {
    "all -inf": [-inf, -inf, -inf],
    "nan": [nan, 0.0, 1.0],
    "+inf": [inf, 0.0, -inf],
}
EXPECTED = {
    ("softmax", "all -inf"): [nan, nan, nan],
    ("softmax", "nan"): [nan, nan, nan],
    ("softmax", "+inf"): [nan, nan, nan],
    ("log_softmax", "all -inf"): [nan, nan, nan],
    ("log_softmax", "nan"): [nan, nan, nan],
    ("log_softmax", "+inf"): [nan, nan, nan],
    ("logsumexp", "all -inf"): -inf,
    ("logsumexp", "nan"): nan,
    ("logsumexp", "+inf"): inf,
}


@pytest.mark.parametrize(("name", "row"), list(EXPECTED))
def test_special_rows(name: str, row: str) -> None:
    got = make(name, 3)(SPECIAL_ROWS[row])
    np.testing.assert_array_equal(got, EXPECTED[name, row])


@pytest.mark.parametrize("row", list(SPECIAL_ROWS))
def test_special_rows_poison_the_jacobian_and_vjp(row: str) -> None:
    z = np.array(SPECIAL_ROWS[row])
    assert np.isnan(make("jacobian", 3)(z)).any()
    assert np.isnan(make("vjp", 3)(z, np.ones(3))).any()


def test_special_rows_leave_other_rows_alone() -> None:
    z = np.array([SPECIAL_ROWS["nan"], [0.0, 1.0, 2.0], SPECIAL_ROWS["all -inf"]])
    for name in NAMES:
        fn = make(name, 3)
        np.testing.assert_array_equal(call(fn, z)[1], call(fn, z[1]))


def test_agrees_with_scipy_on_ordinary_input() -> None:
    z = np.random.default_rng(0).standard_normal((50, 7)) * 5
    np.testing.assert_allclose(make("softmax", 7)(z), scipy.special.softmax(z, axis=-1), 1e-14)
    # SciPy's log(Σ) loses up to 1 ulp of log Σ ≈ 2e-16 absolute near 0, where our log1p does not
    np.testing.assert_allclose(
        make("log_softmax", 7)(z), scipy.special.log_softmax(z, axis=-1), 1e-14, atol=5e-16
    )
    np.testing.assert_allclose(make("logsumexp", 7)(z), scipy.special.logsumexp(z, axis=-1), 1e-14)


def test_jacobian_and_vjp_properties() -> None:
    z = np.random.default_rng(1).standard_normal((20, 6))
    s = make("softmax", 6)(z)
    J = make("jacobian", 6)(z)
    np.testing.assert_allclose(J, np.swapaxes(J, -1, -2), atol=1e-17)  # symmetric
    np.testing.assert_allclose(J.sum(axis=-1), 0.0, atol=1e-16)  # J·1 = 0
    np.testing.assert_allclose(np.trace(J, axis1=-2, axis2=-1), 1 - (s**2).sum(-1), 1e-14)
    g = np.random.default_rng(2).standard_normal((20, 6))
    np.testing.assert_allclose(make("vjp", 6)(z, g), np.einsum("...i,...ij->...j", g, J), 1e-12)


def test_temperature_matches_scaled_logits() -> None:
    z = np.random.default_rng(3).standard_normal((10, 4))
    for name in ("softmax", "log_softmax", "logsumexp", "jacobian"):
        scaled = call(make(name, 4), z / 0.5)
        # the Jacobian of softmax(z/T) carries 1/T; logsumexp with T is T·logsumexp(z/T)
        expected = {"jacobian": scaled / 0.5, "logsumexp": scaled * 0.5}.get(name, scaled)
        np.testing.assert_allclose(call(make(name, 4, 0.5), z), expected, rtol=1e-13, atol=1e-16)


# ------------------------------------------------------------------------------------------
# shapes and dtypes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", [(), (0,), (3,), (2, 5)])
def test_output_shapes(name: str, batch: tuple[int, ...]) -> None:
    K = 4
    z = np.random.default_rng(4).standard_normal((*batch, K))
    out = call(make(name, K), z)
    expected = {"logsumexp": batch, "jacobian": (*batch, K, K)}.get(name, (*batch, K))
    assert out.shape == expected


@settings(max_examples=30, deadline=None)
@given(
    z=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=4, max_side=4).map(lambda s: (*s[:-1], 3)),
        elements=st.floats(-1e3, 1e3) | st.just(-inf),
    )
)
def test_batch_equals_row_by_row(z: np.ndarray) -> None:
    """Leading axes are a batch: each row is computed as if alone (bitwise)."""
    z = z.copy()
    z[..., 0] = np.where(np.isinf(z[..., 0]), 0.0, z[..., 0])  # keep a finite entry per row
    for name in NAMES:
        fn = make(name, 3)
        batched = call(fn, z)
        for index in np.ndindex(z.shape[:-1]):
            np.testing.assert_array_equal(batched[index], call(fn, z[index]))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_float_dtype_is_kept(dtype: type) -> None:
    z = np.array([[0.5, -1.0, 2.0]], dtype=dtype)
    for name in NAMES:
        assert call(make(name, 3), z).dtype == dtype


@pytest.mark.parametrize("value", [[1, 2, 3], [True, False, True], np.array([1, 2, 3], np.int8)])
def test_integers_and_bools_compute_in_float64(value: object) -> None:
    out = make("softmax", 3)(value)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.sum(), 1.0)


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1.0, 2.0], r"z: expected shape \(\.\.\., 3\), got \(2,\)"),
        (np.zeros((4, 2)), r"z: expected shape \(\.\.\., 3\), got \(4, 2\)"),
        (5.0, r"z: expected shape \(\.\.\., 3\), got \(\)"),
        (["1", "2", "3"], r"z: expected real numbers .* got dtype <U1"),
        ([1j, 2, 3], r"z: expected real numbers .* got dtype complex128"),
        ([None, 1, 2], r"z: expected real numbers .* got dtype object"),
        ([[1, 2, 3], [1, 2]], r"z: not a rectangular numeric array"),
    ],
)
def test_bad_input_raises_input_error(value: object, message: str) -> None:
    for name in ("softmax", "log_softmax", "logsumexp", "jacobian"):
        with pytest.raises(InputError, match=message):
            make(name, 3)(value)


def test_vjp_checks_both_arguments() -> None:
    vjp = make("vjp", 3)
    with pytest.raises(InputError, match=r"g: expected shape \(\.\.\., 3\), got \(2,\)"):
        vjp([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InputError, match=r"g: expected the shape of z, \(2, 3\), got \(3,\)"):
        vjp(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(TypeError, match=r"vjp\(\) takes 2 array argument\(s\) \(z, g\), got 1"):
        vjp([1.0, 2.0, 3.0])
    assert vjp(np.zeros(3, np.float32), np.ones(3, np.float64)).dtype == np.float64


@pytest.mark.parametrize("K", [0, -1, 2.0, True, "3", None])
def test_bad_k(K: object) -> None:
    with pytest.raises(InputError, match="K must be a positive integer"):
        symsoftmax.lambdify_softmax(K)  # type: ignore[arg-type]


@pytest.mark.parametrize("temperature", [0.0, -1.0, inf, nan, "1", True])
def test_bad_temperature(temperature: object) -> None:
    with pytest.raises(InputError, match="temperature must be a positive"):
        symsoftmax.lambdify_softmax(3, temperature)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# the generated code
# ------------------------------------------------------------------------------------------


def test_source_is_vectorized_and_shows_the_shift() -> None:
    fn = symsoftmax.lambdify_softmax(64)
    assert fn.source.splitlines() == [
        "def softmax(z):",
        "    m = numpy.max(z, axis=-1, keepdims=True)",
        "    m = numpy.where(numpy.isneginf(m) | numpy.isnan(m), 0, m)",
        "    y = z - m",
        "    x0 = numpy.exp(y, out=y)",
        "    return numpy.divide(x0, numpy.sum(x0, axis=-1, keepdims=True), out=x0)",
    ]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("temperature", [None, 0.5])
def test_input_is_never_written(name: str, temperature: float | None) -> None:
    """The kernels write into their own temporaries (out=), never into z or g."""
    z = np.random.default_rng(6).standard_normal((5, 4))
    g = np.random.default_rng(7).standard_normal((5, 4))
    z_before, g_before = z.copy(), g.copy()
    fn = make(name, 4, temperature)
    out = fn(z, g) if name == "vjp" else fn(z)
    np.testing.assert_array_equal(z, z_before)
    np.testing.assert_array_equal(g, g_before)
    assert not np.shares_memory(out, z) and not np.shares_memory(out, g)
    z.setflags(write=False)  # read-only input works too
    np.testing.assert_array_equal(fn(z, g) if name == "vjp" else fn(z), out)


@pytest.mark.parametrize("name", NAMES)
def test_source_does_not_grow_with_k(name: str) -> None:
    small, large = make(name, 8).source, make(name, 1024).source
    assert small.replace("(8", "(1024") == large
    assert "for " not in large


@pytest.mark.parametrize("name", NAMES)
def test_kernel_namespace_holds_only_numpy(name: str) -> None:
    kernel = make(name, 3).kernel
    assert set(kernel.__globals__) <= {"numpy", "__builtins__", name}
    assert kernel.__globals__["numpy"] is np


def test_functions_are_cached_and_public() -> None:
    assert symsoftmax.lambdify_softmax(5) is symsoftmax.lambdify_softmax(5)
    assert symsoftmax.lambdify_softmax(5) is not symsoftmax.lambdify_softmax(5, 2.0)
    fn = symsoftmax.lambdify_logsumexp(5, 2)
    assert (fn.name, fn.K, fn.temperature, fn.arguments) == ("logsumexp", 5, 2.0, ("z",))
    assert "T = 2.0" in fn.source
