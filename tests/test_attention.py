"""symsoftmax.testing.attention_as_softmax and `validate --attention`: a fused attention kernel
judged as a softmax (or logsumexp), exactly.

The embedding is checked bit for bit (a kernel that is a plain softmax of its scores gives the
bits of that softmax applied to z directly, in every layout, mask mode, head_dim and batching),
and by verdicts: the blockwise kernels of tests/blockwise_kernels.py, wrapped as attention
functions, get through the adapter the verdict (pass or fail, the failing flags, the failing
properties) that their direct softmax and logsumexp forms get. PyTorch and JAX tests carry
"torch" / "jax" in their names (CI runs them with `-k "torch or jax"`).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import attention_candidates as cands
import blockwise_kernels as bk
import numpy as np
import pytest
from bitwise import same_bits

from symsoftmax import vectors
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.testing import attention_as_softmax
from symsoftmax.validation import validate
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.componentwise import KernelClass
from symsoftmax.validation.sources import custom_vectors, suite_vectors

SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"
CANDIDATES = Path(cands.__file__)
FORMATS = ("float32", "float16", "bfloat16")
INF = np.inf


@pytest.fixture(autouse=True, scope="module")
def _shared_cache() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
        yield


def special_rows(dtype: str, k: int = 70) -> np.ndarray:
    """Rows of length k with what the adapter must carry exactly: −inf (leading, middle,
    everywhere), NaN, +inf, ±0, subnormals, the format's extremes."""
    fmt = get_format(dtype)
    rng = np.random.default_rng(7)
    rows = rng.normal(0, 8, (9, k))
    rows[1, :40] = -INF
    rows[2, 20:50] = -INF
    rows[3, :] = -INF
    rows[4, 5] = np.nan
    rows[5, 9] = INF
    rows[6, ::2] = -0.0
    rows[6, 1::2] = 0.0
    rows[7, :] = fmt.smallest_subnormal * np.arange(k)
    rows[8, :3] = (fmt.max, -fmt.max, -INF)
    return rows.astype(fmt.numpy_dtype)


def direct_softmax(z: np.ndarray) -> np.ndarray:
    """What ``cands.scores_softmax`` computes, applied to z itself."""
    s = z.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(z.dtype)


# ---------------------------------------------------------------- the embedding, bit for bit


@pytest.mark.parametrize("dtype", FORMATS)
@pytest.mark.parametrize("mask", ["boolean", "additive", "none"])
def test_scores_are_the_logits_and_pv_copies_each_probability(dtype: str, mask: str) -> None:
    z = special_rows(dtype)
    seen = []

    def spy(q, k, v, attn_mask=None, scale=None):
        seen.append(cands.scores(q, k, attn_mask, scale))
        return cands.scores_softmax(q, k, v, attn_mask, scale)

    adapted = attention_as_softmax(spy, mask=mask, head_dim=16)
    got = adapted(z)
    assert same_bits(got, direct_softmax(z))
    assert len(seen) == 5  # ⌈70 / 16⌉ slices, every row of the batch in each call
    for s in seen:
        assert s.shape == (len(z), 1, 1, z.shape[1])
        # −inf, NaN, +inf exactly; −0 may come out +0 (−0 + 0·0 = +0), which no op tells apart
        assert same_bits(s[:, 0, 0, :] + 0.0, z.astype(np.float32) + 0.0)
    assert same_bits(adapted(z[4]), got[4])  # one row (K,) gives (K,), the same bits


@pytest.mark.parametrize("mask", ["boolean", "additive", "none"])
@pytest.mark.parametrize("head_dim", [1, 16, 64, 128])
def test_masks_head_dims_and_batching_give_the_same_bits(mask: str, head_dim: int) -> None:
    z = special_rows("bfloat16")
    reference = attention_as_softmax(bk.attention, head_dim=64)(z)
    got = attention_as_softmax(bk.attention, mask=mask, head_dim=head_dim)(z)
    assert same_bits(got, reference)
    one_by_one = np.stack([attention_as_softmax(bk.attention, mask=mask)(row) for row in z])
    assert same_bits(one_by_one, reference)


