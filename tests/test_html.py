"""The HTML cheat sheet: a golden file, and the page driven in a real browser (Debian's chromium).

Regenerate the golden file with `make golden` after an intended change, and review the diff.
Screenshots land in build/test-html/; look at them after a layout change.
"""
from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from generator.context import BuildContext, Figure, FormulaStatus
from generator.emit import html as cheatsheet
from generator.location import Diagnostics
from generator.parse import parse_corpus

from conftest import golden, write
from generator.mathrender import Katex

GOLDEN = Path(__file__).parent / "golden" / "html"
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "test-html"


def fixture_context(doc) -> BuildContext:
    """What verify and draw would hand over: check lines and display claims verified, one figure."""
    statuses, figures = {}, {}
    for note in doc.notes:
        for frag in (note.question, note.answer, note.details):
            if frag is None:
                continue
            for block in frag.checks:
                statuses.update({line: FormulaStatus("verified") for line in block.lines})
            for f in frag.formulas:
                if f.display:
                    statuses[f] = FormulaStatus("verified" if "ReLU" in f.tex else "definition")
            for plot in frag.plots:
                figures[plot] = Figure(len(figures) + 1, "两端饱和", "sigmoid 曲线", GOLDEN / "figure.svg", None)
    return BuildContext(deck_name="Golden", formulas=statuses, figures=figures)


def fixture_doc(tmp_path: Path):
    content = tmp_path / "content"
    shutil.copytree(GOLDEN / "content", content)
    diags = Diagnostics()
    doc = parse_corpus(content, diags)
    assert not diags.errors, [str(d) for d in diags.errors]
    return doc


def normalise(page: str) -> str:
    """Inlined fonts as short digests, so the golden file stays readable."""
    return re.sub(r"data:font/woff2;base64,([A-Za-z0-9+/=]+)",
                  lambda m: "data:font/woff2;sha256," + hashlib.sha256(m.group(1).encode()).hexdigest()[:16],
                  page)


# --- without a browser -------------------------------------------------------------------

def test_golden_html(tmp_path):
    doc = fixture_doc(tmp_path)
    got = normalise(cheatsheet.render_page(doc, fixture_context(doc)))
    assert got == golden(GOLDEN / "expected.html", got).read_text(encoding="utf-8")


def test_emit_writes_one_file_atomically(tmp_path):
    doc = fixture_doc(tmp_path)
    out = tmp_path / "build"
    written = cheatsheet.emit(doc, out, fixture_context(doc))
    assert written.paths == (out / "Golden.html",) and written.diagnostics == ()
    assert sorted(p.name for p in out.iterdir()) == [".cache", "Golden.html"]


def test_page_content(tmp_path):
    doc = fixture_doc(tmp_path)
    page = cheatsheet.render_page(doc, fixture_context(doc))
    assert '<html lang="zh-CN">' in page
    assert 'onclick' not in page and "alert(1)" not in page and "<script>alert" not in page
    assert re.search(r"https?://(?!www\.w3\.org/)", page) is None  # nothing to fetch (SVG namespaces aside)
    assert '<mark class="cloze" title="c2">' in page and "a number" not in page and "{{c" not in page
    assert page.count('title="checked by sympy" role="img"') == 4  # two check lines, one claim, the header
    assert "✓ 已验算 · verified" in page
    assert 'id="f1-p1"' in page and 'url(#f1-p1)' in page
    glyph = re.search(r'<use xlink:href="#(g[0-9a-f]{10})"/>', page).group(1)  # moved to the shared defs
    assert page.count(f'id="{glyph}"') == 1 and page.index(f'id="{glyph}"') < page.index("<main")
    assert "<style" not in page.split("<svg", 1)[1] and "240.12" in page and "240.123" not in page
    assert 'transform="translate(120.123456 60.25) scale(0.095 -0.095)"' in page  # scales keep their digits
    assert 'src="data:image/png;base64,' in page
    assert '<details class="more">' in page and "<math" in page and 'encoding="application/x-tex"' in page


def test_clozes_are_marked_with_their_number(tmp_path):
    write(tmp_path, "a.md", "# c\n\n## q {#a.q}\n\na {{c1::b}} c {{c2::d::hint}} `{{c3::code}}`\n")
    answer = next(parse_corpus(tmp_path, Diagnostics()).notes).answer
    assert str(cheatsheet._PageFiller(BuildContext(), Katex()).fragment(answer)) == (
        '<p>a <mark class="cloze" title="c1">b</mark> c <mark class="cloze" title="c2">d</mark> '
        '<code>{{c3::code}}</code></p>')


