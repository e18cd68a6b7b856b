"""Content model → printable PDF study guide.

The guide is HTML (``templates/guide.html.j2``) styled for paged media (``templates/guide.css``):
cover, table of contents, one chapter per ``#`` heading with numbered questions, and an index of
``[term]{.term}`` spans. Formulas are MathJax SVG (:mod:`..mathsvg`), or KaTeX HTML where MathJax
cannot serve; WeasyPrint runs no JavaScript. This module builds the HTML of each part and
stitches the result; :mod:`.pdflayout` lays the parts out in worker processes (WeasyPrint is
imported there only, so a build's own process never pays for it).
"""
from __future__ import annotations

import base64
import hashlib
import html
import atexit
import json
import multiprocessing
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from .. import highlight, mathrender, mathsvg, templating, workers
from . import pdfmath
from ..context import BuildContext, Emitted, write_atomic
from ..location import Diagnostic, GeneratorError, SourceLocation
from ..mathrender import Katex
from ..model import CheckBlock, Document, Formula, Fragment, Image, Link, Note, PlotBlock, Term, fill, fragments
from ..plaintext import plain_label
from ..resources import TEMPLATES_DIR, katex_dir, matplotlib_fonts, template

TEMPLATE = "guide.html.j2"
STYLESHEET = "guide.css"
PAGE_SIZES = {"A4": "A4", "Letter": "letter"}
SUBTITLE = "学习指南 · 问题、解答与推导"


def allowed_roots(doc: Document, out: Path) -> list[Path]:
    # a build reads figures where the draw stage left them, OUT/.cache/figures (see outdir.py)
    roots = [doc.root, out / "figures", out / ".cache" / "figures", katex_dir() / "fonts", TEMPLATES_DIR]
    return roots + [folder for folder in (matplotlib_fonts(),) if folder is not None]


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


_TAG_RE = re.compile(r"<[^>]+>")


class _GuideFiller:
    """Fills fragments for print: KaTeX, figures, check boxes, images, index anchors."""

    def __init__(self, doc: Document, ctx: BuildContext, numbers: dict[str, str], svg=None,
                 katex: Katex | None = None, code=None):
        self.doc, self.ctx, self.numbers, self.svg = doc, ctx, numbers, svg
        self.katex = katex or Katex()
        self.code = code or highlight.code
        self.diags: list[Diagnostic] = []
        self.terms: dict[str, _Term] = {}
        self._term_ids = 0
        self._bad: set[Formula] = set()
        self.flats: dict[str, dict] = {}
        """Placeholder key → the formula's flat drawing, for :mod:`.pdfmath`."""

    # -- placeholders
    def formula(self, f: Formula, *, mark: bool = True) -> str:
        found = self.svg.get(f.tex, f.display) if self.svg is not None else None
        try:
            if found is not None and found.flat is not None:
                key = pdfmath.formula_key(f.tex, f.display)
                self.flats[key] = found.flat
                out = _svg_box(key, found)
            elif found is not None:
                out = _svg_img(f.tex, found)
            else:
                out = self.katex.render(f.tex, f.display)
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
        drawn = _figure_file(fig)
        if drawn is None:
            return ""
        caption = self.katex.label(fig.caption, mathml=False)
        return (f'<div class="plot"><figure class="figure" id="fig-{fig.number}">'
                f'<img src="{drawn.resolve().as_uri()}" alt="{html.escape(fig.alt)}"><figcaption>'
                f'<span class="fig-num">图 {fig.number}</span>{caption}</figcaption></figure></div>\n')

    def check(self, c: CheckBlock) -> str:
        statuses = [self.ctx.formula(f) for f in c.lines]
        verified = bool(statuses) and all(s is not None and s.status == "verified" for s in statuses)
        label = "✓ 已由 sympy 验证" if verified else "验算"
        rows = "".join(f'<li>{self.formula(Formula(f.tex, False, f.loc), mark=False)}</li>' for f in c.lines)
        return (f'<div class="check"><aside class="check-box{" verified" if verified else ""}"><span class="check-label">'
                f'{label}</span><ul>{rows}</ul></aside></div>\n')

    def image(self, img: Image) -> str:
        return f'<img class="content-img" src="{img.path.resolve().as_uri()}" alt="{html.escape(img.alt)}">'

    # -- whole fragments
    def fragment(self, frag: Fragment | None, anchor: str = "") -> str:
        if frag is None or not frag:
            return ""
        def term(t: Term, inner: str) -> str:
            self._term_ids += 1
            term_id = f"term-{self._term_ids}"
            entry = self.terms.setdefault(t.label, _Term(t.label))
            if all(where != anchor for _, where in entry.refs):
                entry.refs.append((term_id, anchor))
            return f'<span class="term" id="{term_id}">{inner}</span>'

        return fill(frag, formula=self.formula, plot=self.plot, check=self.check, image=self.image,
                    code=self.code, link=self.link, term=term)

    def link(self, link: Link, text: str) -> str:
        target = link.target
        num = self.numbers.get(target)
        data = f' data-num="{num}"' if num else ""
        where = f"{num}，" if num else ""
        attr = html.escape(target)
        return (f'<a class="xref" href="#{attr}"{data}>{text}<span class="xref-page">（{where}第 '
                f'<span class="pno" data-target="{attr}"></span> 页）</span></a>')

    def index(self) -> list[dict]:
        def key(t: _Term) -> tuple:
            # GB 18030 orders the common hanzi (GB 2312 level 1) by pinyin: a dictionary order
            # without a pinyin table. Latin terms come first.
            return (not t.label[:1].isascii(), t.label.lower().encode("gb18030", errors="replace"))
        return [{"label": t.label, "refs": [term_id for term_id, _ in t.refs]}
                for t in sorted(self.terms.values(), key=key)]