def test_bshd_layout_and_flash_call() -> None:
    z = special_rows("float16")
    reference = attention_as_softmax(bk.attention)(z)
    flash = attention_as_softmax(cands.flash_bshd, layout="bshd", call="flash", mask="none")
    assert same_bits(flash(z), reference)
    shapes = []

    def bshd_spy(q, k, v, attn_mask=None, scale=None):
        shapes.append((q.shape, k.shape, v.shape, attn_mask.shape, scale))
        return cands.flash_bshd(q, k, v, softmax_scale=scale)

    attention_as_softmax(bshd_spy, layout="bshd", head_dim=32)(z[:2, :40])
    assert shapes == [((2, 1, 1, 32), (2, 40, 1, 32), (2, 40, 1, 32), (2, 1, 1, 40), 1.0)] * 2


def test_logsumexp_from_the_kernels_lse() -> None:
    z = special_rows("bfloat16")
    direct = bk.logsumexp(z)
    for lse in (1, lambda result: result[1]):
        adapted = attention_as_softmax(cands.attention_lse, op="logsumexp", lse=lse)
        got = adapted(z)
        assert got.dtype == z.dtype and got.shape == (len(z),)
        assert same_bits(got, direct)  # float32 lse rounded to bfloat16 as the kernel would
        assert same_bits(adapted(z[0]), direct[0])


def test_fully_masked_rows_both_conventions_pass_and_others_fail() -> None:
    vf = custom_vectors("softmax", "float32", [[-INF] * 3, [-INF] * 70, [1.0, -INF, 2.0]])

    def zeros_for_masked(q, k, v, attn_mask=None, scale=None):
        return np.nan_to_num(bk.attention(q, k, v, attn_mask, scale), nan=0.0)

    def uniform_for_masked(q, k, v, attn_mask=None, scale=None):
        return bk.attention(q, k, v, None, scale)  # ignores the mask: masked keys score 0

    nan_out = attention_as_softmax(bk.attention)(np.full((1, 3), -INF, np.float32))
    assert np.isnan(nan_out).all()
    for kernel, passed in ((bk.attention, True), (zeros_for_masked, True)):
        report = validate(attention_as_softmax(kernel), vectors=vf, batch=True)
        assert report.passed is passed, report.summary_line()
    report = validate(attention_as_softmax(uniform_for_masked), vectors=vf, batch=True)
    assert not report.passed and report.failed == 3


# ---------------------------------------------------------------- verdicts through the adapter


def _failing(report, ignored: frozenset[str] = frozenset()) -> tuple[list[int], list[str]]:
    """The failed tests' tcIds and the failed properties (but ``ignored``)."""
    properties = sorted(p.name for p in report.properties if not p.passed)
    return [f.tc_id for f in report.failures], [p for p in properties if p not in ignored]


@functools.cache
def suite(op: str, dtype: str, name: str = "quick") -> Any:
    """A generated suite, loaded once per test process (loading checks it against the schema)."""
    return suite_vectors(op, dtype, name)


def _compare_verdicts(
    op: str,
    dtype: str,
    suite_name: str,
    bug: str | None,
    head_dim: int = 64,
    ignored: frozenset[str] = frozenset(),
) -> None:
    """The attention form of blockwise kernel ``bug`` fails exactly the tests and properties
    its direct form fails; the correct kernel (bug None) passes."""
    if op == "softmax":
        direct_fn = functools.partial(bk.softmax, bug=bug)
        adapted = attention_as_softmax(cands.with_bug(bug), head_dim=head_dim)
    else:
        direct_fn = functools.partial(bk.logsumexp, bug=bug)
        kernel = functools.partial(cands.attention_lse, bug=bug)
        adapted = attention_as_softmax(kernel, op="logsumexp")
    vf = suite(op, dtype, suite_name)
    direct = validate(direct_fn, vectors=vf, batch=True, timeout=None, one_pass=True)
    through = validate(adapted, vectors=vf, batch=True, timeout=None)  # long rows: K²/D each
    assert _failing(through, ignored) == _failing(direct, ignored)
    if bug is None:  # the correct kernel passes
        assert _failing(through, ignored) == ([], []), through.summary_line()


