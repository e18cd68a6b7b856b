"""Card-quality warnings: cloze notes whose front gives the answer away.

Two rules, both reported as ``path:line: warning: …`` and never as errors:

- a cloze answer that can be read elsewhere on the same card (the title line,
  or the note's text with the other clozes filled in, as Anki shows them);
- a cloze note whose heading asks "what is X?" (是什么 / 什么是 / what is): the
  cloze text then prints the definition the question asks for.

The rules read the parsed answer (its clozes, formulas as TeX, code blocks left out)
and the heading; not the details, which Anki shows only on the back.
"""
from __future__ import annotations

import html
import re

from .location import Diagnostics
from .model import Cloze, Document, Fragment, Note, fill

_TAG_RE = re.compile(r"<[^>]+>")
_WHAT_IS_RE = re.compile(r"是什么|什么是|\bwhat\s+is\b|\bwhat's\b", re.I)
# answers shorter than this (after normalising) are too common to mean anything ("1", "x")
MIN_ANSWER = 2


def normalise(text: str) -> str:
    """Compare answers without math delimiters, emphasis, spaces or case."""
    text = re.sub(r"\\[,;:! ]|~", "", text)  # TeX spacing commands
    text = re.sub(r"[$*`\s]", "", text)
    return text.lower()


def card_text(frag: Fragment, number: int = 0) -> tuple[str, list[tuple[Cloze, str]]]:
    """What card ``number`` shows of ``frag`` as plain text (its own clozes blanked, the others
    filled in), and each cloze with its text. Code blocks, figures and check boxes are left out."""
    answers: list[tuple[Cloze, str]] = []

    def cloze(c: Cloze, inner: str) -> str:
        answers.append((c, _plain(inner)))
        return " [...] " if c.number == number else inner

    filled = fill(frag, formula=lambda f: f"${f.tex}$", plot=lambda p: "", check=lambda c: "",
                  image=lambda i: "", code=lambda c: "", cloze=cloze)
    return _plain(filled), answers


def _plain(markup: str) -> str:
    return html.unescape(_TAG_RE.sub("", markup))


def _occurs(needle: str, haystack: str) -> bool:
    """``needle`` in ``haystack``, not as part of a longer ASCII word or number."""
    for m in re.finditer(re.escape(needle), haystack):
        before = haystack[m.start() - 1] if m.start() else ""
        after = haystack[m.end()] if m.end() < len(haystack) else ""
        if before == "{" and m.start() >= 2 and haystack[m.start() - 2] in "_^":
            continue  # a sub- or superscript such as x_{12} is not the number 12
        if not (_word(before) and _word(needle[0])) and not (_word(after) and _word(needle[-1])):
            return True
    return False


def _word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "._^")


def lint_note(note: Note, diags: Diagnostics) -> None:
    if not note.cloze:
        return
    if _WHAT_IS_RE.search(note.heading_text):
        diags.warning(note.loc, "cloze note asks 'what is …' in its heading: the text shows the definition it asks "
                                "for; make it a basic card or ask for a property")
    _, answers = card_text(note.answer)
    seen: set[tuple[int, str]] = set()
    for c, text in answers:
        answer = normalise(text)
        if len(answer) < MIN_ANSWER or (c.number, answer) in seen:
            continue
        seen.add((c.number, answer))
        front = normalise(note.heading_text + "\n" + card_text(note.answer, c.number)[0])
        if _occurs(answer, front):
            diags.warning(c.loc.shifted(col=0),
                          f"cloze c{c.number} '{text.strip()}' can be read elsewhere on its own card")


def lint_document(doc: Document, diags: Diagnostics) -> None:
    for note in doc.notes:
        lint_note(note, diags)