def test_font_subset_by_class():
    css = cheatsheet.mathrender.css(embed_fonts=False)
    faces = cheatsheet.used_font_faces(css, {"katex", "mathnormal", "mord"})
    assert faces == {("KaTeX_Main", "400", "normal"), ("KaTeX_Math", "400", "italic")}
    bold = cheatsheet.used_font_faces(css, {"katex", "boldsymbol", "delimsizing", "size1"})
    assert ("KaTeX_Math", "700", "italic") in bold and ("KaTeX_Size1", "400", "normal") in bold
    assert ("KaTeX_Main", "700", "normal") not in bold


# --- in Chromium ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sheet")
    doc = fixture_doc(tmp)
    return cheatsheet.emit(doc, tmp / "build", fixture_context(doc)).paths[0]


class Watched:
    """A page that records console messages and requests."""

    def __init__(self, browser, url: str, **options):
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.console, self.requests = [], []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)

    def problems(self) -> list[str]:
        foreign = [u for u in self.requests if not u.startswith(("file:", "data:"))]
        errors = [m for m in self.console if m.startswith(("error", "warning", "pageerror"))]
        return foreign + errors

    def close(self):
        self.context.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def opener(path: Path, **options) -> Watched:
        w = Watched(browser, path.as_uri(), **options)
        pages.append(w)
        return w

    yield opener
    for w in pages:
        w.close()


ALL_VISIBLE = ".chapter{content-visibility:visible!important}"

