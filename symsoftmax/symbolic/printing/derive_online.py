"""`symsoftmax derive online_step|merge|attention_step`: the online updates as proven, printed.

The formulas are the expressions of `symbolic.online` (the ones `symbolic.any_k.online_proofs`
proves); `derive_online` re-proves the backing identity for symbolic length and refuses to print
an update that is not proven. Printed as text, LaTeX, Markdown, Python (NumPy,
vectorised over leading axes, the block on the last axis) or C
(float, with ``expf``/``exp2f``/``fmaxf``).

The generated code adds one guard, the case "fully masked block from the empty state" of
``online_invariant``: while every entry seen is −∞, m_new = −∞ and the shift 0 is used in its place,
so e^{−∞ − (−∞)} (NaN) never arises and the state stays (−∞, 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.codegen.ast import float32, real
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import NumPyPrinter

from symsoftmax.symbolic import online as on
from symsoftmax.symbolic.any_k.online_proofs import prove_online
from symsoftmax.symbolic.any_k.variants import prove_variant
from symsoftmax.symbolic.options import ONLINE_WHATS, STYLES

__all__ = ["ONLINE_WHATS", "OnlineDerived", "derive_online", "render_online"]

SHIFT = sp.Symbol("shift", real=True)  # m_new, or 0 while m_new = −∞ (the masked guard)


@dataclass(frozen=True)
class OnlineDerived:
    """One update: its entries (name → expression, in order), the base-2 form if any, the
    finalize formulas, the inputs, and the proof that backs it."""

    what: str
    title: str
    update: dict[str, sp.Expr]
    exp2_update: dict[str, sp.Expr] | None
    finalize: dict[str, sp.Expr]
    exp2_finalize: dict[str, sp.Expr] | None
    proof: str
    start: dict[str, sp.Expr] | None = None  # the state before any block (a sink: (s, 1))


_SPECS: dict[
    str, tuple[str, dict[str, sp.Expr], dict[str, sp.Expr] | None, dict[str, sp.Expr], str]
] = {
    "online_step": (
        "online softmax step: a block z_1..z_B with maximum M_b into the state (m, d)",
        on.ONLINE_STEP,
        on.ONLINE_STEP_EXP2,
        on.FINALIZE,
        "online_invariant",
    ),
    "merge": (
        "merge ⊕ of two states (split-KV, tree reductions)",
        on.MERGE,
        None,
        on.FINALIZE,
        "online_merge",
    ),
    "attention_step": (
        "attention step: the state (m, d) and one output component o, block values v_1..v_B",
        on.ATTENTION_STEP,
        on.ATTENTION_STEP_EXP2,
        on.ATTENTION_FINALIZE,
        "attention_accumulator",
    ),
}


def derive_online(what: str, sink: bool = False) -> OnlineDerived:
    """The update ``what`` (one of ONLINE_WHATS), after re-proving its identity; with ``sink``
    (online_step only) started from the sink's state (s, 1), its proof ``sink_online``."""
    if what not in _SPECS:
        raise ValueError(f"unknown online update {what!r}; choose one of {', '.join(ONLINE_WHATS)}")
    if sink:
        return _derive_sink(what)
    title, update, exp2_update, finalize, identity = _SPECS[what]
    proof = prove_online(identity)
    if not proof.proven:  # pragma: no cover - the shipped updates are proven
        raise RuntimeError(proof.result().failure_message())
    backing = f"{identity}: proven for symbolic length ({len(proof.cases)} cases)"
    if exp2_update is not None:
        exp2_proof = prove_online("online_exp2_temperature")
        assert exp2_proof.proven
        backing += f"; base-2 form: online_exp2_temperature ({len(exp2_proof.cases)} cases)"
    exp2_finalize = on.FINALIZE_EXP2 if what == "online_step" else None
    return OnlineDerived(what, title, update, exp2_update, finalize, exp2_finalize, backing)