@pytest.mark.parametrize("dtype", FORMATS)
@pytest.mark.parametrize("bug", [None, *bk.BUGS])
def test_bug_kernels_get_their_direct_verdict_through_the_adapter(
    bug: str | None, dtype: str
) -> None:
    _compare_verdicts("softmax", dtype, "quick", bug)


@pytest.mark.parametrize("bug", [None, "inf_minus_inf"])
def test_logsumexp_bug_kernels_get_their_direct_verdict(bug: str | None) -> None:
    _compare_verdicts("logsumexp", "bfloat16", "quick", bug)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", FORMATS)
@pytest.mark.parametrize("bug", [None, *bk.BUGS])
@pytest.mark.parametrize("op", ["softmax", "logsumexp"])
def test_standard_suite_verdicts_through_the_adapter(op: str, dtype: str, bug: str | None) -> None:
    """As on the quick suite, but for monotonicity: the attention form is one pass (o_c
    rescaled by every later block's e^{m_old − m_new}) and is judged with the one-pass
    allowance, the direct form with the two-pass 4u (docs/validation.md, one-pass allowances),
    so the two verdicts on that property answer different questions."""
    ignored = frozenset({"monotonicity"} if op == "softmax" else ())
    _compare_verdicts(op, dtype, "standard", bug, head_dim=256, ignored=ignored)


def test_scaled_exp2_kernel_fails_only_where_m_log2e_overflows() -> None:
    """docs/attention.md: 2^fma(s, log₂e, −m·log₂e) stays within the bounds except where
    m·log₂e overflows, on rows holding ±max in float32 and bfloat16 (float16's max times log₂e
    fits in float32); in float32 it is not shift-invariant bit for bit."""
    for dtype in FORMATS:
        report = validate(
            attention_as_softmax(cands.exp2_attention),
            vectors=suite("softmax", dtype),
            rule=PassRule(kernel=KernelClass("one-pass", exp2=True)),
        )
        largest = get_format(dtype).max
        failed = [f.inputs["z"] for f in report.failures]
        assert all(np.abs(z[np.isfinite(z)]).max() == largest for z in failed)
        assert bool(failed) is (dtype != "float16"), report.summary_line()
        properties = {p.name for p in report.properties if not p.passed}
        assert ("shift-invariance" in properties) is (dtype == "float32")


# ---------------------------------------------------------------- a fixed scale, 1/√D


def scaled_query(q, k, v, attn_mask=None):
    """A kernel that fixes the scale at 1/√D and takes none, applied to q first."""
    return bk.attention(q * q.dtype.type(1 / np.sqrt(q.shape[-1])), k, v, attn_mask, 1.0)


def scaled_product(q, k, v, attn_mask=None):
    """1/√D fixed, applied to the product q·kᵀ (tinygrad's order), in a float32 state."""
    return bk.attention(q, k, v, attn_mask, 1 / np.sqrt(q.shape[-1]))


def scaled_wrong(q, k, v, attn_mask=None):
    """A fixed scale of 1/D instead of 1/√D: every score divided by √D."""
    return bk.attention(q, k, v, attn_mask, 1 / q.shape[-1])


