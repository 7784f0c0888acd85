"""Arb (python-flint) for the authority's exp and log midpoints at high precision.

:func:`symsoftmax.reference.balls._arb_function` must keep the error model of the balls (within
FUNCTION_ERROR_ULPS + 1 units of 2^−w of the exact value) and may only be used where its
enclosure proves it; the engine's answers must not depend on whether Arb is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpmath import libmp

import symsoftmax.reference as ref
from symsoftmax.reference import balls
from symsoftmax.reference.balls import ARB_FROM_BITS, FUNCTION_ERROR_ULPS, Ball

pytest.importorskip("flint")

_POINTS = [-312.56787109375, -1e-30, -7.5e5, 3.0e-300, 1.0 + 2.0**-52, 0.6931471805599453, 1e300]


def _within_model(mid: tuple, exact: tuple, w: int) -> bool:
    """|mid − exact| ≤ (FUNCTION_ERROR_ULPS + 1)·2^−w·|mid|, exactly in mpmath."""
    diff = libmp.mpf_abs(libmp.mpf_sub(mid, exact))
    bound = libmp.mpf_shift(
        libmp.mpf_mul_int(libmp.mpf_abs(mid), FUNCTION_ERROR_ULPS + 1, 32, "f"), -w
    )
    return bool(libmp.mpf_le(diff, bound))


@pytest.mark.parametrize("w", [ARB_FROM_BITS, 1000, 4096])
def test_arb_midpoints_keep_the_error_model(w: int) -> None:
    for value in _POINTS:
        x = libmp.from_float(value)
        for name, exact_fn in (("exp", libmp.mpf_exp), ("log", libmp.mpf_log)):
            if name == "log" and value <= 0:
                continue
            mid = balls._arb_function(name, x, w)
            assert mid is not None or (name == "log" and value > 0.5), (name, value, w)
            if mid is not None:
                assert _within_model(mid, exact_fn(x, 4 * w + 64, "n"), w), (name, value, w)


def test_arb_is_not_used_below_its_threshold() -> None:
    assert balls._arb_function("exp", libmp.from_float(-3.0), ARB_FROM_BITS - 1) is None


def test_high_precision_exp_and_log_come_from_arb(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 2048 bits the balls' exp and log no longer call mpmath's pure-Python functions (2 ms
    each there); the balls still enclose the exact values."""
    exact_exp = libmp.mpf_exp(libmp.from_float(-312.5), 4096, "n")
    exact_log = libmp.mpf_log(libmp.from_float(3.25), 4096, "n")

    def refuse(*args: object) -> None:
        raise AssertionError("mpmath's exp/log called at high precision")

    monkeypatch.setattr(libmp, "mpf_exp", refuse)
    monkeypatch.setattr(libmp, "mpf_log", refuse)
    e = Ball.exact(libmp.from_float(-312.5)).exp(2048)
    g = Ball.exact(libmp.from_float(3.25)).log(2048)
    for ball, exact in ((e, exact_exp), (g, exact_log)):
        gap = libmp.mpf_abs(libmp.mpf_sub(ball.mid, exact))
        assert libmp.mpf_le(gap, ball.rad)


def test_answers_do_not_depend_on_arb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values correctly rounded to 1500 bits (every level above ARB_FROM_BITS), with and
    without Arb: the same numbers."""
    rng = np.random.default_rng(4)
    rows = np.round(rng.normal(0.0, 300.0, size=(6, 3)), 3)
    for op in ("softmax", "log_softmax", "logsumexp"):
        with_arb = ref.evaluate(op, rows, dtype="float64").values(1500)
        monkeypatch.setattr(balls, "_flint", None)
        without = ref.evaluate(op, rows, dtype="float64").values(1500)
        monkeypatch.undo()
        assert [v._mpf_ for v in np.ravel(with_arb)] == [v._mpf_ for v in np.ravel(without)]
