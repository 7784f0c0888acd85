"""The per-component bound with an attention sink and a logit soft-cap (issue 21 §3).

Exact values come from mpmath at 60 digits (independent of the reference engine); candidates are
float32 kernels written as attention kernels write them, correct and with each defect the
trackers report: the sink dropped, the sink not in the sum, z·tanh(z/c) for c·tanh(z/c), the cap
applied to log₂e-scaled logits, the cap not applied.
"""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np
import pytest

from symsoftmax.formats import get_format
from symsoftmax.validation.componentwise import KernelClass, judge_rows

F32 = get_format("float32")
mpmath.mp.dps = 60

Kernel = Callable[[np.ndarray, float, float], np.ndarray]


def _exact(op: str, z: np.ndarray, sink: float, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) of the exact outputs: logits c·tanh(z/c) (or z), plus e^s in the sum."""
    logits = [
        mpmath.mpf(v) if np.isnan(cap) else mpmath.mpf(cap) * mpmath.tanh(mpmath.mpf(v) / cap)
        for v in z
    ]
    terms = [mpmath.exp(v) for v in logits]
    total = mpmath.fsum(terms) + (mpmath.exp(sink) if not np.isnan(sink) else 0)
    lse = mpmath.log(total)
    if op == "softmax":
        exact = [t / total for t in terms]
    elif op == "log_softmax":
        exact = [v - lse for v in logits]
    else:
        exact = [lse]
    hi = np.array([float(v) for v in exact])
    lo = np.array([float(v - mpmath.mpf(float(v))) for v in exact])
    return hi[None], lo[None]


def _capped(z: np.ndarray, cap: float) -> np.ndarray:
    z = z.astype(np.float32)
    if np.isnan(cap):
        return z
    c = np.float32(cap)
    return (c * np.tanh(z / c)).astype(np.float32)


def correct(z: np.ndarray, sink: float, cap: float) -> np.ndarray:
    x = _capped(z, cap)
    s = np.float32(sink) if not np.isnan(sink) else np.float32(-np.inf)
    m = max(np.float32(x.max()), s)
    e = np.exp(x - m)
    total = e.sum(dtype=np.float32) + np.exp(s - m)
    return (e / total).astype(np.float32)


def sink_dropped(z: np.ndarray, sink: float, cap: float) -> np.ndarray:
    x = _capped(z, cap)
    e = np.exp(x - x.max())
    return (e / e.sum(dtype=np.float32)).astype(np.float32)


def sink_not_in_max(z: np.ndarray, sink: float, cap: float) -> np.ndarray:
    """The sink in the sum but not in the max: e^(s − m) overflows for a sink far above."""
    x = _capped(z, cap)
    m = x.max()
    with np.errstate(over="ignore"):
        e = np.exp(x - m)
        total = e.sum(dtype=np.float32) + np.exp(np.float32(sink) - m)
    return (e / total).astype(np.float32)


def cap_as_product(z: np.ndarray, sink: float, cap: float) -> np.ndarray:
    """z·tanh(z/c): caps nothing once |z| > 2c."""
    z32 = z.astype(np.float32)
    c = np.float32(cap)
    x = (z32 * np.tanh(z32 / c)).astype(np.float32)
    e = np.exp(x - x.max())
    return (e / e.sum(dtype=np.float32)).astype(np.float32)


def cap_not_applied(z: np.ndarray, sink: float, cap: float) -> np.ndarray:
    """The cap silently skipped (one backend's default path)."""
    return sink_dropped(z, NAN, NAN)


def cap_after_log2e(z: np.ndarray, sink: float, cap: float) -> np.ndarray:
    """The cap applied to log₂e-scaled scores, then exp2."""
    c = np.float32(cap)
    y = (z.astype(np.float32) * np.float32(np.log2(np.e))).astype(np.float32)
    x = (c * np.tanh(y / c)).astype(np.float32)
    e = np.exp2(x - x.max())
    return (e / e.sum(dtype=np.float32)).astype(np.float32)


NAN = float("nan")
ROWS = [np.array([0.0, -1.5, 2.25, -30.0]), np.array([3.0, 2.9, -7.0, 0.5, -0.25])]
SINK_CASES = [0.0, 2.5, 100.0, -20.0, float("-inf")]
CAP_ROWS = [np.array([120.0, 30.0, -70.0, 10.0, 5.0]), np.array([45.0, 44.0, -200.0, 0.5])]


def _verdict(kernel: Kernel, z: np.ndarray, sink: float, cap: float) -> bool:
    hi, lo = _exact("softmax", z, sink, cap)
    got = kernel(z, sink, cap).astype(np.float64)[None]
    verdict = judge_rows(
        "softmax",
        z[None],
        hi,
        lo,
        got,
        F32,
        KernelClass(),
        sink=np.array([sink]),
        softcap=np.array([cap]),
    )
    return bool(verdict.passed[0])


@pytest.mark.parametrize("sink", SINK_CASES)
@pytest.mark.parametrize("row", range(len(ROWS)))
def test_correct_sink_kernel_passes(row: int, sink: float) -> None:
    assert _verdict(correct, ROWS[row], sink, NAN)


@pytest.mark.parametrize("sink", [0.0, 2.5, 100.0])
def test_dropped_sink_fails(sink: float) -> None:
    assert not _verdict(sink_dropped, ROWS[0], sink, NAN)


def test_sink_not_in_the_max_fails_when_it_overflows() -> None:
    with np.errstate(invalid="ignore"):
        assert not _verdict(sink_not_in_max, ROWS[0], 100.0, NAN)


@pytest.mark.parametrize("cap", [50.0, 30.0])
@pytest.mark.parametrize("row", range(len(CAP_ROWS)))
def test_correct_softcap_kernel_passes(row: int, cap: float) -> None:
    assert _verdict(correct, CAP_ROWS[row], NAN, cap)
    assert _verdict(correct, CAP_ROWS[row], 1.5, cap)  # with a sink too


@pytest.mark.parametrize("kernel", [cap_as_product, cap_after_log2e, cap_not_applied])
def test_wrong_softcap_fails(kernel: Kernel) -> None:
    assert not _verdict(kernel, CAP_ROWS[0], NAN, 50.0)


def test_log_softmax_and_logsumexp_with_a_sink() -> None:
    z = ROWS[1]
    for sink in (0.0, 3.0, 40.0):
        x = z.astype(np.float32)
        m = max(x.max(), np.float32(sink))
        total = np.exp(x - m).sum(dtype=np.float32) + np.exp(np.float32(sink) - m)
        lse = np.float32(m + np.log(total))
        for op, got, wrong in (
            (
                "log_softmax",
                (x - lse).astype(np.float64),
                (x - np.float32(x.max())).astype(np.float64),
            ),
            ("logsumexp", np.array([float(lse)]), np.array([float(x.max())])),
        ):
            hi, lo = _exact(op, z, sink, NAN)
            args = (op, z[None], hi, lo)
            ok = judge_rows(*args, got[None], F32, KernelClass(), sink=np.array([sink]))
            assert ok.passed[0], (op, sink, ok.reasons)
            bad = judge_rows(*args, wrong[None], F32, KernelClass(), sink=np.array([sink]))
            assert not bad.passed[0], (op, sink)
