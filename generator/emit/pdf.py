"""Content model → printable PDF study guide (the only module that imports weasyprint).

The guide is one HTML document (``templates/guide.html.j2``) styled for paged media
(``templates/guide.css``): cover, table of contents, one chapter per ``#`` heading with
numbered questions, and an index of ``[term]{.term}`` spans. Formulas are KaTeX HTML
rendered at build time; WeasyPrint runs no JavaScript. WeasyPrint only reads files
through :class:`LocalFetcher`, which refuses the network and any file outside the
content folder, the drawn figures, the KaTeX fonts and the templates.
"""
from __future__ import annotations

import html
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from .. import highlight, mathrender, templating
from ..context import BuildContext, write_atomic
from ..location import Diagnostic
from ..model import CheckBlock, Document, Formula, Fragment, Image, Note, PlotBlock, fill

TEMPLATE = "guide.html.j2"
STYLESHEET = "guide.css"
PAGE_SIZES = {"A4": "A4", "Letter": "letter"}
SUBTITLE = "学习指南 · 问题、解答与推导"


# ---------------------------------------------------------------- safety


class LocalFetcher(URLFetcher):
    """A URL fetcher that reads ``data:`` URIs and files under an allow-list of folders.

    Everything else (http, https, ftp, files elsewhere, symlinks leading out) is refused
    with a ValueError, which WeasyPrint turns into a logged error and a missing resource.
    """

    def __init__(self, roots: list[Path]):
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False, timeout=1)
        self.roots = tuple(r.resolve() for r in roots)
        self.refused: list[str] = []

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return True
        if scheme != "file" or parts.netloc not in ("", "localhost"):
            return False
        path = Path(url2pathname(unquote(parts.path))).resolve()
        return any(path.is_relative_to(root) for root in self.roots)

    def fetch(self, url, headers=None):
        if not self.allows(url):
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url}: only files in the content folder and the build's assets")
        return super().fetch(url, headers)


def allowed_roots(doc: Document, out: Path) -> list[Path]:
    # a build reads figures where the draw stage left them, OUT/.cache/figures (see outdir.py)
    return [doc.root, out / "figures", out / ".cache" / "figures", mathrender.DIST / "fonts",
            templating.TEMPLATES_DIR]


# ---------------------------------------------------------------- view model


@dataclass
class _Question:
    number: str
    id: str
    title: str
    label: str
    answer: str
    details: str
    cloze: bool
    keep_together: bool


@dataclass
class _Chapter:
    number: int
    anchor: str
    slug_anchor: str | None
    title: str
    label: str
    intro: str
    questions: list[_Question]


@dataclass
class _Term:
    label: str
    refs: list[tuple[str, str]] = field(default_factory=list)
    """(span id, question or chapter anchor): one reference per question."""


_CLOZE_RE = re.compile(r"\{\{c\d+::(.*?)\}\}", re.S)
_PRE_RE = re.compile(r"(<pre\b.*?</pre>)", re.S)
_TERM_RE = re.compile(r'<span class="term">(.*?)</span>', re.S)
_LINK_RE = re.compile(r'<a href="#([^"]+)">')
_TAG_RE = re.compile(r"<[^>]+>")


def _outside_pre(text: str, fn) -> str:
    """Apply ``fn`` to the parts of ``text`` that are not inside ``<pre>`` blocks."""
    return "".join(part if i % 2 else fn(part) for i, part in enumerate(_PRE_RE.split(text)))


def strip_clozes(text: str) -> str:
    """``{{c1::text::hint}}`` → ``<mark class="cloze">text</mark>`` (the hint is dropped)."""
    def sub(m: re.Match[str]) -> str:
        body = m.group(1)
        if "::" in body:
            body = body.rsplit("::", 1)[0]
        return f'<mark class="cloze">{body}</mark>'
    return _outside_pre(text, lambda part: _CLOZE_RE.sub(sub, part))


def _plain(text: str) -> str:
    return html.unescape(_TAG_RE.sub("", text)).strip()


