"""The content model of one file as JSON-able lists, and back: for the parse cache and parse workers.

Compact on purpose (a 10,000-note corpus is decoded on every warm build): every object is a list of
its fields in order, empty trailing fields left out, and each location is ``[line, col]`` in the file
being encoded (every location the parser makes for a file is in that file).
"""
from __future__ import annotations

from pathlib import Path

from .location import Diagnostic, SourceLocation
from .model import (Chapter, CheckBlock, Cloze, CodeBlock, Formula, Fragment, Image, Link, Note, PlotBlock,
                    SourceFile, Table, Term)


class Foreign(ValueError):
    """A location outside the file being encoded: such a file is not cached."""


def encode_file(sf: SourceFile, diags: list[Diagnostic]) -> list:
    path = sf.path

    def loc(l: SourceLocation) -> list:
        if l.path != path:
            raise Foreign(str(l.path))
        return [l.line, l.col]

    def formula(f: Formula) -> list:
        return [f.tex, f.display, loc(f.loc), [list(s) for s in f.starts]]

    def fragment(fr: Fragment | None):
        if fr is None:
            return None
        out = [fr.html, [formula(f) for f in fr.formulas], [[p.source, loc(p.loc)] for p in fr.plots],
               [[[formula(f) for f in c.lines], loc(c.loc)] for c in fr.checks],
               [[str(i.path), i.alt, loc(i.loc)] for i in fr.images],
               [[c.lang, c.code, c.runnable, loc(c.loc)] for c in fr.code],
               [[k.target, loc(k.loc)] for k in fr.links], fr.text,
               [[c.number, c.hint, loc(c.loc)] for c in fr.clozes],
               [[t.label, loc(t.loc)] for t in fr.terms], [loc(t.loc) for t in fr.tables]]
        while len(out) > 1 and not out[-1]:
            out.pop()
        return out

    def note(n: Note) -> list:
        return [n.id, n.id_explicit, fragment(n.question), fragment(n.answer), fragment(n.details), n.cloze,
                n.deck, list(n.tags), loc(n.loc), n.heading_text]

    file = [sf.deck, list(sf.tags), sf.title, sf.order, [
        [c.title, fragment(c.intro), [note(n) for n in c.notes], loc(c.loc), c.slug] for c in sf.chapters]]
    return [file, [[d.severity, loc(d.loc), d.message, d.code] for d in diags]]


def decode_file(data: list, path: Path) -> tuple[SourceFile, list[Diagnostic]]:
    """The inverse of :func:`encode_file`, for the file at ``path``."""
    locs: dict[tuple[int, int], SourceLocation] = {}

    def loc(l: list) -> SourceLocation:
        key = (l[0], l[1])
        found = locs.get(key)
        if found is None:
            found = locs[key] = SourceLocation(path, l[0], l[1])
        return found

    def formula(f: list) -> Formula:
        return Formula(f[0], f[1], loc(f[2]), tuple(map(tuple, f[3])))

    def fragment(fr: list | None) -> Fragment | None:
        if fr is None:
            return None
        n = len(fr)
        if n == 2:  # the common case: text and formulas only
            return Fragment(fr[0], tuple(map(formula, fr[1])))
        if n == 1:
            return Fragment(fr[0])
        return Fragment(fr[0], tuple(map(formula, fr[1])),
                        tuple(PlotBlock(p[0], loc(p[1])) for p in fr[2]),
                        tuple(CheckBlock(tuple(map(formula, c[0])), loc(c[1])) for c in fr[3]) if n > 3 else (),
                        tuple(Image(Path(i[0]), i[1], loc(i[2])) for i in fr[4]) if n > 4 else (),
                        tuple(CodeBlock(c[0], c[1], c[2], loc(c[3])) for c in fr[5]) if n > 5 else (),
                        tuple(Link(k[0], loc(k[1])) for k in fr[6]) if n > 6 else (),
                        fr[7] if n > 7 else "",
                        tuple(Cloze(c[0], c[1], loc(c[2])) for c in fr[8]) if n > 8 else (),
                        tuple(Term(t[0], loc(t[1])) for t in fr[9]) if n > 9 else (),
                        tuple(Table(loc(t)) for t in fr[10]) if n > 10 else ())

    def note(n: list) -> Note:
        return Note(n[0], n[1], fragment(n[2]), fragment(n[3]), fragment(n[4]), n[5], n[6], tuple(n[7]), loc(n[8]),
                    n[9])

    file, diags = data
    deck, tags, title, order, chapters = file
    sf = SourceFile(path, deck, tuple(tags), title, order, tuple(
        Chapter(c[0], fragment(c[1]), tuple(map(note, c[2])), loc(c[3]), c[4]) for c in chapters))
    return sf, [Diagnostic(loc(d[1]), d[0], d[2], d[3]) for d in diags]
