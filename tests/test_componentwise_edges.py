"""Edges of the per-component judge: a vacuous sum bound, and what --ftz may and may not excuse.

Each case is a row whose verdict is known from the algorithm: a correct kernel of the declared
class must pass, a wrong component must fail.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.validation.componentwise import KernelClass, judge_rows

BF16 = get_format("bfloat16")
F16 = get_format("float16")


def _exact(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([values], dtype=np.float64), np.zeros((1, len(values)))


def test_vacuous_sum_bound_admits_a_sum_kept_in_bfloat16() -> None:
    """K = 300 ones summed in bfloat16 stop at 256 (256 + 1 rounds to 256): every output is
    1/256, not 1/300. γ_299 in bfloat16 is infinite (299·2^−8 > 1), so the sum's bound says
    nothing and the common factor 300/256 must be allowed (it once gave NaN bounds and failed)."""
    k = 300
    total = np.array(0.0, dtype=ml_dtypes.bfloat16)
    for _ in range(k):
        total = np.array(total + np.array(1.0, dtype=ml_dtypes.bfloat16), dtype=ml_dtypes.bfloat16)
    assert float(total) == 256.0
    z = np.zeros((1, k))
    state = KernelClass(state="bfloat16")
    hi, lo = _exact([1 / k] * k)
    got = np.full((1, k), float(np.array(1 / 256, dtype=ml_dtypes.bfloat16)))
    assert judge_rows("softmax", z, hi, lo, got, BF16, state).passed[0]
    lse_hi, lse_lo = _exact([math.log(k)])
    got_lse = np.array([[float(np.array(math.log(256), dtype=ml_dtypes.bfloat16))]])
    assert judge_rows("logsumexp", z, lse_hi, lse_lo, got_lse, BF16, state).passed[0]
    # one component off the common factor still fails
    got[0, 7] *= 1.5
    assert not judge_rows("softmax", z, hi, lo, got, BF16, state).passed[0]


def test_ftz_excuses_flushed_results_only_near_the_flush_threshold() -> None:
    """With --ftz a result under tiny may be 0, but a normal float16 output 1.06e−4 that is
    8 ulp off is not excused by the flush threshold (6.1e−5)."""
    z = np.array([[0.0, math.log(1.0610053e-4 / (1 - 1.0610053e-4))]])
    e = np.exp(z[0])
    s = e / e.sum()
    hi, lo = s[None], np.zeros((1, 2))
    good = np.array([[float(np.float16(v)) for v in s]])
    kind = KernelClass()
    assert judge_rows("softmax", z, hi, lo, good, F16, kind, ftz=True).passed[0]
    bad = good.copy()
    bad[0, 1] += 8 * 2.0**-24  # 8 ulp at 1.06e−4 (ulp 2^−24 there)
    assert not judge_rows("softmax", z, hi, lo, bad, F16, kind, ftz=True).passed[0]
    # a subnormal exact value flushed to 0 passes with --ftz and fails without
    tiny_z = np.array([[0.0, math.log(3e-6)]])
    te = np.exp(tiny_z[0])
    ts = te / te.sum()
    flushed = np.array([[float(np.float16(ts[0])), 0.0]])
    assert judge_rows(
        "softmax", tiny_z, ts[None], np.zeros((1, 2)), flushed, F16, kind, ftz=True
    ).passed[0]
    assert not judge_rows("softmax", tiny_z, ts[None], np.zeros((1, 2)), flushed, F16, kind).passed[
        0
    ]