class _Renderer:
    """Fills fragments for print: KaTeX, figures, check boxes, images, index anchors."""

    def __init__(self, doc: Document, ctx: BuildContext, numbers: dict[str, str]):
        self.doc, self.ctx, self.numbers = doc, ctx, numbers
        self.diags: list[Diagnostic] = []
        self.terms: dict[str, _Term] = {}
        self._term_ids = 0
        self._bad: set[Formula] = set()

    # -- placeholders
    def formula(self, f: Formula, *, mark: bool = True) -> str:
        try:
            out = mathrender.render(f.tex, f.display)
        except ValueError as e:
            if f not in self._bad:
                self._bad.add(f)
                self.diags.append(Diagnostic(f.loc, "warning", f"KaTeX cannot render this formula, printed as TeX: {e}"))
            return f'<code class="math-error" title="KaTeX error">{html.escape(f.tex)}</code>'
        status = self.ctx.formula(f)
        if mark and f.display and status is not None and status.status == "verified":
            return f'<span class="verified-mark" title="sympy">✓</span>{out}'
        return out

    def plot(self, p: PlotBlock) -> str:
        fig = self.ctx.figure(p)
        if fig is None or fig.svg is None:
            return ""
        caption = mathrender.label(fig.caption, mathml=False)
        return (f'<figure class="figure" id="fig-{fig.number}"><img src="{fig.svg.resolve().as_uri()}" '
                f'alt="{html.escape(fig.alt)}"><figcaption><span class="fig-num">图 {fig.number}</span>'
                f'{caption}</figcaption></figure>')

    def check(self, c: CheckBlock) -> str:
        statuses = [self.ctx.formula(f) for f in c.lines]
        verified = bool(statuses) and all(s is not None and s.status == "verified" for s in statuses)
        label = "✓ 已由 sympy 验证" if verified else "验算"
        rows = "".join(f'<li>{self.formula(Formula(f.tex, False, f.loc), mark=False)}</li>' for f in c.lines)
        return (f'<aside class="check-box{" verified" if verified else ""}"><span class="check-label">{label}'
                f'</span><ul>{rows}</ul></aside>')

    def image(self, img: Image) -> str:
        return f'<img class="content-img" src="{img.path.resolve().as_uri()}" alt="{html.escape(img.alt)}">'

    # -- whole fragments
    def fragment(self, frag: Fragment | None, anchor: str = "") -> str:
        if frag is None or not frag:
            return ""
        text = strip_clozes(frag.html)
        text = _TERM_RE.sub(lambda m: self._term(m.group(1), frag, anchor), text)
        text = _LINK_RE.sub(self._link, text)
        out = fill(Fragment(text, frag.formulas, frag.plots, frag.checks, frag.images), formula=self.formula,
                   plot=self.plot, check=self.check, image=self.image)
        return out.replace('<div class="plot"></div>\n', "")

    def _term(self, inner: str, frag: Fragment, anchor: str) -> str:
        filled = fill(Fragment(inner, frag.formulas, frag.plots, frag.checks, frag.images),
                      formula=lambda f: f.tex, plot=lambda p: "", check=lambda c: "", image=lambda i: "")
        label = _plain(filled)
        self._term_ids += 1
        term_id = f"term-{self._term_ids}"
        entry = self.terms.setdefault(label, _Term(label))
        if all(where != anchor for _, where in entry.refs):
            entry.refs.append((term_id, anchor))
        return f'<span class="term" id="{term_id}">{inner}</span>'

    def _link(self, m: re.Match[str]) -> str:
        target = unquote(m.group(1))  # markdown-it percent-encodes '#基础'; the anchors are as written
        num = self.numbers.get(target)
        data = f' data-num="{num}"' if num else ""
        return f'<a class="xref" href="#{html.escape(target)}"{data}>'

    def index(self) -> list[dict]:
        def key(t: _Term) -> tuple:
            # GB 18030 orders the common hanzi (GB 2312 level 1) by pinyin: a dictionary order
            # without a pinyin table. Latin terms come first.
            return (not t.label[:1].isascii(), t.label.lower().encode("gb18030", errors="replace"))
        return [{"label": t.label, "refs": [term_id for term_id, _ in t.refs]}
                for t in sorted(self.terms.values(), key=key)]


def _keep_together(note: Note) -> bool:
    """Short answers are not split across pages (long ones would leave half-empty pages)."""
    frags = [note.answer] + ([note.details] if note.details else [])
    lines = sum(len(f.text) for f in frags) / 45
    lines += sum(4 for f in frags for x in f.formulas if x.display)
    lines += sum(18 for f in frags for _ in f.plots)
    return lines < 16


