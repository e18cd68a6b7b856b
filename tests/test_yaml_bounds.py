"""Hostile YAML in front matter and in plot blocks: a `path:line` error, quickly, with a short
message; never a traceback, never the expanded data (issue 16)."""
from __future__ import annotations

import pytest

from generator import diagrams
from generator.location import Diagnostics
from generator.parse import parse_corpus

BOMB = "".join(
    f"{c}: &{c} [" + ", ".join([f"*{p}" if p else '"lol"' for _ in range(9)]) + "]\n"
    for p, c in zip([None] + list("abcdefg"), "abcdefgh"))
"""Eight levels of nine aliases each: 9⁸ ≈ 43 million strings once expanded."""

CASES = {
    "alias bomb": (BOMB, 5, "expands to more than 20000 values"),
    "recursive alias": ("categories: &x [a, *x]\n", 1, "alias '*x' refers to the list or mapping that contains it"),
    "5000-digit integer": ("order: " + "7" * 5000 + "\n", 1, "integer with 5000 digits is too long (at most 30 digits)"),
    "integer too large for a float": ("order: 1" + "0" * 400 + "\n", 1, "integer with 401 digits is too long"),
    "3000 nested lists": ("tags: " + "[" * 3000 + "]" * 3000 + "\n", 1, "YAML nests deeper than 40 levels"),
}


def _front(tmp_path, yaml_text: str) -> list[str]:
    (tmp_path / "a.md").write_text("---\ndeck: X\n" + yaml_text + "---\n# c\n\n## q {#a.q}\n\nA.\n", encoding="utf-8")
    diags = Diagnostics()
    parse_corpus(tmp_path, diags)
    return [str(d) for d in diags.items]


def _plot(tmp_path, yaml_text: str) -> list[str]:
    (tmp_path / "a.md").write_text("---\ndeck: X\n---\n# c\n\n## q {#a.q}\n\n```plot\nkind: bars\n" + yaml_text
                                   + "```\n", encoding="utf-8")
    diags = Diagnostics()
    diagrams.validate_document(parse_corpus(tmp_path, diags), diags)
    return [str(d) for d in diags.items]


@pytest.mark.parametrize("name", CASES)
def test_front_matter(tmp_path, name):
    text, offset, message = CASES[name]
    found = _front(tmp_path, text)
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'a.md'}:{2 + offset}"), found
    assert message in found[0] and len(found[0]) < 300, found


@pytest.mark.parametrize("name", CASES)
def test_plot_block(tmp_path, name):
    text, offset, message = CASES[name]
    found = _plot(tmp_path, text)
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'a.md'}:{9 + offset}: error: plot: "), found
    assert message in found[0] and len(found[0]) < 300, found


def test_duplicate_front_matter_keys(tmp_path):
    found = _front(tmp_path, "deck: Y\n")
    assert found == [f"{tmp_path / 'a.md'}:3: error: front matter: duplicate key 'deck'"]
