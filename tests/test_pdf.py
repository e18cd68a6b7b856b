"""The PDF study guide, built through the CLI from tests/golden/pdf/content.

Regenerate the golden HTML with `make golden` after an intended change, and review the diff.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pdfplumber
import pytest
from pypdf import PdfReader
from weasyprint.urls import URLFetchingError  # noqa: F401 (WeasyPrint must import)

from conftest import golden, run, write
from generator.context import BuildContext, Figure
from generator.emit import pdf, pdflayout
from generator.location import Diagnostics
from generator.parse import parse_corpus

GOLDEN = Path(__file__).parent / "golden" / "pdf"
EPOCH = "1780000000"  # 2026-05-28: fixed build date on the cover
CHAPTERS = ["激活函数", "训练实践"]
QUESTIONS = ["为什么需要非线性激活函数？", "sigmoid 导数的最大值", "代码和表格", "早停是什么？"]


@pytest.fixture(scope="module")
def guide(tmp_path_factory):
    """One CLI build of the fixture corpus: (project folder, PDF path)."""
    root = tmp_path_factory.mktemp("guide")
    shutil.copytree(GOLDEN / "content", root / "content")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        assert run("build", "--only", "pdf", "-q") == 0
    (target,) = (root / "build").glob("*.pdf")
    return root, target


def _outline_count(items) -> int:
    return sum(_outline_count(i) if isinstance(i, list) else 1 for i in items)


def _outline_pages(reader: PdfReader, items, out: dict[str, int]) -> dict[str, int]:
    for item in items:
        if isinstance(item, list):
            _outline_pages(reader, item, out)
        else:
            out[item.title] = reader.get_destination_page_number(item) + 1
    return out


def _texts(path: Path) -> list[str]:
    with pdfplumber.open(path) as doc:
        return [page.extract_text() or "" for page in doc.pages]


def test_pdf_is_written_atomically_with_sane_page_count(guide):
    root, target = guide
    assert target.name == "测试指南.pdf"
    assert not list(target.parent.glob(".*.tmp"))
    reader = PdfReader(target)
    assert 5 <= len(reader.pages) <= 12  # cover, contents, two chapters, index
    meta = reader.metadata
    assert meta.title == "测试指南"
    assert reader.trailer["/Root"].get("/Lang") == "zh-CN"


def test_outline_has_chapters_and_questions(guide):
    _, target = guide
    reader = PdfReader(target)
    assert _outline_count(reader.outline) == len(CHAPTERS) + len(QUESTIONS)
    top = [i.title for i in reader.outline if not isinstance(i, list)]
    assert top == [f"第 {n} 章\u3000{t}" for n, t in enumerate(CHAPTERS, 1)]


def test_all_fonts_are_embedded(guide):
    _, target = guide
    reader = PdfReader(target)
    seen = 0
    for page in reader.pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            seen += 1
            if font["/Subtype"] == "/Type3":
                continue  # glyphs are drawn by content streams inside the font
            descriptor = (font["/DescendantFonts"][0].get_object() if font["/Subtype"] == "/Type0" else font)
            descriptor = descriptor["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), font["/BaseFont"]
    assert seen >= 4  # serif, sans (bold), mono and KaTeX faces


def test_text_has_chinese_titles_and_prose_dollars(guide):
    _, target = guide
    text = "\n".join(_texts(target))
    for title in QUESTIONS + CHAPTERS:
        assert title in text
    assert "$5" in text and "$3" in text
    assert "{{c1::" not in text and "c2::" not in text  # cloze markup is stripped
    assert "位置" not in text  # the cloze hint is not printed


def test_toc_page_numbers_match_heading_pages(guide):
    _, target = guide
    texts = _texts(target)
    toc_page = next(i for i, t in enumerate(texts) if t.lstrip().startswith("目录") or "\n目录" in t[:40])
    toc = {}
    for line in texts[toc_page].splitlines():
        m = re.match(r"^(\d+\.\d+)\s*(.+?)[\s.]*?(\d+)$", line.strip())
        if m:
            toc[m.group(1)] = (m.group(2).rstrip(" ."), int(m.group(3)))
    assert len(toc) == len(QUESTIONS)
    outline = _outline_pages(PdfReader(target), PdfReader(target).outline, {})
    for number, (title, page) in toc.items():
        # the heading really is on that page, after the contents
        body = texts[page - 1]
        assert page - 1 > toc_page and number in body and title[:6] in body, (number, title, page)
        assert outline[f"{number} {title}"] == page


def test_index_lists_terms_with_pages(guide):
    _, target = guide
    texts = _texts(target)
    index = texts[-1]
    assert index.lstrip().startswith("索引") or "索引" in index[:20]
    m = re.search(r"梯度消失\s*([\d, ]+)", index)
    assert m, index
    pages = [int(p) for p in re.findall(r"\d+", m.group(1))]
    assert len(pages) == 2 and all("梯度消失" in texts[p - 1] for p in pages)


def test_golden_pdf_html(guide):
    """The HTML fed to WeasyPrint, with machine-specific paths replaced."""
    root, target = guide
    (html_file,) = (root / "build" / ".cache" / "pdf").glob("*.html")
    got = html_file.read_text(encoding="utf-8")
    got = got.replace(root.resolve().as_uri(), "file://{ROOT}").replace(
        Path(__file__).resolve().parent.parent.as_uri(), "file://{REPO}")
    assert got == golden(GOLDEN / "expected.html", got).read_text(encoding="utf-8")


def test_letter_paper(project):
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n答案。\n")
    assert run("build", "--only", "pdf", "--paper", "Letter", "-q") == 0
    (target,) = (project / "build").glob("*.pdf")
    reader = PdfReader(target)
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    assert len(reader.pages) == 3  # the cover still fits one (shorter) page


def test_katex_error_is_a_located_diagnostic_with_fallback(project):
    path = write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n坏公式 $\\frac{1}{$ 在这里。\n")
    doc = parse_corpus(project / "content", Diagnostics())
    html_text, diags = pdf.render_html(doc, BuildContext(deck_name="t"))
    assert [str(d.loc) for d in diags] == [f"{path}:9:5"]
    assert "KaTeX" in diags[0].message
    assert '<code class="math-error"' in html_text and "\\frac{1}{" in html_text


def test_figure_is_numbered_captioned_vector_image(project):
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n```plot\nkind: bars\n```\n")
    doc = parse_corpus(project / "content", Diagnostics())
    plot = next(doc.notes).answer.plots[0]
    svg = project / "build" / "figures" / "f.svg"
    svg.parent.mkdir(parents=True)
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">'
                   '<rect width="100" height="50" fill="#888"/></svg>', encoding="utf-8")
    ctx = BuildContext(deck_name="t", figures={plot: Figure(3, "柱状图说明", "bars", svg, None)})
    out = pdf.emit(doc, project / "build", ctx).paths
    html_text = (project / "build" / ".cache" / "pdf" / "t.html").read_text(encoding="utf-8")
    assert 'id="fig-3"' in html_text and "图 3" in html_text and "柱状图说明" in html_text
    assert "图 3" in "\n".join(_texts(out[0]))


def test_figure_text_is_text_in_the_pdf(project, monkeypatch):
    """Figures reach the PDF with their labels as text (searchable, in embedded DejaVu and Noto)."""
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n```plot\nkind: bars\ntitle: 温度对比 softmax\n"
          "categories: ['$z_1$', 'beta']\ngroups:\n  - {label: T = 1, values: [0.7, 0.3]}\n```\n")
    monkeypatch.chdir(project)
    assert run("build", "--only", "pdf", "-q") == 0
    (target,) = (project / "build").glob("*.pdf")
    text = "\n".join(_texts(target))
    assert "温度对比 softmax" in text and "beta" in text
    assert not list((project / "build" / "figures").glob("*.png"))  # a PDF build draws no PNG
    fonts = {str(f.get_object()["/BaseFont"]) for page in PdfReader(target).pages
             for f in page["/Resources"]["/Font"].values()}
    assert any("DejaVu-Sans" in f for f in fonts), fonts


# ---------------------------------------------------------------- URL fetcher


def test_fetcher_allows_only_listed_folders(tmp_path):
    inside = tmp_path / "content"
    inside.mkdir()
    (inside / "ok.png").write_bytes(b"x")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    (inside / "link.txt").symlink_to(outside)
    fetcher = pdflayout.LocalFetcher([inside])
    assert fetcher.fetch((inside / "ok.png").as_uri()).read() == b"x"
    assert fetcher.fetch("data:text/plain,hi").read() == b"hi"
    for url in (outside.as_uri(), (inside / "link.txt").as_uri(), (inside / ".." / "secret.txt").as_uri(),
                "file:///etc/hostname", "http://127.0.0.1:9/x.png", "https://example.com/x.css",
                "ftp://example.com/x", "file://otherhost/etc/hostname"):
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 8


def test_render_refuses_remote_and_outside_resources(project):
    secret = project / "secret.png"
    secret.write_bytes((GOLDEN / "content" / "img" / "dot.png").read_bytes())
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n答案。\n")
    doc = parse_corpus(project / "content", Diagnostics())
    fetcher = pdflayout.LocalFetcher(pdf.allowed_roots(doc, project / "build"))
    html_text = pdf.render_html(doc, BuildContext(deck_name="t"))[0]
    # the sanitiser already drops src from raw <img>; this checks the second line of defence
    html_text = html_text.replace("</body>", '<img src="http://127.0.0.1:9/x.png"><img src="https://example.com/y.png">'
                                  f'<img src="{secret.as_uri()}"></body>')
    pages, errors = pdflayout.write_pdf(html_text, project / "t.pdf", doc.root, fetcher, pdf.stylesheets("A4"))
    assert pages >= 3
    assert sorted(fetcher.refused) == sorted(["http://127.0.0.1:9/x.png", "https://example.com/y.png",
                                              secret.as_uri()])
    assert len(errors) == 3


def test_cross_references_are_clickable(guide):
    _, target = guide
    reader = PdfReader(target)
    dests = reader.named_destinations
    links = {}
    for number, page in enumerate(reader.pages, 1):
        for annot in page.get("/Annots", []):
            annot = annot.get_object()
            if annot.get("/Subtype") == "/Link" and "/Dest" in annot:
                links.setdefault(str(annot["/Dest"]), set()).add(number)
    assert set(links) <= set(dests)
    why_page = reader.get_destination_page_number(dests["act.why"]) + 1
    assert why_page == 3 and 4 in links["act.why"]  # 2.2 links back to 1.1
    assert {f"chapter-{n}" for n in (1, 2)} | {"act.why", "train.code"} <= set(links)  # contents entries


def test_resource_warnings_are_returned_at_the_content_line(project):
    """A figure WeasyPrint cannot load is a warning at its plot block, returned (not printed)."""
    path = write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n```plot\nkind: bars\n```\n")
    doc = parse_corpus(project / "content", Diagnostics())
    plot = next(doc.notes).answer.plots[0]
    svg = project / "build" / "figures" / "broken.svg"
    svg.parent.mkdir(parents=True)
    svg.write_text("<svg this is not XML", encoding="utf-8")
    ctx = BuildContext(deck_name="t", figures={plot: Figure(1, "坏图", "bars", svg, None)})
    emitted = pdf.emit(doc, project / "build", ctx)
    assert emitted.paths == (project / "build" / "t.pdf",)
    assert [(str(d.loc), d.severity) for d in emitted.diagnostics] == [(f"{path}:9", "warning")]
    assert "broken.svg" in emitted.diagnostics[0].message


def test_weasyprint_runs_in_the_layout_workers_only(project):
    """The build's own process never imports WeasyPrint (the workers do, while it parses and checks)."""
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n答案 $x^2$，见 [问题](#a.q)。\n")
    code = ("import sys; from generator import cli; rc = cli.main(['build', '--only', 'pdf', '-q']); "
            "print(rc, 'weasyprint' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.stdout.split() == ["0", "False"], proc.stderr[-2000:]
    assert len(PdfReader(next((project / "build").glob("*.pdf"))).pages) >= 3


def test_slots_are_as_wide_as_the_largest_page_number():
    """A part's layout must not depend on the numbers other parts give it: every slot holds as many
    zeros as the guide's page count has digits, and keeps the alignment the template asks for."""
    text = ('<span class="pno" data-target="a.q"></span> <span class="pno" data-target="b&amp;c" '
            'data-align="right"></span><span class="pno" data-target="idx" data-align="left"></span>')
    filled, slots = pdf.fill_slots(text, 3)
    assert filled.count(">000</span>") == 3 and 'id="pno-3"' in filled
    assert slots == [("a.q", "center"), ("b&c", "right"), ("idx", "left")]
    assert pdf.fill_slots(text, 2)[1] == slots  # the digit count alone changes the layout's input


def test_formulas_are_text_in_katex_fonts_on_their_line(guide):
    """MathJax formulas are drawn by the join (emit/pdfmath.py): selectable glyphs in the KaTeX fonts,
    on the baseline of the sentence around them."""
    _, target = guide
    with pdfplumber.open(target) as doc:
        page = next(p for p in doc.pages if "线性变换的复合" in (p.extract_text() or ""))
        chars = page.chars
    words = [c for c in chars if c["text"] in "线性变换"]
    math = [c for c in chars if "KaTeX_Math" in c["fontname"]]
    assert {"W", "x", "σ"} <= {c["text"] for c in math}
    w = next(c for c in math if c["text"] == "W")
    assert any(abs(c["bottom"] - w["bottom"]) < 2.5 for c in words)  # inline: on the sentence's line
    assert "σ(x)" in page.extract_text().replace(" ", "")


def test_each_katex_font_is_embedded_once(guide):
    _, target = guide
    reader = PdfReader(target)
    files: dict[str, set] = {}
    for page in reader.pages:
        fonts = page["/Resources"].get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            name = str(font["/BaseFont"]).split("+", 1)[-1]
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            stream = descriptor.raw_get("/FontFile2") if "/FontFile2" in descriptor else descriptor.raw_get("/FontFile3")
            files.setdefault(name, set()).add(stream.idnum)
    katex = {name: ids for name, ids in files.items() if name.startswith("KaTeX")}
    assert {"KaTeX_Main-Regular", "KaTeX_Math-Italic"} <= set(katex)
    assert all(len(ids) == 1 for ids in files.values()), files


def test_formula_that_cannot_be_flattened_stays_an_image(project):
    """A formula the join cannot draw (colour, clipped delimiter pieces) keeps WeasyPrint's SVG image."""
    from generator import mathsvg
    from generator.model import Formula
    from generator.location import SourceLocation

    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 -750 1000 1000"><g fill="red" stroke="red">'
           '<text font-family="KaTeX_Main" font-weight="normal" font-style="normal" font-size="1000">x</text></g></svg>')

    class Svgs:
        def get(self, tex, display):
            return mathsvg.Svg(svg, 1.0, 1.0, -0.25, mathsvg.flatten(svg))
    filler = pdf._GuideFiller(None, BuildContext(deck_name="t"), {}, Svgs())
    out = filler.formula(Formula(r"\color{red}{x}", False, SourceLocation(project, 1)))
    assert out.startswith('<img class="math-svg"') and not filler.flats
    flat_svg = svg.replace(' fill="red" stroke="red"', "")

    class Flat:
        def get(self, tex, display):
            return mathsvg.Svg(flat_svg, 1.0, 1.0, -0.25, mathsvg.flatten(flat_svg))
    filler = pdf._GuideFiller(None, BuildContext(deck_name="t"), {}, Flat())
    out = filler.formula(Formula("x", False, SourceLocation(project, 1)))
    assert out.startswith('<span class="math-svg" data-f="') and list(filler.flats.values()) == [Flat().get("x", 0).flat]


def test_every_contents_entry_gets_a_dotted_leader(guide):
    """The join draws the contents' leaders (one row of dots per entry, chapters, questions and index),
    as strokes a viewer draws at once."""
    _, target = guide
    reader = PdfReader(target)
    page = next(p for p in reader.pages if "目录" in p.extract_text())
    data = page.get_contents().get_data().decode("latin-1")
    block = data[data.index("0.541 G"):]
    block = block[:block.index("S Q")]
    rows = {y for x, y in re.findall(r"([\d.]+) ([\d.]+) m \1 \2 l", block)}
    assert len(rows) == len(CHAPTERS) + len(QUESTIONS) + 1


def test_subsets_started_early_are_cut_again_when_the_overlays_add_glyphs(tmp_path):
    from fontTools.ttLib import TTFont

    from generator import mathsvg

    source = mathsvg.KATEX_FONTS / "KaTeX_Main-Regular.ttf"
    folder = tmp_path / "fonts"
    folder.mkdir()
    digest = "d" * 32
    shutil.copyfile(source, folder / digest)
    layout = pdf._Layout(pdf._PartCache(tmp_path / "parts"), [tmp_path], folder, quiet=True)
    try:
        started = layout.start_subsets(folder, {digest: (0, {10, 11})})
        final = {digest: (0, {10, 11, 12})}
        subset = layout.subsets(folder, final, started)[digest]
        again = layout.subsets(folder, final)[digest]  # from disk now
    finally:
        layout.close()
    (kept,) = folder.glob(f"{digest}.*.subset")
    assert kept == pdf._Layout._subset_path(folder, digest, {10, 11, 12}) and kept.read_bytes() == subset == again
    font = TTFont(kept)
    order = font.getGlyphOrder()
    assert all(font["glyf"][order[g]].numberOfContours != 0 for g in (10, 11, 12))  # glyph ids kept


def test_a_build_that_stopped_before_its_pdf_leaves_no_workers_to_the_next(project):
    """In the watcher, a build with errors never reaches the PDF: the next build's begin() stops the
    layout workers the failed one started instead of leaving them running."""
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n答案 $x$。\n")
    doc = parse_corpus(project / "content", Diagnostics())
    out = project / "build"
    pdf.begin(doc, out)
    first = pdf._BEGUN[out.resolve()][1]
    first.submit(int).result(timeout=60)
    processes = list(first._processes.values())
    pdf.begin(doc, out)
    try:
        assert all(not p.is_alive() for p in processes)
        assert pdf._BEGUN[out.resolve()][1] is not first
    finally:
        pdf._abandon(out.resolve())
    assert out.resolve() not in pdf._BEGUN
