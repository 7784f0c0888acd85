"""Helpers for users' own test suites: one reference case, and an assertion with a clear message.

>>> import numpy as np
>>> from symsoftmax.testing import cases, assert_softmax_close
>>> case = next(cases("softmax", "float32", suite="quick"))
>>> got = np.exp(case.z - case.z.max()) / np.exp(case.z - case.z.max()).sum()   # doctest: +SKIP
>>> assert_softmax_close(got, case)                                                # doctest: +SKIP

The pytest plugin (:mod:`symsoftmax.pytest_plugin`) hands these cases to a test as the
``softmax_case`` fixture.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.validation.attention import attention_as_softmax
from symsoftmax.vectors.model import EXPECTED_KEYS, TestCase, VectorFile

if TYPE_CHECKING:
    from symsoftmax.validation.componentwise import KernelClass

__all__ = ["SoftmaxCase", "assert_softmax_close", "attention_as_softmax", "cases"]


@dataclass(frozen=True)
class SoftmaxCase:
    """One reference test with the op and format it belongs to."""

    op: str
    dtype: str
    test: TestCase

    @property
    def fmt(self) -> Format:
        return get_format(self.dtype)

    @property
    def tc_id(self) -> int:
        return self.test.tc_id

    @property
    def flags(self) -> tuple[str, ...]:
        return self.test.flags

    @property
    def z(self) -> npt.NDArray[Any]:
        """The logits as an array of the target dtype."""
        return self.test.inputs["z"].astype(self.fmt.numpy_dtype)

    def input(self, name: str) -> npt.NDArray[Any]:
        """Input ``name`` ("z", "g", "y", "temperature") as an array of the target dtype."""
        return np.asarray(self.test.inputs[name]).astype(self.fmt.numpy_dtype)

    @property
    def args(self) -> tuple[npt.NDArray[Any], ...]:
        """The positional inputs of the op: (z,), (z, g) or (z, y)."""
        from symsoftmax.vectors.model import INPUT_KEYS

        return tuple(self.input(name) for name in INPUT_KEYS[self.op])

    @property
    def expected(self) -> npt.NDArray[Any]:
        """The correctly rounded output (the first output for cross_entropy), target dtype."""
        key = EXPECTED_KEYS[self.op][0]
        return self.test.expected[key].astype(self.fmt.numpy_dtype)

    @property
    def id(self) -> str:
        return f"tc{self.tc_id}-{'-'.join(self.flags) or 'plain'}"


def cases(
    op: str = "softmax",
    dtype: str = "float32",
    *,
    suite: str | None = None,
    vectors: VectorFile | str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Iterator[SoftmaxCase]:
    """Every test of a generated suite (default "quick") or of a vector file, as cases."""
    from symsoftmax.validation.sources import resolve_vectors

    if vectors is None and suite is None:
        suite = "quick"
    vf, _ = resolve_vectors(vectors, suite, None if vectors is not None else op, dtype, seed)
    for test in vf.tests():
        yield SoftmaxCase(vf.op, vf.dtype, test)


def assert_softmax_close(
    got: Any,
    case: SoftmaxCase,
    *,
    mode: str = "bound",
    max_ulp: float | None = None,
    ftz: bool = False,
    kernel: KernelClass | None = None,
) -> None:
    """Raise AssertionError unless ``got`` passes ``case`` under the pass rule.

    ``kernel``: the class whose per-component bound ``mode="bound"`` applies (default two-pass;
    :class:`symsoftmax.validation.componentwise.KernelClass`).

    ``got``: the op's output (array-like of the target dtype, or float64 values of the format);
    for cross_entropy a ``(loss, grad)`` pair or a mapping. The message names the tcId, the
    flags, the worst component with its error in ulps, and the bound.
    """
    from symsoftmax.rounding import as_format_array
    from symsoftmax.validation.checks import PassRule, PreparedTest, evaluate
    from symsoftmax.validation.componentwise import COMPONENTWISE_OPS, KernelClass

    rule = PassRule(mode, max_ulp, ftz, kernel or KernelClass())
    keys = EXPECTED_KEYS[case.op]
    if isinstance(got, Mapping):
        parts = {key: got[key] for key in keys}
    elif len(keys) > 1:
        parts = dict(zip(keys, got, strict=True))
    else:
        parts = {keys[0]: got}
    outputs = {}
    for key, value in parts.items():
        want = case.test.expected[key].shape
        try:
            array = as_format_array(_to_numpy(value), case.fmt, name=key)
        except InputError as exc:
            raise AssertionError(f"tcId {case.tc_id}: {exc}") from None
        if array.size != int(np.prod(want)):
            raise AssertionError(
                f"tcId {case.tc_id} ({', '.join(case.flags)}): {key} has shape {array.shape}, "
                f"expected {want}"
            )
        outputs[key] = array.reshape(want)
    verdict = evaluate(PreparedTest.of(case.test), outputs, case.op, case.fmt, rule)
    if verdict.passed:
        return
    message = [
        f"tcId {case.tc_id} [{', '.join(case.flags)}] {case.op} {case.dtype}: {verdict.reason}",
        f"  comment: {case.test.comment}",
    ]
    if verdict.worst_key:
        at = verdict.worst_index
        got_v = float(outputs[verdict.worst_key][at])
        exp_v = float(case.test.expected[verdict.worst_key][at])
        message.append(
            f"  worst component {verdict.worst_key}{list(at)}: got {got_v!r}, expected "
            f"{exp_v!r} ({verdict.ulp:.4g} ulp)"
        )
    if rule.mode == "bound" and case.op in COMPONENTWISE_OPS:
        message.append(f"  rule: {rule.describe(case.op, case.fmt)}")
    elif rule.mode in ("bound", "normwise") and not math.isnan(verdict.bound_u):
        message.append(f"  bound: {verdict.bound_u:.4g} u normwise relative ({verdict.bound_form})")
    raise AssertionError("\n".join(message))


def _to_numpy(value: Any) -> Any:
    """NumPy view of a torch tensor or jax array; other values unchanged."""
    module = type(value).__module__
    if module.startswith("torch"):
        from symsoftmax.validation.adapters import Adapter

        return Adapter("torch").to_numpy(value)
    if module.startswith("jax") or module.startswith("jaxlib"):
        return np.asarray(value)
    return value
