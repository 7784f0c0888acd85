"""symsoftmax exhaustive / symsoftmax.exhaustive (issue 12 §2, §4): every float8 row of K = 2,
verdicts by class, determinism across batching, sharding, resuming and Dask, refusals, and the
vectorized judge against the per-test one."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symsoftmax
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS
from symsoftmax.reference import evaluate
from symsoftmax.sweep.judge import _batch_bounds, judge_batch
from symsoftmax.sweep.reconcile import TALLY_KEYS
from symsoftmax.sweep.report import IDENTITY_KEYS
from symsoftmax.sweep.space import Space
from symsoftmax.validation.bounds import output_bounds
from symsoftmax.validation.checks import PassRule

CANDIDATES = """
import numpy as np

def good(x):
    z = x.astype(np.float32)
    posinf = z == np.inf
    limit = posinf.any(axis=-1, keepdims=True) & ~np.isnan(z).any(axis=-1, keepdims=True)
    z = np.where(limit, np.where(posinf, 0.0, -np.inf), z).astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def naive(x):
    z = x.astype(np.float32)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def saturating_log(x):
    z = x.astype(np.float32)
    m = z.max(axis=-1, keepdims=True)
    out = z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return np.clip(out, -448, 448).astype(x.dtype)

def lse(x):
    z = x.astype(np.float32)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0].astype(x.dtype)

def max_shift(x):  # IEEE max-shift: a +inf row is all NaN
    z = x.astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def masked_zeros(x):  # FlashAttention's convention: a fully masked row is 0
    out = max_shift(x)
    return np.where(np.isneginf(x).all(axis=-1, keepdims=True), 0, out).astype(x.dtype)

def half_nan(x):  # NaN only at the +inf entries, 0 elsewhere: neither named answer
    z = x.astype(np.float32)
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(m), m, 0))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def exits(x):
    import os
    os._exit(3)