_TEX_TEXT = {"sqrt": "√", "times": "×", "cdot": "·", "le": "≤", "ge": "≥", "ne": "≠", "approx": "≈",
             "infty": "∞", "to": "→", "sum": "∑", "alpha": "α", "beta": "β", "gamma": "γ", "epsilon": "ε",
             "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "sigma": "σ", "ell": "ℓ", "nabla": "∇"}


def _label(note: Note) -> str:
    """Plain text of a question for bookmarks: math as readable text (PDF outlines cannot show markup)."""
    def math(m: re.Match[str]) -> str:
        tex = re.sub(r"\\([A-Za-z]+)\s*", lambda c: _TEX_TEXT.get(c.group(1), c.group(1)), m.group(1))
        return tex.replace("{", "").replace("}", "")
    return re.sub(r"(?<!\\)\$+([^$]*)\$+", math, note.heading_text).replace("\\$", "$").strip()


def view(doc: Document, ctx: BuildContext, built: date) -> tuple[dict, list[Diagnostic]]:
    """The template's data: everything already rendered to HTML strings."""
    chapters = list(doc.chapters)
    numbers: dict[str, str] = {}
    for ci, chap in enumerate(chapters, 1):
        for qi, note in enumerate(chap.notes, 1):
            numbers[note.id] = f"{ci}.{qi}"
    slugs_seen: set[str] = set()
    r = _Renderer(doc, ctx, numbers)
    out_chapters = []
    for ci, chap in enumerate(chapters, 1):
        anchor = f"chapter-{ci}"
        slug_anchor = chap.slug if chap.slug not in slugs_seen and chap.slug not in numbers else None
        slugs_seen.add(chap.slug)
        questions = []
        for qi, note in enumerate(chap.notes, 1):
            questions.append(_Question(
                number=numbers[note.id], id=note.id,
                title=templating.markup(r.fragment(note.question, note.id)), label=_label(note),
                answer=templating.markup(r.fragment(note.answer, note.id)),
                details=templating.markup(r.fragment(note.details, note.id)),
                cloze=note.cloze, keep_together=_keep_together(note)))
        out_chapters.append(_Chapter(ci, anchor, slug_anchor, chap.title, f"第 {ci} 章　{chap.title}",
                                     templating.markup(r.fragment(chap.intro, anchor)), questions))
    statuses = [ctx.formula(f) for n in doc.notes for frag in _all_fragments(n) for f in _formulas(frag)]
    verified = sum(1 for s in statuses if s is not None and s.status == "verified")
    data = {
        "title": ctx.deck_name,
        "subtitle": SUBTITLE,
        "built": built.isoformat(),
        "counts": {"chapters": len(chapters), "questions": len(numbers), "formulas": len(statuses),
                   "verified": verified, "checked": any(s is not None for s in statuses)},
        "chapters": out_chapters,
        "index": r.index(),
    }
    return data, r.diags


def _all_fragments(note: Note):
    yield note.question
    yield note.answer
    if note.details is not None:
        yield note.details


def _formulas(frag: Fragment):
    yield from frag.formulas
    for c in frag.checks:
        yield from c.lines


def build_date() -> date:
    """Today, or SOURCE_DATE_EPOCH for reproducible builds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc).date()
    return date.today()


def render_html(doc: Document, ctx: BuildContext, built: date | None = None) -> tuple[str, list[Diagnostic]]:
    data, diags = view(doc, ctx, built or build_date())
    return templating.render(TEMPLATE, **data), diags


def stylesheets(paper: str) -> list[str]:
    """Guide CSS, Pygments classes, KaTeX (fonts as file URLs) and the page size."""
    size = PAGE_SIZES.get(paper, "A4")
    # WeasyPrint decodes woff2 with fontTools on every build; the TrueType files load directly.
    katex = re.sub(r'url\(([^)]+)\.woff2\) format\("woff2"\)', r'url(\1.ttf) format("truetype")',
                   mathrender.css(embed_fonts=False))
    return [katex, highlight.css(scope=".highlight"),
            templating.template_path(STYLESHEET).read_text(encoding="utf-8"),
            f"@page {{ size: {size}; }}\n"]


class _Collect(logging.Handler):
    """WeasyPrint's errors (unreachable resources) during one render."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write_pdf(html_text: str, target: Path, base: Path, fetcher: LocalFetcher, paper: str) -> tuple[int, list[str]]:
    """Lay out and write the PDF; returns the page count and WeasyPrint's error messages."""
    fonts = FontConfiguration()
    sheets = [CSS(string=s, base_url=templating.TEMPLATES_DIR.as_uri() + "/", url_fetcher=fetcher,
                  font_config=fonts) for s in stylesheets(paper)]
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        document = HTML(string=html_text, base_url=base.resolve().as_uri() + "/", url_fetcher=fetcher).render(
            font_config=fonts, stylesheets=sheets)
        document.write_pdf(target)
    finally:
        logger.removeHandler(handler)
    return len(document.pages), handler.messages


def emit(doc: Document, out: Path, ctx: BuildContext) -> list[Path]:
    html_text, diags = render_html(doc, ctx)
    for d in diags:
        print(d, file=sys.stderr)
    debug = out / ".cache" / "pdf" / f"{ctx.output_name}.html"
    write_atomic(debug, lambda tmp: tmp.write_text(html_text, encoding="utf-8"))
    fetcher = LocalFetcher(allowed_roots(doc, out))
    target = out / f"{ctx.output_name}.pdf"
    result: dict = {}

    def write(tmp: Path) -> None:
        result["pages"], result["errors"] = write_pdf(html_text, tmp, doc.root, fetcher, ctx.paper)

    write_atomic(target, write)
    for message in result["errors"]:
        print(f"{target}: warning: {message}", file=sys.stderr)
    ctx.report(pdf_pages=result["pages"], pdf_math_errors=len(diags))
    return [target]