@pytest.mark.parametrize("dtype", FORMATS)
@pytest.mark.parametrize("mask", ["boolean", "none"])
def test_a_fixed_scale_gives_the_bits_of_scale_one(dtype: str, mask: str) -> None:
    """q = √D·e₁ and the kernel's own 1/√D: the scores are z exactly (docs/attention.md), so
    the softmax has the bits of the scale-1 embedding; the product-first order too, except
    where √D·|z| overflows its float32 product (the ±max row in float32 and bfloat16)."""
    z = special_rows(dtype)
    reference = attention_as_softmax(bk.attention, mask=mask, head_dim=16)(z)
    fixed = attention_as_softmax(scaled_query, mask=mask, head_dim=16, fixed_scale=True)
    assert same_bits(fixed(z), reference)
    product_first = attention_as_softmax(scaled_product, mask=mask, head_dim=64, fixed_scale=True)
    with np.errstate(over="ignore"):  # √D·max overflows in the product, as documented
        product = product_first(z)
    finite = np.where(np.isfinite(z), np.abs(z.astype(np.float64)), 0)
    overflows = finite.max(axis=1) * 8 > np.finfo(np.float32).max  # √64·|z|
    assert same_bits(product[~overflows], reference[~overflows])
    assert overflows.sum() == (dtype != "float16")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_fixed_scale_kernel_passes_and_a_wrong_scale_fails(dtype: str) -> None:
    vf = suite("softmax", dtype)
    right = attention_as_softmax(scaled_query, fixed_scale=True)
    assert validate(right, vectors=vf, batch=True).passed
    wrong = validate(attention_as_softmax(scaled_wrong, fixed_scale=True), vectors=vf, batch=True)
    assert not wrong.passed and wrong.failed > len(vf.groups) // 4
    without = validate(attention_as_softmax(scaled_query), vectors=vf, batch=True)
    assert without.failures[0].reason.startswith("raised TypeError")  # scale= is not taken


def test_the_product_first_order_fails_only_where_its_product_overflows() -> None:
    vf = suite("softmax", "bfloat16")
    report = validate(
        attention_as_softmax(scaled_product, fixed_scale=True, head_dim=4), vectors=vf, batch=True
    )
    largest = np.finfo(np.float32).max
    assert report.failures and all(
        np.abs(r.inputs["z"][np.isfinite(r.inputs["z"])]).max() * 2 > largest
        for r in report.failures
    )


@pytest.mark.parametrize("head_dim", [2, 8, 32, 48])
def test_a_fixed_scale_needs_a_power_of_four(head_dim: int) -> None:
    with pytest.raises(
        InputError, match=f"fixed_scale needs head_dim a power of 4.*got {head_dim}"
    ):
        attention_as_softmax(scaled_query, head_dim=head_dim, fixed_scale=True)
    with pytest.raises(InputError, match="fixed_scale must be True or False"):
        attention_as_softmax(scaled_query, fixed_scale="yes")  # type: ignore[arg-type]


def test_cli_fixed_scale(tmp_path: Path, capsys) -> None:
    kernels = tmp_path / "fixed.py"
    kernels.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_attention import scaled_query, scaled_wrong\n"
    )
    rows = [[-INF] * 20 + [-200.0, -201.0], [0.0, 1.0, 2.0], [3.0, 1.0, -1.0, 5.5]]
    vectors.save(custom_vectors("softmax", "float16", rows), tmp_path / "v.json")
    argv = ["validate", "--vectors", str(tmp_path / "v.json"), "--attention", "--fixed-scale"]
    assert main([*argv[:1], f"{kernels}:scaled_query", *argv[1:]]) == 0
    assert main([*argv[:1], f"{kernels}:scaled_wrong", *argv[1:]]) == 1
    capsys.readouterr()
    for extra, message in (
        ([], "--fixed-scale needs --attention"),
        (["--attention", "--head-dim", "32"], "fixed_scale needs head_dim a power of 4"),
    ):
        code = main(["validate", f"{kernels}:scaled_query", "--fixed-scale", *extra])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layout": "sbhd"}, "unknown layout 'sbhd'"),
        ({"mask": "causal"}, "unknown mask 'causal'"),
        ({"call": "xformers"}, "unknown call 'xformers'"),
        ({"op": "log_softmax"}, "unknown op 'log_softmax'"),
        ({"framework": "cupy"}, "unknown framework 'cupy'"),
        ({"head_dim": 0}, "head_dim must be an integer in 1..65536, got 0"),
        ({"head_dim": True}, "head_dim must be an integer"),
        ({"call": "flash"}, "call 'flash' passes no mask"),
        ({"device": "cuda"}, "framework 'numpy' runs on the CPU only"),
        ({"lse": "1"}, "lse must be an index"),
    ],
)
def test_bad_options_are_input_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        attention_as_softmax(bk.attention, **options)


