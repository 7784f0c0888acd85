"""Derived formulas for a concrete K, printed as LaTeX, text, Markdown, Python (NumPy) or C.

Each derivative is printed in its proven closed form, written in the softmax values σ_i (defined
first, from `expressions.softmax`), so the output stays readable: e.g. J[1,2] = −σ_1 σ_2. The
closed form printed is the template of `closed_forms`; `derive` re-proves it for this K (exact
ring, `proofs.prove_identity`) and refuses to print a form that is not proven.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.expressions import log_softmax, logits, logsumexp, softmax
from symsoftmax.symbolic.fixed_k.proofs import FIXED_K_PROOFS, prove_identity
from symsoftmax.symbolic.identities import IDENTITIES
from symsoftmax.symbolic.options import MAX_DERIVE_K, STYLES, WHATS

__all__ = ["MAX_DERIVE_K", "STYLES", "WHATS", "Derived", "derive", "render"]

# which proven identity backs each derivative (the registry's ``derive`` field)
_BACKING = {identity.derive: identity.name for identity in IDENTITIES.values() if identity.derive}
_TITLES = {
    "softmax": "softmax σ_i = e^{z_i} / Σ_k e^{z_k}",
    "log_softmax": "log_softmax_i = z_i − log Σ_k e^{z_k}",
    "logsumexp": "logsumexp = log Σ_k e^{z_k}",
    "jacobian": f"Jacobian J_ij = {IDENTITIES['jacobian'].statement}",
    "vjp": "vector-Jacobian product (Jᵀg)_j = σ_j(g_j − ⟨g, σ⟩)",
    "hessian": "second derivative H_ijk = ∂²σ_i/∂z_j∂z_k",
    "cross_entropy_grad": "cross-entropy gradient ∂/∂z_j (−Σ y_i log σ_i) = σ_j − y_j (Σ y = 1)",
}


@dataclass(frozen=True)
class Derived:
    """What to print: σ definitions (if used), then ``values`` (nested lists) in those terms."""

    what: str
    size: int
    title: str
    inputs: tuple[sp.Symbol, ...]
    definitions: tuple[tuple[sp.Symbol, sp.Expr], ...]
    values: Any  # an expression, or nested lists of them (shape)
    proof: str = ""
    shape: tuple[int, ...] = field(default=())


def _sigma_symbols(size: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"sigma_{n}", positive=True) for n in range(1, size + 1))


def _instantiate(
    template: sp.Expr,
    entry: tuple[int, ...],
    indices: tuple[sp.Symbol, ...],
    vectors: dict[sp.IndexedBase, tuple[sp.Symbol, ...]],
    size: int,
) -> sp.Expr:
    expr = template.xreplace(
        {**dict(zip(indices, map(sp.Integer, entry), strict=True)), cf.K: sp.Integer(size)}
    )
    expr = expr.doit()
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base in vectors,
        lambda e: vectors[e.base][int(e.indices[0]) - 1],
    )


def derive(what: str, size: int) -> Derived:
    """The formula ``what`` (one of WHATS) for K = ``size`` (1 ≤ K ≤ MAX_DERIVE_K)."""
    if what not in WHATS:
        raise ValueError(f"unknown derivation {what!r}; choose one of {', '.join(WHATS)}")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_DERIVE_K:
        raise ValueError(
            f"K must be an integer in 1..{MAX_DERIVE_K} for printing, got {size!r} "
            "(larger K: use the closed form, see derivations/)"
        )
    z = logits(size)
    title = _TITLES[what]
    if what == "softmax":
        return Derived(what, size, title, z, (), list(softmax(z)), shape=(size,))
    if what == "log_softmax":
        return Derived(what, size, title, z, (), list(log_softmax(z)), shape=(size,))
    if what == "logsumexp":
        return Derived(what, size, title, z, (), logsumexp(z), shape=())
    identity = _BACKING[what]
    result = prove_identity(identity, size)
    if not result.proven:  # pragma: no cover - the shipped closed forms are proven
        raise RuntimeError(result.failure_message())
    sigma = _sigma_symbols(size)
    y = tuple(sp.Symbol(f"y{n}", real=True) for n in range(1, size + 1))
    g = tuple(sp.Symbol(f"g{n}", real=True) for n in range(1, size + 1))
    vectors = {cf.s: sigma, cf.y: y, cf.g: g}
    closed_form = IDENTITIES[identity].closed_form
    assert closed_form is not None
    template = closed_form()
    indices = FIXED_K_PROOFS[identity].indices
    shape = (size,) * len(indices)
    values = _nested(shape, lambda e: _instantiate(template, e, indices, vectors, size))
    inputs: tuple[sp.Symbol, ...] = z
    if what == "vjp":
        inputs = (*z, *g)
    elif what == "cross_entropy_grad":
        inputs = (*z, *y)
    definitions = tuple(zip(sigma, softmax(z), strict=True))
    proof = f"{identity}: proven for K = {size} ({result.method})"
    return Derived(what, size, title, inputs, definitions, values, proof, shape)


def _nested(
    shape: tuple[int, ...],
    value: Callable[[tuple[int, ...]], sp.Expr],
    prefix: tuple[int, ...] = (),
) -> list[Any]:
    if len(prefix) == len(shape) - 1:
        return [value((*prefix, n + 1)) for n in range(shape[len(prefix)])]
    return [_nested(shape, value, (*prefix, n + 1)) for n in range(shape[len(prefix)])]


def _entries(derived: Derived) -> list[tuple[tuple[int, ...], sp.Expr]]:
    if not derived.shape:
        return [((), derived.values)]
    out = []
    for entry in itertools.product(*(range(n) for n in derived.shape)):
        value = derived.values
        for n in entry:
            value = value[n]
        out.append((tuple(n + 1 for n in entry), value))
    return out


def _label(derived: Derived, entry: tuple[int, ...]) -> str:
    name = {"cross_entropy_grad": "grad", "hessian": "H", "jacobian": "J"}.get(
        derived.what, derived.what
    )
    return name if not entry else f"{name}[{','.join(map(str, entry))}]"


def render(derived: Derived, style: str) -> str:
    """The formula printed in ``style`` (one of STYLES); text ends with a newline."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    return {
        "text": _text,
        "latex": _latex,
        "markdown": _markdown,
        "python": _python,
        "c": _c,
    }[style](derived)


