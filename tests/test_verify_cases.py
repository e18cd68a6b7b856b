"""The verify_cases fixture: textbook claims verified, their false twins caught at their own line.

All cases go through the real driver (worker processes, cache off) in one run, as a notes file
with the definitions as display formulas and one claim per check line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from generator.location import Diagnostics
from generator.parse import parse_corpus
from generator.verify import verify_document

CASES = Path(__file__).parent / "verify_cases" / "claims.txt"


def _cases():
    defs, rows = [], []
    for raw in CASES.read_text(encoding="utf-8").splitlines():
        kind, _, rest = raw.partition(": ")
        if kind == "def":
            defs.append(rest)
        elif kind in ("true", "false", "warn"):
            claim, _, reason = rest.partition(" || ")
            rows.append((kind, claim.strip(), reason.strip()))
    return defs, rows


DEFS, ROWS = _cases()


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    root = tmp_path_factory.mktemp("cases")
    head = "# Cases\n\n## Claims {#cases}\n\n" + "".join(f"$$\n{d}\n$$\n\n" for d in DEFS)
    write(root / "c", "cases.md", head + "```check\n" + "\n".join(c for _, c, _ in ROWS) + "\n```\n")
    diags = Diagnostics()
    doc = parse_corpus(root / "c", diags)
    results = verify_document(doc, diags, None)
    (note,) = doc.notes
    (block,) = note.answer.checks
    assert [f.tex for f in block.lines] == [c for _, c, _ in ROWS]
    return [f.loc.line for f in block.lines], {f.loc.line: s for f, s in results.items()}, diags


def test_fixture_size():
    kinds = [k for k, _, _ in ROWS]
    assert kinds.count("true") + kinds.count("warn") >= 100 and kinds.count("false") >= 50


@pytest.mark.parametrize("n", range(len(ROWS)), ids=[c[:60] for _, c, _ in ROWS])
def test_case(checked, n):
    lines, by_line, diags = checked
    kind, claim, reason = ROWS[n]
    line = lines[n]
    errors = [d.message for d in diags.errors if d.loc.line == line]
    warnings = [d.message for d in diags.warnings if d.loc.line == line]
    status = by_line[line]
    if kind == "false":
        assert len(errors) == 1 and "claim is false" in errors[0] and reason in errors[0], (errors, status)
    else:
        assert status.status == "verified" and not errors, (status, errors)
        if kind == "warn":
            assert any(reason in w for w in warnings), warnings
        else:
            assert not warnings, warnings


def test_definitions_are_definitions(checked):
    lines, by_line, diags = checked
    assert not [str(d) for d in diags.items if d.loc.line < lines[0]]
    assert [s.status for line, s in sorted(by_line.items()) if line < lines[0]] == ["definition"] * len(DEFS)
