"""derivations/ is generated: regenerate into a temporary folder and compare byte for byte."""

from __future__ import annotations

from pathlib import Path

from symsoftmax.cli import main
from symsoftmax.symbolic.printing.derivations import DOCUMENTS

ROOT = Path(__file__).resolve().parent.parent


def test_committed_derivations_are_up_to_date(tmp_path: Path) -> None:
    assert main(["derive", "--write-derivations", str(tmp_path)]) == 0
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert generated == sorted(DOCUMENTS)
    committed = sorted(p.name for p in (ROOT / "derivations").glob("*.md"))
    assert committed == generated, "derivations/ has missing or extra files"
    for name in generated:
        fresh = (tmp_path / name).read_bytes()
        assert (ROOT / "derivations" / name).read_bytes() == fresh, (
            f"derivations/{name} is stale: run `symsoftmax derive --write-derivations derivations/`"
        )


def test_derivations_show_steps_and_outcomes(tmp_path: Path) -> None:
    text = (ROOT / "derivations" / "jacobian.md").read_text()
    assert "$$" in text and "Outcome: **proven**" in text
    assert "1 ≤ i, j, k ≤ K" in text  # the assumption behind the sum reduction is stated
    assert "seconds" not in text  # deterministic: no timings
    for name in DOCUMENTS:
        body = (ROOT / "derivations" / name).read_text()
        assert "NOT proven" not in body and "**no**" not in body, name
