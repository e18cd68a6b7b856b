"""Content model → one self-contained HTML cheat sheet (``build/<deck>.html``).

Everything is inline: CSS, JS, figures (SVG), images (data URIs) and the KaTeX fonts
the formulas actually use, so the file works from ``file://``, from any static host and
offline, and makes no network request. Formulas are rendered at build time (KaTeX
``htmlAndMathml``: the HTML for the eye, the MathML for screen readers); the page's
script only adds search, reveal/hide-all and the theme toggle, so without JS the page
is still complete.
"""
from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from .. import highlight, mathrender
from ..context import BuildContext, Figure, write_atomic
from ..model import Chapter, CheckBlock, Document, Formula, Fragment, Image, Note, PlotBlock, fill
from ..templating import markup, render, template_path

TEMPLATE = "cheatsheet.html.j2"
# Chapter hues, in order; neighbours differ enough to tell chapters apart at a glance.
HUES = (212, 150, 12, 275, 32, 188, 330, 100, 240, 0, 165, 300, 48, 200, 350, 125, 260, 70)
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml", ".webp": "image/webp"}
VERIFIED_TITLE = "checked by sympy"

_CLOZE_RE = re.compile(r"\{\{c(\d+)::(.*?)(?:::([^{}]*?))?\}\}", re.S)
_CLASS_RE = re.compile(r'class="([^"]*)"')
_LINK_RE = re.compile(r'<a href="#([^"]+)"')
# SVG coordinates rounded to 1/100 when a figure is inlined (not transforms: they hold small scales)
_GEOMETRY_RE = re.compile(r'(\s(?:d|points|x|y|x1|x2|y1|y2|width|height|viewBox)=")([^"]*)"')
_DECIMALS_RE = re.compile(r"(\d\.\d{2})\d+")
_DEFS_RE = re.compile(r"<defs>.*?</defs>", re.S)
_DEF_PATH_RE = re.compile(r'<path(\s[^>]*?)?\sid="([^"]+)"([^>]*?)\s*/>')


# --- formulas ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _katex(tex: str, display: bool) -> tuple[str, frozenset[str]] | None:
    """KaTeX markup and the CSS classes it uses, or None if KaTeX cannot parse ``tex``."""
    try:
        out = mathrender.render(tex, display, mathml=True)
    except ValueError:
        return None
    return out, frozenset(c for m in _CLASS_RE.finditer(out) for c in m.group(1).split())


_FONT_FACE_RE = re.compile(r"@font-face\{([^}]*)\}")
_RULE_RE = re.compile(r"([^{}@]+)\{([^{}]*)\}")


def _face_key(decls: str) -> tuple[str, str, str] | None:
    family = re.search(r"font-family:\s*(KaTeX_\w+)", decls)
    if not family:
        return None
    weight = re.search(r"font-weight:\s*(\w+)", decls)
    style = re.search(r"font-style:\s*(\w+)", decls)
    w = weight.group(1) if weight else "400"
    return family.group(1), "700" if w in ("700", "bold") else "400", style.group(1) if style else "normal"


def used_font_faces(css: str, classes: set[str]) -> set[tuple[str, str, str]]:
    """The (family, weight, style) KaTeX faces that markup with these classes can use.

    A rule counts when every class of one of its selectors occurs in the markup. Weight and
    style a rule leaves unset are inherited: normal, or what a family-less rule (``.textbf``)
    sets. The browser test compares this with the faces Chromium actually loads.
    """
    faces: set[tuple[str, str, str]] = set()
    rules = []
    for m in _RULE_RE.finditer(_FONT_FACE_RE.sub("", css)):
        selectors = [set(re.findall(r"\.([\w-]+)", s)) for s in m.group(1).split(",")]
        if any(sel and sel <= classes for sel in selectors):
            rules.append(m.group(2))
    weights, styles = {"400"}, {"normal"}
    for decls in rules:
        if "KaTeX_" not in decls:
            if re.search(r"font-weight:\s*(700|bold)", decls):
                weights.add("700")
            if "font-style:italic" in decls.replace(" ", ""):
                styles.add("italic")
    for decls in rules:
        family = re.search(r"font(?:-family)?:[^;]*?(KaTeX_\w+)", decls)
        if not family:
            continue
        w = re.search(r"font-weight:\s*(\w+)", decls)
        s = re.search(r"font-style:\s*(\w+)", decls)
        for weight in ({"700" if w.group(1) in ("700", "bold") else "400"} if w else weights):
            for style in ({s.group(1)} if s else styles):
                faces.add((family.group(1), weight, style))
    return faces


def katex_css(classes: set[str], all_fonts: bool = False) -> str:
    """katex.min.css with only the @font-face rules the markup needs, fonts inlined as woff2."""
    css = mathrender.css(embed_fonts=False)
    keep = used_font_faces(css, classes) if classes else set()

    def face(m: re.Match[str]) -> str:
        if not all_fonts and _face_key(m.group(1)) not in keep:
            return ""
        url = re.search(r"url\((file:[^)]+)\)", m.group(1))
        data = base64.b64encode(Path(unquote(urlparse(url.group(1)).path)).read_bytes()).decode()
        return "@font-face{" + m.group(1).replace(url.group(0), f"url(data:font/woff2;base64,{data})") + "}"

    return _FONT_FACE_RE.sub(face, css)


