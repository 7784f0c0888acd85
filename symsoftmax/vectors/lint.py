"""``lint(path)``: every problem of a vector file, each as one :class:`Finding` line.

Checks, in order: the file is JSON or NPZ at all (else InputError: unreadable); the JSON Schema;
unique tcIds; header.numberOfTests; header.sha256 against the content; hex values that are not
values of the file's format; shapes against K; flags without notes; "acceptable" tests whose
expected value is none of their answers (:func:`symsoftmax.vectors.check.check_document`). Then,
with ``recheck=True``, every expected value, exact decimal and answer set is recomputed with the
reference engine and compared (bitwise for format values, so −0 and +0 differ).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from symsoftmax.formats import get_format
from symsoftmax.rounding import format_hex
from symsoftmax.vectors.builder import Draft, Progress, answers_for, reference_values
from symsoftmax.vectors.check import Finding, check_document, decode_document
from symsoftmax.vectors.io import read_document
from symsoftmax.vectors.model import TestCase, VectorFile

__all__ = ["Finding", "lint"]

MAX_VALUE_FINDINGS_PER_FIELD = 3


def lint(
    path: str | os.PathLike[str], *, recheck: bool = True, progress: Progress | None = None
) -> list[Finding]:
    """All findings in a vector file (an empty list: the file is clean).

    Raises InputError if the file cannot be read as JSON or NPZ at all.
    """
    file = str(path)
    document = read_document(path)
    findings = check_document(document, file)
    if not recheck or any(f.what.startswith("schema:") for f in findings):
        return findings
    broken = {f.tc_id for f in findings if f.tc_id is not None}
    vf = decode_document(document, file)
    findings += _recheck(vf, file, broken, progress)
    return findings


def _recheck(vf: VectorFile, file: str, skip: set[int], progress: Progress | None) -> list[Finding]:
    """Compare every test's expected values, exact decimals and answers with the engine."""
    fmt = get_format(vf.dtype)
    tests = [tc for tc in vf.tests() if tc.tc_id not in skip]
    drafts = [Draft(int(tc.inputs["z"].size), tc.inputs, tc.flags, tc.comment) for tc in tests]
    values = reference_values(vf.op, fmt, drafts, progress)
    findings: list[Finding] = []
    for tc, (expected, exact) in zip(tests, values, strict=True):
        findings += _compare_test(tc, expected, exact, vf.op, file)
    return findings


def _compare_test(
    tc: TestCase, expected: dict[str, Any], exact: dict[str, Any], op: str, file: str
) -> list[Finding]:
    out: list[Finding] = []
    for key, reference in expected.items():
        got_hex = [format_hex(v) for v in np.asarray(tc.expected[key]).ravel().tolist()]
        want_hex = [format_hex(v) for v in np.asarray(reference).ravel().tolist()]
        out += _differences(tc, f"expected.{key}", got_hex, want_hex, reference.shape, file)
        got_dec = [str(v) for v in np.asarray(tc.exact[key]).ravel()]
        want_dec = [str(v) for v in np.asarray(exact[key]).ravel()]
        out += _differences(tc, f"exact.{key}", got_dec, want_dec, reference.shape, file)
    answers = answers_for(op, tc.inputs, expected)
    want = [(a.name, _hex_outputs(a.outputs)) for a in answers]
    got = [(a.name, _hex_outputs(a.outputs)) for a in tc.acceptable]
    want_result = "acceptable" if answers else "valid"
    if tc.result != want_result:
        what = f"is {tc.result!r}, should be {want_result!r}"
        out.append(Finding(file, tc.tc_id, "result", what))
    elif sorted(got) != sorted(want):
        names = ", ".join(name for name, _ in want)
        out.append(Finding(file, tc.tc_id, "acceptable", f"answers differ from ({names})"))
    return out


def _hex_outputs(outputs: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (key, tuple(format_hex(v) for v in np.asarray(value).ravel().tolist()))
        for key, value in sorted(outputs.items())
    )


def _differences(
    tc: TestCase,
    field: str,
    got: list[str],
    want: list[str],
    shape: tuple[int, ...],
    file: str,
) -> list[Finding]:
    out = []
    mismatches = [i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b]
    for i in mismatches[:MAX_VALUE_FINDINGS_PER_FIELD]:
        index = "[" + ", ".join(map(str, np.unravel_index(i, shape))) + "]"
        out.append(
            Finding(file, tc.tc_id, f"{field}{index}", f"file has {got[i]}, reference {want[i]}")
        )
    if len(mismatches) > MAX_VALUE_FINDINGS_PER_FIELD:
        more = len(mismatches) - MAX_VALUE_FINDINGS_PER_FIELD
        out.append(Finding(file, tc.tc_id, field, f"{more} more values differ"))
    return out
