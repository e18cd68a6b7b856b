"""Whole-pipeline fuzzing (issue 16): random documents through parse, verify, plot checks and every emitter.

Documents are built from blocks (headings, fences, details boxes, clozes, math, tables, lists, raw HTML,
front matter, check and plot blocks, forged placeholders, unclosed fences and boxes), so the test knows
which lines are real '#'/'##' headings. Properties: no stage raises, and every such heading becomes a
chapter or a note or is named by a diagnostic (at its line, or as a swallowed "(line N)").
"""
from __future__ import annotations

import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.context import BuildContext
from generator.location import Diagnostics
from generator.parse import parse_corpus

INLINE = ["文字", "word", "$x^2$", "$2^5 = 32$", "{{c1::答案}}", "{{c2::$\\frac{1}{4}$::提示}}", "**粗", "`code`",
          "<b onclick=\"x()\">b</b>", "<img src=x onerror=alert(1)>", "[链接](#a.one)", "[章](#基础)",
          "[x]{#toolbar style=\"position:fixed\"}", "\ue000F0\ue001", "$\\href{javascript:alert(1)}{x}$", "\\$5"]
HEADINGS = ["基础", "Basics", "为什么 $x$？", "<script>x</script>", ""]
IDS = [" {#a.one}", " {#a.two}", " {#toolbar}", "", ""]

PLOT_EXPRS = ["x", "\\sin(x)", "x +"]
paragraph = st.lists(st.sampled_from(INLINE), min_size=1, max_size=5).map(" ".join)


@st.composite
def document(draw) -> tuple[str, list[int]]:
    """Markdown text and the 1-based lines of its real (top-level) headings."""
    lines: list[str] = []
    headings: list[int] = []
    if draw(st.booleans()):
        lines += ["---", f"deck: {draw(st.sampled_from(['D', 'D::子', '../x', '深度::学习']))}", "---"]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["h1", "h2", "h2", "para", "math", "fence", "check", "plot", "details",
                                     "table", "list", "html", "open-details"]))
        if kind in ("h1", "h2"):
            headings.append(len(lines) + 1)
            lines.append(("# " if kind == "h1" else "## ") + draw(st.sampled_from(HEADINGS)) + draw(st.sampled_from(IDS)))
        elif kind == "para":
            lines.append(draw(paragraph))
        elif kind == "math":
            lines += ["$$", draw(st.sampled_from(["2^5 = 32", "\\sigma(x) = \\frac{1}{1+e^{-x}}", "3 = 4", "x +"])), "$$"]
        elif kind == "fence":
            lines += ["```python", "## 代码里的标题不是问题", "x = 1", "```"]
        elif kind == "check":
            lines += ["```check", draw(st.sampled_from(["2^5 = 32", "7 \\times 2 = 15", "\\frac{1}{2} < 1"])), "```"]
        elif kind == "plot":
            lines += ["```plot", "kind: function", "x: [0, 1]", "curves:",
                      "  - expr: '" + draw(st.sampled_from(PLOT_EXPRS)) + "'", "```"]
        elif kind == "details":
            lines += ["::: details", draw(paragraph), ":::"]
        elif kind == "open-details":
            lines += ["::: details", draw(paragraph)]
        elif kind == "table":
            lines += ["| a | b |", "|---|--:|", f"| {draw(paragraph)} | 2 |"]
        elif kind == "list":
            lines += [f"- {draw(paragraph)}", "- 二"]
        else:
            lines += ["<div onclick=\"alert(1)\">", draw(paragraph), "</div>"]
        lines.append("")
    if draw(st.booleans()):
        lines += ["```", "没有关上的代码"]
    return "\n".join(lines) + "\n", headings


def run_pipeline(root: Path, out: Path) -> tuple[object, Diagnostics]:
    from generator import diagrams, verify
    from generator.emit import anki, html, pdf

    diags = Diagnostics()
    doc = parse_corpus(root, diags)
    ctx = BuildContext(deck_name="Fuzz")
    ctx.formulas = verify.verify_document(doc, diags, cache_dir=out / ".cache")
    diagrams.validate_document(doc, diags)
    anki.emit(doc, out, ctx)
    html.render_page(doc, ctx)
    pdf.render_html(doc, ctx, built=date(2026, 1, 1))
    return doc, diags


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-cache")


@settings(max_examples=40, deadline=20000, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(case=document())
def test_random_documents_lose_no_heading_and_never_crash(case, cache_dir):
    text, headings = case
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "content"
        root.mkdir()
        (root / "f.md").write_text(text, encoding="utf-8")
        doc, diags = run_pipeline(root, cache_dir)
        placed = {c.loc.line for c in doc.chapters} | {n.loc.line for n in doc.notes}
        told = {d.loc.line for d in diags.items}
        named = {int(n) for d in diags.items for m in re.finditer(r"\(lines? ([\d, ]+)\)", d.message)
                 for n in m.group(1).split(", ")}
        lost = [ln for ln in headings if ln not in placed | told | named]
        assert lost == [], (lost, text, [str(x) for x in diags.items])