def test_misuse_is_reported() -> None:
    with pytest.raises(InputError, match="not callable"):
        attention_as_softmax(3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not found"):
        attention_as_softmax("missing_file.py:attn")
    with pytest.raises(InputError, match="takes NumPy rows"):
        attention_as_softmax(bk.attention)([1.0, 2.0])
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0]])
    with pytest.raises(InputError, match="computes logsumexp but the vectors are softmax"):
        validate(attention_as_softmax(cands.attention_lse, op="logsumexp"), vectors=vf)
    with pytest.raises(InputError, match=r"lse=\) must be an index"):
        lse = attention_as_softmax(cands.attention_lse, op="logsumexp", lse=lambda r: r[1])
        validate(lse, vectors=custom_vectors("logsumexp", "float32", [[1.0]]), isolate=True)

    def wrong_shape(q, k, v, attn_mask=None, scale=None):
        return bk.attention(q, k, v, attn_mask, scale)[..., :3]

    report = validate(attention_as_softmax(wrong_shape), vectors=vf)
    assert report.failures[0].reason.startswith("attention output has shape (1, 1, 1, 3), ")


def _squeezed(q, k, v, attn_mask=None, scale=None):
    """The output as (batch, head_dim): the values of (batch, 1, 1, head_dim), another shape."""
    out = bk.attention(q, k, v, attn_mask, scale)
    return out.reshape(out.shape[0], out.shape[-1])


def _transposed(q, k, v, attn_mask=None, scale=None):
    """The output with batch and head_dim swapped: as many values, in the wrong places."""
    return np.ascontiguousarray(np.swapaxes(bk.attention(q, k, v, attn_mask, scale), 0, 3))


@pytest.mark.parametrize(
    ("kernel", "got"), [(_squeezed, "(2, 16)"), (_transposed, "(16, 1, 1, 2)")]
)
def test_an_attention_output_of_another_shape_is_a_shape_error(kernel: Any, got: str) -> None:
    """The output must be exactly (batch, 1, 1, head_dim), not only hold as many values."""
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
    report = validate(attention_as_softmax(kernel, head_dim=16), vectors=vf, batch=True)
    reason = f"attention output has shape {got}, expected (2, 1, 1, 16)"
    assert [r.status for r in report.results] == ["error"] * 2
    assert all(r.reason.startswith(reason) for r in report.results), report.results[0].reason


@pytest.mark.parametrize("isolate", [False, True])
@pytest.mark.parametrize("batch", [False, True])
def test_a_kernel_without_lse_returns_no_pair(isolate: bool, batch: bool) -> None:
    """op logsumexp reads the lse from the kernel's (output, lse) tuple: a kernel that returns
    its output alone is told so, not reported as an IndexError (one row) or a wrong-shaped lse
    (the second batch row taken for the lse)."""
    vf = custom_vectors("logsumexp", "float32", [[1.0, 2.0], [0.5, 0.25]])
    candidate = attention_as_softmax(f"{CANDIDATES}:attention", op="logsumexp")
    report = validate(candidate, vectors=vf, batch=batch, isolate=isolate, properties=False)
    reasons = [r.reason for r in report.results]
    assert all(
        r.startswith("the attention kernel returned no (output, lse) pair: got ") for r in reasons
    )
    assert all(r.status == "error" for r in report.results), reasons


