"""Scoring outputs computed elsewhere (C, CUDA, Julia, ...): the same verdict as validate().

OUTPUTS is a JSON object mapping each tcId (as a string) to the list of output values of that
test, each a string: decimal (``"0.0900305733"``) or hex float (``"0x1.70c10ap-4"``), or
``"nan"``, ``"inf"``, ``"-inf"``. A decimal that is not a value of the format is rounded to the
nearest one (``printf("%.9g")`` of a float32 round-trips; ``%a`` is exact). JSON numbers are
accepted too and read exactly from their text. Per op:

* softmax, log_softmax, softmax_vjp, log_softmax_vjp: K values;
* logsumexp: one value (a list of one, or the bare value);
* jacobian: K·K values in row-major order (or K lists of K);
* cross_entropy: ``[loss, grad_1, …, grad_K]`` (K + 1 values) or ``{"loss": v, "grad": [...]}``.

A test with a temperature may map to ``null`` when the implementation has no temperature: it is
reported as skipped. Anything else missing or malformed is an input error naming the file, the
tcId and the position.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.jsonfile import load_json
from symsoftmax.rounding import brief_repr, parse_value
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.core import judge
from symsoftmax.validation.report import ValidationReport
from symsoftmax.validation.runner import Outcome
from symsoftmax.validation.sources import resolve_vectors
from symsoftmax.vectors.model import EXPECTED_KEYS, TestCase, VectorFile, expected_shape

__all__ = ["read_outputs", "score"]


def read_outputs(
    outputs: Mapping[str, Any] | str | os.PathLike[str], vf: VectorFile
) -> list[Outcome]:
    """One Outcome per test of ``vf`` from an OUTPUTS object or file (see the module docstring)."""
    where = "outputs"
    if isinstance(outputs, str | os.PathLike):
        where = str(outputs)
        outputs = load_json(outputs, numbers_as_text=True)
    if not isinstance(outputs, Mapping):
        raise InputError(f"{where}: expected a JSON object mapping tcId to output values")
    fmt = get_format(vf.dtype)
    known = {str(test.tc_id) for test in vf.tests()}
    for key in outputs:
        if key not in known:
            shown = key if len(key) <= 60 and key.isprintable() else brief_repr(key)
            raise InputError(f"{where}: tcId {shown}: no such test in the vectors")
    result = []
    for test in vf.tests():
        key = str(test.tc_id)
        if key not in outputs:
            raise InputError(f"{where}: tcId {key}: missing")
        value = outputs[key]
        if value is None:
            if "temperature" not in test.inputs:
                raise InputError(
                    f"{where}: tcId {key}: null (only tests with a temperature may be)"
                )
            result.append(Outcome(None, "skipped", "no output (null)"))
            continue
        result.append(Outcome(_outputs_of(value, test, vf.op, fmt, f"{where}: tcId {key}")))
    return result


def _outputs_of(
    value: Any, test: TestCase, op: str, fmt: Format, where: str
) -> dict[str, np.ndarray]:
    k = int(test.inputs["z"].size)
    keys = EXPECTED_KEYS[op]
    if op == "cross_entropy" and isinstance(value, Mapping):
        missing = [key for key in keys if key not in value]
        if missing:
            raise InputError(f"{where}: missing {missing[0]!r}")
        parts = {
            "loss": _flat(value["loss"], where + " loss"),
            "grad": _flat(value["grad"], where + " grad"),
        }
    else:
        flat = _flat(value, where)
        parts = {"loss": flat[:1], "grad": flat[1:]} if op == "cross_entropy" else {keys[0]: flat}
    outputs = {}
    for key, tokens in parts.items():
        shape = expected_shape(op, key, k)
        size = int(np.prod(shape))
        if len(tokens) != size:
            raise InputError(f"{where}: expected {size} value(s) for {key}, got {len(tokens)}")
        values = np.empty(size)
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise InputError(
                    f"{where}, position {i}: expected a number string, got {brief_repr(token)}"
                )
            try:
                values[i] = parse_value(token, fmt)
            except InputError as exc:
                raise InputError(f"{where}, position {i}: {exc}") from None
        outputs[key] = values.reshape(shape)
    return outputs


def _flat(value: Any, where: str) -> list[Any]:
    """A value, a list, or a list of lists (jacobian rows) as one flat list."""
    if not isinstance(value, list):
        return [value]
    flat: list[Any] = []
    for item in value:
        if isinstance(item, list):
            if any(isinstance(x, list) for x in item):
                raise InputError(f"{where}: lists nested more than two deep")
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def score(
    vectors: VectorFile | str | os.PathLike[str],
    outputs: Mapping[str, Any] | str | os.PathLike[str],
    *,
    rule: PassRule | None = None,
    properties: bool = True,
    one_pass: bool = False,
    name: str | None = None,
) -> ValidationReport:
    """Judge outputs computed elsewhere against ``vectors``; same report as :func:`validate`.

    ``rule``: the :class:`~symsoftmax.validation.checks.PassRule` (default: the bound), as for
    :func:`~symsoftmax.validation.core.validate`. Properties that need calls (shift,
    permutation, determinism) are listed as not run. ``one_pass``: the outputs come from a
    one-pass (online) softmax, judged with the allowances of
    :func:`~symsoftmax.validation.properties.one_pass_allowance` (docs/validation.md).
    """
    start = time.perf_counter()
    rule = PassRule() if rule is None else rule
    vf, source = resolve_vectors(vectors, None, None, None)
    outcomes = read_outputs(outputs, vf)
    label = name or (str(outputs) if isinstance(outputs, str | os.PathLike) else "outputs")
    report = judge(
        vf,
        outcomes,
        rule,
        candidate_name=label,
        source=source,
        properties=properties,
        one_pass=one_pass,
    )
    report.seconds_total = time.perf_counter() - start
    return report
