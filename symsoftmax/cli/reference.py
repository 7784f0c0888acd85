"""`symsoftmax reference OP`: correctly rounded softmax-family values of one vector.

Values (after ``--``, or a JSON list in ``--input FILE``) are decimal or hex-float strings,
``inf``, ``-inf`` or ``nan``, each rounded to the format first (to nearest). The second vector of
the VJP ops (``--cotangent``) and of the cross-entropy ops (``--target``) is a comma-separated list
(write ``--cotangent=-1,0,1`` when it starts with a minus sign) or ``@FILE`` holding a JSON list.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from symsoftmax.errors import InputError
from symsoftmax.ops import INPUT_OPTIONS, OPERATIONS, REFERENCE_OPS

_JSON_DIGITS = 40
_TEXT_DIGITS = 20
MAX_DIGITS = 4000
"""--digits cap: the decimals are printed with int → str, which Python limits to 4300 digits
(sys.get_int_max_str_digits), and settling them needs about 3.3 bits a digit of Ziv's loop."""
MAX_JACOBIAN_K = 1024
"""Largest K of `reference jacobian` without --allow-large: K² outputs, each settled exactly.
One run of `reference jacobian --dtype float32 --json` on 1000 Gaussian logits took 108 s and
0.6 GB (K = 300: 11 s), and both grow as K²: K = 10⁴ would take hours and tens of GB."""


def register(subparsers: Any) -> None:
    from symsoftmax.cli._options import int_option
    from symsoftmax.formats import FORMATS

    parser = subparsers.add_parser(
        "reference",
        # the one-line help is symsoftmax.cli.SUMMARIES["reference"]
        description="Print the correctly rounded value (nearest in the format, ties to even) of "
        "OP applied to a vector, with the exact value in decimal. Put the values after `--` "
        "so that negative numbers are not read as options.",
    )
    parser.add_argument(
        "op", choices=REFERENCE_OPS, metavar="OP", help=f"one of: {', '.join(REFERENCE_OPS)}"
    )
    parser.add_argument(
        "--dtype", required=True, choices=list(FORMATS), help="target format (inputs and outputs)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--digits",
        type=int_option("--digits", 1, MAX_DIGITS),
        default=None,
        help=f"significant digits of the exact values, 1..{MAX_DIGITS} (default "
        f"{_TEXT_DIGITS}; {_JSON_DIGITS} with --json, which this can only raise)",
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help=f"allow jacobian with K > {MAX_JACOBIAN_K} (K² outputs: time and memory grow as K²)",
    )
    parser.add_argument(
        "--input", metavar="FILE", help="read the vector from a JSON list of strings or numbers"
    )
    parser.add_argument(
        "--temperature",
        metavar="T",
        help="softmax temperature T > 0 (softmax, log_softmax, logsumexp): σ((x − max)/T)",
    )
    parser.add_argument(
        "--sink",
        metavar="S",
        help="attention sink s, a logit in the units of the scaled scores (softmax, "
        "log_softmax, logsumexp and their VJPs): e^s joins the sum, its output is dropped",
    )
    parser.add_argument(
        "--softcap",
        metavar="C",
        help="soft-cap c > 0 (the ops of --sink): each scaled logit becomes c·tanh(z/c)",
    )
    for name, option in INPUT_OPTIONS.items():  # the second inputs: --cotangent, --target
        users = [op.name for op in OPERATIONS.values() if name in op.inputs]
        parser.add_argument(
            f"--{option}",
            metavar="LIST",
            help=f"{name} for {' / '.join(users)}: comma-separated values or @FILE (JSON list)",
        )
    parser.add_argument(
        "values", nargs="*", metavar="VALUES", help="the vector (after --), e.g. -- 1 2 -0x1p-3"
    )
    parser.set_defaults(run=run)
    # VALUES come after the options (and `--`): argparse's default parsing would consume the
    # empty VALUES list together with OP, before the options; parse intermixed instead.
    parser.__class__ = type("_IntermixedParser", (_Intermixed, type(parser)), {})


class _Intermixed(argparse.ArgumentParser):
    """parse_known_args → parse_known_intermixed_args (which calls parse_known_args itself)."""

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _read_json_list(path: str) -> list[Any]:
    """A JSON list from a file; numbers are kept as their text, so they are parsed exactly."""
    from symsoftmax.jsonfile import load_json

    data = load_json(path, numbers_as_text=True)
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of numbers or number strings")
    return data


def _parse_vector(tokens: list[Any], dtype: str, where: str) -> list[float]:
    """Each token (string or JSON number) rounded to the format; errors name the position."""
    from symsoftmax.rounding import brief_repr, parse_value, round_exact

    values = []
    for i, token in enumerate(tokens):
        label = f"{where}[{i}]"
        if isinstance(token, str):
            try:
                values.append(parse_value(token, dtype))
            except InputError as exc:
                raise InputError(f"{label}: {exc}") from None
        elif isinstance(token, int | float) and not isinstance(token, bool):
            values.append(round_exact(token, dtype))
        else:
            raise InputError(
                f"{label}: expected a number or a number string, got {brief_repr(token)}"
            )
    return values


