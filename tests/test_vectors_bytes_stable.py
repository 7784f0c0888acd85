"""The generated vectors do not move: every op × format quick suite (seed 0) hashes as recorded.

``header.sha256`` is the hash of the file's content (its test groups), independent of the
library versions in the header, so a refactor that keeps behaviour keeps these hashes. A change
that is meant to change generated values (a new family, a corrected expected value) updates
``tests/data/quick_suite_sha256.json`` in the same commit and says why in its message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symsoftmax.vectors import generate

RECORDED = json.loads((Path(__file__).parent / "data" / "quick_suite_sha256.json").read_text())


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_quick_suite_bytes_unchanged(case: str) -> None:
    op, dtype = case.split()
    assert generate(op, dtype, "quick", 0).header["sha256"] == RECORDED[case]