# --- figures and images -------------------------------------------------------------------

def inline_svg(svg: str, prefix: str, label: str, shared: dict[str, str] | None = None) -> str:
    """An SVG file as markup for inlining: no prolog or metadata, ids prefixed, scalable.

    With ``shared``, paths defined in ``<defs>`` (matplotlib's glyph outlines and markers,
    the bulk of every figure) move into it, keyed by their attributes, so each distinct
    glyph is stored once per page; see :func:`shared_defs`.
    """
    out, moved = _inline_svg(svg, prefix, label, shared is not None)
    if shared is not None:
        shared.update(moved)
    return out


@lru_cache(maxsize=1024)
def _inline_svg(svg: str, prefix: str, label: str, use_shared: bool) -> tuple[str, tuple[tuple[str, str], ...]]:
    """inline_svg's work, remembered: a long-running process (the watcher) redoes only changed figures.

    A shared path's id depends on its attributes alone, so the result does not depend on what
    other figures put in ``shared`` before.
    """
    svg = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->|<metadata>.*?</metadata>|<style[^>]*>.*?</style>",
                 "", svg, flags=re.S)
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'(href=")#([^"]+)"', lambda m: f'{m.group(1)}#{prefix}{m.group(2)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)

    def root(m: re.Match[str]) -> str:
        attrs = re.sub(r'\s(width|height)="[^"]*"', "", m.group(1))
        return f'<svg{attrs} role="img" aria-label="{html.escape(label)}">'

    svg = re.sub(r"<svg\b([^>]*)>", root, svg, count=1)
    svg = _GEOMETRY_RE.sub(lambda m: m.group(1) + " ".join(_DECIMALS_RE.sub(r"\1", m.group(2)).split()) + '"', svg)
    shared: dict[str, str] = {}
    if use_shared:
        moved: dict[str, str] = {}

        def share(m: re.Match[str]) -> str:
            attrs = (m.group(1) or "") + m.group(3)
            new_id = shared.setdefault(attrs, "g" + hashlib.sha1(attrs.encode()).hexdigest()[:10])
            moved[m.group(2)] = new_id
            return ""

        svg = _DEFS_RE.sub(lambda d: _DEF_PATH_RE.sub(share, d.group(0)), svg)
        svg = re.sub(r'(href="#)([^"]+)"', lambda m: f'{m.group(1)}{moved.get(m.group(2), m.group(2))}"', svg)
        svg = re.sub(r"<defs>\s*</defs>", "", svg)
    return re.sub(r">\s+<", ">\n<", svg.strip()), tuple(shared.items())


def shared_defs(shared: dict[str, str]) -> str:
    """The hidden SVG that holds the paths figures share (empty if there are none)."""
    if not shared:
        return ""
    paths = "\n".join(f'<path id="{pid}"{attrs}/>' for attrs, pid in sorted(shared.items(), key=lambda kv: kv[1]))
    return f'<svg class="shared-defs" aria-hidden="true" width="0" height="0">\n<defs>\n{paths}\n</defs>\n</svg>'


def data_uri(path: Path) -> str:
    mime = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


# --- fragments ------------------------------------------------------------------------------

def strip_cloze(text: str) -> str:
    """``{{c1::answer::hint}}`` → ``<mark class="cloze">answer</mark>``."""
    return _CLOZE_RE.sub(lambda m: f'<mark class="cloze" title="c{m.group(1)}">{m.group(2)}</mark>', text)


