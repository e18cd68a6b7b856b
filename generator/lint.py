"""Card-quality warnings: cloze notes whose front gives the answer away.

Two rules, both reported as ``path:line: warning: …`` and never as errors:

- a cloze answer that can be read elsewhere on the same card (the title line,
  or the note's text with the other clozes filled in, as Anki shows them);
- a cloze note whose heading asks "what is X?" (是什么 / 什么是 / what is): the
  cloze text then prints the definition the question asks for.

The rules read the Markdown source of the heading and the answer (not the
details, which Anki shows only on the back, and not code blocks).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .location import Diagnostics, SourceLocation
from .model import Document, Note

_OPEN_RE = re.compile(r"\{\{c(\d+)::")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[ \t]*$", re.M | re.S)
_WHAT_IS_RE = re.compile(r"是什么|什么是|\bwhat\s+is\b|\bwhat's\b", re.I)
# answers shorter than this (after normalising) are too common to mean anything ("1", "x")
MIN_ANSWER = 2


@dataclass(frozen=True, slots=True)
class Cloze:
    number: int
    answer: str
    start: int
    """Offset of ``{{`` in the text."""
    end: int
    """Offset just past the closing ``}}``."""


def clozes(text: str) -> list[Cloze]:
    """The ``{{cN::answer::hint}}`` spans of ``text``; braces inside math may nest."""
    found, pos = [], 0
    while (m := _OPEN_RE.search(text, pos)) is not None:
        i, depth, body_start, hint_at = m.end(), 0, m.end(), None
        while i < len(text):
            if text.startswith("}}", i) and depth == 0:
                break
            ch = text[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif depth == 0 and hint_at is None and text.startswith("::", i):
                hint_at = i
            i += 1
        else:
            break  # unclosed: the parser's problem, not ours
        answer = text[body_start:hint_at if hint_at is not None else i]
        found.append(Cloze(int(m.group(1)), answer, m.start(), i + 2))
        pos = i + 2
    return found


def normalise(text: str) -> str:
    """Compare answers without math delimiters, emphasis, spaces or case."""
    text = re.sub(r"\\[,;:! ]|~", "", text)  # TeX spacing commands
    text = re.sub(r"[$*`\s]", "", text)
    return text.lower()


def _front(text: str, spans: list[Cloze], number: int) -> str:
    """What card ``number`` shows: its own clozes blanked, the others filled in."""
    out, pos = [], 0
    for c in spans:
        out.append(text[pos:c.start])
        out.append(" [...] " if c.number == number else c.answer)
        pos = c.end
    out.append(text[pos:])
    return "".join(out)


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


def lint_note(note: Note, diags: Diagnostics, lines: list[str] | None = None) -> None:
    """``lines`` is the note's source file, used only to point at the cloze's own line."""
    if not note.cloze:
        return
    loc: SourceLocation = note.loc
    if _WHAT_IS_RE.search(note.heading_text):
        diags.warning(loc, "cloze note asks 'what is …' in its heading: the text shows the definition it asks "
                           "for; make it a basic card or ask for a property")
    text = _without_details(note)
    spans = clozes(text)
    seen: set[tuple[int, str]] = set()
    for c in spans:
        answer = normalise(c.answer)
        if len(answer) < MIN_ANSWER or (c.number, answer) in seen:
            continue
        seen.add((c.number, answer))
        front = normalise(note.heading_text + "\n" + _front(text, spans, c.number))
        if _occurs(answer, front):
            diags.warning(_answer_loc(text, note, c.start, lines),
                          f"cloze c{c.number} '{c.answer.strip()}' can be read elsewhere on its own card")


def _without_details(note: Note) -> str:
    """The answer's source without the details block (Anki shows it on the back only).

    The answer's text runs to its last block, so a figure after the details block pulls the
    details in; they are blanked to bare newlines to keep line numbers right.
    """
    text = note.answer.text
    if note.details is not None and note.details.text and note.details.text in text:
        text = text.replace(note.details.text, "\n" * note.details.text.count("\n"), 1)
    # a {{c1::…}} inside a code block is code, not a cloze (the parser ignores it too)
    return _FENCE_RE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _answer_loc(text: str, note: Note, offset: int, lines: list[str] | None) -> SourceLocation:
    """The line of ``offset`` in the answer text, which starts at the first non-blank line after the heading."""
    start = note.loc.line + 1
    while lines is not None and start <= len(lines) and not lines[start - 1].strip():
        start += 1
    return SourceLocation(note.loc.path, start + text.count("\n", 0, offset))


def lint_document(doc: Document, diags: Diagnostics) -> None:
    for f in doc.files:
        try:
            lines: list[str] | None = f.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = None
        for chapter in f.chapters:
            for note in chapter.notes:
                lint_note(note, diags, lines)
