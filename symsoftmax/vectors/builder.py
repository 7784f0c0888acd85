"""Build a vector file: catalogue rows → second inputs → reference values → groups and header.

Rows come from :data:`symsoftmax.vectors.catalogue.FAMILIES`; the VJPs get a cotangent and
cross-entropy a target from the companions, cycling through them so that every family meets
every kind. Expected values and exact decimals come from :func:`symsoftmax.reference.evaluate`
(rows of equal length are evaluated together, so the engine's vectorized fast path applies).

Special values follow the reference engine, and where the field disagrees the test is
"acceptable" with every allowed answer named (:func:`answers_for`):

* +inf entries: ``limit`` (uniform over the +inf entries; the engine's answer) or ``nan`` (an
  IEEE max-shift computes inf − inf);
* every entry −inf: ``nan`` (0/0, SciPy and PyTorch; the engine's answer) or ``masked``
  (FlashAttention and masked softmax: probabilities 0, log-probabilities −inf, derivatives 0).
  logsumexp is −inf (log 0) in both conventions, as in SciPy and PyTorch, so its test is
  valid with −inf the only answer (a NaN there is the bug of an unguarded max-shift).

An empty row (K = 0, only from :func:`from_rows`) has one answer: empty outputs, logsumexp −inf,
cross-entropy loss 0 (docs/reference.md).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax import __version__
from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.ops import OPERATIONS, SINK_OPS
from symsoftmax.rounding import as_format_array, round_array
from symsoftmax.vectors.answers import named_answers
from symsoftmax.vectors.catalogue import (
    COTANGENTS,
    FAMILIES,
    NOTES,
    TARGETS,
    Companion,
    Context,
    family_rng,
)
from symsoftmax.vectors.io import SCHEMA_NAME, content_sha256, encode_groups
from symsoftmax.vectors.model import (
    INPUT_KEYS,
    OPS,
    SUITES,
    TEMPERATURE_OPS,
    Answer,
    Note,
    TestCase,
    TestGroup,
    VectorFile,
    expected_shape,
)
from symsoftmax.vectors.tokens import DECIMAL_DIGITS

__all__ = [
    "CONVENTIONS",
    "DIGITS",
    "Progress",
    "ProgressStep",
    "answers_for",
    "build_file",
    "draft_rows",
    "file_order",
    "from_rows",
    "generate",
    "library_versions",
]

DIGITS = DECIMAL_DIGITS  # significant decimal digits of the exact values
GENERATOR_NAME = "symsoftmax.vectors"

CONVENTIONS = {
    "nan": "NaN in any input entry: every output is NaN (valid).",
    "pos-inf": "+inf entries: expected is the limit, uniform over the +inf entries (answer "
    "'limit'); NaN everywhere (answer 'nan', IEEE inf − inf) is acceptable.",
    "all-neg-inf": "every z entry −inf: expected is NaN (answer 'nan', 0/0), logsumexp −inf; "
    "the masked convention (answer 'masked': probabilities 0, log-probabilities and "
    "logsumexp −inf, derivatives 0) is acceptable. Cross-entropy: NaN only.",
    "neg-inf-entries": "cross-entropy with −inf logits where the target is 0: expected is the "
    "limit (0·log 0 taken as 0, answer 'limit'); a NaN loss with the expected gradient (answer "
    "'nan-loss', the IEEE product 0·(−inf) that PyTorch and JAX return) is acceptable.",
}

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ProgressStep:
    """How far the reference values of one file have got: ``done`` of ``total`` tests.

    ``label`` names the file ("softmax float32"). A ``progress`` callback receives one after
    each batch of tests (rows of one length), ``done`` rising to ``total``; the command line
    draws its progress bar from them (symsoftmax/cli/_progress.py).
    """

    label: str
    done: int
    total: int


Progress = Callable[[ProgressStep], None]


@dataclass(frozen=True)
class Draft:
    """A test before its reference values: inputs, flags and comment."""

    k: int
    inputs: dict[str, Floats]
    flags: tuple[str, ...]
    comment: str


# The kinds of second input row, by input name (symsoftmax.ops): cotangents g, targets y.
_COMPANIONS: dict[str, tuple[Companion, ...]] = {"g": COTANGENTS, "y": TARGETS}


def draft_rows(op: str, dtype: str, suite: str, seed: int) -> list[Draft]:
    """Every test of the file before reference values, in catalogue order."""
    fmt = get_format(dtype)
    second = INPUT_KEYS[op][1] if len(INPUT_KEYS[op]) > 1 else None
    companions = _COMPANIONS[second] if second is not None else ()
    drafts = []
    for family in FAMILIES:
        if op not in family.ops:
            continue
        rows = family.make(Context(fmt, suite, op, family_rng(seed, family.name)))
        companion_rng = family_rng(seed, f"{family.name}/{second}")
        for index, row in enumerate(rows):
            # float8_e4m3fn holds no ±inf: a family's −inf entries become NaN, as conversion does
            inputs = {"z": row.z if fmt.infinities else round_array(row.z, fmt)}
            flags, comment = family.flags, row.comment
            if second is not None:
                companion = companions[index % len(companions)]
                inputs[second] = companion.make(companion_rng, fmt, row.z.size)
                flags = (*flags, *companion.flags)
                comment = f"{comment}; {second}: {companion.name}"
            if row.temperature is not None:
                if op not in TEMPERATURE_OPS:
                    continue
                inputs["temperature"] = np.asarray(row.temperature, dtype=np.float64)
            if row.sink is not None or row.softcap is not None:
                if op not in SINK_OPS:
                    continue
                for name in ("sink", "softcap"):
                    if getattr(row, name) is not None:
                        inputs[name] = np.asarray(getattr(row, name), dtype=np.float64)
            drafts.append(Draft(row.z.size, inputs, flags, comment))
    return drafts


_Batch = tuple[int, float | None, float | None, float | None]


def _batches(drafts: list[Draft]) -> dict[_Batch, list[int]]:
    """Indices of drafts evaluated together: same K, temperature, sink and soft-cap."""
    batches: dict[_Batch, list[int]] = {}
    for i, draft in enumerate(drafts):
        t, s, c = (draft.inputs.get(name) for name in ("temperature", "sink", "softcap"))
        key = (draft.k, *(None if v is None else float(v) for v in (t, s, c)))
        batches.setdefault(key, []).append(i)  # type: ignore[arg-type]
    return batches


def reference_values(
    op: str,
    fmt: Format,
    drafts: list[Draft],
    progress: Progress | None = None,
    *,
    fast: bool = True,
) -> list[tuple[dict[str, Floats], dict[str, npt.NDArray[np.object_]]]]:
    """(expected, exact) of every draft from the reference engine, in draft order.

    ``fast=False`` computes the format values with the authority path alone (mpmath balls and
    Ziv's loop, no fast path), as lint does; the exact decimals always come from it.
    """
    from symsoftmax.reference import evaluate

    results: list[Any] = [None] * len(drafts)
    done = 0
    for (k, temperature, sink, softcap), indices in _batches(drafts).items():
        stacked = [np.stack([drafts[i].inputs[key] for i in indices]) for key in INPUT_KEYS[op]]
        per_key = {}
        for output in OPERATIONS[op].outputs:  # the op's reference plan
            result = evaluate(
                output.reference,
                *stacked,
                dtype=fmt.name,
                temperature=temperature,
                digits=DIGITS,
                fast=fast,
                sink=sink,
                softcap=softcap,
            )
            assert result.decimals is not None
            per_key[output.key] = (result.rounded, result.decimals)
        for position, i in enumerate(indices):
            expected, exact = {}, {}
            for key, (rounded, decimals) in per_key.items():
                expected[key] = np.asarray(rounded[position], dtype=np.float64).reshape(
                    expected_shape(op, key, k)
                )
                exact[key] = np.asarray(decimals[position], dtype=np.object_).reshape(
                    expected_shape(op, key, k)
                )
            results[i] = (expected, exact)
        done += len(indices)
        if progress is not None:
            progress(ProgressStep(f"{op} {fmt.name}", done, len(drafts)))
    return results


def _table_row(inputs: Mapping[str, Any]) -> Floats:
    """The row the answers table sees: z extended by the sink (a row masked but for a finite
    sink has one answer, 0) with +inf soft-capped to a finite c (one answer, no limit)."""
    z = np.asarray(inputs["z"], dtype=np.float64)
    if "softcap" in inputs:
        z = np.where(np.isposinf(z), float(inputs["softcap"]), z)
    if "sink" in inputs:
        z = np.append(z, float(inputs["sink"]))
    return z


def answers_for(
    op: str, inputs: dict[str, Floats], expected: dict[str, Floats]
) -> tuple[Answer, ...]:
    """The named answers of a test on which the field disagrees (empty: the test is valid):
    the row's answers in the one table of :mod:`symsoftmax.vectors.answers`, the reference's
    own first, those equal to it dropped."""
    batch = {
        key: np.asarray(value)[None] for key, value in inputs.items() if key in ("z", "g", "y")
    }
    batch["z"] = _table_row(inputs).reshape(1, -1)
    if "softcap" in inputs and "g" in batch:  # a masked logit's dz is g·sech²(−inf) = 0
        batch["g"] = np.zeros_like(batch["g"])
    wanted = {key: np.asarray(value)[None] for key, value in expected.items()}
    candidates = [
        Answer(a.name, {key: value[0] for key, value in a.outputs.items()})
        for a in named_answers(op, batch, wanted)
        if a.rows[0]
    ]
    if not candidates:
        return ()
    engine = next((a for a in candidates if _same(a.outputs, expected)), None)
    if engine is None:
        raise AssertionError(f"{op}: the reference's special value matches no named answer")
    distinct = [engine, *(a for a in candidates if not _same(a.outputs, engine.outputs))]
    return tuple(distinct) if len(distinct) > 1 else ()


def _same(a: dict[str, Floats], b: dict[str, Floats]) -> bool:
    return all(np.array_equal(a[key], b[key], equal_nan=True) for key in b)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that produced the values (recorded in the header)."""
    versions = {"python": platform.python_version()}
    for name in ("numpy", "mpmath", "sympy", "ml_dtypes", "python-flint", "gmpy2"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def generate(
    op: str,
    dtype: str,
    suite: str = "standard",
    seed: int = 0,
    *,
    progress: Progress | None = None,
) -> VectorFile:
    """Generate the vectors of ``op`` in ``dtype`` for a suite (quick, standard, exhaustive).

    Deterministic: the same arguments give the same file, byte for byte, on every platform with
    the same library versions. ``progress``: a callable that receives a :class:`ProgressStep`
    as the reference values are computed (the command line draws a progress bar with it).
    """
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    if suite not in SUITES:
        raise InputError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    fmt = get_format(dtype)
    drafts = draft_rows(op, fmt.name, suite, seed)
    return build_file(op, fmt, drafts, suite=suite, seed=seed, progress=progress)


def from_rows(
    op: str,
    dtype: str | Format,
    rows: Sequence[Mapping[str, Any] | Sequence[Any]],
    *,
    flags: tuple[str, ...] = ("custom",),
    note: str = "inputs given by the user",
    progress: Progress | None = None,
) -> VectorFile:
    """Vectors from your own input rows, with reference values from the reference engine.

    ``rows``: z rows (numbers or number strings), or mappings with "z" and, as the op needs, "g"
    or "y", and optionally "temperature" (and "sink", "softcap" for the ops of
    :data:`~symsoftmax.ops.SINK_OPS`). Row n (from 1) is test tcId n; the tests are grouped by
    row length like a generated file's (groups in ascending K), so tcIds within the file follow
    the input order group by group. An empty row is a test with K = 0 (empty outputs,
    logsumexp −inf, cross-entropy loss 0). Special values get the same named answers as in the
    generated suites. The header says ``"suite": "custom"``; the file saves, loads and lints
    like a generated one. ``progress`` as in :func:`generate`. A JSON file of rows:
    :func:`symsoftmax.vectors.rows.from_rows_file`.
    """
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    fmt = get_format(dtype)
    drafts = []
    for number, row in enumerate(rows, start=1):
        spec = row if isinstance(row, Mapping) else {"z": row}
        missing = [name for name in INPUT_KEYS[op] if name not in spec]
        if missing:
            raise InputError(
                f"row {number}: missing {', '.join(missing)} (op {op} needs "
                f"{', '.join(INPUT_KEYS[op])})"
            )
        unused = [name for name in ("g", "y") if name in spec and name not in INPUT_KEYS[op]]
        if unused:
            raise InputError(f"row {number}: op {op} takes no {unused[0]}")
        inputs = {
            name: np.atleast_1d(as_format_array(spec[name], fmt, name=f"row {number} {name}"))
            for name in INPUT_KEYS[op]
        }
        if any(inputs[name].ndim != 1 for name in inputs):
            raise InputError(f"row {number}: inputs must be 1-D rows")
        if any(inputs[name].size != inputs["z"].size for name in inputs):
            raise InputError(f"row {number}: inputs have different lengths")
        for name in ("temperature", "sink", "softcap"):
            if spec.get(name) is not None:
                inputs[name] = _row_scalar(op, fmt, spec[name], name, number)
        drafts.append(Draft(inputs["z"].size, inputs, flags, f"custom row {number}"))
    notes = {flag: Note(note, "") for flag in flags}
    return build_file(op, fmt, drafts, suite="custom", seed=0, progress=progress, notes=notes)


def _row_scalar(op: str, fmt: Format, value: Any, name: str, number: int) -> np.ndarray:
    """A row's temperature, sink or softcap as a 0-d array of ``fmt``: one value, positive and
    finite for a temperature or soft-cap (any value for a sink: ±inf and NaN have their
    meanings, docs/reference.md); InputError naming the row otherwise."""
    if op not in (TEMPERATURE_OPS if name == "temperature" else SINK_OPS):
        raise InputError(f"row {number}: op {op} takes no {name}")
    v = as_format_array(value, fmt, name=f"row {number} {name}")
    positive = name == "sink" or (np.isfinite(v).all() and (v > 0).all())
    if v.size != 1 or not positive:
        # the reference refuses it too, but without knowing which row it came from
        kind = "one" if name == "sink" else "one positive finite"
        raise InputError(f"row {number}: {name} must be {kind} {fmt.name} value")
    return v.reshape(())


def file_order(drafts: Sequence[Draft]) -> list[int]:
    """The drafts' indices in file order: groups of one K each, in ascending K; within a group,
    the drafts keep their order. Generated suites number their tests 1, 2, … in this order."""
    return sorted(range(len(drafts)), key=lambda i: drafts[i].k)


def build_file(
    op: str,
    fmt: Format,
    drafts: list[Draft],
    *,
    suite: str,
    seed: int,
    progress: Progress | None = None,
    notes: Mapping[str, Note] = NOTES,
) -> VectorFile:
    """The vector file of ``drafts``: reference values, named answers, tcIds, header, checksum."""
    if progress is not None and not callable(progress):  # progress=True drew a bar once
        raise InputError(f"progress must be a callable taking a ProgressStep, got {progress!r}")
    values = reference_values(op, fmt, drafts, progress)

    by_k: dict[int, list[TestCase]] = {}
    pending = []
    for draft, (expected, exact) in zip(drafts, values, strict=True):
        answers = answers_for(op, draft.inputs, expected)
        pending.append((draft, expected, exact, answers))
    # A user's rows keep their own numbering (row n is tcId n).
    for position, i in enumerate(file_order(drafts), start=1):
        draft, expected, exact, answers = pending[i]
        by_k.setdefault(draft.k, []).append(
            TestCase(
                tc_id=i + 1 if suite == "custom" else position,
                comment=draft.comment,
                flags=draft.flags,
                inputs=draft.inputs,
                expected=expected,
                exact=exact,
                result="acceptable" if answers else "valid",
                acceptable=answers,
            )
        )
    groups = tuple(TestGroup(k, tuple(tests)) for k, tests in by_k.items())
    used = {flag for group in groups for tc in group.tests for flag in tc.flags}
    used_notes = {flag: note for flag, note in notes.items() if flag in used}
    header: dict[str, Any] = {
        "op": op,
        "dtype": fmt.name,
        "generator": {"name": GENERATOR_NAME, "version": __version__},
        "schema": SCHEMA_NAME,
        "numberOfTests": len(pending),
        "seed": seed,
        "suite": suite,
        "libraries": library_versions(),
        "conventions": CONVENTIONS,
        "sha256": "",
    }
    draft_file = VectorFile(header=header, notes=used_notes, groups=groups, op=op, dtype=fmt.name)
    header["sha256"] = content_sha256(encode_groups(draft_file))
    return draft_file
