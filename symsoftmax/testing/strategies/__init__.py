"""Hypothesis strategies: hard softmax inputs in any format, and cases with their exact answers.

A property test of your kernel in a few lines: draw a case (a row built like the catalogue's
hard rows, block structure included, with its correctly rounded reference values), call the
kernel, judge it with :func:`symsoftmax.testing.assert_softmax_close` (the validator's pass rule):

>>> import numpy as np
>>> from hypothesis import given, settings
>>> from symsoftmax.testing import assert_softmax_close
>>> from symsoftmax.testing.strategies import cases
>>> @settings(max_examples=20, deadline=None, derandomize=True, database=None)
... @given(cases("softmax", "float32"))
... def test_my_softmax(case):
...     z = case.z.astype(np.float64)
...     with np.errstate(invalid="ignore"):
...         e = np.exp(z - z.max())
...     assert_softmax_close((e / e.sum()).astype(np.float32), case)
>>> test_my_softmax()

(docs/testing.md runs this example.) Every row is made of Hypothesis primitives
(``st.integers``, ``st.floats`` of the format's width, ``st.sampled_from``, ``st.lists``), never
from a seed for NumPy, so a failure shrinks to a short, simple row: a plain row to its fewest,
simplest entries, a block-structured one to its fewest blocks, the smallest block size and the
simplest fill. The families follow the catalogue's (:mod:`symsoftmax.vectors.catalogue`; a drawn
row carries the catalogue flag of its family, and docs/vectors.md says what each probes), plus
the block structures of online (blockwise) softmax kernels — issue 10 of this project and the
public bug reports it lists:

* ``masked-leading-block``, ``masked-middle-block``, ``masked-tail-block``: blocks fully
  masked (−inf), the rest finite (e^{(−inf) − (−inf)} = NaN, flashinfer #4401);
* ``masked-block-far-below``: leading masked blocks, then every logit in [−300, −50] (a
  running max reset to 0 underflows the rest, flash-attention #2082);
* ``below-sentinel``: every logit below a sentinel used as the running max's start
  (:data:`SENTINELS`, those the format holds), the largest just above or below it (flashinfer
  #4267);
* ``max-in-last-block``: the row max in the last, partial block, after blocks whose maxima are
  far lower; ``block-max-increasing`` / ``-decreasing``: every block rescales the state, or none;
* ``block-boundary-length``: K ∈ {b − 1, b, b + 1, 2b − 1, 2b + 1} with the max or a −inf in
  the tail (a missing bounds check on the last partial block, NNkernels.jl #16);
* ``nan-in-block``: a NaN at a block start, a block boundary or in the last partial block (a
  NaN-ignoring max, lattice #740).

They are the catalogue's block families (:mod:`symsoftmax.vectors.blocks`, same flags and notes)
drawn instead of enumerated.

The block size b is drawn from ``block`` (default :data:`BLOCK_SIZES`); pass ``block=64`` (or a
strategy) to aim at your kernel's. Block-structured rows have up to three full blocks and a
partial one.

A case's reference values come from the engine (:func:`symsoftmax.reference.evaluate`, its
fast path for the rounded outputs, the exact values to 160 bits): milliseconds for a row of 64,
so 100 examples cost seconds. Hypothesis does not count drawing time against its deadline, but
a slow kernel may need ``deadline=None``.

Needs Hypothesis (the ``hypothesis`` or ``test`` extra); the core package does not.

The package is split by family: :mod:`.values` (format values and landmarks), :mod:`.spec` (what
every family shares), :mod:`.catalogue_families`, :mod:`.block_families`, :mod:`.rows` (rows from
every family) and :mod:`.drawn_cases` (cases with their reference values); the names below are
the public ones.
"""

from __future__ import annotations

try:  # the guard runs before any submodule, each of which imports Hypothesis
    import hypothesis  # noqa: F401
except ImportError as _missing:  # the core install has no Hypothesis
    raise ImportError(
        "symsoftmax.testing.strategies needs Hypothesis: pip install 'symsoftmax[hypothesis]' "
        "(or hypothesis>=6.100)"
    ) from _missing

from symsoftmax.testing.strategies.block_families import BLOCK_FAMILIES, BLOCK_SIZES
from symsoftmax.testing.strategies.drawn_cases import cases
from symsoftmax.testing.strategies.rows import FAMILIES, blockwise_rows, drawn_rows, rows
from symsoftmax.testing.strategies.spec import DrawnRow
from symsoftmax.testing.strategies.values import format_values, landmarks
from symsoftmax.vectors.blocks import SENTINELS

__all__ = [
    "BLOCK_FAMILIES",
    "BLOCK_SIZES",
    "FAMILIES",
    "SENTINELS",
    "DrawnRow",
    "blockwise_rows",
    "cases",
    "drawn_rows",
    "format_values",
    "landmarks",
    "rows",
]