KATEX_BOXES = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  return [...document.querySelectorAll('.katex')].filter(k => {
    const r = k.getBoundingClientRect(); return !(r.width > 0 && r.height > 0);
  }).map(k => (k.querySelector('annotation') || k).textContent);
}"""

BROKEN_LINKS = """() => {
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i).map(id => 'duplicate id ' + id);
  const links = [...document.querySelectorAll('a[href^="#"]')].map(a => decodeURIComponent(a.getAttribute('href').slice(1)));
  const uses = [...document.querySelectorAll('use')].map(u => (u.getAttribute('href') || u.getAttribute('xlink:href')).slice(1));
  const urls = [...document.querySelectorAll('[clip-path]')].map(e => e.getAttribute('clip-path').match(/url\\(#(.*)\\)/)[1]);
  return dup.concat([...links, ...uses, ...urls].filter(id => id && !document.getElementById(id)));
}"""

VISIBLE_CARDS = "() => [...document.querySelectorAll('.card')].filter(c => c.offsetParent).map(c => c.id)"


def test_loads_clean_with_formulas_laid_out(sheet, open_page):
    w = open_page(sheet)
    w.page.add_style_tag(content=ALL_VISIBLE)
    assert w.page.evaluate(KATEX_BOXES) == []
    assert w.page.evaluate("document.querySelectorAll('.katex').length") >= 10
    assert w.page.evaluate(BROKEN_LINKS) == []
    assert w.page.evaluate("document.querySelector('figure svg').getBoundingClientRect().height") > 50
    assert w.problems() == []
    assert all(u.startswith(("file:", "data:")) for u in w.requests) and w.requests


def test_search_filters_as_you_type(sheet, open_page):
    w = open_page(sheet)
    page = w.page
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("relu")
    assert page.evaluate(VISIBLE_CARDS) == ["g.relu", "g.softmax"]  # question, and a link text
    page.fill("#q", "")
    page.keyboard.type("\\mathcal{b}")  # TeX source, case-insensitive
    assert page.evaluate(VISIBLE_CARDS) == ["g.bn"]
    assert page.is_hidden("#ch-代码_Code")
    assert "1 / 4" in page.text_content("#count")
    page.keyboard.type(" nothing-matches")
    assert page.evaluate(VISIBLE_CARDS) == []
    page.keyboard.press("Escape")
    assert len(page.evaluate(VISIBLE_CARDS)) == 4
    assert w.problems() == []


def test_quiz_reveal_and_hide(sheet, open_page):
    w = open_page(sheet)
    page = w.page
    opened = "() => [...document.querySelectorAll('details.qa')].map(d => d.open)"
    assert all(page.evaluate(opened))
    page.click("#hide-all")
    assert not any(page.evaluate(opened))
    assert page.is_hidden("#g\\.relu .answer")
    # keyboard: the question is a focusable summary that Enter toggles
    page.focus("#g\\.relu summary")
    page.keyboard.press("Enter")
    assert page.is_visible("#g\\.relu .answer")
    page.click("#reveal-all")
    assert all(page.evaluate(opened))
    # following a card link opens that card even in quiz mode, and clears a search hiding it
    page.click("#hide-all")
    page.fill("#q", "softmax")
    page.click("#g\\.softmax summary")
    page.click("#g\\.softmax a[href='#g.relu']")
    # the page's hashchange handler opens the card after the click returns: wait for it, briefly
    page.wait_for_selector("#g\\.relu .answer", state="visible", timeout=3000)
    assert page.is_visible("#g\\.relu .answer")
    assert page.evaluate("location.hash") == "#g.relu"
    assert w.problems() == []


CONTRAST = """() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  const out = {};
  for (const sel of ['body', '.meta', '.toc a', '.toc .num', '.chapter > h2', '.intro', '.qa h3', '.answer p',
                     '.answer a', 'mark.cloze', '.check-head', '.more > summary', 'figcaption', '#count', 'button',
                     '.ok', '.self']) {
    const el = document.querySelector(sel);
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    out[sel] = Math.round(100 * (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) / 100;
  }
  return out;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_theme_and_contrast(sheet, open_page, scheme):
    w = open_page(sheet, color_scheme=scheme)
    page = w.page
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    background = "getComputedStyle(document.body).backgroundColor"
    dark_bg = page.evaluate(background)
    assert (dark_bg == "rgb(20, 22, 26)") == (scheme == "dark")
    ratios = page.evaluate(CONTRAST)
    low = {k: v for k, v in ratios.items() if v < (3.0 if k in (".ok", ".self", ".toc .num") else 4.5)}
    assert low == {}, ratios
    # the toggle flips the theme, says so, and remembers it
    page.click("#theme")
    other = "light" if scheme == "dark" else "dark"
    assert page.evaluate("document.documentElement.dataset.theme") == other
    assert page.get_attribute("#theme", "aria-pressed") == ("true" if other == "dark" else "false")
    assert page.evaluate(background) != dark_bg
    assert not any(v < 3.0 for v in page.evaluate(CONTRAST).values())
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == other
    assert w.problems() == []


def test_without_javascript_everything_is_there(sheet, open_page):
    w = open_page(sheet, java_script_enabled=False)
    page = w.page
    assert page.is_hidden("#toolbar")
    assert page.locator(".card").count() == 4
    assert all(page.locator(".card .answer").nth(i).is_visible() for i in range(4))


def test_print_opens_every_answer(sheet, open_page):
    w = open_page(sheet)
    page = w.page
    page.click("#hide-all")
    page.emulate_media(media="print")
    assert page.is_hidden("#toolbar")
    assert all(page.locator(".card .answer").nth(i).is_visible() for i in range(4))
    assert page.is_hidden(".more")
    pdf = page.pdf(prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")


def test_narrow_screen_and_screenshots(sheet, open_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, name in ((1280, "fixture-1280"), (390, "fixture-390")):
        w = open_page(sheet, viewport={"width": width, "height": 900})
        assert w.page.evaluate("document.documentElement.scrollWidth") <= width
        w.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        assert w.problems() == []


# --- the shipped content -----------------------------------------------------------------

@pytest.fixture(scope="module")
def real_sheet(tmp_path_factory, shipped):
    doc, diags = shipped
    page = cheatsheet.emit(doc, tmp_path_factory.mktemp("real"), BuildContext(deck_name="content")).paths[0]
    unknown = {m.group(1) for d in diags.errors if (m := re.search(r"unknown card '#([^']+)'", d.message))}
    return page, unknown


@pytest.mark.slow
def test_real_content_in_browser(real_sheet, open_page):
    """Links, formula boxes, and the font subset: embed every KaTeX font on top, lay out every
    formula, and check that Chromium loads no face the page itself does not embed."""
    page_path, unknown = real_sheet
    SHOTS.mkdir(parents=True, exist_ok=True)
    w = open_page(page_path, viewport={"width": 1280, "height": 900})
    w.page.screenshot(path=str(SHOTS / "content-1280.png"))
    assert set(w.page.evaluate(BROKEN_LINKS)) <= unknown  # the parser already reports those
    w.page.add_style_tag(content=cheatsheet.katex_css(set(), all_fonts=True) + ALL_VISIBLE)
    assert w.page.evaluate(KATEX_BOXES) == []
    loaded = w.page.evaluate("""async () => { await document.fonts.ready;
      return [...document.fonts].filter(f => f.status === 'loaded')
        .map(f => [f.family, f.weight === 'bold' ? '700' : f.weight, f.style]); }""")
    embedded = {(f, w_, s) for f, s, w_ in re.findall(
        r"@font-face\{font-family:(KaTeX_\w+);font-style:(\w+);font-weight:(\d+)", page_path.read_text(encoding="utf-8"))}
    assert loaded and {tuple(x) for x in loaded} <= embedded
    assert w.problems() == []


@pytest.mark.slow
def test_real_content_narrow(real_sheet, open_page):
    page_path, _ = real_sheet
    w = open_page(page_path, viewport={"width": 390, "height": 844})
    w.page.screenshot(path=str(SHOTS / "content-390.png"))
    assert w.page.evaluate("document.documentElement.scrollWidth") <= 390
    assert w.problems() == []
