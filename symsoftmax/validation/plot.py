"""``--plot``: each test's error in ulps against its input's spread (max − min), by flag.

One marker shape and colour per flag (a test with several flags appears once per flag); failed
tests are circled in red. Errors below 10^−3 ulp are drawn on the bottom of the logarithmic
axis, spreads below 10^−3 (constant rows) on its left edge, and infinite errors (a misplaced
NaN/inf) on the top line. Needs matplotlib (the ``plot`` extra); drawn with the Agg backend (no
display) and written atomically.
"""

from __future__ import annotations

import io
import math
import os
from itertools import cycle
from typing import Any

from symsoftmax.atomic import write_atomic
from symsoftmax.errors import InputError
from symsoftmax.validation.report import ValidationReport

__all__ = ["plot_report", "pyplot", "save_figure"]

ULP_FLOOR = 1e-3  # errors below are drawn on the bottom line
SPREAD_FLOOR = 1e-3  # rows with a smaller spread (constant rows: 0) are drawn at the left edge
_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d", "8"]


def plot_report(report: ValidationReport, path: str | os.PathLike[str]) -> None:
    """Draw the ulp-versus-spread plot of ``report`` into ``path`` (PNG, SVG or PDF by suffix)."""
    plt = pyplot()
    points = [r for r in report.results if r.got is not None and not math.isnan(r.ulp)]
    finite = [r.ulp for r in points if math.isfinite(r.ulp) and r.ulp > 0]
    low = ULP_FLOOR
    high = max(max(finite) * 4, 10.0) if finite else 10.0
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    by_flag: dict[str, list[tuple[float, float, bool]]] = {}
    for r in points:
        spread = r.spread if math.isfinite(r.spread) else 0.0
        y = high if math.isinf(r.ulp) else max(r.ulp, low)
        for flag in r.flags or ("(none)",):
            by_flag.setdefault(flag, []).append((max(spread, SPREAD_FLOOR), y, r.failed))
    styles = cycle((m, c) for m in _MARKERS for c in ("C0", "C1", "C2", "C3", "C4", "C5"))
    for flag, rows in sorted(by_flag.items()):
        marker, colour = next(styles)
        xs, ys, _failed = zip(*rows, strict=True)
        axes.scatter(xs, ys, marker=marker, color=colour, label=flag, s=18, alpha=0.75)
        bad = [(x, y) for x, y, f in rows if f]
        if bad:
            bx, by = zip(*bad, strict=True)
            axes.scatter(bx, by, marker="o", facecolors="none", edgecolors="red", s=60)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_ylim(low / 1.5, high * 1.5)
    axes.axhline(high, color="grey", lw=0.5, ls=":")
    axes.text(axes.get_xlim()[0], high, " ▲ inf (misplaced NaN/inf)", va="bottom", fontsize=7)
    axes.set_xlabel(
        f"spread of the input row, max − min of the finite entries (≤ {SPREAD_FLOOR:g})"
    )
    axes.set_ylabel(f"largest error of the test, ulps of {report.dtype} (≤ {ULP_FLOOR:g})")
    verdict = "PASS" if report.passed else "FAIL"
    axes.set_title(f"{report.candidate}: {report.op}, {report.dtype} — {verdict} (red: failed)")
    axes.legend(fontsize=6, ncol=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    save_figure(figure, path)


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (InputError if not installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'symsoftmax[plot]'") from None
    return plt


def save_figure(figure: Any, path: str | os.PathLike[str]) -> None:
    """Write a matplotlib figure to ``path`` atomically (PNG, SVG or PDF by its suffix; PNG
    for any other) and close it."""
    figure.tight_layout()
    buffer = io.BytesIO()
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    figure.savefig(buffer, format=suffix if suffix in ("png", "svg", "pdf") else "png")
    pyplot().close(figure)
    write_atomic(path, buffer.getvalue())
