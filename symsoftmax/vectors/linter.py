"""``lint(path)``: every problem of a vector file, each as one :class:`Finding` line.

Checks, in order: the file is JSON or NPZ at all (else InputError: unreadable); the JSON Schema;
unique tcIds; header.numberOfTests; header.sha256 against the content; hex values that are not
values of the file's format; shapes against K; flags without notes; "acceptable" tests whose
expected value is none of their answers (:func:`symsoftmax.vectors.check.check_document`); for a
file whose header names a generated suite, that it is that suite: its tcIds, and for files of
this generator version its rows, flags and inputs bit for bit
(:mod:`symsoftmax.vectors.manifest`). Then,
with ``recheck=True``, every expected value, exact decimal and answer set is recomputed and
compared (bitwise for format values, so −0 and +0 differ).

The recheck uses the reference engine's **authority path** alone: mpmath balls and Ziv's loop
(``evaluate(..., fast=False)``), never the vectorized fast path that generated the values. A
check that re-ran the generating code would call its own mistakes clean. ``sample=N`` rechecks N
tests drawn with a seeded generator (for files whose full recheck takes too long); the result
says how many tests and values were rechecked.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.rounding import format_hex
from symsoftmax.vectors.builder import Draft, Progress, answers_for, reference_values
from symsoftmax.vectors.check import Finding, check_document, decode_document
from symsoftmax.vectors.io import read_document
from symsoftmax.vectors.manifest import manifest_findings, matches_this_generator
from symsoftmax.vectors.model import TestCase, VectorFile

__all__ = ["RECHECK_PATH", "Finding", "LintResult", "lint"]

MAX_VALUE_FINDINGS_PER_FIELD = 3
RECHECK_PATH = "authority path (mpmath balls, Ziv's loop; no fast path)"


class LintResult(list[Finding]):
    """The findings (a list: empty means clean) and what the recheck covered.

    ``tests``: tests in the file; ``rechecked_tests`` / ``rechecked_values``: tests and output
    values recomputed (0 without recheck); ``sample``/``seed``: the sampling asked for;
    ``recheck_path``: which engine path recomputed them.
    """

    def __init__(
        self, findings: list[Finding] | None = None, *, sample: int | None = None, seed: int = 0
    ) -> None:
        super().__init__(findings or [])
        self.tests = 0
        self.rechecked_tests = 0
        self.rechecked_values = 0
        self.sample = sample
        self.seed = seed
        self.recheck_path = RECHECK_PATH

    def coverage(self) -> str:
        """One line: what was rechecked, and with which path."""
        if not self.rechecked_tests:
            return "expected values not rechecked"
        drawn = (
            f" (a sample drawn with seed {self.seed})" if self.rechecked_tests < self.tests else ""
        )
        return (
            f"rechecked {self.rechecked_values} values of {self.rechecked_tests} of "
            f"{self.tests} tests{drawn} with the {self.recheck_path}"
        )


def lint(
    path: str | os.PathLike[str],
    *,
    recheck: bool = True,
    sample: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> LintResult:
    """All findings in a vector file (an empty list: the file is clean).

    ``recheck``: recompute expected values with the authority path; ``sample``: only that many
    tests, drawn with ``seed`` (all tests when ``sample`` is None or at least the test count).
    Raises InputError if the file cannot be read as JSON or NPZ at all, or for a bad ``sample``.
    """
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, int) or sample < 1
    ):
        raise InputError(f"sample must be a positive number of tests, got {sample!r}")
    file = str(path)
    document = read_document(path)
    findings = check_document(document, file)
    result = LintResult(findings, sample=sample, seed=seed)
    if any(f.what.startswith("schema:") for f in findings):
        return result
    broken = {f.tc_id for f in findings if f.tc_id is not None}
    vf = decode_document(document, file)
    tests = list(vf.tests())
    result.tests = len(tests)
    # A file that names a generated suite must be that suite (not trimmed, padded or edited);
    # rows are compared only for files of this generator version (others may differ legitimately)
    suite = manifest_findings(vf, file, compare_tests=matches_this_generator(vf))
    result.extend(f for f in suite if f.tc_id is None or f.tc_id not in broken)
    if not recheck:
        return result
    chosen = [tc for tc in tests if tc.tc_id not in broken]
    if sample is not None and sample < len(chosen):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(chosen), size=sample, replace=False))
        chosen = [chosen[i] for i in keep]
    result.extend(_recheck(vf, chosen, file, progress))
    result.rechecked_tests = len(chosen)
    result.rechecked_values = sum(
        int(np.asarray(value).size) for tc in chosen for value in tc.expected.values()
    )
    return result


def _recheck(
    vf: VectorFile, tests: list[TestCase], file: str, progress: Progress | None
) -> list[Finding]:
    """Compare the tests' expected values, exact decimals and answers with the authority path."""
    fmt = get_format(vf.dtype)
    drafts = [Draft(int(tc.inputs["z"].size), tc.inputs, tc.flags, tc.comment) for tc in tests]
    values = reference_values(vf.op, fmt, drafts, progress, fast=False)
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