def test_a_kernel_without_lse_stops_the_run_with_one_line() -> None:
    """Every batched call fails alike (the message names no shape, which varies with the batch),
    so after 20 in a row and the spot checks the rest is not run, and the summary says why."""
    from symsoftmax.validation.runner import MAX_IDENTICAL_FAILURES, SPOT_CHECKS

    vf = custom_vectors("logsumexp", "float32", [[0.5] * k for k in range(1, 31)])
    candidate = attention_as_softmax(bk.attention, op="logsumexp")
    report = validate(candidate, vectors=vf, batch=True, properties=False)
    assert report.not_run == 30 - MAX_IDENTICAL_FAILURES - SPOT_CHECKS
    assert report.stopped.startswith(
        "the candidate failed with “the attention kernel returned no (output, lse) pair: got "
        "ndarray (lse=1 indexes the kernel's tuple result)” on every call "
        f"({MAX_IDENTICAL_FAILURES} in a row"
    ), report.stopped


def test_isolated_run_wraps_in_the_worker() -> None:
    rows = [[-INF] * 64 + [-200.0, -201.0], [0.0, 1.0, 2.0]]
    vf = custom_vectors("softmax", "float32", rows)
    good = attention_as_softmax(f"{CANDIDATES}:attention", head_dim=32)
    report = validate(good, vectors=vf, batch=True, isolate=True)
    assert report.passed, report.summary_line()
    bad = attention_as_softmax(cands.inf_minus_inf)  # an importable function, by reference
    report = validate(bad, vectors=vf, batch=True, isolate=True)
    assert not report.passed and report.failures[0].tc_id == 1


# ---------------------------------------------------------------- the CLI


def test_cli_attention_runs_in_the_worker(tmp_path: Path) -> None:
    rows = [[-INF] * 64 + [-200.0, -201.0], [0.0, 1.0, 2.0], [-INF, -INF]]
    vectors.save(custom_vectors("softmax", "bfloat16", rows), tmp_path / "v.json")

    def run(target: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(sys.executable, "-m", "symsoftmax", "validate", f"{CANDIDATES}:{target}"),
                *("--vectors", str(tmp_path / "v.json"), "--attention", "--json", *options),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    good = run("flash_bshd", "--layout", "bshd", "--call", "flash", "--head-dim", "16")
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout)["tests"] == 3
    bad = run("masked_block_zero_max", "--mask", "additive")
    assert bad.returncode == 1, bad.stderr
    assert [f["tcId"] for f in json.loads(bad.stdout)["failures"]] == [1]
    vectors.save(custom_vectors("logsumexp", "bfloat16", rows), tmp_path / "lse.json")
    no_lse = run("attention", "--op", "logsumexp", "--vectors", str(tmp_path / "lse.json"))
    assert no_lse.returncode == 1, no_lse.stderr
    reasons = {f["reason"].split(":")[0] for f in json.loads(no_lse.stdout)["failures"]}
    assert reasons == {"the attention kernel returned no (output, lse) pair"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--layout", "bshd"], "--layout needs --attention"),
        (["--head-dim", "8"], "--head-dim needs --attention"),
        (["--attention", "--call", "flash", "--mask", "boolean"], "call 'flash' passes no mask"),
        (["--attention", "--op", "log_softmax"], "--attention validates --op softmax or"),
        (["--attention", "--companion", "x.py:f"], "--companion does not apply"),
        (["--attention", "--temperature", "keyword"], "--temperature keyword does not apply"),
        (["--attention", "--head-dim", "0"], "--head-dim: must be an integer in 1..65536"),
        (["--attention", "--device", "cuda:0"], "runs on the CPU only"),
    ],
)
def test_cli_bad_combinations_are_one_line_exit_2(options: list[str], message: str, capsys) -> None:
    try:
        code = main(["validate", f"{CANDIDATES}:attention", "--suite", "quick", *options])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