def _figure_file(fig) -> Path | None:
    """The print SVG (text as text), else the plain one."""
    if fig is None:
        return None
    return fig.text_svg or fig.svg


def _svg_img(tex: str, svg) -> str:
    """A MathJax formula as an image sized in em of the math font (see ``.math-svg`` in guide.css)."""
    data = base64.b64encode(svg.svg.encode()).decode()
    return (f'<img class="math-svg" alt="{html.escape(tex)}" style="width: {svg.width:.3f}em; '
            f'height: {svg.height:.3f}em; vertical-align: {svg.valign:.3f}em" src="data:image/svg+xml;base64,{data}">')


def _svg_box(key: str, svg) -> str:
    """A formula as an empty box of its size, which :mod:`.pdfmath` fills once WeasyPrint has placed it."""
    return (f'<span class="{pdfmath.PLACEHOLDER_CLASS}" data-f="{key}" style="width: {svg.width:.3f}em; '
            f'height: {svg.height:.3f}em; vertical-align: {svg.valign:.3f}em"></span>')


def formulas_of(doc: Document) -> list[tuple[str, bool]]:
    """Every formula the guide prints, as (TeX, display)."""
    out = []
    for chap in doc.chapters:
        frags = [chap.intro] + [f for note in chap.notes for f in fragments(note)]
        for frag in frags:
            if frag is None:
                continue
            out += [(f.tex, f.display) for f in frag.formulas]
            out += [(f.tex, False) for c in frag.checks for f in c.lines]
    return out


def _keep_together(note: Note) -> bool:
    """Short answers are not split across pages (long ones would leave half-empty pages)."""
    frags = [note.answer] + ([note.details] if note.details else [])
    lines = sum(len(f.text) for f in frags) / 45
    lines += sum(4 for f in frags for x in f.formulas if x.display)
    lines += sum(18 for f in frags for _ in f.plots)
    return lines < 16


def _label(note: Note) -> str:
    """Plain text of a question for bookmarks: math as readable text (PDF outlines cannot show markup)."""
    return plain_label(note.heading_text)


