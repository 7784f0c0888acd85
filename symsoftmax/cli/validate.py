"""`symsoftmax validate TARGET`: run a Python function over the vectors and judge it.

TARGET is ``module:function`` or ``path/to/file.py:function``; it is imported and called in a
worker process (:mod:`symsoftmax.validation.isolation`), so whatever it does — exit, crash,
hang, print, chdir — this process reports it. Exit status 0 when every test ran and passed and
every property held, 1 otherwise, 2 for usage or input errors (a target that cannot be imported).
With ``--attention`` TARGET is a fused attention function, wrapped into a softmax candidate in
the worker (:mod:`symsoftmax.validation.attention`).
"""

from __future__ import annotations

import argparse
from typing import Any

from symsoftmax.cli._options import add_seed_option, int_option
from symsoftmax.cli._report_options import add_verdict_options, emit, pass_rule
from symsoftmax.formats import FORMATS
from symsoftmax.validation.adapters import FRAMEWORKS
from symsoftmax.validation.attention import ATTENTION_OPS, CALLS, LAYOUTS, MASKS, MAX_HEAD_DIM
from symsoftmax.validation.runner import MAX_IDENTICAL_FAILURES, TEMPERATURE_POLICIES
from symsoftmax.vectors.model import OPS, SUITES

_ATTENTION_OPTIONS = ("layout", "mask", "head_dim", "call", "device", "fixed_scale", "sinks")
_ATTENTION_RENAMED = {"softcap_keyword": "softcap"}  # option dest → attention_as_softmax's
_ABIS = ("c",)  # symsoftmax.validation.native.ABIS, not imported to parse the options


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        # the one-line help is symsoftmax.cli.SUMMARIES["validate"]
        description="Call TARGET on every test vector and judge its outputs in ulps against "
        "the exact values (see docs/validation.md).",
    )
    parser.add_argument("target", metavar="TARGET", help="module:function or path/file.py:function")
    parser.add_argument("--op", choices=OPS, help="operation (default softmax, or the file's)")
    parser.add_argument("--dtype", help=f"{', '.join(FORMATS)} (default float32)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--vectors", metavar="FILE", help="vector file (.json or .npz)")
    source.add_argument(
        "--suite",
        choices=SUITES,
        help="generate (and cache) this suite (default standard)",
    )
    add_seed_option(parser, help="generator seed for --suite")
    parser.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        default="numpy",
        help="hand the function NumPy arrays (default), torch tensors or jax arrays",
    )
    parser.add_argument(
        "--batch", action="store_true", help="call once per row length with 2-D arrays"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        help="seconds allowed per call and for importing TARGET; the worker is killed on "
        "overrun (default 10)",
    )
    parser.add_argument(
        "--max-identical-failures",
        type=int_option("--max-identical-failures", 0, 10**9),
        default=MAX_IDENTICAL_FAILURES,
        metavar="N",
        help="stop when N calls in a row fail alike (same exception, wrong dtype or shape) and "
        f"spot checks further on too: the rest is not run (default {MAX_IDENTICAL_FAILURES}; "
        "0: never)",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run TARGET without the sandbox (Linux Landlock: writes only in a private folder, "
        "no signals outside): for trusted code that must write elsewhere; the suite cache is "
        "then not read (docs/validation.md, 'Threat model')",
    )
    parser.add_argument(
        "--temperature",
        choices=TEMPERATURE_POLICIES,
        default="auto",
        help="tests with a temperature: pass temperature= if the function takes it (auto), "
        "always, or skip them",
    )
    parser.add_argument(
        "--require",
        action="append",
        type=_optional_property,
        default=[],
        metavar="PROPERTY",
        help="an optional property that must hold too (repeatable): batch-invariance (a row "
        "alone gives the bits it got in its batch; needs --batch or --attention); reported "
        "either way",
    )
    parser.add_argument(
        "--companion",
        metavar="TARGET",
        help="the matching log_softmax (for softmax) or softmax (for log_softmax) function, "
        "for the exp(log_softmax) property",
    )
    parser.add_argument(
        "--abi",
        choices=_ABIS,
        help="c: TARGET is path/lib.so:SYMBOL, a C kernel called through ctypes in the worker "
        "(signatures: symsoftmax abi --header; needs --op; tests with a temperature are "
        "skipped); see docs/languages.md",
    )
    _add_attention_options(parser)
    add_verdict_options(parser)
    parser.set_defaults(run=run)


def _add_attention_options(parser: Any) -> None:
    """``--attention`` and the options of the attention adapter (docs/attention.md)."""
    group = parser.add_argument_group(
        "attention",
        "TARGET is a fused attention function, validated as a softmax (or --op logsumexp) "
        "through symsoftmax.testing.attention_as_softmax, rows of equal K in one call",
    )
    group.add_argument("--attention", action="store_true", help="TARGET is an attention function")
    group.add_argument(
        "--layout",
        choices=LAYOUTS,
        help="q, k, v as (batch, heads, seq, dim) or (batch, seq, heads, dim) (default bhsd)",
    )
    group.add_argument(
        "--mask",
        choices=MASKS,
        help="how -inf logits reach the kernel: boolean mask (False = masked), additive -inf "
        "mask, or none (-inf inline in the keys) (default boolean; none with --call flash)",
    )
    group.add_argument(
        "--head-dim",
        type=int_option("--head-dim", 1, MAX_HEAD_DIM),
        metavar="N",
        help="head dimension: output columns per call (default 64)",
    )
    group.add_argument(
        "--call",
        choices=CALLS,
        help="attn(q, k, v, attn_mask=M, scale=1.0) (sdpa, default) or attn(q, k, v, "
        "softmax_scale=1.0, causal=False) (flash)",
    )
    group.add_argument(
        "--device",
        help="device of the kernel's tensors with --framework torch or jax (default cpu)",
    )
    group.add_argument(
        "--fixed-scale",
        action="store_true",
        default=None,  # None when not given, like the other attention options
        help="the kernel fixes the scale at 1/sqrt(head_dim) and takes none (Paddle, tinygrad): "
        "called without scale, q = sqrt(head_dim)*e1; --head-dim a power of 4",
    )
    group.add_argument(
        "--sinks",
        metavar="NAME",
        help="the kernel's keyword for a per-head sink tensor (sinks, learnable_sink, s_aux): "
        "the sink tests are run, each sink in head 0 (default: skipped)",
    )
    group.add_argument(
        "--softcap-keyword",
        metavar="NAME",
        help="the kernel's keyword for the soft-cap, a float (softcap, logit_softcap): the "
        "soft-cap tests are run (default: skipped)",
    )


def _seconds(text: str) -> float:
    """A --timeout value: a number of seconds accepted by the time limits (one-line error)."""
    from symsoftmax.errors import InputError
    from symsoftmax.validation.runner import MAX_TIMEOUT, check_timeout

    try:
        value = check_timeout(float(text))
    except (ValueError, InputError):  # ValueError: not a number
        raise argparse.ArgumentTypeError(
            f"expected seconds > 0 and ≤ {MAX_TIMEOUT:g}, got {text!r}"
        ) from None
    assert value is not None  # check_timeout(x) is None only for x None
    return value


def _optional_property(text: str) -> str:
    """A --require value: the name of an optional property (one-line error naming them)."""
    from symsoftmax.errors import InputError
    from symsoftmax.validation.properties import check_require

    try:
        check_require(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _attention_candidate(args: argparse.Namespace) -> Any:
    """TARGET wrapped by attention_as_softmax (--attention), or TARGET itself; InputError for
    an attention option without --attention and for options the adapter cannot combine."""
    from symsoftmax.errors import InputError
    from symsoftmax.validation.attention import attention_as_softmax

    options = {name: getattr(args, name) for name in (*_ATTENTION_OPTIONS, *_ATTENTION_RENAMED)}
    given = {name: value for name, value in options.items() if value is not None}
    if not args.attention:
        if given:
            raise InputError(f"--{next(iter(given)).replace('_', '-')} needs --attention")
        return args.target
    given = {_ATTENTION_RENAMED.get(name, name): value for name, value in given.items()}
    if args.companion is not None:
        raise InputError(
            "--companion does not apply to --attention (the kernel has no log_softmax)"
        )
    if args.temperature == "keyword":
        raise InputError("--temperature keyword does not apply to --attention (scale is 1)")
    if args.op not in (None, *ATTENTION_OPS):
        raise InputError(f"--attention validates --op {' or '.join(ATTENTION_OPS)}, not {args.op}")
    if args.call == "flash":
        given.setdefault("mask", "none")  # flash-attn's convention takes no mask
    return attention_as_softmax(
        args.target, framework=args.framework, op=args.op or "softmax", **given
    )


def _native_candidate(args: argparse.Namespace) -> str:
    """The reference of a shared library's kernel (``--abi c``); InputError for the options
    that do not apply to it."""
    from symsoftmax.errors import InputError
    from symsoftmax.validation.native import native_reference

    if args.op is None:
        raise InputError("--abi c needs --op: the op fixes the C signature")
    refused = [
        ("--attention", args.attention),
        ("--companion", args.companion is not None),
        ("--framework", args.framework != "numpy"),
        ("--temperature keyword", args.temperature == "keyword"),
    ]
    for option, given in refused:
        if given:
            raise InputError(f"{option} does not apply to --abi c")
    return native_reference(args.target, args.op)


def run(args: argparse.Namespace) -> int:
    from symsoftmax.cli._progress import progress_bar
    from symsoftmax.validation import validate

    candidate = _native_candidate(args) if args.abi else _attention_candidate(args)
    with progress_bar() as progress:
        report = validate(
            candidate,
            args.op,
            args.dtype,
            vectors=args.vectors,
            suite=args.suite,
            seed=args.seed,
            rule=pass_rule(args),
            batch=args.batch or args.attention,
            framework="numpy" if args.attention else args.framework,
            timeout=args.timeout,
            properties=not args.no_properties,
            companion=args.companion,
            temperature=args.temperature,
            name=args.target,
            progress=progress,
            isolate=True,
            one_pass=args.one_pass or args.attention,
            max_identical_failures=args.max_identical_failures,
            sandbox=not args.no_sandbox,
            require=args.require,
        )
    return emit(report, args)
