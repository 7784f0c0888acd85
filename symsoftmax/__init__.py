"""symsoftmax: symbolic math and verification toolkit for softmax, log_softmax and logsumexp.

σ(z)_j = e^{z_j} / Σ_k e^{z_k}. The code has two wings, one subpackage per step:

* symbolic → numeric: exact proofs of the identities (SymPy) and the vectorized NumPy
  functions generated from the proven expressions;
* formats/rounding → reference → vectors → validation, the verifier: correctly rounded
  reference values, golden test vectors, and the validator that judges an implementation
  against them.

The verifier imports nothing from the proofs, on purpose: a verifier must not trust the code it
checks, so the reference engine computes every value from the definitions, on its own
(tests/test_imports.py holds this, and that there are no import cycles; docs/guide.md). The CLI
(``symsoftmax``) is a thin layer over both.

Public names are imported lazily, so ``import symsoftmax`` stays fast and the CLI does not pay
for SymPy unless a command needs it.
"""

from __future__ import annotations

from symsoftmax._lazy import lazy_names

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY = {
    "lambdify_softmax": "symsoftmax.numeric",
    "lambdify_log_softmax": "symsoftmax.numeric",
    "lambdify_logsumexp": "symsoftmax.numeric",
    "lambdify_jacobian": "symsoftmax.numeric",
    "lambdify_vjp": "symsoftmax.numeric",
    "validate": "symsoftmax.validation",
    "exhaustive": "symsoftmax.sweep",
}

__all__ = ["__version__", *_LAZY]

_SUBMODULES = ("symbolic", "numeric", "reference", "vectors", "validation", "testing", "sweep")

__getattr__, __dir__ = lazy_names(globals(), _LAZY, _SUBMODULES)
