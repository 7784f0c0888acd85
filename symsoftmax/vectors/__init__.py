"""Golden test vectors for softmax, log_softmax, logsumexp, their derivatives and cross-entropy.

``generate(op, dtype, suite, seed)`` builds a :class:`VectorFile` from the declarative catalogue
(:mod:`symsoftmax.vectors.catalogue`) with correctly rounded expected values from
:mod:`symsoftmax.reference`; ``save`` writes it as JSON or NPZ (byte-reproducible, atomic);
``load`` reads either back (raising InputError naming file, tcId and field on malformed input);
``lint`` re-checks a file, reference values included. See docs/vectors.md.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "load": "symsoftmax.vectors.io",
    "dumps_json": "symsoftmax.vectors.io",
    "lint": "symsoftmax.vectors.lint",
    "Finding": "symsoftmax.vectors.lint",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symsoftmax.vectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
