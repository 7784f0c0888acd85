"""validate(fn, ...): run a candidate over the vectors and judge every output; judge(...) alone.

The flow: resolve the vectors (:mod:`~symsoftmax.validation.sources`), call the candidate on
every test (:mod:`~symsoftmax.validation.runner`), evaluate each output against the exact values
by the pass rule (:mod:`~symsoftmax.validation.checks`), check the properties
(:mod:`~symsoftmax.validation.properties`) and collect everything in a
:class:`~symsoftmax.validation.report.ValidationReport`. ``symsoftmax score`` enters at
:func:`judge` with outputs read from a file instead of computed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from symsoftmax import collector
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.validation.adapters import FRAMEWORKS, get_adapter
from symsoftmax.validation.checks import (
    PassRule,
    PreparedTest,
    RowProfile,
    componentwise_reasons,
    evaluate,
    measure_many,
    stack_outputs,
)
from symsoftmax.validation.componentwise import COMPONENTWISE_OPS
from symsoftmax.validation.diagnosis import diagnose
from symsoftmax.validation.isolation import IsolatedCaller, target_reference
from symsoftmax.validation.properties import check_properties, check_require
from symsoftmax.validation.report import TestResult, ValidationReport
from symsoftmax.validation.runner import (
    MAX_IDENTICAL_FAILURES,
    Caller,
    CallGuard,
    Candidate,
    InProcessCaller,
    Outcome,
    check_max_identical_failures,
)
from symsoftmax.validation.sources import cache_trusted, resolve_vectors
from symsoftmax.validation.target import load_target, locate_target
from symsoftmax.vectors.model import VectorFile

if TYPE_CHECKING:
    from symsoftmax.vectors.builder import Progress

__all__ = ["judge", "prepare", "validate"]

COMPANION_OP = {"softmax": "log_softmax", "log_softmax": "softmax"}


def prepare(vf: VectorFile) -> list[PreparedTest]:
    """The tests of ``vf`` with exact values parsed (memoized while ``vf`` is alive)."""
    return PreparedTest.of_file(vf)


def judge(
    vf: VectorFile,
    outcomes: Sequence[Outcome],
    rule: PassRule,
    *,
    candidate_name: str,
    source: str,
    candidate: Candidate | None = None,
    companion: Candidate | None = None,
    properties: bool = True,
    seed: int = 0,
    one_pass: bool = False,
    require: Sequence[str] = (),
) -> ValidationReport:
    """Evaluate outcomes (one per test of ``vf``, in order) and check the properties
    (``one_pass``: with the allowances of a one-pass softmax; ``require``: the optional
    properties that fail the verdict too; see validation.properties)."""
    with collector.paused():  # (see symsoftmax.collector; no call of the candidate inside)
        fmt = get_format(vf.dtype)
        prepared = prepare(vf)
        outputs = [o.outputs for o in outcomes]
        batches = stack_outputs(prepared, outputs, fmt, rule)
        facts = RowProfile.of(prepared)
        judged = componentwise_reasons(prepared, outputs, vf.op, fmt, rule, batches)
        measured = measure_many(prepared, outputs, fmt, rule, batches)
        results: list[TestResult] = []
        rows = zip(prepared, outcomes, judged, measured, facts.spread, strict=True)
        for item, outcome, reasons, measures, spread in rows:
            test = item.test
            result = TestResult(
                tc_id=test.tc_id,
                flags=test.flags,
                comment=test.comment,
                result=test.result,
                status=outcome.kind if outcome.kind in ("skipped", "not-run") else "error",
                reason=outcome.problem,
                inputs=test.inputs,
                expected=test.expected,
                got=outcome.outputs,
                spread=spread,
                seconds=outcome.seconds,
                output=outcome.output,
            )
            if outcome.outputs is not None:
                verdict = evaluate(
                    item, outcome.outputs, vf.op, fmt, rule, judged=reasons, measured=measures
                )
                result.status = "pass" if verdict.passed else "fail"
                result.reason = verdict.reason
                result.ulp = verdict.ulp
                result.rel_error = verdict.rel_error
                result.bound_u = verdict.bound_u
                result.bound_form = _bound_form(rule, vf.op, verdict.bound_form)
                result.answer = verdict.answer
                result.worst_key = verdict.worst_key
                result.worst_index = verdict.worst_index
                result.ulps = verdict.ulps
            results.append(result)
    calls = candidate is not None or companion is not None  # properties that call it
    with contextlib.nullcontext() if calls else collector.paused():
        found = (
            check_properties(
                vf.op,
                fmt,
                prepared,
                outcomes,
                candidate,
                companion=companion,
                ftz=rule.ftz,
                seed=seed,
                one_pass=one_pass,
                require=require,
                state=rule.kernel.state_format(fmt) if rule.mode == "bound" else fmt,
                finite=facts.finite,
            )
            if properties
            else []
        )
    with collector.paused():  # it judges the failures again, never calls
        diagnosis = diagnose(prepared, outcomes, results, vf.op, fmt, rule)
    return ValidationReport(
        op=vf.op,
        dtype=vf.dtype,
        rule=rule,
        candidate=candidate_name,
        source=source,
        results=results,
        properties=found,
        notes=dict(vf.notes),
        diagnosis=diagnosis,
    )


def _bound_form(rule: PassRule, op: str, normwise_form: str) -> str:
    """Which bound judged a test: "per-component", the normwise form, or "" (other modes)."""
    if rule.mode == "bound" and op in COMPONENTWISE_OPS:
        return "per-component"
    return normwise_form if rule.mode in ("bound", "normwise") else ""


def validate(
    fn: Callable[..., Any] | str,
    op: str | None = None,
    dtype: str | None = None,
    *,
    vectors: VectorFile | str | os.PathLike[str] | None = None,
    suite: str | None = None,
    seed: int = 0,
    rule: PassRule | None = None,
    batch: bool = False,
    framework: str = "numpy",
    timeout: float | None = 10.0,
    properties: bool = True,
    companion: Callable[..., Any] | str | None = None,
    temperature: str = "auto",
    name: str | None = None,
    progress: Progress | None = None,
    isolate: bool = False,
    one_pass: bool | None = None,
    max_identical_failures: int = MAX_IDENTICAL_FAILURES,
    sandbox: bool = True,
    require: str | Sequence[str] = (),
) -> ValidationReport:
    """Validate ``fn`` against reference vectors; returns a :class:`ValidationReport`.

    ``fn`` receives one 1-D array of the target dtype per test (``fn(z)``; ``fn(z, g)`` for the
    VJPs, ``fn(z, y)`` → ``(loss, grad)`` for cross_entropy; ``fn(z)`` → (K, K) for jacobian), or
    2-D arrays of rows with ``batch=True``. ``framework="torch"``/``"jax"`` hands it tensors.
    Vectors: ``vectors`` (a VectorFile or a .json/.npz path; op and dtype are then taken from
    it) or a generated ``suite`` ("quick", "standard", "exhaustive"; default "standard").
    ``rule``: the :class:`~symsoftmax.validation.checks.PassRule` (default: the bound), e.g.
    ``PassRule("faithful")``, ``PassRule("correctly-rounded", ftz=True)`` (subnormal results may
    flush to zero) or ``PassRule(max_ulp=N)``. ``companion``: for op softmax a log_softmax
    function (and vice versa) for the exp(log_softmax) property. ``timeout`` (seconds per call,
    None for no limit). ``progress``: a callback told how the generation of a suite goes
    (:class:`~symsoftmax.vectors.builder.ProgressStep`; the CLI draws a bar with it).
    ``isolate=True`` runs ``fn`` (and ``companion``) in a worker process
    (:mod:`~symsoftmax.validation.isolation`): they must then be importable by name, or be
    ``"module:function"`` / ``"path/file.py:function"`` strings. ``one_pass``: ``fn`` is a
    one-pass (online, blockwise) softmax, whose monotonicity and sum-to-one properties get the
    wider allowances of :func:`~symsoftmax.validation.properties.one_pass_allowance`; None
    reads ``fn.one_pass`` (True for :func:`~symsoftmax.testing.attention_as_softmax`'s
    candidates), False when absent. ``max_identical_failures``: after that many calls in a row
    failing alike (same exception and message, same wrong dtype or shape), confirmed by a few
    spot checks further on, the remaining tests are not run and ``report.stopped`` says why
    (0: never stop early; see :mod:`~symsoftmax.validation.runner`). ``sandbox``: with
    ``isolate=True``, confine the worker where the platform can (Linux Landlock: no writes
    outside a private folder, no signals outside; :mod:`~symsoftmax.validation.sandbox`);
    ``sandbox=False`` declares the candidate trusted, and the run then neither reads the suite
    cache nor confines it. ``report.sandbox`` says what was applied. See docs/validation.md,
    "Threat model". ``require``: optional properties that must hold too (``"batch-invariance"``:
    a row alone gives the bits it got in its batch; needs ``batch=True``); reported either way.
    """
    start = time.perf_counter()
    check_max_identical_failures(max_identical_failures)
    require = _required(require, batch=batch, properties=properties)
    rule = PassRule() if rule is None else rule
    if one_pass is None:
        one_pass = getattr(fn, "one_pass", False) is True
    if one_pass and rule.kernel.algorithm == "two-pass":  # judged as the class it declares
        rule = dataclasses.replace(
            rule, kernel=dataclasses.replace(rule.kernel, algorithm="one-pass")
        )
    for target in (fn, companion):  # a missing file or module fails before any vectors are made
        if isinstance(target, str):
            locate_target(target)
    trust_cache = cache_trusted(isolate=isolate, sandbox=sandbox)
    vf, source = resolve_vectors(
        vectors, suite, op, dtype, seed, progress=progress, trust_cache=trust_cache
    )
    _check_attention_op(fn, vf.op)
    fmt = get_format(vf.dtype)
    fns = [fn]
    if companion is not None and vf.op in COMPANION_OP:
        fns.append(companion)
    with_companion = len(fns) == 2
    caller = _caller(fns, framework, timeout, isolate, sandbox)
    try:
        candidate = Candidate(
            caller,
            vf.op,
            fmt,
            batch=batch,
            temperature=temperature,
            max_identical_failures=max_identical_failures,
        )
        partner = Candidate(caller, COMPANION_OP[vf.op], fmt, target=1) if with_companion else None
        outcomes = candidate.run(list(vf.tests()))
        report = judge(
            vf,
            outcomes,
            rule,
            candidate_name=name or _name_of(fn),
            source=source,
            candidate=candidate,
            companion=partner,
            properties=properties,
            seed=seed,
            one_pass=one_pass,
            require=require,
        )
    finally:
        if isinstance(caller, IsolatedCaller):
            caller.close()
    if isinstance(caller, IsolatedCaller) and caller.import_output:
        report.other_output.append(("import", caller.import_output))
    report.sandbox = _sandbox_text(caller, sandbox)
    for cand in (candidate, partner):
        if cand is not None and cand.other_output:
            report.other_output += [("property checks", text) for text in cand.other_output]
    report.stopped = candidate.stopped
    report.seconds_candidate = candidate.seconds + (partner.seconds if partner else 0.0)
    report.seconds_total = time.perf_counter() - start
    return report


def _required(require: str | Sequence[str], *, batch: bool, properties: bool) -> tuple[str, ...]:
    """The optional properties asked for (validation.properties.check_require), when this run
    can check them: InputError otherwise."""
    names = check_require(require)
    if names and not properties:
        raise InputError(f"require {', '.join(names)} needs the properties (not properties=False)")
    if "batch-invariance" in names and not batch:
        raise InputError(
            "require batch-invariance needs batch=True (--batch): a candidate called one row "
            "at a time has no batches"
        )
    return names


def _check_attention_op(fn: Callable[..., Any] | str, op: str) -> None:
    """InputError when ``fn`` is an attention candidate made for another op than ``op``."""
    from symsoftmax.validation.attention import AttentionSoftmax

    if isinstance(fn, AttentionSoftmax) and fn.op != op:
        raise InputError(
            f"the attention candidate computes {fn.op} but the vectors are {op} "
            f"(attention_as_softmax(op={op!r}), --op {op})"
        )


def _sandbox_text(caller: Caller, asked: bool) -> str:
    """What confined the candidate, for the report."""
    if not isinstance(caller, IsolatedCaller):
        return "none: the candidate ran in this process (trusted code)"
    if caller.sandbox:
        return caller.sandbox
    if not asked:
        return "none: --no-sandbox (the candidate is trusted code)"
    return "none: the platform offers no Landlock (Linux >= 5.13); the suite cache was not read"


def _caller(
    fns: list[Callable[..., Any] | str],
    framework: str,
    timeout: float | None,
    isolate: bool,
    sandbox: bool,
) -> Caller:
    """The worker-process caller, or the in-process one (a string is loaded here)."""
    if isolate:
        from symsoftmax.validation.attention import AttentionSoftmax

        attention = None
        if isinstance(fns[0], AttentionSoftmax):  # the worker wraps the attention function
            if len(fns) > 1:
                raise InputError("an attention candidate takes no companion function")
            attention = fns[0].worker_options()
            framework = fns[0].framework
            fns = [fns[0].attn, *fns[1:]]
        if framework not in FRAMEWORKS:  # the framework itself is imported by the worker only
            get_adapter(framework)
        refs = [target_reference(f) for f in fns]
        return IsolatedCaller(
            refs, framework=framework, timeout=timeout, attention=attention, sandbox=sandbox
        )
    loaded = [load_target(f) if isinstance(f, str) else f for f in fns]
    return InProcessCaller(loaded, get_adapter(framework), CallGuard(timeout))


def _name_of(fn: Callable[..., Any] | str) -> str:
    if isinstance(fn, str):
        return fn
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{qualname}" if module else str(qualname)
