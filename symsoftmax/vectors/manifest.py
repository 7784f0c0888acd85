"""Is a file that says it is a generated suite that suite? Checked against its inputs, regenerated.

A generated suite is fixed by (op, dtype, suite, seed) and the generator's version: its inputs,
flags, comments, tcIds and order come from the catalogue and seeded generators in a fraction of a
second (:func:`symsoftmax.vectors.builder.draft_rows`); only its expected values are expensive.
So a file whose header names a suite can be held to that suite's *manifest* cheaply: the same
number of tests, the same tcIds in the same order, each with the same K, flags, comment and
inputs, bit for bit. A file trimmed to the tests some kernel passes, padded, reordered or with
edited inputs fails this, whatever its checksum says (anyone can recompute a checksum).

Used by ``vectors --lint`` (a finding per difference) and by the suite cache
(:mod:`symsoftmax.validation.sources`), which regenerates an entry that differs. The expected
values are not covered here: lint recomputes them, and the cache is written only by the
validator, with candidates sandboxed (docs/validation.md, "Threat model").
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax import __version__
from symsoftmax.vectors.builder import Draft, draft_rows, file_order
from symsoftmax.vectors.check import Finding
from symsoftmax.vectors.model import SUITES, TestCase, VectorFile

__all__ = ["SuiteClaim", "manifest_findings", "matches_this_generator", "suite_claim"]

SHOWN = 5  # tcIds listed in one finding before "…"


@dataclass(frozen=True)
class SuiteClaim:
    """What a header says it is: a generated suite of ``op`` in ``dtype`` with ``seed``."""

    op: str
    dtype: str
    suite: str
    seed: int
    generator_version: str

    def __str__(self) -> str:
        return f"suite {self.suite!r} ({self.op}, {self.dtype}, seed {self.seed})"


def suite_claim(header: dict[str, Any]) -> SuiteClaim | None:
    """The claim of a header that names a generated suite; None for custom and other files."""
    suite, seed = header.get("suite"), header.get("seed")
    if suite not in SUITES or not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        return None
    generator = header.get("generator")
    version = generator.get("version") if isinstance(generator, dict) else None
    return SuiteClaim(
        str(header.get("op")), str(header.get("dtype")), suite, seed, str(version or "")
    )


def _listed(tc_ids: list[int]) -> str:
    shown = ", ".join(map(str, tc_ids[:SHOWN]))
    return shown + (f", … ({len(tc_ids)} in all)" if len(tc_ids) > SHOWN else "")


def _same_inputs(tc: TestCase, draft: Draft) -> bool:
    if set(tc.inputs) != set(draft.inputs):
        return False
    return all(
        np.array_equal(
            np.asarray(tc.inputs[key], dtype=np.float64).view(np.uint64),
            np.asarray(draft.inputs[key], dtype=np.float64).view(np.uint64),
        )
        for key in draft.inputs
    )


def _test_difference(tc: TestCase, draft: Draft) -> str:
    """What differs between a test and the suite's test of the same tcId ("" for nothing)."""
    if tc.inputs.get("z") is None or np.asarray(tc.inputs["z"]).size != draft.k:
        return f"K {np.asarray(tc.inputs.get('z', [])).size}, the suite's is {draft.k}"
    if tuple(tc.flags) != draft.flags:
        return f"flags {list(tc.flags)}, the suite's are {list(draft.flags)}"
    if tc.comment != draft.comment:
        return "comment differs from the suite's"
    if not _same_inputs(tc, draft):
        return "inputs differ from the suite's, bit for bit"
    return ""


def _alike(groups: list[tuple[list[TestCase], list[Draft]]]) -> bool:
    """True only if :func:`_test_difference` finds nothing for any test and its draft, given
    as the file's groups (their tests, and the drafts of the same tcIds). Decided a group at a
    time, each comparison over all of its tests at once: the inputs of one name stacked into
    one array and compared bit for bit (a standard suite's thousands of tests took a comparison
    each). False where anything differs, or where a group's tests cannot be compared so (rows
    of different shapes, drafts of different K, fields of other types): the caller then asks
    :func:`_test_difference` test by test, which names what differs.

    Stacking is exact: ``np.asarray(rows, dtype=np.float64)`` converts each row as
    ``np.asarray(row, dtype=np.float64)`` does, and has shape (n, *s) only if every row has
    shape s; so equal stacks of equal shape are rows equal bit for bit and in shape, test by
    test, as :func:`_same_inputs` requires. The drafts' ``z`` stacked as (n, K), one K: every
    test's K is its draft's."""
    try:
        return all(_group_alike(tests, drafts) for tests, drafts in groups)
    except (KeyError, TypeError, ValueError):
        return False  # not comparable at once: test by test


