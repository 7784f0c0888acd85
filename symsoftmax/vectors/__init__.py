"""Golden test vectors for softmax, log_softmax, logsumexp, their derivatives and cross-entropy.

``generate(op, dtype, suite, seed)`` builds a :class:`VectorFile` from the declarative catalogue
(:mod:`symsoftmax.vectors.catalogue`) with correctly rounded expected values from
:mod:`symsoftmax.reference`; ``save`` writes it as JSON or NPZ (byte-reproducible, atomic);
``load`` reads either back (raising InputError naming file, tcId and field on malformed input);
``lint`` re-checks a file, reference values included. See docs/vectors.md.
"""

from __future__ import annotations

from symsoftmax._lazy import lazy_names
from symsoftmax.vectors.model import (
    OPS,
    SUITES,
    Answer,
    Note,
    TestCase,
    TestGroup,
    VectorFile,
)

_LAZY = {
    "generate": "symsoftmax.vectors.builder",
    "from_rows": "symsoftmax.vectors.builder",
    "save": "symsoftmax.vectors.io",
    "load": "symsoftmax.vectors.check",
    "dumps_json": "symsoftmax.vectors.io",
    "lint": "symsoftmax.vectors.linter",
    "Finding": "symsoftmax.vectors.linter",
}

__all__ = [
    "OPS",
    "SUITES",
    "Answer",
    "Note",
    "TestCase",
    "TestGroup",
    "VectorFile",
    *_LAZY,
]


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
