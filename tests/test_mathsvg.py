"""MathJax SVG for the PDF: glyphs become KaTeX-font text, one Node run per batch, cached on disk."""
from __future__ import annotations

import subprocess

import pytest

from generator import mathsvg


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    cache = tmp_path_factory.mktemp("svg") / "mathsvg.json"
    r = mathsvg.Renderer(cache)
    formulas = [(r"\frac{1}{1 + e^{-x}}", True), (r"\alpha_t \mathbb{R}^{n}", False), (r"\frac{1}{", False),
                (r"L = \text{常数}", False)]
    r.prepare(formulas)
    for tex, display in formulas:  # as the emitter does: what a build asked for is kept
        r.get(tex, display)
    r.save()
    return r, cache


def test_glyphs_are_katex_text_and_sizes_are_em(rendered):
    r, _ = rendered
    svg = r.get(r"\frac{1}{1 + e^{-x}}", True)
    assert svg is not None and svg.width > 2 and svg.height > 1 and svg.valign < 0
    assert 'font-family="KaTeX_Main"' in svg.svg and 'font-family="KaTeX_Math"' in svg.svg
    assert "<use" not in svg.svg and "<path id=" not in svg.svg  # every glyph became text
    inline = r.get(r"\alpha_t \mathbb{R}^{n}", False)
    assert ">α</text>" in inline.svg and 'font-family="KaTeX_AMS"' in inline.svg  # 𝛼 → α, ℝ in AMS


def test_unparsable_and_cjk_formulas_are_left_to_katex(rendered):
    r, _ = rendered
    assert r.get(r"\frac{1}{", False) is None
    assert r.get(r"L = \text{常数}", False) is None and mathsvg.has_cjk(r"\text{常数}")


def test_cache_is_reused_without_node(rendered, monkeypatch):
    _, cache = rendered

    def no_node(*args, **kwargs):
        raise AssertionError("node ran for a cached formula")
    monkeypatch.setattr(subprocess, "Popen", no_node)
    again = mathsvg.Renderer(cache)
    again.prepare([(r"\frac{1}{1 + e^{-x}}", True)])
    assert again.get(r"\frac{1}{1 + e^{-x}}", True) is not None


def test_glyph_without_katex_counterpart_keeps_its_path():
    svg = ('<svg><defs><path id="MJX-1-TEX-V-2032" d="M1 1Z"></path><path id="MJX-1-TEX-I-1D44E" d="M2 2Z">'
           '</path></defs><g><use data-c="2032" xlink:href="#MJX-1-TEX-V-2032"></use>'
           '<use data-c="1D44E" xlink:href="#MJX-1-TEX-I-1D44E"></use></g></svg>')
    out = mathsvg.glyphs_as_text(svg)
    assert 'xlink:href="#MJX-1-TEX-V-2032"' in out and '<path id="MJX-1-TEX-V-2032"' in out
    assert ">a</text>" in out and "MJX-1-TEX-I-1D44E" not in out


def test_started_batch_runs_in_the_background_and_is_collected(tmp_path):
    """The pipeline starts MathJax right after parsing (emit.pdf.begin); emit collects it later."""
    r = mathsvg.Renderer(tmp_path / "mathsvg.json")
    r.start([(r"\sqrt{x^2 + 1}", True), (r"\beta", False)])
    assert r._job is not None and r._job[1].poll() is None  # Node works while the build goes on
    assert sorted(p.name.split(".")[1] for p in tmp_path.glob(".mathjax-*.tmp")) == ["mathjax-err", "mathjax-in",
                                                                                      "mathjax-out"]
    r.prepare([(r"\sqrt{x^2 + 1}", True), (r"\beta", False), (r"\gamma", False)])  # one more: rendered now
    assert all(r.get(tex, d) is not None for tex, d in [(r"\sqrt{x^2 + 1}", True), (r"\beta", False), (r"\gamma", False)])
    assert not list(tmp_path.glob(".mathjax-*"))  # scratch files gone


def test_background_reader_collects_before_prepare(tmp_path):
    """begin() starts MathJax with a reader thread: the SVGs are read and flattened while the build
    checks formulas; prepare() then only waits for the thread."""
    r = mathsvg.Renderer(tmp_path / "mathsvg.json")
    r.start([(r"\frac{a}{b}", True)], background=True)
    r._reader.join(timeout=60)
    assert r.cache.get(r._key(r"\frac{a}{b}", True))["flat"]["ops"]  # there before prepare
    r.prepare([(r"\frac{a}{b}", True)])
    assert r.get(r"\frac{a}{b}", True).flat is not None and not list(tmp_path.glob(".mathjax-*"))


def test_background_failure_reaches_prepare(tmp_path, monkeypatch):
    script = tmp_path / "broken.js"
    script.write_text('process.stderr.write("no MathJax here"); process.exit(3);\n', encoding="utf-8")
    monkeypatch.setattr(mathsvg, "SCRIPT", script)
    r = mathsvg.Renderer(tmp_path / "mathsvg.json")
    r.start([(r"x^2", False)], background=True)
    with pytest.raises(RuntimeError, match="no MathJax here"):
        r.prepare([(r"x^2", False)])


def test_pdf_falls_back_to_katex_when_mathjax_fails(tmp_path, monkeypatch, capsys):
    from generator.context import BuildContext
    from generator.emit import pdf
    from generator.location import Diagnostics
    from generator.parse import parse_corpus

    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "a.md").write_text("# 章\n\n## 问题 {#a.q}\n\n答案 $x^2$。\n", encoding="utf-8")
    script = tmp_path / "broken.js"
    script.write_text("process.exit(3);\n", encoding="utf-8")
    monkeypatch.setattr(mathsvg, "SCRIPT", script)
    doc = parse_corpus(tmp_path / "content", Diagnostics())
    (target,) = pdf.emit(doc, tmp_path / "build", BuildContext(deck_name="t", output_name="t")).paths
    assert target.is_file() and "KaTeX HTML" in capsys.readouterr().err
    assert 'class="katex' in (tmp_path / "build" / ".cache" / "pdf" / "t.html").read_text(encoding="utf-8")