_COMMENT, _FLAGS, _INPUTS, _K = (attrgetter(name) for name in ("comment", "flags", "inputs", "k"))


def _group_alike(tests: list[TestCase], drafts: list[Draft]) -> bool:
    """:func:`_alike` of one group (fields gathered by C-level getters: per test, the
    comparison cost more than the rest of the manifest)."""
    if not tests:
        return True
    if list(map(_COMMENT, tests)) != list(map(_COMMENT, drafts)):
        return False
    if list(map(_FLAGS, tests)) != list(map(_FLAGS, drafts)):
        return False  # (or flags as a list: _test_difference tells)
    mine, theirs = list(map(_INPUTS, tests)), list(map(_INPUTS, drafts))
    # the same names, test by test: as many, and each name a draft has in its test too (z
    # is taken from every test below: a KeyError where one has none)
    names = set().union(*theirs)
    if list(map(len, mine)) != list(map(len, theirs)):
        return False
    for name in names - {"z"}:
        if [name in row for row in mine] != [name in row for row in theirs]:
            return False
    ks = set(map(_K, drafts))
    z_mine = list(map(itemgetter("z"), mine))
    z_theirs = np.asarray(list(map(itemgetter("z"), theirs)), dtype=np.float64)
    if len(ks) != 1 or z_theirs.shape != (len(drafts), *ks) or not _same_bits(z_mine, z_theirs):
        return False  # (a row None stacks as a number, NaN: not of the drafts' shape)
    for name in names - {"z"}:  # temperature, sink, softcap: where a test has it
        theirs_rows = [row[name] for row in theirs if name in row]
        mine_rows = [row[name] for row in mine if name in row]
        if not _same_bits(mine_rows, np.asarray(theirs_rows, dtype=np.float64)):
            return False
    return True


def _same_bits(rows: list[Any], stacked: npt.NDArray[np.float64]) -> bool:
    """Whether ``rows`` stacked as float64 are ``stacked``, in shape and bit for bit."""
    mine = np.asarray(rows, dtype=np.float64)
    return mine.shape == stacked.shape and np.array_equal(
        mine.view(np.uint64), stacked.view(np.uint64)
    )


def manifest_findings(vf: VectorFile, file: str, *, compare_tests: bool = True) -> list[Finding]:
    """How ``vf`` differs from the suite its header names (empty: it is that suite, or names
    none). ``compare_tests=False`` compares the tcIds only (a file made by another version of
    the generator may differ in its rows and still be that version's suite)."""
    claim = suite_claim(vf.header)
    if claim is None or claim.op != vf.op or claim.dtype != vf.dtype:
        return []
    drafts = draft_rows(claim.op, claim.dtype, claim.suite, claim.seed)
    suite_ids = list(range(1, len(drafts) + 1))
    by_id = {tc_id: drafts[i] for tc_id, i in zip(suite_ids, file_order(drafts), strict=True)}
    tests = list(vf.tests())
    file_ids = [tc.tc_id for tc in tests]
    findings = []
    if file_ids != suite_ids:
        missing = sorted(set(suite_ids) - set(file_ids))
        extra = sorted(set(file_ids) - set(suite_ids))
        parts = [f"has {len(tests)} tests, the suite has {len(drafts)}"]
        if missing:
            parts.append(f"missing tcIds {_listed(missing)}")
        if extra:
            parts.append(f"tcIds not in the suite {_listed(extra)}")
        if not missing and not extra:
            parts.append("its tcIds are out of the suite's order")
        findings.append(Finding(file, None, "header.suite", f"claims {claim}: {'; '.join(parts)}"))
    if not compare_tests:
        return findings
    groups = [[tc for tc in group.tests if tc.tc_id in by_id] for group in vf.groups]
    pairs = [(found, [by_id[tc.tc_id] for tc in found]) for found in groups]
    differing = (
        []
        if _alike(pairs)
        else [
            (tc.tc_id, what)
            for tc in tests
            if tc.tc_id in by_id and (what := _test_difference(tc, by_id[tc.tc_id]))
        ]
    )
    for tc_id, what in differing[:SHOWN]:
        findings.append(Finding(file, tc_id, "inputs", f"{what} ({claim})"))
    if len(differing) > SHOWN:
        more = len(differing) - SHOWN
        findings.append(Finding(file, None, "testGroups", f"{more} more tests differ ({claim})"))
    return findings


def matches_this_generator(vf: VectorFile) -> bool:
    """Whether ``vf`` claims a suite made by this version of the generator."""
    claim = suite_claim(vf.header)
    return claim is not None and claim.generator_version == __version__
