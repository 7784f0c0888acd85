"""Benchmark: exact proof of the softmax Jacobian identity, against SymPy's simplify route.

Run: ``python benchmarks/bench_symbolic.py`` (about a minute; ``--quick`` for a smoke run).

Baseline (measured in this run): J = Matrix(σ).jacobian(z), C = [σ_i(δ_ij − σ_j)], then
``simplify(J − C).is_zero_matrix`` — the generic SymPy way to prove the identity for one K. It is
measured at the ``--baseline-sizes`` (default 8, 16, 24), where it is affordable, and extrapolated
to larger K with a power law t = a·K^b fitted to those points (printed, marked "extrapolated");
``--baseline-sizes 8,16,24,64`` measures K = 64 directly (slow).

Ours: ``prove_identity("jacobian", K, mode=...)`` from a fresh context, so the time includes
building the SymPy expressions and converting them to the exact ring; each is run once (a cold
first run, as the CLI sees it; SymPy's cache would make repeats faster). Targets (issue 2): entry by
entry K = 64 < 1 s, K = 256 < 10 s; permutation mode K = 4096 < 3 s; all symbolic-K proofs < 1 s.

When python-flint is installed, the Jacobian proofs are also timed with each backend of the ring
(SYMSOFTMAX_RING=python, the default, and SYMSOFTMAX_RING=flint: every polynomial kept in
FLINT's ``fmpq_mpoly``), each in a fresh child process since the backend is chosen at import;
the ratio is python/flint (above 1: FLINT faster). Permutation mode is compared at K = 1024, not
4096: the FLINT backend needs minutes there (docs/symbolic.md, "Why a hand-written ring").

A last table compares the product S·S of the partition sum
S = Σ_k x_k (K variables) in our `LaurentPolynomial` with FLINT's ``fmpq_mpoly``: the product
alone, and the product with the conversion from and to our term dicts that a backend swapped in
per operation would pay (docs/symbolic.md, "Why a hand-written ring").
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import sympy as sp

from symsoftmax.symbolic.any_k.general import prove_general
from symsoftmax.symbolic.exact.polynomial import LaurentPolynomial
from symsoftmax.symbolic.expressions import logits, softmax
from symsoftmax.symbolic.fixed_k.proofs import prove_all, prove_identity


def simplify_route(size: int) -> float:
    """Seconds for the SymPy baseline at K = size (asserts that it does prove the identity)."""
    z = logits(size)
    sigma = softmax(z)
    start = time.perf_counter()
    jacobian = sp.Matrix(sigma).jacobian(z)
    closed = sp.Matrix(size, size, lambda a, b: sigma[a] * (sp.KroneckerDelta(a, b) - sigma[b]))
    assert sp.simplify(jacobian - closed).is_zero_matrix
    return time.perf_counter() - start


def timed(task: Callable[[], bool], repeats: int) -> float:
    """Median seconds over ``repeats`` runs; the task must return True (proven)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert task(), "proof failed"
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fit_power_law(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares fit of log t = log a + b log K."""
    xs = [math.log(k) for k, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return math.exp(my - b * mx), b


def flint_products(sizes: list[int]) -> None:
    """S·S in our ring against python-flint's fmpq_mpoly (skipped when flint is missing)."""
    try:
        import flint
    except ImportError:
        print("python-flint not installed: ring comparison skipped")
        return
    print("S·S, S = x_1 + … + x_K:  ours s, flint s (product alone), flint s (with conversion)")
    for size in sizes:
        ours_s = LaurentPolynomial({((k, 1),): 1 for k in range(size)})
        start = time.perf_counter()
        expected = ours_s * ours_s
        ours = time.perf_counter() - start
        context = flint.fmpq_mpoly_ctx.get((("x", size),))
        generators = context.gens()
        flint_s = sum(generators[1:], generators[0])
        start = time.perf_counter()
        flint_s * flint_s
        alone = time.perf_counter() - start
        start = time.perf_counter()
        dense = {
            tuple(dict(m).get(k, 0) for k in range(size)): flint.fmpq(c)
            for m, c in ours_s.terms.items()
        }
        product = context.from_dict(dense) * context.from_dict(dense)
        back = {
            tuple((k, int(e)) for k, e in enumerate(exponents) if e): int(c.p)
            for exponents, c in product.to_dict().items()
        }
        converted = time.perf_counter() - start
        assert back == expected.terms, "flint and the ring disagree"
        print(
            f"  K = {size:5}: {ours:8.4f} {alone:8.4f} ({ours / alone:5.1f}x faster) "
            f"{converted:9.4f} ({ours / converted:5.2f}x)"
        )


_CHILD = """
import sys, time
from symsoftmax.symbolic.fixed_k.proofs import prove_identity
size, mode = int(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
assert prove_identity("jacobian", size, mode=mode).proven, "proof failed"
print(time.perf_counter() - start)
"""


def backend_seconds(backend: str, size: int, mode: str) -> float:
    """Seconds of one cold Jacobian proof in a child process using the ring ``backend``."""
    env = {**os.environ, "SYMSOFTMAX_RING": backend}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(size), mode],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def backend_comparison(runs: list[tuple[int, str]]) -> None:
    """The Jacobian proof with the pure-Python ring and with the FLINT backend, same run."""
    try:
        import flint  # noqa: F401
    except ImportError:
        print("python-flint not installed: backend comparison skipped")
        return
    print("jacobian proof by ring backend:  python s, flint s, ratio python/flint")
    for size, mode in runs:
        python = backend_seconds("python", size, mode)
        flint_s = backend_seconds("flint", size, mode)
        print(f"  {mode:12} K = {size:5}: {python:8.3f} {flint_s:8.3f} {python / flint_s:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-sizes", default="8,16,24", help="K values for the baseline")
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    args = parser.parse_args()
    baseline_sizes = sorted({int(v) for v in args.baseline_sizes.split(",")})
    if len(baseline_sizes) < 2:
        parser.error("--baseline-sizes needs at least two distinct K (the power law is fitted)")
    if args.quick:
        baseline_sizes = [4, 8]

    measured = {size: simplify_route(size) for size in baseline_sizes}
    a, b = fit_power_law(sorted(measured.items()))

    def baseline(size: int) -> tuple[float, str]:
        if size in measured:
            return measured[size], "measured"
        return a * size**b, "extrapolated"

    def exhaustive(size: int) -> Callable[[], bool]:
        return lambda: prove_identity("jacobian", size, mode="exhaustive").proven

    def permutation(size: int) -> Callable[[], bool]:
        return lambda: prove_identity("jacobian", size, mode="permutation").proven

    rows: list[tuple[str, int | str, float, float | None, str, float | None]] = []
    for size in baseline_sizes:
        rows.append(("jacobian, every entry", size, timed(exhaustive(size), 1), None, "", None))
    big = [(64, 1.0), (256, 10.0)] if not args.quick else [(32, 1.0)]
    for size, target in big:
        if size in measured:  # already timed above, now with its target
            rows = [r for r in rows if r[1] != size]
        rows.append(("jacobian, every entry", size, timed(exhaustive(size), 1), None, "", target))
    perm_size = 4096 if not args.quick else 512
    rows.append(
        ("jacobian, permutation mode", perm_size, timed(permutation(perm_size), 1), None, "", 3.0)
    )
    rows.append(
        (
            "all symbolic-K proofs",
            "general",
            timed(lambda: all(r.proven for r in prove_general()), 1),
            None,
            "",
            1.0,
        )
    )
    rows.append(
        (
            "all 14 identities (auto mode)",
            64,
            timed(lambda: all(r.proven for r in prove_all(64)), 1),
            None,
            "",
            None,
        )
    )

    print(f"baseline: SymPy simplify(Matrix.jacobian − closed form); fit t = {a:.3g}·K^{b:.2f} s")
    print(f"{'task':32} {'K':>7} {'ours s':>9} {'baseline s':>11} {'':13} {'ratio':>9}  target")
    for task, size, ours, _, _, target in rows:
        if isinstance(size, int) and task.startswith("jacobian"):
            base, how = baseline(size)
            base_text, ratio_text = f"{base:11.3f}", f"{base / ours:8.0f}x"
        else:
            how, base_text, ratio_text = "", f"{'n/a':>11}", f"{'':>9}"
        verdict = (
            "" if target is None else (f"< {target:g} s: {'met' if ours < target else 'NOT met'}")
        )
        print(f"{task:32} {size!s:>7} {ours:9.3f} {base_text} {how:13} {ratio_text}  {verdict}")
    backend_comparison(
        [(64, "exhaustive"), (256, "exhaustive"), (1024, "permutation")]
        if not args.quick
        else [(16, "exhaustive"), (64, "permutation")]
    )
    flint_products([64, 256] if not args.quick else [16])


if __name__ == "__main__":
    main()