def view(doc: Document, ctx: BuildContext, built: date, svg=None,
         katex: Katex | None = None, code=None) -> tuple[dict, list[Diagnostic]]:
    """The template's data: everything already rendered to HTML strings."""
    chapters = list(doc.chapters)
    numbers: dict[str, str] = {}
    for ci, chap in enumerate(chapters, 1):
        for qi, note in enumerate(chap.notes, 1):
            numbers[note.id] = f"{ci}.{qi}"
    slugs_seen: set[str] = set()
    r = _GuideFiller(doc, ctx, numbers, svg, katex, code)
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
    statuses = [ctx.formula(f) for n in doc.notes for frag in fragments(n) for f in _formulas(frag)]
    verified = sum(1 for s in statuses if s is not None and s.status == "verified")
    data = {
        "title": ctx.deck_name,
        "subtitle": SUBTITLE,
        "built": built.isoformat(),
        "counts": {"chapters": len(chapters), "questions": len(numbers), "formulas": len(statuses),
                   "verified": verified, "checked": any(s is not None for s in statuses)},
        "chapters": out_chapters,
        "index": r.index(),
        "drawings": r.flats,
    }
    return data, r.diags


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


def render_html(doc: Document, ctx: BuildContext, built: date | None = None,
                katex: Katex | None = None) -> tuple[str, list[Diagnostic]]:
    data, diags = view(doc, ctx, built or build_date(), katex=katex)
    return templating.render(TEMPLATE, part=None, **data), diags


def stylesheets(paper: str) -> list[str]:
    """KaTeX (fonts as file URLs), the figures' fonts, Pygments classes, guide CSS and the page size."""
    # WeasyPrint decodes woff2 with fontTools on every build; the TrueType files load directly.
    katex = re.sub(r'url\(([^)]+)\.woff2\) format\("woff2"\)', r'url(\1.ttf) format("truetype")',
                   mathrender.css(embed_fonts=False))
    return [katex, figure_fonts(), highlight.css(scope=".highlight"), *page_stylesheets(paper)]


def page_stylesheets(paper: str) -> list[str]:
    """The guide's own CSS and the page size (all an overlay needs)."""
    return [template(STYLESHEET).read_text(encoding="utf-8"), f"@page {{ size: {PAGE_SIZES.get(paper, 'A4')}; }}\n"]


def figure_fonts() -> str:
    """DejaVu Sans from matplotlib's own files, the very font it measured the figures' text with."""
    folder = matplotlib_fonts()
    if folder is None:
        return ""
    faces = [("DejaVuSans", "normal", "normal"), ("DejaVuSans-Bold", "bold", "normal"),
             ("DejaVuSans-Oblique", "normal", "oblique"), ("DejaVuSans-BoldOblique", "bold", "oblique")]
    return "".join(f'@font-face {{ font-family: "DejaVu Sans"; font-weight: {weight}; font-style: {style}; '
                   f'src: url("{(folder / f"{name}.ttf").as_uri()}") format("truetype"); }}\n'
                   for name, weight, style in faces)


# ---------------------------------------------------------------- parts
#
# The guide is laid out in parts (front matter, one per chapter, index), each its own WeasyPrint
# document, in parallel worker processes and cached on disk by what it prints. Page numbers that
# refer to other pages (contents, cross-references, index) are empty "slots" in the parts, each as
# wide as the guide's largest page number, so no part's layout depends on another's. Once every
# part's page count is known, a light overlay document per part prints the slots' numbers and the
# "n / N" footer at the recorded places, and pdfjoin stitches the pages, overlays, outline, links
# and one subset of each font into the PDF. An edit lays out its own chapter alone.

PARTS_VERSION = "5"   # bump when the layout code changes what a cached part holds
FRONT_LABEL = "cover and contents"
WORKER_TIMEOUT = 900  # seconds for one part, whatever the machine's load
_FONT_FACE_RE = re.compile(r"@font-face\s*\{[^}]*\}")
_SLOT_RE = re.compile(r'<span class="pno" data-target="([^"]*)"(?: data-align="(left|right|center)")?></span>')
_DRAWN_RE = re.compile(f'<span class="{pdfmath.PLACEHOLDER_CLASS}" data-f="([0-9a-f]+)"')
_FILE_RE = re.compile(r'(?:src|url)\(?="?(file://[^")]+)')


@dataclass
class _PartJob:
    name: str
    label: str
    html: str = ""  # template output with empty slots


