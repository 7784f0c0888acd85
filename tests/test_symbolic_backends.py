"""The two polynomial backends of the exact ring give the same results (docs/symbolic.md, "Why a
hand-written ring"): every fixed-K identity proven both ways with equal outcomes, and the same
polynomials — Jacobian entries and a non-zero cleared residual — term for term.

The backend is chosen once per process (SYMSOFTMAX_RING), so each runs in a child process that
prints its results as JSON. Skipped when python-flint is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from symsoftmax.symbolic.exact.polynomial import RING_BACKENDS, ring_backend

# Run in each backend: outcomes of every identity (seconds dropped) and exact term dicts.
_SCRIPT = """
import json, sys
import sympy as sp
from symsoftmax.symbolic.expressions import logits, softmax
from symsoftmax.symbolic.exact.polynomial import LaurentPolynomial
from symsoftmax.symbolic.fixed_k.proofs import EXACT_RING_NAMES, FixedKContext, prove_all
from symsoftmax.symbolic.exact.ring import SymbolicRing

def terms(poly):
    return sorted([[list(map(list, m)), str(c)] for m, c in poly.terms.items()])

out = {"backend": LaurentPolynomial.__name__, "proofs": [], "polynomials": {}}
for size, mode in [(1, "exhaustive"), (2, "exhaustive"), (3, "exhaustive"), (4, "exhaustive"),
                   (5, "permutation"), (16, "permutation")]:
    for result in prove_all(size, mode=mode, names=EXACT_RING_NAMES):  # the ring's proofs
        data = result.to_dict()
        data.pop("seconds")
        out["proofs"].append(data)
ctx = FixedKContext(3)
out["polynomials"]["jacobian"] = [terms(ctx.jacobian(a, b)) for a in range(3) for b in range(3)]
z = logits(2)
ring = SymbolicRing(z)
wrong = ring.convert(softmax(z)[0]) - ring.convert(1 / (1 + sp.exp(z[0] - z[1])))
zero, residual = ring.is_identically_zero(wrong)
out["polynomials"]["wrong"] = [zero, terms(residual), str(ring.to_sympy(residual))]
print(json.dumps(out))
"""


def _run(backend: str) -> dict[str, Any]:
    env = {**os.environ, "SYMSOFTMAX_RING": backend}
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_flint_backend_gives_the_same_proofs_and_polynomials() -> None:
    pytest.importorskip("flint")
    python, flint = _run("python"), _run("flint")
    assert (python["backend"], flint["backend"]) == (
        "PythonLaurentPolynomial",
        "FlintLaurentPolynomial",
    )
    assert len(python["proofs"]) > 50 and all(p["proven"] for p in python["proofs"])
    assert flint["proofs"] == python["proofs"]
    assert flint["polynomials"] == python["polynomials"]
    assert python["polynomials"]["wrong"][0] is False  # a real non-zero residual was compared


def test_backend_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMSOFTMAX_RING", raising=False)
    assert ring_backend() == "python"
    for name in RING_BACKENDS:
        monkeypatch.setenv("SYMSOFTMAX_RING", name)
        assert ring_backend() == name
    monkeypatch.setenv("SYMSOFTMAX_RING", "numpy")
    with pytest.raises(
        ValueError, match=r"^SYMSOFTMAX_RING must be one of python, flint, got 'numpy'$"
    ):
        ring_backend()
