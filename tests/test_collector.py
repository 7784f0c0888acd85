"""The garbage collector is paused only around the package's own loading and judging
(symsoftmax.collector): restored after, on errors too, and never off while a candidate runs."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest

from symsoftmax import collector, vectors
from symsoftmax.errors import InputError
from symsoftmax.validation import score, validate


def test_paused_restores_the_state_it_found() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), collector.paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_a_failed_load_leaves_the_collector_on(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"header": 1}')
    with pytest.raises(InputError):
        vectors.load(bad)
    assert gc.isenabled()


def test_the_candidate_always_runs_with_the_collector_on(tmp_path: Path) -> None:
    seen: list[bool] = []

    def candidate(z: np.ndarray) -> np.ndarray:
        seen.append(gc.isenabled())
        x = z.astype(np.float64)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(z.dtype)

    path = tmp_path / "quick.json"
    vectors.save(vectors.generate("softmax", "bfloat16", suite="quick"), path)
    report = validate(candidate, vectors=path)  # the properties call it too (shift, order)
    assert report.passed and len(seen) > len(report.results) and all(seen)
    assert gc.isenabled()
    outputs = {
        str(test.tc_id): [str(float(v)) for v in np.asarray(test.expected["output"]).ravel()]
        for test in vectors.load(path).tests()
    }
    assert score(path, outputs).passed and gc.isenabled()
