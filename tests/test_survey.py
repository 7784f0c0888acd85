"""scripts/accuracy_survey.py and its implementations (scripts/accuracy/) on the quick suite.

Each test surveys a few rows, ops and formats: the tables and verdicts, the derived ops
(VJPs, Jacobian, cross-entropy) of every framework, onnxruntime's one-node models and the
findings about them, PyTorch SDPA through the attention adapter, and the GPU section's code
path run on the CPU (device "cpu", the "eager" compile backend).
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import symsoftmax

# the generated-suite cache shared by the test workers (as in test_validation.py)
SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def survey(monkeypatch):
    """The survey script as a module (its package, scripts/accuracy, importable)."""
    monkeypatch.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    return importlib.import_module("accuracy_survey")


def _rows(text: str) -> dict[str, str]:
    """Table rows by implementation name (the last table's row wins for a repeated name)."""
    return {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}


def _section(text: str, heading: str) -> str:
    """The text from ``heading`` (a whole line) to the next heading of the same level."""
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    end = text.find(f"\n{level} ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def _cell(survey, impl, op, fmt="float32"):
    return survey.survey([impl], (op,), (fmt,), "quick")[(op, fmt, impl.name)]


def test_quick_survey_writes_one_table_per_op(survey, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    output = tmp_path / "accuracy.md"
    code = survey.main(
        [
            "--quick",
            "-o",
            str(output),
            "--ops",
            "softmax,softmax_vjp",
            "--formats",
            "float32",
            "--implementations",
            "numpy-naive,numpy-shifted,scipy,jax",
        ]
    )
    assert code == 0
    text = output.read_text()
    assert "## softmax\n" in text and "## softmax_vjp\n" in text
    assert "| implementation | float32 |" in text
    assert "jax (not installed" in text
    rows = _rows(_section(text, "## softmax"))
    assert "FAIL" in rows["NumPy naive"] and "∞" in rows["NumPy naive"]
    assert "PASS" in rows["NumPy max-shifted"]
    vjp = _section(text, "## softmax_vjp")
    assert "SciPy" not in _rows(vjp) and "Not provided by: SciPy (scipy.special)." in vjp
    assert "Why the failures failed" in text and "exp-overflow" in text
    gpu = _section(text, "## GPU")
    assert "Pending: no CUDA device" in gpu and "|" not in gpu  # no invented GPU figures


def test_numpy_formulas_of_the_derived_ops(survey):
    from accuracy.frameworks import numpy_naive, numpy_shifted, scipy_special

    shifted, naive, scipy = numpy_shifted(), numpy_naive(), scipy_special()
    ops = ("log_softmax_vjp", "jacobian", "cross_entropy")
    cells = survey.survey([shifted, naive, scipy], ops, ("float32",), "quick")
    for op in ("log_softmax_vjp", "jacobian"):
        assert cells[(op, "float32", shifted.name)].report.passed, op
        naive_report = cells[(op, "float32", naive.name)].report
        assert not naive_report.passed and math.isinf(naive_report.max_ulp)
        assert cells[(op, "float32", scipy.name)].text() == "not provided"
    # cross-entropy: SciPy composes it from scipy.special; it runs and is judged
    assert cells[("cross_entropy", "float32", scipy.name)].report.tests > 0


@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_framework_autodiff_of_the_derived_ops(survey, framework):
    pytest.importorskip(framework)
    from accuracy.frameworks import jax_jit, torch_eager

    impl = torch_eager() if framework == "torch" else jax_jit()
    assert {"jacobian", "log_softmax_vjp", "cross_entropy"} <= set(impl.functions)
    ops = ("jacobian", "log_softmax_vjp", "cross_entropy")
    formats = ("bfloat16",) if framework == "torch" else ("float32",)  # JAX compiles per K
    cells = survey.survey([impl], ops, formats, "quick")
    for fmt in formats:
        for op in ("jacobian", "log_softmax_vjp"):
            cell = cells[(op, fmt, impl.name)]
            assert cell.report is not None and cell.report.passed, (op, fmt, cell.why())
        ce = cells[("cross_entropy", fmt, impl.name)].report
        errors = [r for r in ce.results if r.status == "error"]
        assert ce.tests > 0 and not errors  # (loss, grad) in the right shapes, every test


def test_onnxruntime_models_and_unsupported_formats(survey):
    pytest.importorskip("onnxruntime")
    from accuracy.onnx_runtime import onnxruntime_cpu, run_function

    impl = onnxruntime_cpu()
    assert set(impl.functions) == {"softmax", "log_softmax", "logsumexp"}
    # onnxruntime's CPU provider has no bfloat16 Softmax/LogSoftmax; its ReduceLogSumExp runs
    for op in ("softmax", "log_softmax"):
        assert "NOT_IMPLEMENTED" in impl.unsupported[(op, "bfloat16")]
    assert ("logsumexp", "bfloat16") not in impl.unsupported
    assert _cell(survey, impl, "softmax", "bfloat16").text() == "unsupported"
    assert _cell(survey, impl, "softmax").report.passed
    # bfloat16 goes in and out as its bit pattern: compare with the reference, bit for bit
    import ml_dtypes

    z = np.array([1.0, 2.0, 3.0], dtype=ml_dtypes.bfloat16)
    got = run_function("logsumexp", "bfloat16")(z)
    want = symsoftmax.reference.logsumexp(z.astype(np.float64), dtype="bfloat16")
    assert got.dtype == ml_dtypes.bfloat16 and got.view(np.uint16) == want.view(np.uint16)


def test_findings_reproductions_agree_with_the_suite(survey):
    pytest.importorskip("onnxruntime")
    from accuracy import findings
    from accuracy.onnx_runtime import onnxruntime_cpu

    impl = onnxruntime_cpu()
    cells = survey.survey([impl], ("logsumexp",), ("float32", "float16"), "quick")
    section = survey.Section([impl], {}, cells)
    found = {f.claim.report: f for f in survey.check_findings(section)}
    assert len(found) == len(findings.CLAIMS)
    for finding in found.values():
        for trial in finding.trials:
            assert trial.reproduced == finding.claim.shows(trial.outputs)
            for row, ref in zip(finding.claim.rows, trial.references, strict=True):
                if any(math.isnan(v) for v in row):
                    assert np.isnan(ref).all()  # the reference of a row with a NaN is NaN
    order = found["ReduceLogSumExp gives −inf on [−inf, NaN] but NaN on [NaN, −inf]"]
    for trial in order.trials:
        if trial.fmt in ("float32", "float16"):
            # the quick suite has the row [−inf, NaN]: it catches what the reproduction shows
            assert trial.witnesses is not None
            assert bool(trial.witnesses) == trial.reproduced, trial.fmt
            rows = [w.inputs["z"] for w in trial.witnesses]
            assert all(np.isneginf(z).any() and np.isnan(z).any() for z in rows)
        else:
            assert trial.witnesses is None  # that cell was not surveyed
    text = "\n".join(findings.render(list(found.values()), "onnxruntime x"))
    assert "## Findings: onnxruntime" in text and "→ onnxruntime" in text
    assert ("**confirmed**" in text) or ("**refuted**" in text)


def test_claim_predicates_on_made_up_outputs(survey):
    from accuracy import findings

    log_softmax, order, overflow = findings.CLAIMS
    assert log_softmax.shows([np.array([45.0, np.nan]), np.array([np.nan, np.nan])])
    assert not log_softmax.shows([np.array([np.nan, np.nan]), np.array([np.nan, np.nan])])
    assert order.shows([np.array(-np.inf), np.array(np.nan)])
    assert not order.shows([np.array(np.nan), np.array(np.nan)])
    assert overflow.shows([np.array(np.inf)]) and not overflow.shows([np.array(2052.0)])


def test_sdpa_backends_through_the_attention_adapter(survey):
    pytest.importorskip("torch")
    from accuracy.attention import sdpa_softmax

    math_backend = sdpa_softmax("math")
    assert set(math_backend.functions) == {"softmax"} and not math_backend.unsupported
    assert _cell(survey, math_backend, "softmax").report.passed
    # the efficient and cuDNN kernels have no CPU implementation: recorded, not run
    efficient = sdpa_softmax("efficient")
    assert set(efficient.unsupported) == {
        ("softmax", fmt) for fmt in ("float64", "float32", "float16", "bfloat16")
    }
    assert _cell(survey, efficient, "softmax").text() == "unsupported"


def test_gpu_section_runs_on_the_cpu(survey, tmp_path):
    pytest.importorskip("torch")
    output = tmp_path / "accuracy.md"
    names = "numpy-shifted,torch-gpu,torch-compile,sdpa-math-gpu,sdpa-cudnn-gpu,triton"
    code = survey.main(
        [
            "--quick",
            "--gpu",
            "-o",
            str(output),
            "--ops",
            "softmax,log_softmax_vjp",
            "--formats",
            "float32",
            "--implementations",
            names,
        ],
        gpu_device="cpu",
        compile_backend="eager",
    )
    assert code == 0
    text = output.read_text()
    gpu = _section(text, "## GPU")
    assert "Pending" not in gpu and "### softmax\n" in gpu and "### log_softmax_vjp\n" in gpu
    softmax_rows = _rows(_section(gpu, "### softmax"))
    for name in ("PyTorch (CPU)", "torch.compile eager (CPU)", "PyTorch SDPA math (CPU)"):
        assert "**PASS**" in softmax_rows[name], name
    assert "unsupported" in softmax_rows["PyTorch SDPA cudnn (CPU)"]
    assert "**PASS**" in _rows(_section(gpu, "### log_softmax_vjp"))["torch.compile eager (CPU)"]
    if os.environ.get("TRITON_INTERPRET") != "1":
        assert "triton (" in gpu  # unavailable, with the reason


def test_gpu_option_without_cuda_is_a_usage_error(survey, tmp_path, capsys):
    try:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    except ImportError:
        pass
    with pytest.raises(SystemExit) as info:
        survey.main(["--quick", "--gpu", "-o", str(tmp_path / "a.md")])
    assert info.value.code == 2
    assert "--gpu needs a CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "a.md").exists()


@pytest.mark.parametrize(
    "option", [["--implementations", "matlab"], ["--ops", "softmax,hessian"], ["--formats", "int8"]]
)
def test_unknown_names_are_usage_errors(survey, tmp_path, option):
    with pytest.raises(SystemExit) as info:
        survey.main(["--quick", "-o", str(tmp_path / "a.md"), *option])
    assert info.value.code == 2


def test_findings_option_prints_the_reproductions(survey, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert survey.main(["--findings", "-o", str(tmp_path / "a.md")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Findings: onnxruntime")
    assert "float16: [2048.0, 2052.0] → onnxruntime [" in out
    assert "the survey did not run this cell" in out  # no suite: reproductions only
    assert not (tmp_path / "a.md").exists()


def test_triton_kernel_under_the_interpreter(tmp_path):
    """The Triton tutorial kernel on the CPU through Triton's interpreter (when installed); in a
    process of its own, since Triton reads TRITON_INTERPRET when it is first imported."""
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    output = tmp_path / "accuracy.md"
    script = "import sys, accuracy_survey as s; sys.exit(s.main(sys.argv[1:], gpu_device='cpu'))"
    args = ["--quick", "--gpu", "--ops", "softmax", "--formats", "float32", "-o", str(output)]
    env = dict(
        os.environ,
        TRITON_INTERPRET="1",
        SYMSOFTMAX_CACHE_DIR=str(SHARED_CACHE),
        PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), *sys.path]),
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args, "--implementations", "triton"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    row = _rows(output.read_text())["Triton fused softmax (CPU)"]
    assert "**PASS**" in row


def test_worker_processes_give_the_same_tables(survey, tmp_path):
    """--jobs 2: one op × format per worker, merged; the page equals the one-process page."""
    pages = []
    for jobs in ("1", "2"):
        output = tmp_path / f"accuracy-{jobs}.md"
        args = ["--quick", "--jobs", jobs, "-o", str(output), "--ops", "softmax,logsumexp"]
        args += ["--formats", "float32,float16", "--implementations", "numpy-naive,numpy-shifted"]
        assert survey.main(args) == 0
        text = output.read_text().split("## GPU")[0]  # the survey time differs
        pages.append([line for line in text.splitlines() if not line.startswith("Generated on")])
    assert pages[0] == pages[1]
    assert not any("pending" in line for line in pages[1])


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for the children")
def test_sigterm_ends_the_worker_processes_too(tmp_path):
    """Killing a --jobs run (SIGTERM) ends its workers: they were left running before."""
    import signal
    import time

    script = ROOT / "scripts" / "accuracy_survey.py"
    args = [sys.executable, str(script), "--jobs", "2", "-o", str(tmp_path / "a.md")]
    args += ["--implementations", "numpy-shifted", "--ops", "jacobian"]  # standard: minutes
    env = {**os.environ, "SYMSOFTMAX_CACHE_DIR": str(tmp_path / "cache")}
    log = tmp_path / "stderr.txt"  # a file, not a pipe: orphans would hold a pipe open
    with log.open("w") as stderr:
        parent = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=stderr)

    def children() -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(comm)"
            except OSError:  # ended meanwhile
                continue
            if int(fields[1]) == parent.pid:  # the parent pid
                found.append(int(stat.parent.name))
        return found

    deadline = time.monotonic() + 60
    while len(workers := children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) >= 2, log.read_text()
    time.sleep(3)  # the workers are inside their first cells
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) in (128 + signal.SIGTERM, -signal.SIGTERM), log.read_text()
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    for w in alive:  # do not leave them behind if the test fails
        os.kill(w, signal.SIGKILL)
    assert not alive


def test_changed_verdicts_are_listed_with_evidence_and_cause(survey):
    """A float16 softmax that sums in float16 passed the normwise rule and fails the default
    per-component class; declared as state float16 it passes, and the page's changes section
    names the test, the exact value and the cause. The same kernel undeclared is listed as not
    adjudicated by the report's diagnosis; a change that neither explains is marked not
    adjudicated, so an unexplained change cannot slip onto the page."""
    model = importlib.import_module("accuracy.model")
    from symsoftmax.validation.componentwise import KernelClass

    def softmax(z):
        e = np.exp(z - z.max())  # float16 throughout, as NumPy computes it
        return e / e.sum()

    declared = model.Implementation(
        "f16 sum",
        "numpy",
        {"softmax": softmax},
        "1",
        classes=model.declare(
            ("softmax",), ("float16",), KernelClass(state="float16"), "it sums in float16"
        ),
    )
    plain = model.Implementation("f16 sum, undeclared", "numpy", {"softmax": softmax}, "1")

    def skewed(z):
        """float32 softmax with its smallest probability 1 % off: invisible to the normwise
        bound, a per-component failure that no diagnosed cause explains."""
        s = softmax(z.astype(np.float32)).astype(np.float16)
        smallest = np.isfinite(s).all() and s.size > 1 and (s == s.min()).sum() == 1
        if smallest and 0 < s.min() < 1e-3 * s.max():
            s[np.argmin(s)] *= np.float16(0.99)  # still the smallest: monotone as before
        return s

    odd = model.Implementation("skewed", "numpy", {"softmax": skewed}, "1")
    impls = [declared, plain, odd]
    cells = survey.survey(impls, ("softmax",), ("float16",), "quick")
    cell = cells[("softmax", "float16", "f16 sum")]
    assert cell.normwise is True and not cell.report.passed
    assert cell.declared_report is not None and cell.declared_report.passed
    assert "· **PASS** as two-pass, state float16" in cell.text()
    changes = "\n".join(survey._changes(impls, cells, ("softmax",), ("float16",)))
    assert "**f16 sum, softmax, float16**: PASS → FAIL" in changes
    assert "Worst test: tcId" in changes and "exact" in changes
    assert "Why: it sums in float16; judged as two-pass, state float16" in changes
    undeclared = next(line for line in changes.splitlines() if "f16 sum, undeclared" in line)
    assert "PASS → FAIL" in undeclared
    assert "Cause: the report's diagnosis" in undeclared  # accumulating in float16
    skewed_line = next(line for line in changes.splitlines() if "**skewed" in line)
    assert "PASS → FAIL" in skewed_line and "**Not adjudicated**" in skewed_line