def guess_total(parts: list[str]) -> int:
    """The guide's page count as estimated from the parts' HTML before any layout (the first part is
    the contents, denser than the chapters). Only its digit count matters: a wrong one costs a
    second layout."""
    return sum(int(_weight(text, 1500 if i == 0 else 1100)) + 1 for i, text in enumerate(parts))


def _weight(html_text: str, per_page: int) -> float:
    """Pages a piece of a part takes, roughly: its text, and display formulas (about 0.15 page each)."""
    return len(_TAG_RE.sub("", html_text)) / per_page + 0.15 * html_text.count('class="math-display"')


def fill_slots(text: str, digits: int) -> tuple[str, list[tuple[str, str]]]:
    """Give every slot an id and ``digits`` zeros: room for the widest page number of the guide.

    Every slot is as wide as the widest number, whatever number it will show (LaTeX gives contents
    page numbers a fixed box too), so a part's layout never depends on other parts' page numbers:
    a part is laid out once, and again only when the guide's page count gains a digit. The overlay
    prints the real number inside the box, aligned as the slot asks (``data-align``, default centre).
    Returns the text and every slot's (target, alignment).
    """
    slots: list[tuple[str, str]] = []

    def sub(m: re.Match[str]) -> str:
        slots.append((html.unescape(m.group(1)), m.group(2) or "center"))
        return f'<span class="pno" id="pno-{len(slots)}">{"0" * digits}</span>'
    return _SLOT_RE.sub(sub, text), slots


def _part_css(title: str) -> str:
    """What a part adds to the guide's CSS: no footer (the overlay prints it), the title literal."""
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    return (f'@page {{ @bottom-center {{ content: none; }} @top-right {{ content: "{quoted}"; }} }}\n'
            "@page cover { @top-right { content: none; } }\n"
            "@page chapter-start { @top-right { content: none; } }\n"
            ".pno { visibility: hidden; }\n")


def _overlay_css() -> str:
    """Added to the guide's CSS (same pages and margins): the footer, and the slots' numbers."""
    return ('@page { @top-left { content: none; } @top-right { content: none; }\n'
            '  @bottom-center { content: string(folio); } }\n'
            "@page cover { background: none; @bottom-center { content: none; } }\n"
            "body { margin: 0; }\n"
            "section.ov { break-before: page; position: relative; height: 0; string-set: folio attr(data-folio); }\n"
            "section.ov:first-child { break-before: auto; }\n"
            "section.ov.cover { page: cover; }\n"
            ".slot { position: absolute; white-space: nowrap; }\n")


def _overlay_html(meta: dict, first: int, total: int, pages: dict[str, int], slots: list[tuple[str, str]]) -> str:
    """One page per page of the part: its footer and the numbers of its slots."""
    by_page: dict[int, list[str]] = {}
    for sid, slot in meta["slots"].items():
        target, align = slots[int(sid.removeprefix("pno-")) - 1]
        family = ", ".join(f"'{f}'" for f in slot["family"])
        by_page.setdefault(slot["page"], []).append(
            f'<div class="slot" style="left: {slot["left"]:.3f}px; top: {slot["top"]:.3f}px; '
            f'width: {slot["width"]:.3f}px; text-align: {align}; '
            f'height: {slot["height"]:.3f}px; line-height: {slot["height"]:.3f}px; font-family: {family}; '
            f'font-size: {slot["size"]:.3f}px; font-weight: {slot["weight"]}; color: {slot["color"]};">'
            f'{pages.get(target, "?")}</div>')
    sections = []
    for i in range(meta["pages"]):
        cover = meta["cover"][i]
        sections.append(f'<section class="ov{" cover" if cover else ""}" data-folio="{first + i} / {total}">'
                        + "".join(by_page.get(i, [])) + "</section>")
    return ('<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>'
            + "".join(sections) + "</body></html>")


# -- parent side