def _derive_sink(what: str) -> OnlineDerived:
    """online_step with a sink: the same step from (s, 1), finalized with p_sink."""
    if what != "online_step":
        raise ValueError(f"--sink prints online_step only, not {what}")
    proof = prove_variant("sink_online")
    if not proof.proven:  # pragma: no cover - the shipped update is proven
        raise RuntimeError(proof.result().failure_message())
    return OnlineDerived(
        what,
        "online softmax step with a sink s: the state (m, d) starts at (s, 1)",
        on.ONLINE_STEP,
        None,
        on.SINK_FINALIZE,
        None,
        f"sink_online: proven for symbolic length ({len(proof.cases)} cases)",
        on.SINK_START,
    )


def _name(key: str) -> sp.Symbol:
    """The symbol an entry's new value is printed as (m_new, d_new, o_new)."""
    return on.NEW[key]


def render_online(derived: OnlineDerived, style: str) -> str:
    """``derived`` printed in ``style`` (one of STYLES); ends with a newline."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    renderers: dict[str, Callable[[OnlineDerived], str]] = {
        "text": _text,
        "latex": _latex,
        "markdown": _markdown,
        "python": _python,
        "c": _c,
    }
    return renderers[style](derived)


def _block_max(derived: OnlineDerived) -> list[tuple[sp.Expr, str]]:
    return [] if derived.what == "merge" else [(on.M_b, "max_{k=1..B} z_k")]


def _text(d: OnlineDerived) -> str:
    lines = [f"# {d.title}"]
    lines += [f"{key}_0 = {sp.sstr(value)}" for key, value in (d.start or {}).items()]
    lines += [f"{sym} = {text}" for sym, text in _block_max(d)]
    lines += [f"{_name(key)} = {sp.sstr(value)}" for key, value in d.update.items()]
    if d.exp2_update is not None:
        lines.append(f"# base 2, temperature T: c = log2(e)/T = {sp.sstr(on.SCALE['c'])}")
        lines += [f"{_name(key)} = {sp.sstr(value)}" for key, value in d.exp2_update.items()]
    lines.append("# from the final state")
    lines += [f"{key} = {sp.sstr(value)}" for key, value in d.finalize.items()]
    if d.exp2_finalize is not None:
        lines.append(
            "# from the final base-2 state: softmax(z/T), log_softmax(z/T), logsumexp(z/T)"
        )
        lines += [f"{key} = {sp.sstr(value)}" for key, value in d.exp2_finalize.items()]
    lines.append(f"# {d.proof}")
    return "\n".join(lines) + "\n"


def _latex_lines(d: OnlineDerived) -> list[str]:
    lines = [
        sp.latex(sp.Eq(sp.Symbol(f"{key}_0"), value, evaluate=False))
        for key, value in (d.start or {}).items()
    ]
    lines += [r"M_b = \max_{k=1}^{B} z_k"] if _block_max(d) else []
    lines += [sp.latex(sp.Eq(_name(key), value, evaluate=False)) for key, value in d.update.items()]
    if d.exp2_update is not None:
        lines.append(sp.latex(sp.Eq(on.c, on.SCALE["c"], evaluate=False)))
        lines += [
            sp.latex(sp.Eq(_name(key), value, evaluate=False))
            for key, value in d.exp2_update.items()
        ]
    finals = [*d.finalize.items(), *(d.exp2_finalize or {}).items()]
    lines += [
        sp.latex(sp.Eq(sp.Symbol(key.replace("_", r"\_")), value, evaluate=False))
        for key, value in finals
    ]
    return lines


def _latex(d: OnlineDerived) -> str:
    return "\n".join(_latex_lines(d)) + "\n"


def _markdown(d: OnlineDerived) -> str:
    parts = [f"## {d.title}", ""]
    for line in _latex_lines(d):
        parts += ["$$", line, "$$", ""]
    parts += [f"Proven: {d.proof}.", ""]
    return "\n".join(parts)


# ---- code ----------------------------------------------------------------------------------

_SUMMANDS = {on.z[on.k]: sp.Symbol("z"), on.v[on.k]: sp.Symbol("v")}


def _split_sums(expr: sp.Expr) -> tuple[sp.Expr, list[sp.Expr]]:
    """``expr`` = rest + Σ_k summand…: the rest, and each summand with z[k], v[k] → z, v."""
    rest, summands = [], []
    for term in sp.Add.make_args(expr):
        if isinstance(term, sp.Sum):
            summands.append(term.function.xreplace(_SUMMANDS))
        else:
            rest.append(term)
    return sp.Add(*rest), summands


def _shifted(expr: sp.Expr) -> sp.Expr:
    return expr.xreplace({on.m_new: SHIFT})


class _NumPy(NumPyPrinter):
    """numpy.maximum for a two-argument Max (NumPyPrinter uses functools.reduce)."""

    def _print_Max(self, expr: sp.Max) -> str:
        a, b = expr.args
        return f"numpy.maximum({self._print(a)}, {self._print(b)})"

    def _print_exp2(self, expr: sp.Expr) -> str:
        return f"numpy.exp2({self._print(expr.args[0])})"


def _python_function(d: OnlineDerived, update: dict[str, sp.Expr], suffix: str) -> list[str]:
    printer = _NumPy()
    states = [str(on.m_a), str(on.d_a), str(on.m_b), str(on.d_b)] if d.what == "merge" else []
    if d.what != "merge":
        states = ["m", "d"] + (["o"] if "o" in update else [])
    inputs = states + ([] if d.what == "merge" else ["z"] + (["v"] if "o" in update else []))
    inputs += ["c"] if suffix else []
    lines = [
        f"def {d.what}{suffix}({', '.join(inputs)}):",
        f'    """{d.title}{" (base 2, c = log2(e)/T)" if suffix else ""}: generated by '
        'symsoftmax derive from the proven updates (symbolic.online)."""',
    ]
    if d.what != "merge":
        lines.append("    M_b = numpy.max(z, axis=-1)")
    lines.append(f"    m_new = {printer.doprint(update['m'])}")
    lines.append(
        "    shift = numpy.where(numpy.isneginf(m_new), 0.0, m_new)  # masked: state stays"
    )
    returned = ["m_new"]
    for key, value in update.items():
        if key == "m":
            continue
        rest, summands = _split_sums(_shifted(value))
        terms = [printer.doprint(rest)] if rest != 0 else []
        for summand in summands:
            body = printer.doprint(summand.xreplace({SHIFT: sp.Symbol("shift[..., None]")}))
            terms.append(f"numpy.sum({body}, axis=-1)")
        lines.append(f"    {_name(key)} = {' + '.join(terms)}")
        returned.append(str(_name(key)))
    lines.append(f"    return {', '.join(returned)}")
    return lines