def _second_vector(args: argparse.Namespace, name: str) -> list[float]:
    spec = getattr(args, name)
    if spec is None:
        raise InputError(f"{args.op} needs --{name} (comma-separated values or @FILE)")
    if spec.startswith("@"):
        return _parse_vector(_read_json_list(spec[1:]), args.dtype, spec[1:])
    tokens = [token.strip() for token in spec.split(",")]
    return _parse_vector(tokens, args.dtype, f"--{name}")


def _shortest(value: float, dtype: str) -> str:
    """Shortest decimal that round-trips in the format."""
    import numpy as np

    from symsoftmax.formats import get_format

    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(np.asarray(value).astype(get_format(dtype).numpy_dtype))


def run(args: argparse.Namespace) -> int:
    from symsoftmax.errors import PrecisionLimitError
    from symsoftmax.reference import evaluate
    from symsoftmax.rounding import format_hex

    if args.input is not None and args.values:
        raise InputError("give the vector either after -- or with --input, not both")
    if args.input is not None:
        x = _parse_vector(_read_json_list(args.input), args.dtype, args.input)
    else:
        x = _parse_vector(list(args.values), args.dtype, "VALUES")
    if not x and args.input is None:  # an empty JSON list is an empty row; no VALUES a slip
        raise InputError("no values: give the vector after -- or with --input FILE")
    dims = OPERATIONS[args.op].dims  # the value of a row: a scalar, a vector or a K×K matrix
    if dims == 2 and len(x) > MAX_JACOBIAN_K and not args.allow_large:
        raise InputError(
            f"{args.op} of K = {len(x)} is {len(x) ** 2} outputs; the limit is K = "
            f"{MAX_JACOBIAN_K} (time and memory grow as K²: K = 1000 takes about two minutes "
            "and 0.6 GB); pass --allow-large to proceed"
        )
    inputs_of_op = OPERATIONS[args.op].inputs
    second_name = INPUT_OPTIONS[inputs_of_op[1]] if len(inputs_of_op) > 1 else None
    for name in INPUT_OPTIONS.values():
        if getattr(args, name) is not None and name != second_name:
            raise InputError(f"--{name} does not apply to {args.op}")
    inputs: list[list[float]] = [x]
    if second_name is not None:
        second = _second_vector(args, second_name)
        if len(second) != len(x):
            raise InputError(f"--{second_name} has {len(second)} values, the vector {len(x)}")
        inputs.append(second)
    temperature = None
    if args.temperature is not None:
        temperature = _parse_vector([args.temperature], args.dtype, "--temperature")[0]
    sink, softcap = (
        None if text is None else _parse_vector([text], args.dtype, option)[0]
        for text, option in ((args.sink, "--sink"), (args.softcap, "--softcap"))
    )
    digits = args.digits or _TEXT_DIGITS
    if args.json:
        digits = max(digits, _JSON_DIGITS)
    try:
        result = evaluate(
            args.op,
            *inputs,
            dtype=args.dtype,
            temperature=temperature,
            digits=digits,
            sink=sink,
            softcap=softcap,
        )
    except PrecisionLimitError as exc:
        print(f"symsoftmax reference: {exc}", file=sys.stderr)
        if args.json:  # --json promises one JSON object on stdout, for exit 1 as well
            print(json.dumps({"op": args.op, "dtype": args.dtype, "error": str(exc)}, indent=2))
        return 1
    output = result.rounded.reshape(-1)
    assert result.decimals is not None
    exact = [str(v) for v in result.decimals.reshape(-1)]
    if args.json:
        k = len(x)
        hexes = [format_hex(float(v)) for v in output]
        shaped: list[Any] = [hexes[i * k : (i + 1) * k] for i in range(k)] if dims == 2 else hexes
        exact_shaped: list[Any] = (
            [exact[i * k : (i + 1) * k] for i in range(k)] if dims == 2 else exact
        )
        document: dict[str, Any] = {
            "op": args.op,
            "dtype": args.dtype,
            "input": [format_hex(v) for v in x],
        }
        if second_name is not None:
            document[second_name] = [format_hex(v) for v in inputs[1]]
        if temperature is not None:
            document["temperature"] = format_hex(temperature)
        for key, value in (("sink", sink), ("softcap", softcap)):
            if value is not None:
                document[key] = format_hex(value)
        document["output"] = shaped
        document["exact"] = exact_shaped
        print(json.dumps(document, indent=2))
        return 0
    header = f"{args.op} in {args.dtype}, K = {len(x)}"
    if temperature is not None:
        header += f", T = {_shortest(temperature, args.dtype)}"
    for name, value in (("sink", sink), ("softcap", softcap)):
        if value is not None:
            header += f", {name} = {_shortest(value, args.dtype)}"
    print(header)
    rows = []
    for c, value in enumerate(output):
        if dims == 2:
            label = f"J[{c // len(x)},{c % len(x)}]"
        elif (len(output) == 1 and len(x) != 1) or dims == 0:
            label = "value"
        else:
            label = f"[{c}]"
        rows.append(
            (label, _shortest(float(value), args.dtype), format_hex(float(value)), exact[c])
        )
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    for label, short, hexed, exact_text in rows:
        print(
            f"  {label:<{widths[0]}}  {short:<{widths[1]}}  {hexed:<{widths[2]}}  "
            f"exact {exact_text}"
        )
    return 0