@dataclass
class _Renderer:
    """Fills fragments for the page and remembers what the page then needs."""

    ctx: BuildContext
    chapter_anchors: dict[str, str] = field(default_factory=dict)
    """``[text](#slug)`` links to a chapter → the chapter's anchor on this page."""
    classes: set[str] = field(default_factory=set)
    formulas: int = 0
    verified: int = 0
    figures: int = 0
    shared: dict[str, str] = field(default_factory=dict)
    """Figure paths stored once per page: attributes → id."""

    def formula(self, f: Formula) -> str:
        self.formulas += 1
        rendered = _katex(f.tex, f.display)
        if rendered is None:  # the parse stage reports it; show the source rather than nothing
            return f'<code class="tex-error" title="KaTeX cannot render this">{html.escape(f.tex)}</code>'
        out, classes = rendered
        self.classes |= classes
        status = self.ctx.formula(f)
        if status is not None and status.status == "verified":
            self.verified += 1
            out += f'<span class="ok" title="{VERIFIED_TITLE}" role="img" aria-label="{VERIFIED_TITLE}">✓</span>'
        return f'<span class="eq">{out}</span>' if f.display else out

    def check(self, block: CheckBlock) -> str:
        lines = [self.formula(line) for line in block.lines]
        statuses = [self.ctx.formula(line) for line in block.lines]
        if lines and all(s is not None and s.status == "verified" for s in statuses):
            head = f'<p class="check-head" title="{VERIFIED_TITLE}">✓ 已验算 · verified</p>'
        else:
            head = '<p class="check-head">验算 · check</p>'
        return head + "".join(f"\n<div>{line}</div>" for line in lines)

    def plot(self, p: PlotBlock) -> str:
        fig: Figure | None = self.ctx.figure(p)
        if fig is None or (fig.svg is None and fig.png is None):
            return ""
        self.figures += 1
        label = fig.alt or fig.caption or f"图 {fig.number}"
        if fig.svg is not None:
            body = inline_svg(fig.svg.read_text(encoding="utf-8"), f"f{fig.number}-", label, self.shared)
        else:
            body = f'<img src="{data_uri(fig.png)}" alt="{html.escape(label)}">'
        text = mathrender.label(fig.caption, mathml=True)
        caption = f"图 {fig.number}" + (f"：{text}" if text else "")
        return f'<figure id="fig-{fig.number}">{body}\n<figcaption>{caption}</figcaption></figure>'

    def image(self, img: Image) -> str:
        return f'<img src="{data_uri(img.path)}" alt="{html.escape(img.alt)}">'

    def fragment(self, frag: Fragment | None, cloze: bool = False) -> str:
        if frag is None or not frag:
            return markup("")
        if cloze:
            frag = replace(frag, html=strip_cloze(frag.html))
        out = fill(frag, formula=self.formula, plot=self.plot, check=self.check, image=self.image)
        out = out.replace('<div class="plot"></div>\n', "")
        out = out.replace("<table>", '<div class="tbl"><table>').replace("</table>", "</table></div>")
        if self.chapter_anchors:
            out = _LINK_RE.sub(lambda m: f'<a href="#{self.chapter_anchors.get(unquote(m.group(1)), m.group(1))}"',
                               out)
        return markup(out.strip())


# --- the page -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CardView:
    id: str
    question: str
    answer: str
    details: str
    cloze: bool


@dataclass(frozen=True)
class ChapterView:
    id: str
    number: int
    title: str
    hue: int
    intro: str
    cards: tuple[CardView, ...]


def _card(r: _Renderer, note: Note) -> CardView:
    return CardView(note.id, r.fragment(note.question), r.fragment(note.answer, cloze=note.cloze),
                    r.fragment(note.details, cloze=note.cloze), note.cloze)


def _anchors(chapters: list[Chapter]) -> list[str]:
    anchors: list[str] = []
    for ch in chapters:
        anchor = f"ch-{ch.slug}"
        while anchor in anchors:
            anchor += "-"
        anchors.append(anchor)
    return anchors


def _chapters(r: _Renderer, chapters: list[Chapter]) -> list[ChapterView]:
    anchors = _anchors(chapters)
    note_ids = {n.id for ch in chapters for n in ch.notes}
    for ch, anchor in zip(chapters, anchors):  # a card id wins over a chapter title, as in the link check
        if ch.slug not in note_ids:
            r.chapter_anchors.setdefault(ch.slug, anchor)
    return [ChapterView(anchor, i + 1, ch.title, HUES[i % len(HUES)], r.fragment(ch.intro),
                        tuple(_card(r, n) for n in ch.notes))
            for i, (ch, anchor) in enumerate(zip(chapters, anchors))]


def render_page(doc: Document, ctx: BuildContext, all_fonts: bool = False) -> str:
    """The whole cheat sheet as one string. ``all_fonts`` embeds every KaTeX font (for tests)."""
    r = _Renderer(ctx)
    chapters = _chapters(r, list(doc.chapters))
    css = "\n".join([
        katex_css(r.classes, all_fonts=all_fonts),
        highlight.css(scope=".highlight"),
        highlight.css(dark=True, scope=":root[data-theme=dark] .highlight"),
        "@media screen and (prefers-color-scheme: dark) {\n"
        + highlight.css(dark=True, scope=":root:not([data-theme=light]) .highlight") + "\n}",
        template_path("cheatsheet.css").read_text(encoding="utf-8"),
    ])
    cards = sum(len(c.cards) for c in chapters)
    return render(
        TEMPLATE,
        title=ctx.deck_name, chapters=chapters, cards=cards, formulas=r.formulas, verified=r.verified,
        figures=r.figures, katex_version=mathrender.KATEX_VERSION, shared_defs=markup(shared_defs(r.shared)),
        css=markup(css), js=markup(template_path("cheatsheet.js").read_text(encoding="utf-8")))


def emit(doc: Document, out: Path, ctx: BuildContext) -> list[Path]:
    page = render_page(doc, ctx)
    target = out / f"{ctx.output_name}.html"
    write_atomic(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    ctx.report(html_bytes=len(page.encode("utf-8")))
    return [target]