# ---------------------------------------------------------------- PyTorch and JAX


@pytest.mark.parametrize("dtype", FORMATS)
def test_torch_sdpa_math_passes_through_the_adapter(dtype: str) -> None:
    pytest.importorskip("torch")
    adapted = attention_as_softmax(cands.sdpa_math, framework="torch")
    report = validate(adapted, vectors=suite("softmax", dtype), batch=True, timeout=None)
    assert report.passed, report.summary_line()
    z = special_rows(dtype)
    got = adapted(z)
    assert got.dtype == z.dtype
    assert (got[3] == 0).all() or np.isnan(got[3]).all()  # fully masked: either convention
    for mask in ("additive", "none"):
        other = attention_as_softmax(cands.sdpa_math, mask=mask, framework="torch")
        assert same_bits(other(z), got)


def test_torch_default_cpu_kernel_zeroes_rows_without_a_finite_logit_and_a_nan() -> None:
    """docs/attention.md: PyTorch 2.13's CPU flash kernel, no mask: a row of NaN (or −inf and
    NaN) comes out 0, not NaN; with a mask it comes out NaN."""
    pytest.importorskip("torch")
    vf = suite("softmax", "bfloat16")
    flushes = PassRule(ftz=True)  # its vector lanes flush subnormal results (docs/attention.md)
    for mask, expect_failures in (("none", True), ("boolean", False)):
        adapted = attention_as_softmax(cands.sdpa_default, mask=mask, framework="torch")
        report = validate(adapted, vectors=vf, batch=True, timeout=None, rule=flushes)
        rows = [f.inputs["z"] for f in report.failures]
        assert all(np.isnan(z).any() and not np.isfinite(z).any() for z in rows)
        assert bool(rows) is expect_failures, report.summary_line()
    adapted = attention_as_softmax(cands.sdpa_default, mask="boolean", framework="torch")
    report = validate(adapted, vectors=vf, batch=True, timeout=None)  # no --ftz: the flushes fail
    assert not report.passed and str(report.diagnosis).startswith("consistent with flush-to-zero")


def test_torch_cpu_flash_lse_through_the_adapter() -> None:
    pytest.importorskip("torch")
    z = special_rows("float32")
    finite = np.isfinite(z).all(axis=1)
    adapted = attention_as_softmax(
        cands.sdpa_cpu_flash_lse, op="logsumexp", mask="additive", framework="torch"
    )
    np.testing.assert_allclose(adapted(z[finite]), bk.logsumexp(z[finite]), rtol=1e-6)
    assert adapted(z[3]) == 0  # a fully masked row: 0 where the reference is −inf (docs)


def test_jax_dot_product_attention_bshd() -> None:
    """JAX masks with −0.7·max, not −inf: a fully masked row comes out uniform (neither
    convention) and [−max, −inf, −inf] as [0, ½, ½]; inline −inf (mask="none") passes."""
    pytest.importorskip("jax")
    largest = float(np.finfo(np.float32).max)
    rows = [
        [np.nan, 1.0, 2.0],
        [1.0, 2.0, 3.0],
        [-INF, 1.0, 2.0],
        [-INF] * 3,
        [-largest, -INF, -INF],
    ]
    vf = custom_vectors("softmax", "float32", rows)
    adapted = attention_as_softmax(cands.jax_attention, layout="bshd", framework="jax")
    masked_outputs = np.array([[1 / 3] * 3, [0, 0.5, 0.5]], np.float32)
    assert same_bits(adapted(np.array(rows[3:], np.float32)), masked_outputs)
    for mask, failed in (("none", []), ("boolean", [4, 5])):
        adapted = attention_as_softmax(
            cands.jax_attention, layout="bshd", mask=mask, framework="jax"
        )
        report = validate(adapted, vectors=vf, batch=True, properties=False)
        assert [f.tc_id for f in report.failures] == failed, report.summary_line()
