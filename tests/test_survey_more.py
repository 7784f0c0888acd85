"""The survey's TensorFlow, PaddlePaddle, MLX, OpenVINO, tinygrad and numba rows
(scripts/accuracy/more_frameworks.py) and the reproductions of the outside claims about them
(scripts/accuracy/claims_more.py), on the quick suite.

A claim's predicate must hold for the outputs the outside run reported and fail for the
correctly rounded reference (else it could not tell them apart); on the libraries installed
here each reproduction runs and says confirmed or refuted. A library that is not installed
is skipped with the reason.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"
MODULES = {  # survey name → the module it needs
    "paddle": "paddle",
    "tensorflow": "tensorflow",
    "mlx": "mlx.core",
    "mlx-precise": "mlx.core",
    "openvino": "openvino",
    "openvino-f32": "openvino",
    "tinygrad": "tinygrad",
    "numba": "numba",
}
CLAIM_MODULES = {
    "TensorFlow": "tensorflow",
    "OpenVINO": "openvino",
    "PaddlePaddle": "paddle",
    "MLX": "mlx.core",
    "keras": "keras",
    "tinygrad": "tinygrad",
    "numba": "numba",
}


@pytest.fixture(autouse=True, scope="module")
def paddle_before_tensorflow():
    """paddlepaddle 3.3 crashes the process (SIGSEGV) when imported after tensorflow 2.21."""
    if importlib.util.find_spec("paddle") is not None:
        importlib.import_module("paddle")


@pytest.fixture
def accuracy(monkeypatch):
    """scripts/accuracy importable, the generated suites cached where the workers share them."""
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    return importlib.import_module("accuracy")


def _needs(module: str):
    return pytest.importorskip(module, reason=f"{module} is not installed")


def _claims():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from accuracy.claims_more import CLAIMS
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return CLAIMS


CLAIMS = _claims()
IDS = [f"{c.library}-{c.op}-{c.fmt}-{i}" for i, c in enumerate(CLAIMS)]


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_predicate_tells_the_report_from_the_reference(accuracy, claim):
    from accuracy.claims_more import reference

    dtype = claim.inputs()[0].dtype
    refs = [reference(claim.op, claim.fmt)(z) for z in claim.inputs()]
    reported = [np.array(row, dtype=dtype) for row in claim.reported]
    assert claim.shows(reported, refs, claim.fmt), "the reported outputs must show it"
    assert not claim.shows(refs, refs, claim.fmt), "the correct outputs must not show it"


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_reproduction_runs_where_installed(accuracy, claim):
    from accuracy.claims_more import reproduce

    _needs(CLAIM_MODULES[claim.library])
    outcome = reproduce(claim)
    assert outcome.status in ("confirmed", "refuted", "not-run")
    if outcome.status == "not-run":
        assert outcome.why, "a claim not run says why"
        return
    for z, out in zip(claim.inputs(), outcome.outputs, strict=True):
        assert out.size == (1 if claim.op == "logsumexp" else z.size)


def test_reproduction_judges_by_the_outputs(accuracy):
    """The verdict follows the function's outputs: the reference refutes a claim, a function
    that does what the report says confirms it."""
    from accuracy.claims_more import reference, reproduce

    claim = next(c for c in CLAIMS if c.library == "numba")
    assert reproduce(claim, reference(claim.op, claim.fmt)).status == "refuted"
    with np.errstate(invalid="ignore"):  # −inf − (−inf): the NaN the report is about
        naive = reproduce(claim, lambda z: np.max(z) + np.log(np.sum(np.exp(z - np.max(z)))))
    assert naive.status == "confirmed"


def test_missing_library_is_not_run_with_the_reason(accuracy, monkeypatch):
    from accuracy.claims_more import reproduce

    monkeypatch.setitem(sys.modules, "numba", None)  # as if numba were not installed
    claim = next(c for c in CLAIMS if c.library == "numba")
    outcome = reproduce(claim)
    assert outcome.status == "not-run"
    assert "numba" in outcome.why


def test_findings_section_renders_each_claim(accuracy):
    from accuracy.claims_more import Outcome, reference, render

    claim = CLAIMS[0]
    refs = [reference(claim.op, claim.fmt)(z) for z in claim.inputs()]
    lines = render(
        [Outcome(claim, "refuted", refs, refs), Outcome(claim, "not-run", [], refs, "x")]
    )
    text = "\n".join(lines)
    assert text.startswith("## Findings: more frameworks")
    assert "**refuted**" in text and "not run — x." in text


@pytest.mark.parametrize("name", list(MODULES))
def test_loader_loads_or_says_why(accuracy, name):
    """Each loader gives an implementation whose softmax runs a float32 row, or Unavailable
    with the reason (tinygrad without a compiler for its CPU device)."""
    from accuracy.model import Unavailable
    from accuracy.more_frameworks import MORE_LOADERS

    from symsoftmax.validation.adapters import get_adapter

    _needs(MODULES[name])
    try:
        impl = MORE_LOADERS[name]()
    except Unavailable as exc:
        assert str(exc)
        pytest.skip(f"{name}: {exc}")
    adapter = get_adapter(impl.framework)
    row = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    out = adapter.to_numpy(impl.functions["softmax"](adapter.to_framework(row)))
    assert out.dtype == np.float32
    assert abs(float(out.astype(np.float64).sum()) - 1) < 1e-6
    for (_op, fmt), why in impl.unsupported.items():
        assert fmt in ("float64", "float32", "float16", "bfloat16") and why


def test_tinygrad_device_that_cannot_open_is_unavailable(accuracy):
    _needs("tinygrad")
    from accuracy.model import Unavailable
    from accuracy.more_frameworks import tinygrad_device

    with pytest.raises(Unavailable, match="NOSUCHDEVICE"):
        tinygrad_device("NOSUCHDEVICE")


def test_tinygrad_bfloat16_and_vjp_on_the_emulator(accuracy):
    """bfloat16 rows go to tinygrad as bit patterns and come back as bfloat16 (its .numpy()
    would give float32); the VJP of softmax by its autograd is the textbook one."""
    _needs("tinygrad")
    import ml_dtypes
    from accuracy.more_frameworks import tinygrad_functions

    fns = tinygrad_functions("PYTHON")
    row = np.array([0.0, 1.0], dtype=ml_dtypes.bfloat16)
    assert fns["softmax"](row).dtype == row.dtype
    z, g = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    s = np.exp(z) / np.exp(z).sum()
    assert np.allclose(fns["softmax_vjp"](z, g), s * (g - (g * s).sum()), rtol=1e-12)


def test_paddle_after_tensorflow_is_refused_not_crashed(accuracy, monkeypatch):
    from accuracy.model import Unavailable
    from accuracy.more_frameworks import paddle_functions

    monkeypatch.setitem(sys.modules, "tensorflow", object())
    monkeypatch.delitem(sys.modules, "paddle", raising=False)
    with pytest.raises(Unavailable, match="list paddle before tensorflow"):
        paddle_functions()


def test_openvino_model_has_constant_axes(accuracy):
    _needs("onnx")
    from accuracy.onnx_runtime import model

    assert [i.name for i in model("logsumexp", "bfloat16", constant_axes=True).graph.input] == ["x"]
    assert len(model("logsumexp", "bfloat16").graph.input) == 2  # onnxruntime's, unchanged


def test_survey_with_these_loaders_writes_their_rows(accuracy, monkeypatch, tmp_path):
    """accuracy_survey.py --quick with the loaders registered: a row per implementation."""
    _needs("numba")
    _needs("mlx.core")
    from accuracy.more_frameworks import MORE_LOADERS

    survey = importlib.import_module("accuracy_survey")
    monkeypatch.setattr(survey, "LOADERS", {**survey.LOADERS, **MORE_LOADERS})
    output = tmp_path / "x.md"
    argv = ["--quick", "--implementations", "numba,mlx,mlx-precise", "--ops", "softmax"]
    assert survey.main([*argv, "--formats", "float32", "-o", str(output)]) == 0
    rows = [line for line in output.read_text().splitlines() if line.startswith("| ")]
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == ["numba (@njit textbook)", "MLX (CPU)", "MLX (CPU, precise=True)"]
