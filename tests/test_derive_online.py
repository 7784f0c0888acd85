"""`symsoftmax derive online_step|merge|attention_step`: every format prints, and the printed
NumPy and C code, run blockwise, computes softmax, logsumexp and attention (against SciPy and a
direct NumPy evaluation), including masked rows and a partial tail block."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp
from scipy.special import softmax as scipy_softmax

from symsoftmax.cli import main
from symsoftmax.symbolic.options import ONLINE_WHATS, STYLES
from symsoftmax.symbolic.printing.derive_online import derive_online, render_online


def _compile_and_run(tmp_path: Path, name: str, program: str) -> str:
    """What the C99 ``program`` prints, compiled with the system's cc (-O1, libm)."""
    source, binary = tmp_path / f"{name}.c", tmp_path / name
    source.write_text(program)
    subprocess.run(
        ["cc", "-std=c99", "-O1", "-o", str(binary), str(source), "-lm"],
        check=True,
        capture_output=True,
    )
    return subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout


def _namespace(what: str) -> dict[str, Any]:
    source = render_online(derive_online(what), "python")
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<derive {what}>", "exec"), namespace)  # our own generated code
    return namespace


def _rows() -> np.ndarray:
    rng = np.random.default_rng(11)
    z = rng.normal(scale=4.0, size=(5, 23))
    z[1, :9] = -np.inf  # the first block fully masked
    z[2, 3] = 700.0  # a huge entry in the first block
    z[3, -2:] = -np.inf  # a masked tail
    return z


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("what", ONLINE_WHATS)
def test_every_format_prints_from_the_cli(
    what: str, style: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["derive", what, "--format", style]) == 0
    out = capsys.readouterr().out
    assert "m_new" in out or "m_{new}" in out
    if style in ("text", "markdown", "c"):
        assert "proven for symbolic length" in out
    if style == "c":
        assert "expf(" in out and "fmaxf(" in out
        assert ("exp2f(" in out) == (what != "merge")


def test_online_derive_takes_no_k(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "merge", "--k", "3"]) == 2
    err = capsys.readouterr().err
    assert "takes no --k" in err and len(err.strip().splitlines()) == 1


def test_generated_numpy_step_computes_softmax_and_logsumexp() -> None:
    ns = _namespace("online_step")
    z = _rows()
    for block in (1, 4, 9, 64):
        m = np.full(z.shape[0], -np.inf)
        d = np.zeros(z.shape[0])
        for start in range(0, z.shape[1], block):  # the last block is partial
            m, d = ns["online_step"](m, d, z[:, start : start + block])
        out = ns["finalize"](z, m, d)
        np.testing.assert_allclose(out["softmax"], scipy_softmax(z, axis=-1), rtol=1e-12)
        np.testing.assert_allclose(out["logsumexp"], scipy_logsumexp(z, axis=-1), rtol=1e-12)


def test_generated_numpy_base2_step_at_temperature() -> None:
    ns = _namespace("online_step")
    z, temperature = _rows(), 0.7
    c = np.log2(np.e) / temperature
    m, d = np.full(z.shape[0], -np.inf), np.zeros(z.shape[0])
    for start in range(0, z.shape[1], 8):
        m, d = ns["online_step_exp2"](m, d, z[:, start : start + 8], c)
    out = ns["finalize_exp2"](z, m, d, temperature, c)
    expected = scipy_softmax(z / temperature, axis=-1)
    np.testing.assert_allclose(out["softmax"], expected, rtol=1e-12)


def test_generated_numpy_merge_of_two_halves_and_of_empty_states() -> None:
    step, merge = _namespace("online_step")["online_step"], _namespace("merge")["merge"]
    z = _rows()
    empty = (np.full(z.shape[0], -np.inf), np.zeros(z.shape[0]))
    a = step(*empty, z[:, :9])
    b = step(*empty, z[:, 9:])
    m, d = merge(*a, *b)
    np.testing.assert_allclose(m + np.log(d), scipy_logsumexp(z, axis=-1), rtol=1e-12)
    m, d = merge(*empty, *empty)  # the identity: no NaN from −∞ − (−∞)
    assert np.all(m == -np.inf) and np.all(d == 0)