"""


@pytest.fixture(scope="module")
def candidates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cands") / "cands.py"
    path.write_text(CANDIDATES)
    return path


def _module(path: Path) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # our own test file
    return namespace


def test_space_enumerates_every_bit_pattern_in_order() -> None:
    space = Space.of("float8_e4m3fn", 2)
    assert space.size == 65536
    patterns = space.patterns(0, space.size)
    assert np.array_equal(patterns[:, 0] * 256 + patterns[:, 1], np.arange(65536))
    assert space.hex_patterns(0x3C07) == ["0x3c", "0x07"]
    assert Space.of("float16", 2).size == 2**32


def test_spaces_that_cannot_finish_are_refused_with_rows_and_estimate() -> None:
    with pytest.raises(InputError, match=r"float32 K = 2 has 1.84e\+19 rows \(2\^64\).*years"):
        Space.of("float32", 2)
    with pytest.raises(InputError, match=r"k must be"):
        Space.of("float8_e5m2", 0)


def test_a_correct_softmax_passes_and_a_naive_one_fails_with_exact_counts(
    candidates: Path,
) -> None:
    names = _module(candidates)
    for dtype in ("float8_e4m3fn", "float8_e5m2"):
        report = symsoftmax.exhaustive(names["good"], op="softmax", dtype=dtype, k=2)
        assert report.passed and report.tally.rows == 65536, report.to_text()
        assert report.tally.max_ulp <= 0.5 + 1e-9  # a float32 computation, rounded once
    naive = symsoftmax.exhaustive(names["naive"], op="softmax", dtype="float8_e4m3fn", k=2)
    # NaN outputs (inf/inf once exp(z) overflows float32) where the reference has none: the
    # rows without a NaN entry whose naive outputs have a NaN, counted here independently
    space = Space.of("float8_e4m3fn", 2)
    x = space.rows(0, space.size)
    with np.errstate(all="ignore"):
        out = names["naive"](x).astype(np.float64)  # type: ignore[operator]
    nan_in = np.isnan(x.astype(np.float64)).any(axis=1)
    counts = naive.tally.counts
    assert counts["misplaced NaN/inf"] == int((np.isnan(out).any(axis=1) & ~nan_in).sum()) > 0
    assert naive.tally.failed == counts["misplaced NaN/inf"] + counts["over the bound"]
    assert not naive.passed


def test_named_answers_that_validate_accepts_are_acceptable_rows(candidates: Path) -> None:
    """As validate (vectors.builder.answers_for): all NaN for a row with +inf and no NaN, and
    0 (masked) or NaN for a row of −inf only; NaN at +inf with 0 elsewhere is neither."""
    names = _module(candidates)
    space = Space.of("float8_e5m2", 2)
    x = space.rows(0, space.size).astype(np.float64)
    no_nan = ~np.isnan(x).any(axis=1)
    posinf_rows = int((np.isposinf(x).any(axis=1) & no_nan).sum())
    masked_rows = int(np.isneginf(x).all(axis=1).sum())
    ieee = symsoftmax.exhaustive(names["max_shift"], op="softmax", dtype="float8_e5m2", k=2)
    assert ieee.passed, ieee.to_text()
    assert ieee.tally.counts["acceptable"] == posinf_rows > 0
    masked = symsoftmax.exhaustive(names["masked_zeros"], op="softmax", dtype="float8_e5m2", k=2)
    assert masked.passed, masked.to_text()
    assert masked.tally.counts["acceptable"] == posinf_rows + masked_rows
    half = symsoftmax.exhaustive(names["half_nan"], op="softmax", dtype="float8_e5m2", k=2)
    assert not half.passed
    with np.errstate(all="ignore"):
        out = names["half_nan"](x.astype(space.fmt.numpy_dtype)).astype(np.float64)  # type: ignore[operator]
    mixed = np.isnan(out).any(axis=1) & ~np.isnan(out).all(axis=1)
    assert half.tally.counts["misplaced NaN/inf"] == int(mixed.sum()) > 0


def test_logsumexp_candidate_returns_one_value_per_row(candidates: Path) -> None:
    names = _module(candidates)
    report = symsoftmax.exhaustive(names["lse"], op="logsumexp", dtype="float8_e4m3fn", k=2)
    assert report.passed, report.to_text()


def test_float8_e4m3fn_overflow_nan_is_right_and_saturation_acceptable(candidates: Path) -> None:
    names = _module(candidates)
    report = symsoftmax.exhaustive(
        names["saturating_log"], op="log_softmax", dtype="float8_e4m3fn", k=2
    )
    assert report.passed, report.to_text()
    assert report.tally.counts["saturated"] > 0  # e.g. [448, −448]: −896 beyond the range
    got = evaluate("log_softmax", ["448", "-448"], dtype="float8_e4m3fn").rounded
    assert got[0] == 0 and math.isnan(got[1])  # the valid answer: NaN (OCP conversion)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symsoftmax", "exhaustive", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_json_is_identical_whatever_the_batching_sharding_and_resuming(
    candidates: Path, tmp_path: Path
) -> None:
    target = f"{candidates}:naive"
    whole = _cli(target, "--workers", "0", "--json", cwd=tmp_path)
    assert whole.returncode == 1, whole.stderr
    shards = []
    for i in range(2):  # and another batch size
        part = _cli(
            target, "--workers", "0", "--shard", f"{i}/2", "--batch", "777", "--json", cwd=tmp_path
        )
        assert part.returncode == 1 and json.loads(part.stdout)["complete"] is False
        shards.append(tmp_path / f"s{i}.json")
        shards[-1].write_text(part.stdout)
    merged = _cli("--merge", *map(str, reversed(shards)), "--json", cwd=tmp_path)
    assert merged.stdout == whole.stdout
    overlap = _cli("--merge", str(shards[0]), str(shards[0]), cwd=tmp_path)
    assert overlap.returncode == 2 and "same rows" in overlap.stderr
    # a checkpoint of the first shard's rows, resumed to the end, gives the same report
    checkpoint = tmp_path / "run.ckpt"
    document = json.loads(shards[0].read_text())
    identity = {key: document[key] for key in IDENTITY_KEYS}
    checkpoint.write_text(
        json.dumps(
            {
                "identity": {**identity, "shard": [0, 1]},
                "tally": {key: document[key] for key in TALLY_KEYS},
            }
        )
    )
    resumed = _cli(target, "--workers", "0", "--resume", str(checkpoint), "--json", cwd=tmp_path)
    assert resumed.stdout == whole.stdout
    other = _cli(
        target, "--workers", "0", "--op", "log_softmax", "--resume", str(checkpoint), cwd=tmp_path
    )
    assert other.returncode == 2 and "another run" in other.stderr


def test_cli_reports_a_hostile_candidate_and_writes_markdown_and_plot(
    candidates: Path, tmp_path: Path
) -> None:
    out = _cli(
        f"{candidates}:exits",
        "--workers",
        "0",
        "--batch",
        "32768",
        "--report",
        "r.md",
        "--plot",
        "h.png",
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "call failed: 65536" in out.stdout and "exited with code 3" in out.stdout
    assert "# Exhaustive" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    refused = _cli(f"{candidates}:good", "--dtype", "float32", "--workers", "0", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "rows" in refused.stderr and "Traceback" not in refused.stderr


def test_dask_local_cluster_of_two_workers_equals_one_process(
    candidates: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    target = f"{candidates}:naive"
    single = _cli(target, "--workers", "0", "--json", cwd=tmp_path)
    cluster = _cli(target, "--workers", "2", "--batch", "4096", "--json", cwd=tmp_path)
    assert cluster.returncode == single.returncode == 1, cluster.stderr
    assert cluster.stdout == single.stdout


def test_a_bad_target_on_a_cluster_is_one_line_and_exit_2(candidates: Path, tmp_path: Path) -> None:
    """The workers' failed tasks are not logged: the driver reports the error once."""
    pytest.importorskip("distributed")
    run = _cli(f"{candidates}:no_such_function", "--workers", "2", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "has no attribute" in run.stderr, run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float8_e5m2"])
def test_vectorized_bounds_equal_output_bounds(op: str, dtype: str) -> None:
    fmt = FORMATS[dtype]
    bits = fmt.numpy_dtype.itemsize * 8
    rng = np.random.default_rng(bits)
    patterns = rng.integers(0, 1 << bits, size=(80, 3), dtype=np.uint64)
    with np.errstate(invalid="ignore"):
        rows = patterns.astype(f"uint{bits}").view(fmt.numpy_dtype).astype(np.float64)
    rows = rows[~np.isnan(rows).any(axis=1)]
    rows = np.concatenate([rows, [[np.inf, np.inf, np.inf], [np.inf, 1.0, np.inf]]])
    got = _batch_bounds(op, rows, fmt, ftz=False)
    for row, bound in zip(rows, got, strict=True):
        exact = evaluate(op, row, dtype=fmt).rounded
        want = output_bounds(op, {"z": row}, {"output": exact}, fmt)["output"].absolute
        assert bound == pytest.approx(want, rel=1e-12, abs=0), row


@pytest.mark.parametrize("mode", ["bound", "faithful", "correctly-rounded"])
def test_batch_judge_agrees_with_exact_errors_on_perturbed_outputs(mode: str) -> None:
    """Outputs nudged by 0, 1 or 2 format steps: the vectorized verdict equals one computed
    from the authority's 40-digit exact values, row by row."""
    from symsoftmax.sweep.judge import CLASSES, _judge_exactly

    fmt = FORMATS["float16"]
    rng = np.random.default_rng(7)
    rows = np.round(rng.standard_normal((120, 2)) * 6, 2)
    rows = evaluate("softmax", rows, dtype=fmt).rounded * 0 + rows.astype(np.float16)
    expected = evaluate("softmax", rows, dtype=fmt).rounded
    steps = rng.integers(-2, 3, size=expected.shape)
    got = expected.astype(np.float16)
    for _ in range(2):
        up = np.nextafter(got, np.float16(np.inf))
        down = np.nextafter(got, np.float16(-np.inf))
        got = np.where(steps > 0, up, np.where(steps < 0, down, got))
        steps = steps - np.sign(steps)
    got64 = got.astype(np.float64)
    rule = PassRule(mode)
    verdict = judge_batch("softmax", fmt, rows, got64, expected, rule)
    for r in range(len(rows)):
        code, ulp = _judge_exactly("softmax", fmt, rows[r], got64[r], expected[r], rule)
        assert CLASSES[verdict.code[r]] == CLASSES[code], rows[r]
        assert verdict.ulp[r] == pytest.approx(ulp, abs=1e-6)


def test_worst_rows_are_the_sorted_top_without_sorting_the_batch() -> None:
    """runner._worst is lexsort((index, −ulp))[:kept], NaN last, ties by lower row."""
    from symsoftmax.sweep.runner import _worst

    rng = np.random.default_rng(12)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        ulps = rng.choice([0.0, 0.25, 0.5, 3.0, np.inf, np.nan], size=n)
        expected = np.lexsort((np.arange(n), -ulps))[:10].tolist()
        assert _worst(ulps, 10) == expected, ulps


def test_local_cluster_workers_keep_glibcs_adaptive_mmap_threshold() -> None:
    """Dask's nanny exports MALLOC_TRIM_THRESHOLD_, which halved the judge's speed (every
    temporary mapped afresh); our LocalCluster unsets it."""
    pytest.importorskip("distributed")
    from symsoftmax.sweep.distribute import _client

    with _client(None, 1) as client:
        seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(seen.values()) == [None]


def test_documented_worker_configuration_unsets_the_trim_threshold(tmp_path: Path) -> None:
    """The YAML that docs/exhaustive.md gives for `dask worker` does unset it."""
    pytest.importorskip("distributed")
    import re

    doc = (Path(__file__).parents[1] / "docs" / "exhaustive.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    (tmp_path / "symsoftmax.yaml").write_text(block)
    code = (
        "from distributed.nanny import _get_env_variables as g;"
        "print(sorted(g('distributed.nanny.pre-spawn-environ')))"
    )
    env = {**os.environ, "DASK_CONFIG": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "MALLOC_TRIM_THRESHOLD_" not in run.stdout and "OMP_NUM_THREADS" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_k3_correct_passes_and_naive_fails_with_counts_found_independently(
    candidates: Path, dtype: str
) -> None:
    """Issue 12's "done when" at K = 3 (16.8 M rows): the naive candidate's failing rows are
    counted here from its outputs and a float64 softmax, without the judge or the reference."""
    names = _module(candidates)
    good = symsoftmax.exhaustive(names["good"], op="softmax", dtype=dtype, k=3)
    assert good.passed and good.tally.rows == 1 << 24, good.to_text()
    naive = symsoftmax.exhaustive(names["naive"], op="softmax", dtype=dtype, k=3)
    space = Space.of(dtype, 3)
    misplaced = gross = 0
    for start in range(0, space.size, 1 << 21):
        x = space.rows(start, start + (1 << 21))
        with np.errstate(all="ignore"):
            out = names["naive"](x).astype(np.float64)  # type: ignore[operator]
            z = x.astype(np.float64)
            posinf = np.isposinf(z)
            limit = posinf.any(axis=1, keepdims=True)  # +inf rows: their limit, as the reference
            z = np.where(limit, np.where(posinf, 0.0, -np.inf), z)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            exact = e / e.sum(axis=1, keepdims=True)
        nan_in = np.isnan(x.astype(np.float64)).any(axis=1)
        finite_in = ~nan_in & ~np.isneginf(z).all(axis=1)  # the reference is finite here
        all_nan_at_inf = limit[:, 0] & np.isnan(out).all(axis=1)  # an accepted answer
        bad_special = ~np.isfinite(out).all(axis=1) & finite_in & ~all_nan_at_inf
        misplaced += int(bad_special.sum())
        # naive's finite outputs are float32 results rounded once to float8 (off by at most
        # half an ulp: ≤ 1/16 for outputs in [1/2, 1]), or 0 everywhere where Σ e^z overflowed
        # float32 (off by ≥ 1/K at the largest output): an error over 0.1 is that overflow
        far = (np.abs(out - exact) > 0.1).any(axis=1)
        gross += int((far & finite_in & ~bad_special & ~all_nan_at_inf).sum())
    counts = naive.tally.counts
    assert counts["misplaced NaN/inf"] == misplaced > 0
    assert counts["over the bound"] == gross
    assert naive.tally.failed == misplaced + gross and not naive.passed


def _special_rows(dtype: str, k: int, sample: int | None) -> np.ndarray:
    """The rows of the float8 K space with a NaN or an infinity (a seeded sample of them)."""
    space = Space.of(dtype, k)
    x = space.rows(0, space.size)
    with np.errstate(invalid="ignore"):
        wide = x.astype(np.float64)
    where = np.flatnonzero(~np.isfinite(wide).all(axis=1))
    if sample is not None and where.size > sample:
        where = np.sort(np.random.default_rng(k).choice(where, sample, replace=False))
    return wide[where]


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize(
    ("dtype", "k", "sample"),
    [("float8_e5m2", 2, None), ("float8_e4m3fn", 2, None), ("float8_e5m2", 3, 600)],
)
def test_vectorized_acceptable_rows_are_the_named_answers_of_the_vectors(
    op: str, dtype: str, k: int, sample: int | None
) -> None:
    """judge.accepted_alternative (whole batches, for the sweep) accepts a row's outputs exactly
    when they are one of vectors.builder.answers_for's named answers (one test, for the vector
    files and validate) other than the reference's own: on every K = 2 row with a NaN or an
    infinity, and a sample of the K = 3 ones (float8_e4m3fn has no infinity: none is named),
    for outputs that are each named answer, the reference's, and neither."""
    from symsoftmax.sweep.judge import accepted_alternative
    from symsoftmax.vectors.builder import answers_for
    from symsoftmax.vectors.model import EXPECTED_KEYS

    rows = _special_rows(dtype, k, sample)
    expected = np.asarray(evaluate(op, rows, dtype=dtype).rounded).reshape(len(rows), -1)
    key = EXPECTED_KEYS[op][0]
    outputs = [
        expected,
        np.full_like(expected, np.nan),
        np.zeros_like(expected),
        np.full_like(expected, -np.inf),
        np.where(np.isposinf(rows[:, : expected.shape[1]]), np.nan, 0.0),
    ]
    accepted = 0
    for got in outputs:
        fast = accepted_alternative(op, rows, got, expected)
        for i, row in enumerate(rows):
            want = expected[i].reshape(-1 if op != "logsumexp" else ())
            answers = answers_for(op, {"z": row}, {key: np.asarray(want)})
            same = np.array_equal(got[i], expected[i], equal_nan=True)
            named = any(
                np.array_equal(np.ravel(a.outputs[key]), got[i], equal_nan=True) for a in answers
            )
            assert fast[i] == (named and not same), (op, row, got[i], expected[i])
        accepted += int(fast.sum())
    has_inf = bool(np.isinf(rows).any())
    assert (accepted > 0) == has_inf  # e5m2: +inf rows (and −inf rows) have named answers


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float8_e5m2", "float8_e4m3fn"])
def test_correctly_rounded_outputs_pass_the_per_component_rule_on_every_row(
    op: str, dtype: str
) -> None:
    """The sweep passes a row of correctly rounded outputs without judging it (θ = 0 / D = 0 is
    always allowed): judge_rows agrees on every float8 K = 2 row whose outputs hold no NaN."""
    from symsoftmax.sweep.judge import approximate
    from symsoftmax.validation.componentwise import KernelClass, judge_rows

    space = Space.of(dtype, 2)
    x = space.rows(0, space.size)
    with np.errstate(invalid="ignore"):
        wide = x.astype(np.float64)
    expected = np.asarray(evaluate(op, x, dtype=dtype).rounded).reshape(len(x), -1)
    keep = ~np.isnan(expected).any(axis=1)
    value, _ = approximate(op, wide[keep])
    value = value.reshape(int(keep.sum()), -1)
    fmt = FORMATS[dtype]
    verdict = judge_rows(
        op, wide[keep], value, np.zeros_like(value), expected[keep], fmt, KernelClass()
    )
    assert verdict.passed.all(), wide[keep][~verdict.passed][:5]


@pytest.mark.parametrize("dtype", ["float8_e5m2", "float8_e4m3fn"])
def test_flushed_subnormal_outputs_fail_the_per_component_rule_unless_ftz(dtype: str) -> None:
    """A float32 two-pass softmax whose subnormal outputs flush to 0: it passed the normwise
    rule (an error under u·max s); per component it fails, on exactly the rows where a
    correctly rounded output is a nonzero subnormal it flushes, and passes with --ftz."""
    import sharp_kernels as sk

    rule = PassRule(ftz=True)
    flushed = symsoftmax.exhaustive(sk.ftz_outputs, op="softmax", dtype=dtype, k=2)
    allowed = symsoftmax.exhaustive(sk.ftz_outputs, op="softmax", dtype=dtype, k=2, rule=rule)
    correct = symsoftmax.exhaustive(sk.two_pass_softmax, op="softmax", dtype=dtype, k=2)
    normwise = symsoftmax.exhaustive(
        sk.ftz_outputs, op="softmax", dtype=dtype, k=2, rule=PassRule("normwise")
    )
    assert correct.passed and allowed.passed and normwise.passed, allowed.to_text()
    assert not flushed.passed
    space = Space.of(dtype, 2)
    x = space.rows(0, space.size)
    with np.errstate(all="ignore"):
        out = sk.ftz_outputs(x).astype(np.float64)
        z = x.astype(np.float64)
        posinf = np.isposinf(z)  # +inf rows: their limit, as the reference
        z = np.where(posinf.any(axis=1, keepdims=True), np.where(posinf, 0.0, -np.inf), z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        exact = e / e.sum(axis=1, keepdims=True)
    # a 0 for an exact value under the underflow floor (one subnormal of the format, two of
    # the float32 state: validation.componentwise) is allowed; one for twice the floor is off
    # by more than any bound allows (the component's own relative bound is under ½ here)
    floor = FORMATS[dtype].smallest_subnormal + 2.0**-148
    surely = int(((out == 0) & (exact > 2 * floor)).any(axis=1).sum())
    maybe = int(((out == 0) & (exact > floor)).any(axis=1).sum())
    assert 0 < surely <= flushed.tally.counts["over the bound"] <= maybe
    assert "two-pass, state float32, faithful exp" in flushed.headline()


def test_inf_clamp_fails_exhaustive_per_component_and_passed_normwise() -> None:
    """[+inf, max] → [½, ½] (+inf clamped to the format's max): the limit is [1, 0], so the
    masked-by-the-limit entry must be exactly 0 — it fails per component (the rows counted here
    as the +inf rows with a finite entry equal to max), and the normwise rule let it through."""
    import sharp_kernels as sk

    dtype = "float8_e5m2"
    report = symsoftmax.exhaustive(sk.inf_clamp, op="softmax", dtype=dtype, k=2)
    old = symsoftmax.exhaustive(
        sk.inf_clamp, op="softmax", dtype=dtype, k=2, rule=PassRule("normwise")
    )
    assert old.passed and not report.passed
    space = Space.of(dtype, 2)
    x = space.rows(0, space.size).astype(np.float64)
    top = FORMATS[dtype].max
    clamped = (np.isposinf(x) & (x[:, ::-1] == top)).any(axis=1)
    assert report.tally.counts["over the bound"] == int(clamped.sum()) == 2


def test_cli_names_the_kernel_class_and_runs_of_other_classes_do_not_merge(
    candidates: Path, tmp_path: Path
) -> None:
    """--algorithm/--block (validate's options) reach the rule; the JSON's identity holds the
    kernel class and its description; shards of two kernel classes are different runs, and a
    report without the kernel class (the format before it) is refused in one line."""
    target = f"{candidates}:good"
    common = ("--workers", "0", "--dtype", "float8_e5m2", "--json")
    one_pass = _cli(target, *common, "--algorithm", "one-pass", "--block", "4", cwd=tmp_path)
    two_pass = _cli(target, *common, "--shard", "0/2", cwd=tmp_path)
    assert one_pass.returncode == 0 and two_pass.returncode == 1, one_pass.stderr
    rule = json.loads(one_pass.stdout)["rule"]
    assert rule["kernel"]["algorithm"] == "one-pass" and rule["kernel"]["block"] == 4
    assert rule["kernel_class"] == "one-pass (block 4), state float32, faithful exp"
    (tmp_path / "a.json").write_text(one_pass.stdout)
    (tmp_path / "b.json").write_text(two_pass.stdout)
    mixed = _cli("--merge", "a.json", "b.json", cwd=tmp_path)
    assert mixed.returncode == 2 and "different runs (rule differ)" in mixed.stderr, mixed.stderr
    document = json.loads(one_pass.stdout)
    del document["rule"]["kernel"], document["rule"]["kernel_class"]
    (tmp_path / "old.json").write_text(json.dumps(document))
    old = _cli("--merge", "old.json", cwd=tmp_path)
    assert old.returncode == 2 and old.stderr.count("\n") == 1
    assert "rule.kernel: missing" in old.stderr, old.stderr