class _PartCache:
    """Laid-out parts on disk, ``<key>.pdf`` + ``<key>.json``; what a build did not use is removed."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def key(self, html_text: str, sheets: list[str], base: str, drawings: dict | None = None) -> str:
        h = hashlib.sha256(PARTS_VERSION.encode())
        for s in (base, *sheets, html_text):
            h.update(s.encode() + b"\0")
        if drawings:  # the part's formula operators are made with its layout
            h.update(json.dumps(drawings, sort_keys=True).encode() + pdfmath.fonts_version().encode())
        for url in sorted(set(_FILE_RE.findall(html_text))):
            try:  # images: a file may change under the same name
                st = Path(url2pathname(unquote(urlsplit(url).path))).stat()
                h.update(f"{url}:{st.st_size}:{st.st_mtime_ns}".encode())
            except OSError:
                h.update(url.encode())
        return h.hexdigest()[:40]

    def get(self, key: str) -> dict | None:
        try:
            meta = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if (self.folder / f"{key}.pdf").is_file() else None

    def put(self, key: str, meta: dict) -> None:
        write_atomic(self.folder / f"{key}.json", lambda tmp: tmp.write_text(json.dumps(meta), encoding="utf-8"))

    def pdf(self, key: str) -> Path:
        return self.folder / f"{key}.pdf"

    def prune(self, keep: set[str]) -> None:
        """Remove every part but ``keep`` (the final layout of each part)."""
        for p in self.folder.iterdir():
            if p.suffix in (".pdf", ".json") and p.stem not in keep:
                p.unlink(missing_ok=True)


def start_pool() -> ProcessPoolExecutor:
    """The layout workers: forked, deaf to Ctrl-C, killed with their parent, and warmed up as they
    start (WeasyPrint imported and its fonts loaded there, never in the parent)."""
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers.cpu_count(), 8)),
                               mp_context=multiprocessing.get_context("fork"), initializer=_worker_start)
    pool.submit(int)  # a forked pool starts all its workers at the first job
    return pool


def _worker_start() -> None:
    workers._worker_setup()
    from . import pdflayout
    try:
        pdflayout.warm_up()
    except Exception:  # a real job will meet the problem and report it
        pass


def _layout_part(job: dict) -> dict:
    from . import pdflayout
    return pdflayout.layout_part(job)


def _font_subset(font_file: str, index: int, gids: list[int], target: str) -> bytes:
    from . import pdflayout
    return pdflayout.font_subset(Path(font_file), index, set(gids), Path(target))


class _Layout:
    """Runs part layouts in a pool of worker processes (one per core, at most two jobs at once per core)."""

    def __init__(self, cache: _PartCache, roots: list[Path], fonts: Path, quiet: bool, pool=None):
        self.cache, self.roots, self.fonts, self.quiet = cache, [str(r) for r in roots], fonts, quiet
        self.pool = pool
        self.laid_out = 0
        self.errors: list[str] = []

    def run(self, jobs: list[tuple], verbose: bool = True) -> dict[str, dict]:
        """jobs: (key, label, html, sheets, base, formula drawings or None); returns key → meta, laying out
        only what is not cached."""
        results: dict[str, dict] = {}
        todo = []
        for key, label, text, sheets, base, drawings in jobs:
            meta = self.cache.get(key)
            if meta is not None:
                results[key] = meta
            elif key not in (k for k, *_ in todo):
                todo.append((key, label, {"html": text, "sheets": sheets, "base": base, "roots": self.roots,
                                          "fonts": str(self.fonts), "pdf": str(self.cache.pdf(key)),
                                          "drawings": drawings or {}}))
        if not todo:
            return results
        if self.pool is None:
            self.pool = start_pool()
        # longest first, so that the pool ends together; the contents first of all (short HTML for
        # its cost: hundreds of entries, each a title and a positioned page number)
        todo.sort(key=lambda item: (item[1] != FRONT_LABEL, -len(item[2]["html"])))
        futures = {self.pool.submit(_layout_part, job): (key, label) for key, label, job in todo}
        try:
            for future in as_completed(futures, timeout=WORKER_TIMEOUT * len(futures)):
                key, label = futures[future]
                meta = future.result()
                self._done(key, label, meta, results, verbose)
        except Exception as e:  # a worker that crashed, ran out of time or hit a WeasyPrint bug
            workers._stop(self.pool)
            self.pool = None
            raise GeneratorError(f"PDF layout failed: {type(e).__name__}: {e}") from None
        except BaseException:  # Ctrl-C: the workers ignore it; stop them before the build ends
            workers._stop(self.pool)
            self.pool = None
            raise
        return results

    def _done(self, key: str, label: str, meta: dict, results: dict, verbose: bool) -> None:
        self.cache.put(key, meta)
        results[key] = meta
        self.errors.extend(meta["errors"])
        if verbose:
            self.laid_out += meta["pages"]
            if not self.quiet:
                print(f"    pdf: laid out {label}: {meta['pages']} pages ({self.laid_out} pages laid out so far)",
                      file=sys.stderr, flush=True)

    @staticmethod
    def _subset_path(folder: Path, digest: str, gids: set[int]) -> Path:
        key = hashlib.sha256(",".join(map(str, sorted(gids))).encode()).hexdigest()[:16]
        return folder / f"{digest}.{key}.subset"

    def start_subsets(self, folder: Path, fonts: dict[str, tuple[int, set[int]]]) -> dict:
        """Start cutting the subsets that are not on disk yet (the overlays, laid out meanwhile, seldom
        add a glyph); :meth:`subsets` collects them."""
        started = {}
        for digest, (index, gids) in fonts.items():
            path = self._subset_path(folder, digest, gids)
            if not path.is_file():
                self.pool = self.pool or start_pool()
                started[digest] = (path, self.pool.submit(_font_subset, str(folder / digest), index, sorted(gids),
                                                          str(path)))
        return started

    def subsets(self, folder: Path, fonts: dict[str, tuple[int, set[int]]], started: dict | None = None) -> dict[str, bytes]:
        """One subset of each font file (``folder/<digest>``) with the glyphs the parts use; cached
        on disk by the glyph set, made by a worker when new."""
        started = dict(started or {})
        found: dict[str, bytes] = {}
        todo = {}
        for digest, (index, gids) in fonts.items():
            path = self._subset_path(folder, digest, gids)
            early = started.get(digest)
            if early is not None and early[0] == path:
                todo[digest] = early
                del started[digest]
            elif path.is_file():
                found[digest] = path.read_bytes()
            else:
                self.pool = self.pool or start_pool()
                todo[digest] = (path, self.pool.submit(_font_subset, str(folder / digest), index, sorted(gids),
                                                       str(path)))
        for path, future in started.values():  # cut for fewer glyphs than the guide ended up using
            future.result(timeout=WORKER_TIMEOUT)
            path.unlink(missing_ok=True)
        for digest, (path, future) in todo.items():
            found[digest] = future.result(timeout=WORKER_TIMEOUT)
            for old in folder.glob(f"{digest}.*.subset"):
                if old != path:
                    old.unlink(missing_ok=True)
        return found

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _fonts_used(metas: list[dict], fonts: dict[str, tuple[int, set[int]]], font_of: dict[str, str]) -> None:
    """Add the glyphs each laid-out part used of each font file (by digest) to ``fonts``."""
    for meta in metas:
        for fhash, (digest, index, gids) in meta["fonts"].items():
            font_of[fhash] = digest
            fonts.setdefault(digest, (index, set()))[1].update(gids)


def _math_fonts(metas: list[dict], folder: Path, fonts: dict[str, tuple[int, set[int]]]) -> list:
    """The KaTeX fonts the parts' formulas use, each added to the fonts the join subsets (by the same
    digest WeasyPrint's own uses of the file get, so both share one subset)."""
    used: dict[str, dict[int, str]] = {}
    for meta in metas:
        for file, glyphs in meta["glyphs"].items():
            used.setdefault(file, {}).update((int(gid), ch) for gid, ch in glyphs.items())
    out = []
    for file in sorted(used):
        font = pdfmath.MathFont(file, mathsvg.font_info(file), used[file])
        data = font.info.path.read_bytes()
        digest = pdfmath.font_id(data, 0)
        if not (folder / digest).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / digest, lambda tmp: tmp.write_bytes(data))
        fonts.setdefault(digest, (0, set()))[1].update(font.glyphs)
        out.append((digest, font))
    return out


