"""The shipped content: complete against the coverage specification, clean, and original.

The specification and the overlap tool live beside the project in ../shared (as in CI), or where
DL_SHARED points; these tests skip with a message when it is absent.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from generator.location import Diagnostics
from generator.parse import parse_corpus
from generator.pipeline import BuildConfig, Progress, analyse

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
SHARED = Path(os.environ.get("DL_SHARED", ROOT.parent / "shared"))  # a git worktree sets DL_SHARED
needs_shared = pytest.mark.skipif(not (SHARED / "coverage.md").is_file(), reason=f"{SHARED} is not present")
ITEM_RE = re.compile(r"^- \*\*`([a-z0-9]+\.[a-z0-9.-]+)`\*\*", re.M)


@pytest.fixture(scope="module")
def card_ids() -> set[str]:
    return {n.id for n in parse_corpus(CONTENT, Diagnostics()).notes}


@needs_shared
@pytest.mark.parametrize("spec, expected", [("coverage.md", 181), ("coverage-modern.md", 60),
                                            ("coverage-frontier.md", 32)])
def test_every_checklist_item_is_a_card(card_ids, spec, expected):
    items = ITEM_RE.findall((SHARED / spec).read_text(encoding="utf-8"))
    assert len(items) == expected
    missing = sorted(set(items) - card_ids)
    assert not missing, f"{spec}: items without a card: {missing}"


def test_content_checks_without_errors_or_warnings(tmp_path):
    cfg = BuildConfig(content=CONTENT, out=tmp_path, quiet=True)
    _, ctx, diags = analyse(cfg, Progress(quiet=True), draw=False)
    assert [str(d) for d in diags.sorted()] == []
    statuses = [s.status for s in ctx.formulas.values()]
    assert statuses.count("verified") >= 400
    assert "failed" not in statuses


@needs_shared
def test_no_sentence_copied_from_the_sources():
    out = subprocess.run([sys.executable, str(SHARED / "tools" / "overlap.py"), "content"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("0 copied runs of 15+ characters"), out.stdout[-3000:]
