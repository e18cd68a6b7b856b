"""Headings that would not become notes: unclosed fences and details boxes, headings inside blocks.

Works on the token stream of one file (markdown-it tokens, passed in by ``parse``) and its lines.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .location import Diagnostics, SourceLocation

if TYPE_CHECKING:  # parse.py stays the only module that imports markdown_it at run time
    from markdown_it.token import Token

HEADING_ID_RE = re.compile(r"\s*\{#([^}]*)\}\s*$")
_HEADING_LINE_RE = re.compile(r" {0,3}(#{1,2})(?:[ \t]+(.*?))?[ \t]*$")
_FENCE_CLOSE_RE = r" {{0,3}}{ch}{{{n},}}[ \t]*"


def _heading_lines(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(0-based line, text) of every line in [start, end) that reads as a '#'/'##' heading."""
    found = []
    for i in range(start, min(end, len(lines))):
        m = _HEADING_LINE_RE.fullmatch(lines[i])
        if m:
            found.append((i, HEADING_ID_RE.sub("", m.group(2) or "").strip()))
    return found


def _swallowed(headings: list[tuple[int, str]]) -> str:
    shown = ", ".join(f"'{text[:40]}' (line {i + 1})" for i, text in headings[:5])
    rest = [str(i + 1) for i, _ in headings[5:]]
    return shown + (f" and {len(rest)} more (lines {', '.join(rest)})" if rest else "")


def check_structure(tokens: list[Token], lines: list[str], path: Path, diags: Diagnostics) -> None:
    """Every '#'/'##' line outside code becomes a chapter or a note, or gets a diagnostic.

    A code fence or '::: details' that is never closed runs to the end of the file and takes
    every following question with it: that is an error at the opening line naming them.
    """
    used, code, reported = set(), set(), set()
    stack: list[Token] = []
    for tok in tokens:
        if tok.type == "heading_open" and tok.level == 0 and tok.tag in ("h1", "h2") and tok.map:
            used.add(tok.map[0])
        elif tok.type in ("fence", "code_block", "math_block") and tok.map:
            start, end = tok.map
            closed = tok.type != "fence" or (end - 1 > start and end - 1 < len(lines) and re.fullmatch(
                _FENCE_CLOSE_RE.format(ch=re.escape(tok.markup[0]), n=len(tok.markup)), lines[end - 1]))
            if closed:
                code.update(range(start, end))
            else:
                _unclosed(path, start, "code fence", _heading_lines(lines, start + 1, end), diags, reported)
        elif tok.type == "container_details_open" and tok.map:
            stack.append(tok)
        elif tok.type == "container_details_close" and stack:
            opened = stack.pop()
            start, end = opened.map  # a closed container's map ends at its closing ':::' line
            if not (end < len(lines) and re.fullmatch(r" {0,3}:{3,}[ \t]*", lines[end])):
                _unclosed(path, start, "'::: details'", _heading_lines(lines, start + 1, end), diags, reported)
    for i, text in _heading_lines(lines, 0, len(lines)):
        if i not in used and i not in code and i not in reported:
            diags.warning(SourceLocation(path, i + 1), f"'{lines[i].strip()[:40]}' is not a question or chapter: "
                          "it is inside the block above it (a details box, list, quote or HTML block); "
                          "end that block with a blank line or ':::' first")


def _unclosed(path: Path, start: int, what: str, headings: list[tuple[int, str]], diags: Diagnostics,
              reported: set[int]) -> None:
    loc = SourceLocation(path, start + 1)
    if headings:
        diags.error(loc, f"{what} is never closed: it swallows the rest of the file, including "
                         f"{_swallowed(headings)}")
        reported.update(i for i, _ in headings)
    else:
        diags.warning(loc, f"{what} is never closed: it runs to the end of the file")