def resource_locations(doc: Document, ctx: BuildContext) -> dict[str, SourceLocation]:
    """file URL → where the content asks for it, so WeasyPrint's complaints point at a line."""
    where: dict[str, SourceLocation] = {}
    frags = [f for c in doc.chapters for f in (c.intro, *(g for n in c.notes for g in fragments(n)))]
    for frag in frags:
        for img in frag.images:
            where.setdefault(img.path.resolve().as_uri(), img.loc)
        for p in frag.plots:
            fig = ctx.figure(p)
            drawn = _figure_file(fig)
            if drawn is not None:
                where.setdefault(drawn.resolve().as_uri(), p.loc)
    return where


def _located(message: str, where: dict[str, SourceLocation]) -> Diagnostic:
    """A WeasyPrint error as a warning at the content line that asked for the resource."""
    for url, loc in where.items():
        if url in message:
            return Diagnostic(loc, "warning", f"PDF: {message}")
    return Diagnostic(SourceLocation(template(STYLESHEET), 1), "warning", f"PDF: {message}")


_BEGUN: dict[Path, tuple] = {}


def begin(doc: Document, out: Path) -> None:
    """Start what the guide needs of the content alone while the build checks and draws: MathJax
    for new formulas (Node, on its own) and the layout workers (importing WeasyPrint, loading fonts)."""
    key = out.resolve()
    if key in _BEGUN:  # the last build (in the watcher) ended before its PDF: its workers go first
        _abandon(key)
    else:
        atexit.register(_abandon, key)
    svg = mathsvg.Renderer(out / ".cache" / "mathsvg.json")
    if svg.available() is None:
        svg.start(formulas_of(doc), background=True)
    _BEGUN[key] = (svg, start_pool())


