"""The content model: immutable data shared by every emitter.

Rendered Markdown is kept as HTML in which formulas, figures, check blocks and
images stand as placeholders (``\\ue000`` kind index ``\\ue001``). Each emitter
fills them in its own way (MathJax delimiters for Anki, KaTeX for the PDF and the
cheat sheet, media names or data URIs for images) with :func:`fill`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .location import SourceLocation

MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile("\ue000([FPCI])(\\d+)\ue001")


def marker(kind: str, index: int) -> str:
    return f"{MARK_OPEN}{kind}{index}{MARK_CLOSE}"


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


def fill(frag: Fragment, *, formula: Callable[[Formula], str], plot: Callable[[PlotBlock], str],
         check: Callable[[CheckBlock], str], image: Callable[[Image], str]) -> str:
    """Replace every placeholder in ``frag.html`` by what the callbacks return."""
    table = {"F": (frag.formulas, formula), "P": (frag.plots, plot),
             "C": (frag.checks, check), "I": (frag.images, image)}

    def sub(m: re.Match[str]) -> str:
        items, fn = table[m.group(1)]
        return fn(items[int(m.group(2))])

    return _MARK_RE.sub(sub, frag.html)


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


_CLOZE_NUM_RE = re.compile(r"\{\{c(\d+)::")


def card_count(note: Note) -> int:
    """Cards Anki makes from a note: one per distinct cloze number, else one."""
    return len(set(_CLOZE_NUM_RE.findall(note.answer.html))) if note.cloze else 1