def test_generated_numpy_attention_step() -> None:
    ns = _namespace("attention_step")
    z = _rows()
    v = np.random.default_rng(3).normal(size=z.shape)  # one value column
    m, d, o = np.full(z.shape[0], -np.inf), np.zeros(z.shape[0]), np.zeros(z.shape[0])
    for start in range(0, z.shape[1], 5):
        block = slice(start, start + 5)
        m, d, o = ns["attention_step"](m, d, o, z[:, block], v[:, block])
    expected = np.sum(scipy_softmax(z, axis=-1) * v, axis=-1)
    np.testing.assert_allclose(ns["finalize"](d, o)["o"], expected, rtol=1e-10, atol=1e-14)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_generated_c_step_computes_logsumexp(tmp_path: Path) -> None:
    source = render_online(derive_online("online_step"), "c")
    z = _rows()[:, :16].astype(np.float32)
    values = ", ".join(f"{float(x)!r}f" if np.isfinite(x) else "-INFINITY" for x in z.ravel())
    main_c = f"""
#include <stdio.h>
static const float rows[{z.size}] = {{{values}}};
int main(void) {{
    for (int r = 0; r < {z.shape[0]}; ++r) {{
        float m = -INFINITY, d = 0.0f;
        for (int start = 0; start < {z.shape[1]}; start += 5) {{
            int n = {z.shape[1]} - start < 5 ? {z.shape[1]} - start : 5;
            online_step(rows + r * {z.shape[1]} + start, n, &m, &d);
        }}
        printf("%.9g\\n", (double)finalize_logsumexp(m, d));
    }}
    return 0;
}}
"""
    printed = _compile_and_run(tmp_path, "step", source + main_c)
    got = np.array([float(line) for line in printed.split()])
    expected = scipy_logsumexp(z.astype(np.float64), axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_generated_c_step_gives_nan_rows_for_inf_and_nan_entries(tmp_path: Path) -> None:
    """A +inf entry keeps the shift +inf (not the masked guard's 0), and a NaN skipped by fmaxf
    is still carried by the sum: either way every softmax output of the row is NaN, the IEEE
    max-shift answer the validator accepts (docs/reference.md, special values)."""
    source = render_online(derive_online("online_step"), "c")
    main_c = """
#include <stdio.h>
static const float rows[2][7] = {{1.0f, 100.0f, INFINITY, 2.0f, -INFINITY, 3.0f, 95.0f},
                                 {1.0f, 2.0f, NAN, 3.0f, 4.0f, -INFINITY, 5.0f}};
int main(void) {
    for (int r = 0; r < 2; ++r) {
        float m = -INFINITY, d = 0.0f;
        for (int start = 0; start < 7; start += 3)
            online_step(rows[r] + start, 7 - start < 3 ? 7 - start : 3, &m, &d);
        for (int k = 0; k < 7; ++k) printf("%g\\n", (double)finalize_softmax(rows[r][k], m, d));
    }
    return 0;
}
"""
    printed = _compile_and_run(tmp_path, "special", source + main_c)
    got = np.array([float(line) for line in printed.split()])
    assert got.size == 14 and np.all(np.isnan(got)), printed


def test_derive_online_step_with_a_sink_starts_from_the_sink_and_names_its_proof() -> None:
    text = render_online(derive_online("online_step", sink=True), "text")
    assert "m_0 = s\nd_0 = 1\n" in text
    assert "p_sink = exp(-m + s)/d" in text
    assert "sink_online: proven" in text


def test_the_printed_sink_start_and_step_give_the_definition() -> None:
    # run the generated NumPy: start at (s, 1), two blocks, finalize; compare with the definition
    source = render_online(derive_online("online_step", sink=True), "python")
    namespace: dict[str, object] = {}
    exec(compile(source, "<derived>", "exec"), namespace)  # our own generated code, no user data
    z = np.array([[0.5, -1.0, 2.0, -np.inf, 0.25]])
    s = np.array([1.5])
    m, d = namespace["start"](s)  # type: ignore[operator]
    for block in (z[:, :2], z[:, 2:]):
        m, d = namespace["online_step"](m, d, block)  # type: ignore[operator]
    out = namespace["finalize"](z, s, m, d)  # type: ignore[operator]
    total = np.exp(s) + np.exp(z).sum(axis=-1)
    np.testing.assert_allclose(out["softmax"], np.exp(z) / total[:, None], rtol=1e-15)
    np.testing.assert_allclose(out["p_sink"], np.exp(s) / total, rtol=1e-15)
    np.testing.assert_allclose(out["logsumexp"], np.log(total), rtol=1e-15)


def test_derive_sink_is_for_online_step_only() -> None:
    with pytest.raises(ValueError, match="online_step only"):
        derive_online("merge", sink=True)


def test_cli_sink_flag_on_another_update_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["derive", "merge", "--sink"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--sink is for `derive online_step` only" in err
