"""Code highlighting: Pygments classes, and the cache file that spares a build re-highlighting every block."""
from __future__ import annotations

import pytest

from generator import highlight
from generator.location import SourceLocation
from generator.model import CodeBlock


def test_highlighter_keeps_results_across_builds(tmp_path, monkeypatch):
    block = CodeBlock("python", "def f(x):\n    return x * 2\n", False, SourceLocation(tmp_path / "a.md", 3))
    first = highlight.Highlighter(tmp_path / "highlight.json")
    html = first.code(block)
    assert '<span class="k">def</span>' in html and html == highlight.code(block)
    first.save()

    def pygments_again(*args):
        raise AssertionError("highlighted again although cached")
    monkeypatch.setattr(highlight, "block", pygments_again)
    assert highlight.Highlighter(tmp_path / "highlight.json").code(block) == html
    changed = CodeBlock("python", block.code.replace("2", "3"), False, block.loc)
    with pytest.raises(AssertionError, match="highlighted again"):  # an edited block is highlighted anew
        highlight.Highlighter(tmp_path / "highlight.json").code(changed)
