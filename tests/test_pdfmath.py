"""Formulas drawn straight into the PDF: MathJax SVG read into glyphs, rules and paths (mathsvg.flatten),
then written as PDF operators (emit/pdfmath)."""
from __future__ import annotations

import re

from generator import mathsvg
from generator.emit import pdfmath

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="3ex" height="2ex" '
       'viewBox="0 -750 2000 1000"><defs><path id="MJX-1-TEX-S1-221A" d="M0 0L100 0Q200 0 200 100T200 300Z"></path>'
       '<path id="MJX-1-TEX-N-2061" d=""></path></defs>'
       '<g stroke="currentColor" fill="currentColor" stroke-width="0" transform="scale(1,-1)">'
       '<g data-mml-node="math"><g data-mml-node="mi" transform="translate(500,0)">'
       '<text font-family="KaTeX_Math" font-weight="normal" font-style="italic" font-size="1000" '
       'transform="scale(1,-1)">x</text></g>'
       '<use data-c="2061" xlink:href="#MJX-1-TEX-N-2061"></use>'
       '<rect width="800" height="60" x="100" y="220"></rect>'
       '<use data-c="221A" xlink:href="#MJX-1-TEX-S1-221A" transform="translate(1000,0) scale(0.5)"></use>'
       '</g></g></svg>')


def test_flatten_reads_glyphs_rules_and_paths_in_viewbox_units():
    flat = mathsvg.flatten(SVG)
    assert flat["box"] == [0.0, -750.0, 2000.0, 1000.0]
    glyph, rule, path = flat["ops"]  # the invisible U+2061 draws nothing
    # the em square of x (y up) lands at x = 500 on the baseline, 1000 units a side, y down
    assert glyph == ["t", "Math-Italic", "x", 1000.0, 0.0, 0.0, -1000.0, 500.0, 0.0]
    assert rule == ["r", 100.0, -280.0, 900.0, -220.0]  # flipped by the outer scale(1,-1)
    assert path == ["p", "M0 0L100 0Q200 0 200 100T200 300Z", 0.5, 0.0, 0.0, -0.5, 1000.0, 0.0]


def test_flatten_refuses_what_it_cannot_draw():
    assert mathsvg.flatten(SVG.replace('fill="currentColor"', 'fill="red"')) is None  # \color
    assert mathsvg.flatten(SVG.replace("scale(0.5)", "rotate(30)")) is None
    nested = SVG.replace("<rect ", '<svg x="0" y="0" width="10" height="10" viewBox="0 0 10 10"></svg><rect ')
    assert mathsvg.flatten(nested) is None  # a clipped piece of a stretched delimiter
    assert mathsvg.flatten(SVG.replace('d="M0 0L100', 'd="M0 0C1 1 2 2 3 3L100')) is None
    assert mathsvg.flatten("<svg><g>") is None


def test_quadratic_curves_become_cubic_ones():
    ops = pdfmath._path("M0 0L90 0Q180 0 180 90T180 270Z")
    # T reflects the last control point (180, 0) about (180, 90): (180, 180)
    assert ops == "0 0 m 90 0 l 150 0 180 30 180 90 c 180 150 180 210 180 270 c h"


def test_page_operators_place_glyphs_rules_and_paths_in_the_box():
    flat = mathsvg.flatten(SVG)
    drawing = pdfmath.Drawing({"k": flat})
    # a box 20 pt wide and 10 pt high whose top-left corner is at (100, 700): 0.01 pt per unit
    ops = drawing.page([[100.0, 700.0, 20.0, 10.0, "k"]]).decode()
    font = drawing.fonts["Math-Italic"]
    gid = font.info.cmap[ord("x")]
    assert f"/DLMMath-Italic 1 Tf\n10 0 0 10 105 692.5 Tm <{gid:04X}> Tj" in ops  # 10 pt glyphs on the baseline
    assert "101 694.7 8 0.6 re f" in ops
    assert "q 0.005 0 0 0.005 110 692.5 cm 0 0 m" in ops
    assert ops.startswith("q 0 g\nBT\n") and ops.endswith("Q\n")
    assert font.glyphs == {gid: "x"}
    assert drawing.page([[0, 0, 1, 1, "gone"]]) is None and drawing.missing == {"gone"}


def test_font_widths_and_unicode_map_cover_the_glyphs_drawn():
    font = pdfmath.MathFont("Main-Regular", mathsvg.font_info("Main-Regular"))
    for ch in "()+1=":
        font.glyphs[font.info.cmap[ord(ch)]] = ch
    w = font.widths()
    gids = sorted(font.glyphs)
    flat = [g for i in range(0, len(w), 2) for g in range(w[i], w[i] + len(w[i + 1]))]
    assert flat == gids  # runs of consecutive glyph ids
    assert all(isinstance(x, int) and x > 0 for i in range(1, len(w), 2) for x in w[i])
    cmap = font.to_unicode().decode()
    pairs = dict(re.findall(r"^<([0-9A-F]{4})> <([0-9A-F]+)>$", cmap.split("endcodespacerange")[1], re.M))
    assert {int(g, 16): chr(int(u, 16)) for g, u in pairs.items()} == font.glyphs


def test_numbers_are_plain_pdf_numbers():
    assert [pdfmath._n(v) for v in (1e-9, -0.0001, 12.5, 3.0, -2.25)] == ["0", "0", "12.5", "3", "-2.25"]


def test_leader_dots_sit_on_one_grid_between_title_and_number():
    ops = pdfmath.leaders([[10.0, 30.0, 100.0, 0.0], [20.5, 30.0, 90.0, 0.0]]).decode()
    rows: dict[str, list[float]] = {}
    for x, y in re.findall(r"([\d.]+) ([\d.]+) m \1 \2 l", ops):
        rows.setdefault(y, []).append(float(x))
    step = pdfmath.LEADER_STEP
    assert rows["100"] == [round(step / 2 + k * step, 3) for k in range(3, 9)]  # 11.9 … 28.9
    assert rows["90"] == rows["100"][3:]  # the same columns, from past the longer title on
    assert ops.startswith("q 0.541 G 0.84 w 1 J") and ops.endswith("S Q\n")
    assert pdfmath.leaders([[29.0, 30.0, 5.0, 0.0]]) is None  # no room: no dots
