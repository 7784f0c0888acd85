"""`symsoftmax validate LIB.so:SYMBOL --abi c`: C kernels called through ctypes in the worker.

Kernels are compiled here (gcc, in tmp_path): a correct softmax and a buggy one (no max shift:
exp overflows on large logits) for each format, the 16-bit formats as bit patterns converted in
C; the other ops' signatures on a few rows; a kernel that segfaults; the header of `symsoftmax
abi --header` compiled against kernels that follow it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.validation import validate
from symsoftmax.validation.native import (
    ABIS,
    C_TYPES,
    declarations,
    native_reference,
)
from symsoftmax.validation.sources import custom_vectors

CC = shutil.which("gcc") or shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (gcc or cc) on PATH")

# Conversions of the bit patterns (float16: IEEE binary16; bfloat16: the top half of a float),
# round to nearest even; the kernels compute in double.
CONVERSIONS = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

static double f32_load(float x) { return x; }
static float f32_store(double x) { return (float)x; }
static double f64_load(double x) { return x; }
static double f64_store(double x) { return x; }

static double bf16_load(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t bf16_store(double x) {
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static double f16_load(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 0x400, e - 25);
    return (h & 0x8000) ? -v : v;
}
static uint16_t f16_store(double x) {
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a > 0x7f800000) return sign | 0x7e00;
    if (a >= 0x477ff000) return sign | 0x7c00;            /* >= 65520 rounds to inf */
    if (a < 0x38800000) {                                  /* below 2^-14: subnormal */
        float q = fabsf(f) * 16777216.0f;                  /* in units of 2^-24, exact */
        return sign | (uint16_t)nearbyintf(q);
    }
    uint32_t h = ((((a >> 23) - 112) << 10) | ((a & 0x7fffff) >> 13));
    uint32_t rest = a & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}
"""

SOFTMAX = r"""
/* correct: max-shifted, NaN in, NaN out */
void NAME_good(const T *z, T *out, int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0.0;
        int nan = 0;
        for (int64_t i = 0; i < k; i++) {
            double x = LOAD(z[r * k + i]);
            nan |= isnan(x);
            if (x > m) m = x;
        }
        for (int64_t i = 0; i < k; i++) s += exp(LOAD(z[r * k + i]) - m);
        for (int64_t i = 0; i < k; i++)
            out[r * k + i] = STORE(nan ? NAN : exp(LOAD(z[r * k + i]) - m) / s);
    }
}
/* buggy: no max shift, so exp overflows on large logits */
void NAME_bad(const T *z, T *out, int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (int64_t i = 0; i < k; i++) s += exp(LOAD(z[r * k + i]));
        for (int64_t i = 0; i < k; i++) out[r * k + i] = STORE(exp(LOAD(z[r * k + i])) / s);
    }
}
"""

FORMATS = {  # dtype: (C type, load, store, prefix)
    "float32": ("float", "f32_load", "f32_store", "f32"),
    "float64": ("double", "f64_load", "f64_store", "f64"),
    "float16": ("uint16_t", "f16_load", "f16_store", "f16"),
    "bfloat16": ("uint16_t", "bf16_load", "bf16_store", "bf16"),
}

