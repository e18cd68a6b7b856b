"""The content model: immutable data shared by every emitter.

Rendered Markdown is kept as HTML in which formulas, figures, check blocks, images
and code blocks stand as placeholders (``\\ue000`` kind index ``\\ue001``), and card links,
clozes, index terms and tables as pairs of placeholders around their rendered content
(the closing one has a ``/`` before the kind). Each emitter fills them in its own way
(MathJax delimiters and ``{{c1::…}}`` for Anki, KaTeX and ``<mark>`` for the PDF and
the cheat sheet, media names or data URIs for images, highlighted code) with :func:`fill`; no emitter
reads the HTML itself.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .location import SourceLocation

MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile("\ue000([FPCIK])(\\d+)\ue001")
_PAIR_RE = re.compile("\ue000([LZTB])(\\d+)\ue001(.*?)\ue000/\\1\\2\ue001", re.S)


def marker(kind: str, index: int) -> str:
    return f"{MARK_OPEN}{kind}{index}{MARK_CLOSE}"


def closer(kind: str, index: int) -> str:
    """The end of a paired placeholder (links, clozes, terms, tables)."""
    return f"{MARK_OPEN}/{kind}{index}{MARK_CLOSE}"


@dataclass(frozen=True, slots=True)
class Formula:
    tex: str
    """The TeX source between the delimiters, stripped."""
    display: bool
    loc: SourceLocation
    """Where the opening delimiter (or the check line) starts."""
    starts: tuple[tuple[int, int], ...] = ()
    """(line, column), 1-based, where each line of ``tex`` begins in the file; empty when unknown."""

    def at(self, offset: int) -> SourceLocation:
        """Where character ``offset`` of ``tex`` sits in the file (the formula's start if unknown)."""
        if not self.starts:
            return self.loc
        offset = max(0, min(offset, len(self.tex)))
        row = self.tex.count("\n", 0, offset)
        if row >= len(self.starts):
            return self.loc
        line, col = self.starts[row]
        return SourceLocation(self.loc.path, line, col + offset - (self.tex.rfind("\n", 0, offset) + 1))


@dataclass(frozen=True, slots=True)
class CheckBlock:
    """A fenced ``check`` block: one relation per line, each must verify."""

    lines: tuple[Formula, ...]
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class PlotBlock:
    """A fenced ``plot`` block; the YAML is interpreted by the diagrams stage."""

    source: str
    loc: SourceLocation
    """Location of the opening fence; YAML line n is at ``loc.line + n``."""


@dataclass(frozen=True, slots=True)
class Image:
    path: Path
    """Resolved file path inside the content folder."""
    alt: str
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class CodeBlock:
    lang: str
    code: str
    runnable: bool
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class Link:
    target: str
    """Card id the link points to (``#id`` without the hash)."""
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class Cloze:
    """``{{c1::text::hint}}``: the text is the fragment's content between the placeholders."""

    number: int
    hint: str
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class Term:
    """``[label]{.term}``: an entry of the PDF's index."""

    label: str
    """Plain text (math as its TeX), for sorting and the index."""
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class Table:
    loc: SourceLocation


@dataclass(frozen=True, slots=True)
class Fragment:
    """Rendered, sanitised HTML with placeholders, and what they stand for."""

    html: str
    formulas: tuple[Formula, ...] = ()
    plots: tuple[PlotBlock, ...] = ()
    checks: tuple[CheckBlock, ...] = ()
    images: tuple[Image, ...] = ()
    code: tuple[CodeBlock, ...] = ()
    links: tuple[Link, ...] = ()
    text: str = ""
    """Plain text (Markdown source) for search and previews."""
    clozes: tuple[Cloze, ...] = ()
    terms: tuple[Term, ...] = ()
    tables: tuple[Table, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.html.strip())


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    id_explicit: bool
    """False when the id was derived from the heading (``make ids`` writes it)."""
    question: Fragment
    answer: Fragment
    details: Fragment | None
    cloze: bool
    deck: str
    tags: tuple[str, ...]
    loc: SourceLocation
    heading_text: str
    """The heading as written, without the ``{#id}``."""


@dataclass(frozen=True, slots=True)
class Chapter:
    title: str
    intro: Fragment
    notes: tuple[Note, ...]
    loc: SourceLocation
    slug: str


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path
    deck: str
    tags: tuple[str, ...]
    title: str | None
    order: int | None
    chapters: tuple[Chapter, ...]


@dataclass(frozen=True, slots=True)
class Document:
    files: tuple[SourceFile, ...]
    root: Path
    """The content folder."""

    @property
    def chapters(self) -> Iterator[Chapter]:
        for f in self.files:
            yield from f.chapters

    @property
    def notes(self) -> Iterator[Note]:
        for c in self.chapters:
            yield from c.notes


def fragments(note: Note) -> Iterator[Fragment]:
    yield note.question
    yield note.answer
    if note.details is not None:
        yield note.details


def link_html(link: Link, inner: str) -> str:
    return f'<a href="#{html.escape(link.target)}">{inner}</a>'


def cloze_html(cloze: Cloze, inner: str) -> str:
    return f'<mark class="cloze">{inner}</mark>'


def term_html(term: Term, inner: str) -> str:
    return f'<span class="term">{inner}</span>'


def table_html(table: Table, inner: str) -> str:
    return inner


def fill(frag: Fragment, *, formula: Callable[[Formula], str], plot: Callable[[PlotBlock], str],
         check: Callable[[CheckBlock], str], image: Callable[[Image], str], code: Callable[[CodeBlock], str],
         link: Callable[[Link, str], str] = link_html, cloze: Callable[[Cloze, str], str] = cloze_html,
         term: Callable[[Term, str], str] = term_html, table: Callable[[Table, str], str] = table_html) -> str:
    """Replace every placeholder in ``frag.html`` by what the callbacks return.

    A paired placeholder's callback gets its item and the content between, already filled.
    """
    if not (frag.plots or frag.checks or frag.images or frag.code or frag.links or frag.clozes or frag.terms
            or frag.tables):  # the common case, once per field of every card: formulas only
        found = frag.formulas
        return _MARK_RE.sub(lambda m: formula(found[int(m.group(2))]), frag.html) if found else frag.html
    leaves = {"F": (frag.formulas, formula), "P": (frag.plots, plot), "C": (frag.checks, check),
              "I": (frag.images, image), "K": (frag.code, code)}
    pairs = {"L": (frag.links, link), "Z": (frag.clozes, cloze), "T": (frag.terms, term), "B": (frag.tables, table)}

    def leaf(m: re.Match[str]) -> str:
        items, fn = leaves[m.group(1)]
        return fn(items[int(m.group(2))])

    def pair(m: re.Match[str]) -> str:
        items, fn = pairs[m.group(1)]
        return fn(items[int(m.group(2))], _PAIR_RE.sub(pair, m.group(3)))

    out = _MARK_RE.sub(leaf, frag.html)
    return _PAIR_RE.sub(pair, out) if frag.links or frag.clozes or frag.terms or frag.tables else out


_LABEL_MATH_RE = re.compile(r"\$([^$]+)\$")


def split_math(label: str) -> list[tuple[bool, str]]:
    """A plain label (figure caption) as [(is_math, text)], math written as ``$…$``."""
    parts, pos = [], 0
    for m in _LABEL_MATH_RE.finditer(label):
        if m.start() > pos:
            parts.append((False, label[pos:m.start()]))
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(label):
        parts.append((False, label[pos:]))
    return parts


def card_count(note: Note) -> int:
    """Cards Anki makes from a note: one per distinct cloze number, else one."""
    return len({c.number for c in note.answer.clozes}) if note.cloze else 1