def _abandon(out: Path) -> None:
    """A build that stopped before the PDF (an error, Ctrl-C) stops the workers it started (at exit,
    or at the next build's start in the watcher)."""
    begun = _BEGUN.pop(out, None)
    if begun is not None:
        workers._stop(begun[1])


def emit(doc: Document, out: Path, ctx: BuildContext) -> Emitted:
    quiet = ctx.quiet
    svg, pool = _BEGUN.pop(out.resolve(), (None, None))
    svg = svg or mathsvg.Renderer(out / ".cache" / "mathsvg.json")
    why_not = svg.available()
    if why_not is None:
        try:
            svg.prepare(formulas_of(doc))
        except RuntimeError as e:  # Node failed or ran out of time: the guide still gets its formulas
            why_not = str(e)
    if why_not is not None:
        print(f"warning: formulas typeset with KaTeX HTML (slower to lay out): {why_not}", file=sys.stderr)
        svg = None
    katex = Katex(mathrender.cache_for(out / ".cache" / "katex-pdf.json"))
    code = highlight.Highlighter(out / ".cache" / "highlight-pdf.json")
    data, diags = view(doc, ctx, build_date(), svg, katex, code.code)
    katex.save()
    code.save()
    parts = [_PartJob("front", FRONT_LABEL)]
    parts += [_PartJob(ch.anchor, f"chapter {ch.number} {ch.title}") for ch in data["chapters"]]
    if data["index"]:
        parts.append(_PartJob("index", "index"))
    for part in parts:
        part.html = templating.render(TEMPLATE, part=part.name, **data)

    cache_dir = out / ".cache" / "pdf"
    state_path = cache_dir / "pages.json"
    try:  # the page count of the last build, else a guess from the amount of text
        total = int(json.loads(state_path.read_text(encoding="utf-8"))["total"])
    except (OSError, ValueError, KeyError, TypeError):
        total = guess_total([part.html for part in parts])

    base = doc.root.resolve().as_uri() + "/"
    sheets = stylesheets(ctx.paper) + [_part_css(data["title"])]
    # KaTeX's rules (some hundreds of selectors, matched against every element) only where KaTeX
    # HTML is printed; its fonts everywhere (the MathJax SVGs' glyphs are text in them)
    lean = ["".join(_FONT_FACE_RE.findall(sheets[0]))] + sheets[1:]
    layout = _Layout(_PartCache(cache_dir / "parts"), allowed_roots(doc, out), cache_dir / "fonts", quiet, pool)
    try:
        for _ in range(3):  # a page count that gains or loses a digit needs another layout
            digits = len(str(total))
            filled = [fill_slots(part.html, digits) for part in parts]
            part_sheets = [sheets if 'class="katex' in text else lean for text, _ in filled]
            drawings = [{k: data["drawings"][k] for k in _DRAWN_RE.findall(text)} for text, _ in filled]
            keys = [layout.cache.key(text, ss, base, d) for (text, _), ss, d in zip(filled, part_sheets, drawings)]
            metas = layout.run([(key, part.label, text, ss, base, d)
                                for key, part, (text, _), ss, d in zip(keys, parts, filled, part_sheets, drawings)])
            pages, firsts, first = {}, [], 1  # anchor → page; each part's first page
            for key in keys:
                firsts.append(first)
                meta = metas[key]
                for name, (page, _, _) in meta["anchors"].items():
                    pages.setdefault(name, first + page)
                first += meta["pages"]
            total = first - 1
            if len(str(total)) == digits:
                break
        used = {target for _, slots in filled for target, _ in slots}
        missing = used - set(pages)
        # overlays: numbers and footers, once the numbers are known
        overlay_sheets = page_stylesheets(ctx.paper) + [_overlay_css()]
        overlay_html = [_overlay_html(metas[key], first_page, total, pages, slots)
                        for key, first_page, (_, slots) in zip(keys, firsts, filled)]
        overlay_keys = [layout.cache.key(text, overlay_sheets, base) for text in overlay_html]
        fonts: dict[str, tuple[int, set[int]]] = {}
        font_of: dict[str, str] = {}
        _fonts_used([metas[key] for key in keys], fonts, font_of)
        math_fonts = _math_fonts([metas[key] for key in keys], cache_dir / "fonts", fonts)
        started = layout.start_subsets(cache_dir / "fonts", fonts)
        overlays = layout.run([(key, f"page numbers of {part.label}", text, overlay_sheets, base, None)
                               for key, part, text in zip(overlay_keys, parts, overlay_html)], verbose=False)
        _fonts_used([overlays[key] for key in overlay_keys], fonts, font_of)
        subsets = layout.subsets(cache_dir / "fonts", fonts, started)
    finally:
        layout.close()

    link_at = {link.target: link.loc for c in doc.chapters
               for f in (c.intro, *(g for n in c.notes for g in fragments(n))) for link in f.links}
    for name in sorted(missing):
        diags.append(Diagnostic(link_at.get(name, SourceLocation(doc.root, 1)), "warning",
                                f"PDF: link to #{name}, which is not in the guide"))

    from . import pdfjoin
    target = out / f"{ctx.output_name}.pdf"
    pieces = [pdfjoin.Piece(layout.cache.pdf(k), layout.cache.pdf(ok), metas[k]["anchors"], metas[k]["bookmarks"],
                            [d.encode("ascii") if d else None for d in metas[k]["drawn"]])
              for k, ok in zip(keys, overlay_keys)]
    write_atomic(target, lambda tmp: pdfjoin.join(pieces, tmp, font_of, subsets, math_fonts))
    layout.cache.prune(set(keys) | set(overlay_keys))
    if svg is not None:
        svg.save()
    write_atomic(state_path, lambda tmp: tmp.write_text(json.dumps({"total": total}), encoding="utf-8"))
    full = templating.render(TEMPLATE, part=None, **data)
    full = _SLOT_RE.sub(lambda m: f'<span class="pno">{pages.get(html.unescape(m.group(1)), "")}</span>', full)
    write_atomic(cache_dir / f"{ctx.output_name}.html", lambda tmp: tmp.write_text(full, encoding="utf-8"))
    where = resource_locations(doc, ctx)
    diags += [_located(message, where) for message in layout.errors]
    return Emitted((target,), tuple(diags), summary=f"{total} pages")