def _finalize_arguments(finalize: dict[str, sp.Expr]) -> list[str]:
    """The row z (if used), then the state m, d, o, then T and c: those ``finalize`` uses."""
    used = {str(s) for value in finalize.values() for s in value.free_symbols}
    row = ["z"] if any(value.has(on.z[on.k]) for value in finalize.values()) else []
    return row + [name for name in ("s", "m", "d", "o", "T", "c") if name in used]


def _python_finalize(finalize: dict[str, sp.Expr], suffix: str) -> list[str]:
    """``finalize{suffix}(…)``: the outputs from the final state; z is (..., K) and the state
    (...), so the state is broadcast along the last axis."""
    printer = _NumPy()
    row = {
        on.z[on.k]: sp.Symbol("z"),
        on.m: sp.Symbol("m[..., None]"),
        on.d: sp.Symbol("d[..., None]"),
    }
    values = {
        key: printer.doprint(value.xreplace(row if value.has(on.z[on.k]) else {}))
        for key, value in finalize.items()
    }
    args = _finalize_arguments(finalize)
    return [
        "",
        "",
        f"def finalize{suffix}({', '.join(args)}):",
        '    """The outputs from the final state (symbolic.online)."""',
        "    return {" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}",
    ]


def _python(d: OnlineDerived) -> str:
    lines = ["import numpy", "", ""]
    if d.start is not None:
        start = ", ".join(f"numpy.full_like(s, {value})" for value in d.start.values())
        lines += [
            "def start(s):",
            '    """The state before any block: the sink\'s (m, d) = (s, 1)."""',
            f"    return {start}",
            "",
            "",
        ]
    lines += _python_function(d, d.update, "")
    if d.exp2_update is not None:
        lines += ["", "", *_python_function(d, d.exp2_update, "_exp2")]
    lines += _python_finalize(d.finalize, "")
    if d.exp2_finalize is not None:
        lines += _python_finalize(d.exp2_finalize, "_exp2")
    return "\n".join(lines) + "\n"


