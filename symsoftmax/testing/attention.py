"""The attention adapter, re-exported for users' test suites.

It lives in :mod:`symsoftmax.validation.attention`, beside the validator that imports it (the
worker process wraps an attention target with it); ``symsoftmax.testing.attention_as_softmax``
and this module stay importable. Argument and recipes: docs/attention.md.
"""

from __future__ import annotations

from symsoftmax.validation.attention import (
    ATTENTION_OPS,
    CALLS,
    FIXED_SCALE_HEAD_DIMS,
    LAYOUTS,
    MASKS,
    MAX_HEAD_DIM,
    AttentionSoftmax,
    attention_as_softmax,
)

__all__ = [
    "ATTENTION_OPS",
    "CALLS",
    "FIXED_SCALE_HEAD_DIMS",
    "LAYOUTS",
    "MASKS",
    "MAX_HEAD_DIM",
    "AttentionSoftmax",
    "attention_as_softmax",
]
