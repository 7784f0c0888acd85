"""The one table of special-value answers: which named answers a row with special values has.

Where the field disagrees on a special value (docs/reference.md, special values) a test is
"acceptable" with every allowed answer named. The cases, for a row z with no NaN and K ≥ 1:

=====================================  ==========================  ============================
row                                    answers (in this order)     why
=====================================  ==========================  ============================
some entry +inf                        ``limit``, ``nan``          the reference takes the limit
                                                                   (uniform over the +inf
                                                                   entries); an IEEE max-shift
                                                                   computes inf − inf
cross_entropy: a −inf entry whose      ``limit``, ``nan-loss``     0·(−inf) in the loss: 0 by
target is 0 (not every entry −inf)                                 the limit, NaN in IEEE
every entry −inf (not logsumexp nor    ``masked``, ``nan``         FlashAttention and masked
cross_entropy)                                                     softmax give 0 (log: −inf;
                                                                   log_softmax_vjp: g); SciPy
                                                                   and PyTorch 0/0 = NaN
=====================================  ==========================  ============================

``limit`` is the reference's own answer (the expected outputs). logsumexp of a row of −inf is
−inf (log 0) under both conventions, so that test has one answer. A row with a NaN, or an empty
row, has one answer (NaN outputs; docs/reference.md).

:func:`named_answers` evaluates the table on a batch of rows of equal K (vectorized); the vector
files (:func:`symsoftmax.vectors.builder.answers_for`, one test) and the exhaustive sweep's judge
(:func:`symsoftmax.sweep.judge.accepted_alternative`, whole batches) both read it, so a row's
allowed answers are the same in ``validate`` and in ``exhaustive``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NamedAnswer", "named_answers"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class NamedAnswer:
    """One named answer of the table over a batch: ``rows`` (n,) where it is allowed, and its
    ``outputs`` per output key, shape (n, …) like the expected outputs (used where ``rows``)."""

    name: str
    rows: BoolArray
    outputs: dict[str, FloatArray]


def _rows_any(mask: BoolArray) -> BoolArray:
    return np.asarray(mask.reshape(mask.shape[0], -1).any(axis=1), dtype=bool)


def _rows_all(mask: BoolArray) -> BoolArray:
    return np.asarray(mask.reshape(mask.shape[0], -1).all(axis=1), dtype=bool)


def named_answers(
    op: str, inputs: Mapping[str, FloatArray], expected: Mapping[str, FloatArray]
) -> list[NamedAnswer]:
    """The table of the module docstring on a batch: ``inputs["z"]`` of shape (n, K) (and
    ``"y"`` / ``"g"`` of the same shape where the op has them), ``expected`` the reference's
    outputs, (n, …) per key. Every answer of the table, in table order (``limit``, ``masked``,
    ``nan``, ``nan-loss``), each with the rows it is allowed on."""
    z = np.asarray(inputs["z"], dtype=np.float64)
    n = z.shape[0]
    ordinary = ~_rows_any(np.isnan(z)) & (z.shape[1] > 0)
    posinf = ordinary & _rows_any(np.isposinf(z))
    neginf = np.isneginf(z)
    all_neginf = ordinary & ~posinf & _rows_all(neginf)
    nan_loss = np.zeros(n, dtype=bool)
    if op == "cross_entropy":
        zero_target = neginf & (np.asarray(inputs["y"]) == 0)
        nan_loss = ordinary & ~posinf & _rows_any(zero_target) & ~all_neginf
    masked = all_neginf if op not in ("cross_entropy", "logsumexp") else np.zeros(n, dtype=bool)
    if op == "log_softmax_vjp":  # g − s·Σg with s = 0
        g = np.asarray(inputs["g"], dtype=np.float64)
        masked_outputs = {key: g.reshape(value.shape) for key, value in expected.items()}
    else:
        fill = -np.inf if op == "log_softmax" else 0.0
        masked_outputs = {key: np.full_like(value, fill) for key, value in expected.items()}
    nan_outputs = {key: np.full_like(value, np.nan) for key, value in expected.items()}
    table = [
        NamedAnswer("limit", posinf | nan_loss, dict(expected)),
        NamedAnswer("masked", masked, masked_outputs),
        NamedAnswer("nan", posinf | masked, nan_outputs),
    ]
    if op == "cross_entropy":
        loss = {**expected, "loss": np.full_like(expected["loss"], np.nan)}
        table.append(NamedAnswer("nan-loss", nan_loss, loss))
    return table