OTHER_OPS = r"""
void lse(const float *z, float *out, int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0.0;
        for (int64_t i = 0; i < k; i++) if (z[r * k + i] > m) m = z[r * k + i];
        for (int64_t i = 0; i < k; i++) s += exp(z[r * k + i] - m);
        out[r] = (float)(m + log(s));
    }
}
static void ce_row(const float *z, const float *y, double *loss, double *grad, int64_t k) {
    double m = -INFINITY, s = 0.0, dot = 0.0;
    for (int64_t i = 0; i < k; i++) if (z[i] > m) m = z[i];
    for (int64_t i = 0; i < k; i++) s += exp(z[i] - m);
    for (int64_t i = 0; i < k; i++) dot += (double)y[i] * z[i];
    *loss = m + log(s) - dot;
    for (int64_t i = 0; i < k; i++) grad[i] = exp(z[i] - m) / s - y[i];
}
void ce(const float *z, const float *y, float *loss, float *grad, int64_t rows, int64_t k) {
    double l, g[64];
    for (int64_t r = 0; r < rows; r++) {
        ce_row(z + r * k, y + r * k, &l, g, k);
        loss[r] = (float)l;
        for (int64_t i = 0; i < k; i++) grad[r * k + i] = (float)g[i];
    }
}
/* the outputs swapped: the loss in grad[0] and grad[0] in the loss */
void ce_swapped(const float *z, const float *y, float *loss, float *grad, int64_t rows,
                int64_t k) {
    double l, g[64];
    for (int64_t r = 0; r < rows; r++) {
        ce_row(z + r * k, y + r * k, &l, g, k);
        loss[r] = (float)g[0];
        grad[r * k] = (float)l;
        for (int64_t i = 1; i < k; i++) grad[r * k + i] = (float)g[i];
    }
}
void vjp(const float *z, const float *g, float *out, int64_t rows, int64_t k) {
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0.0, dot = 0.0, p[64];
        for (int64_t i = 0; i < k; i++) if (z[r * k + i] > m) m = z[r * k + i];
        for (int64_t i = 0; i < k; i++) s += p[i] = exp(z[r * k + i] - m);
        for (int64_t i = 0; i < k; i++) dot += (p[i] /= s) * g[r * k + i];
        for (int64_t i = 0; i < k; i++) out[r * k + i] = (float)(p[i] * (g[r * k + i] - dot));
    }
}
void crash(const float *z, float *out, int64_t rows, int64_t k) {
    (void)z; (void)out; (void)rows; (void)k;
    *(volatile int *)0 = 1;
}
"""