def _c_printer() -> C99CodePrinter:
    return C99CodePrinter({"type_aliases": {real: float32}})


def _c_function(d: OnlineDerived, update: dict[str, sp.Expr], suffix: str) -> list[str]:
    printer = _c_printer()
    if d.what == "merge":
        signature = "float m_a, float d_a, float m_b, float d_b, float *m_out, float *d_out"
        outputs = {"m": "m_out", "d": "d_out"}
        lines = []
    else:
        has_o = "o" in update
        signature = "const float *z, " + ("const float *v, " if has_o else "") + "int B, "
        signature += "float *m_io, float *d_io" + (", float *o_io" if has_o else "")
        signature += ", float c" if suffix else ""
        outputs = {"m": "m_io", "d": "d_io", "o": "o_io"}
        lines = ["    const float m = *m_io, d = *d_io;"]
        if has_o:
            lines.append("    const float o = *o_io;")
        lines += [
            "    float M_b = -INFINITY;",
            # fmaxf skips a NaN, but expf(NaN) in the sum below still makes the row NaN
            "    for (int k = 0; k < B; ++k) M_b = fmaxf(M_b, z[k]); /* NaN: carried by the sum */",
        ]
    head = [f"void {d.what}{suffix}({signature}) {{"]
    lines.append(f"    const float m_new = {printer.doprint(update['m'])};")
    # only −∞ (nothing seen yet) is replaced: a +inf maximum must stay, so that e^{z − m} is NaN at
    # the +inf entries and 0 elsewhere and the row comes out NaN, as the NumPy printer does
    lines.append(
        "    const float shift = m_new == -INFINITY ? 0.0f : m_new; /* masked: state stays */"
    )
    for key, value in update.items():
        if key == "m":
            continue
        rest, summands = _split_sums(_shifted(value))
        terms = [printer.doprint(rest)] if rest != 0 else []
        for n, summand in enumerate(summands):
            total = f"sum_{key}{n}"
            body = printer.doprint(
                summand.xreplace(
                    {sp.Symbol("z"): sp.Symbol("z[k]"), sp.Symbol("v"): sp.Symbol("v[k]")}
                )
            )
            lines.append(f"    float {total} = 0.0f;")
            lines.append(f"    for (int k = 0; k < B; ++k) {total} += {body};")
            terms.append(total)
        lines.append(f"    *{outputs[key]} = {' + '.join(terms)};")
    lines.append(f"    *{outputs['m']} = m_new;")
    return head + lines + ["}"]


def _c_finalize(finalize: dict[str, sp.Expr], suffix: str) -> list[str]:
    """One inline function per output of the final state (z_k one entry of the row)."""
    printer = _c_printer()
    lines = [""]
    for key, value in finalize.items():
        expr = value.xreplace({on.z[on.k]: sp.Symbol("z_k")})
        names = [n.replace("z", "z_k") for n in _finalize_arguments({key: value})]
        params = ", ".join(f"float {name}" for name in names)
        body = printer.doprint(expr)
        lines.append(f"static inline float finalize_{key}{suffix}({params}) {{ return {body}; }}")
    return lines


def _c(d: OnlineDerived) -> str:
    lines = [
        f"/* {d.title}: generated by symsoftmax derive from the proven updates. */",
        f"/* {d.proof} */",
        "#include <math.h>",
        "",
    ]
    if d.start is not None:
        start = ", ".join(f"{key} = {sp.sstr(value)}" for key, value in d.start.items())
        lines += [f"/* start: {start} (the sink, before any block) */"]
    lines += _c_function(d, d.update, "")
    if d.exp2_update is not None:
        lines += ["", "/* base 2 at temperature T: c = log2(e)/T */"]
        lines += _c_function(d, d.exp2_update, "_exp2")
    lines += _c_finalize(d.finalize, "")
    if d.exp2_finalize is not None:
        lines += _c_finalize(d.exp2_finalize, "_exp2")
    return "\n".join(lines) + "\n"
