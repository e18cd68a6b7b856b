"""Property tests: the parser never crashes and every location lies in its file."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.location import Diagnostics
from generator.model import fragments
from generator.parse import parse_corpus

PIECES = ["# ", "## ", "### ", "{#a.b}", "{#x}", "$", "$$", "\\$", "`", "```", "```check\n", "```plot\n",
          "::: details\n", ":::\n", "{{c1::", "}}", "**", "_", "[t](#a.b)", "![i](p.png)", "<b>", "</b>",
          "<script>", "|a|b|\n|-|-|\n", "- ", "1. ", "> ", "\n", "\n\n", "x", "中文", "\\frac{1}{2}", "---\n", " "]

markdown = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=60).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=markdown, with_front=st.booleans())
def test_parser_never_crashes_and_locations_are_in_file(body, with_front):
    text = ("---\ndeck: D\n---\n" if with_front else "") + body
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "f.md").write_text(text, encoding="utf-8")
        diags = Diagnostics()
        doc = parse_corpus(root, diags)
        n_lines = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        locs = [d.loc for d in diags.items]
        for note in doc.notes:
            locs.append(note.loc)
            for frag in fragments(note):
                locs += [f.loc for f in frag.formulas] + [p.loc for p in frag.plots] + [c.loc for c in frag.checks]
                locs += [f.loc for c in frag.checks for f in c.lines] + [i.loc for i in frag.images]
        for loc in locs:
            assert loc.path.name == "f.md"
            assert 1 <= loc.line <= n_lines, (loc, text)
            assert loc.col >= 0


@settings(max_examples=50, deadline=None)
@given(body=markdown)
def test_parsing_is_deterministic(body):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "f.md").write_text("---\ndeck: D\n---\n" + body, encoding="utf-8")
        assert parse_corpus(root, Diagnostics()) == parse_corpus(root, Diagnostics())