def _compile(folder: Path, name: str, source: str) -> Path:
    c_file = folder / f"{name}.c"
    c_file.write_text(source)
    library = folder / f"lib{name}.so"
    command = [str(CC), "-O2", "-Wall", "-Werror", "-shared", "-fPIC"]
    subprocess.run([*command, "-o", str(library), str(c_file), "-lm"], check=True)
    return library


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared library of every kernel above."""
    source = [CONVERSIONS]
    for c_type, load, store, prefix in FORMATS.values():
        text = SOFTMAX.replace("NAME", prefix).replace("LOAD", load).replace("STORE", store)
        source.append(text.replace("const T", f"const {c_type}").replace("T *", f"{c_type} *"))
    source.append(OTHER_OPS)
    return _compile(tmp_path_factory.mktemp("abi"), "kernels", "\n".join(source))


@pytest.mark.parametrize("dtype", sorted(FORMATS))
def test_a_correct_and_a_buggy_c_softmax_in_each_format(kernels: Path, dtype: str) -> None:
    prefix = FORMATS[dtype][3]
    good = validate(
        native_reference(f"{kernels}:{prefix}_good", "softmax"),
        "softmax",
        dtype,
        suite="quick",
        isolate=True,
    )
    assert good.passed, [r.reason for r in good.results if r.status not in ("pass", "skipped")]
    assert good.skipped > 0  # the tests with a temperature, sink or soft-cap: the C ABI has none
    keywords = {"temperature", "sink", "softcap"}
    assert all((r.status == "skipped") == bool(keywords & r.inputs.keys()) for r in good.results)
    bad = validate(
        native_reference(f"{kernels}:{prefix}_bad", "softmax"),
        "softmax",
        dtype,
        suite="quick",
        isolate=True,
        properties=False,
    )
    assert not bad.passed
    failed = [r for r in bad.results if r.status == "fail"]
    assert failed and all(r.status in ("pass", "fail", "skipped") for r in bad.results)
    assert any("format-max" in r.flags for r in failed)  # where exp overflows unshifted


ROWS = [[1.0, 2.0, 3.0], [-0.5, 0.25], [10.0, -3.0, 0.0, 7.5]]


@pytest.mark.parametrize(
    ("op", "symbol", "passes"),
    [
        ("logsumexp", "lse", True),
        ("cross_entropy", "ce", True),
        ("cross_entropy", "ce_swapped", False),
        ("softmax_vjp", "vjp", True),
    ],
)
def test_each_signature_reaches_its_buffers(
    kernels: Path, op: str, symbol: str, passes: bool
) -> None:
    """rows outputs for logsumexp and the loss, rows·k for the rest, in the declared order."""
    second = {"cross_entropy": "y", "softmax_vjp": "g"}.get(op)
    rows = [{"z": z, second: [1.0 / len(z)] * len(z)} for z in ROWS] if second else ROWS
    vf = custom_vectors(op, "float32", rows)
    report = validate(
        native_reference(f"{kernels}:{symbol}", op), op, "float32", vectors=vf, isolate=True
    )
    assert report.passed == passes, [r.reason for r in report.results]
    if passes:
        assert all(r.status == "pass" for r in report.results)


def test_a_segfaulting_kernel_is_a_crash_of_its_call(
    kernels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vf_path = tmp_path / "rows.json"
    vf_path.write_text(json.dumps([[1.0, 2.0], [3.0]]))
    vectors_path = tmp_path / "v.json"
    argv = ["vectors", "--from-rows", str(vf_path), "--op", "softmax", "--dtype", "float32"]
    assert main([*argv, "--out", str(vectors_path)]) == 0
    capsys.readouterr()
    argv = ["validate", f"{kernels}:crash", "--op", "softmax", "--abi", "c"]
    status = main([*argv, "--vectors", str(vectors_path), "--json", "--no-properties"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and not report["passed"]
    problems = [f["reason"] for f in report["failures"]]
    assert problems and all("SIGSEGV" in p for p in problems), problems


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{lib}:good_f32", "--abi", "c"], "--abi c needs --op"),
        (["{lib}:nope", "--op", "softmax", "--abi", "c"], "no symbol 'nope'"),
        (["{lib}:1x", "--op", "softmax", "--abi", "c"], "a C identifier"),
        (["{missing}:f", "--op", "softmax", "--abi", "c"], "not found"),
        (["{lib}:f32_good", "--op", "softmax", "--abi", "c", "--temperature", "keyword"],
         "--temperature keyword does not apply to --abi c"),
        (["{lib}:f32_good", "--op", "softmax", "--abi", "c", "--framework", "torch"],
         "--framework does not apply"),
    ],
)  # fmt: skip
def test_abi_usage_errors_are_one_line(
    kernels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    filled = [a.format(lib=kernels, missing=tmp_path / "no.so") for a in argv]
    assert main(["validate", *filled, "--suite", "quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_the_header_declares_what_the_kernels_are_called_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kernels defined with the header's names compile against it with -Werror: a prototype
    that disagreed with the kernel (a missing const, another order) would be an error."""
    assert main(["abi", "--header"]) == 0
    header = capsys.readouterr().out
    assert header == declarations()
    (tmp_path / "symsoftmax_abi.h").write_text(header)
    source = [
        '#include "symsoftmax_abi.h"',
        "void symsoftmax_softmax_float32(const float *z, float *out, int64_t rows, int64_t k)"
        " { (void)z; (void)out; (void)rows; (void)k; }",
        "void symsoftmax_cross_entropy_bfloat16(const uint16_t *z, const uint16_t *y,"
        " uint16_t *loss, uint16_t *grad, int64_t rows, int64_t k)"
        " { (void)z; (void)y; (void)loss; (void)grad; (void)rows; (void)k; }",
        "void symsoftmax_softmax_vjp_float64(const double *z, const double *g, double *out,"
        " int64_t rows, int64_t k) { (void)z; (void)g; (void)out; (void)rows; (void)k; }",
    ]
    _compile(tmp_path, "header", "\n".join(source))
    wrong = [*source[:2], "void symsoftmax_logsumexp_float32(float *z, float *out) {}"]
    with pytest.raises(subprocess.CalledProcessError):
        _compile(tmp_path, "wrong", "\n".join(wrong))


def test_the_cli_offers_the_abis_the_library_has() -> None:
    from symsoftmax.cli.validate import _ABIS

    assert _ABIS == ABIS
    assert set(C_TYPES) == set(__import__("symsoftmax.formats").formats.FORMATS)


def test_a_reference_needs_a_library_and_a_symbol(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"expected path/to/library\.so:SYMBOL"):
        native_reference("libk.so", "softmax")
    with pytest.raises(InputError, match="not found"):
        native_reference(f"{tmp_path}/libk.so:f", "softmax")