def _text(d: Derived) -> str:
    lines = [f"# {d.title}, K = {d.size}"]
    lines += [f"{s} = {sp.sstr(e)}" for s, e in d.definitions]
    lines += [f"{_label(d, e)} = {sp.sstr(v)}" for e, v in _entries(d)]
    return "\n".join(lines) + "\n"


def _latex_values(d: Derived) -> list[str]:
    if not d.shape:
        return [sp.latex(d.values)]
    if len(d.shape) == 1:
        return [sp.latex(sp.Matrix(d.values))]
    if len(d.shape) == 2:
        return [sp.latex(sp.Matrix(d.values))]
    return [
        rf"\frac{{\partial^2 \sigma_{{{n + 1}}}}}{{\partial z_j \partial z_k}} = "
        + sp.latex(sp.Matrix(block))
        for n, block in enumerate(d.values)
    ]


def _latex(d: Derived) -> str:
    lines = [f"{sp.latex(s)} = {sp.latex(e)}" for s, e in d.definitions]
    lines += _latex_values(d)
    return "\n".join(lines) + "\n"


def _markdown(d: Derived) -> str:
    parts = [f"## {d.title}, K = {d.size}", ""]
    if d.definitions:
        parts += [
            "$$",
            r" \\ ".join(f"{sp.latex(s)} = {sp.latex(e)}" for s, e in d.definitions),
            "$$",
            "",
        ]
    for block in _latex_values(d):
        parts += ["$$", block, "$$", ""]
    if d.proof:
        parts += [f"Verified: {d.proof}.", ""]
    return "\n".join(parts)


def _python(d: Derived) -> str:
    printer = NumPyPrinter()
    arguments = "z" if len(d.inputs) == d.size else "z, " + str(d.inputs[d.size])[0]
    lines = [
        "import numpy",
        "",
        "",
        f"def {d.what}({arguments}):",
        f'    """{d.title}, K = {d.size} (generated by symsoftmax derive)."""',
    ]
    zs = ", ".join(str(s) for s in d.inputs[: d.size])
    lines.append(f"    {zs}{',' if d.size == 1 else ''} = z")
    if len(d.inputs) > d.size:
        rest = ", ".join(str(s) for s in d.inputs[d.size :])
        lines.append(f"    {rest}{',' if d.size == 1 else ''} = {arguments.split(', ')[1]}")
    for s, e in d.definitions:
        lines.append(f"    {s} = {printer.doprint(e)}")

    def show(value: object) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(show(v) for v in value) + "]"
        return printer.doprint(value)

    body = show(d.values)
    lines.append(f"    return numpy.array({body})" if d.shape else f"    return {body}")
    return "\n".join(lines) + "\n"


def _c(d: Derived) -> str:
    extra = len(d.inputs) > d.size
    second = str(d.inputs[d.size])[0] if extra else ""
    signature = f"void {d.what}(const double *z, " + (f"const double *{second}, " if extra else "")
    signature += "double *out)"
    lines = [
        f"/* {d.title}, K = {d.size} (generated by symsoftmax derive). */",
        "#include <math.h>",
        "",
        signature + " {",
    ]
    for n, s in enumerate(d.inputs[: d.size]):
        lines.append(f"    const double {s} = z[{n}];")
    for n, s in enumerate(d.inputs[d.size :]):
        lines.append(f"    const double {s} = {second}[{n}];")
    for s, e in d.definitions:
        lines.append(f"    const double {s} = {sp.ccode(e)};")
    for flat, (_, value) in enumerate(_entries(d)):
        lines.append(f"    out[{flat}] = {sp.ccode(value)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
