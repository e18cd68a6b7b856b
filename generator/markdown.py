"""Markdown → HTML with placeholders: the markdown-it parser, its plugins and render rules.

Every rule that records something (formulas, check and plot blocks, images, code, card links,
clozes, index terms, tables) appends it to the fragment's :class:`Parts` and writes a
placeholder instead of HTML (see :mod:`.model`); each emitter fills the placeholders its own
way. ``{{cN::…}}`` is an inline rule here, the one cloze rule of the project.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

from . import sanitise
from .location import Diagnostics, SourceLocation
from .model import (CheckBlock, Cloze, CodeBlock, Formula, Image, Link, PlotBlock, Table, Term, closer,
                    marker)

HEADING_ID_RE = re.compile(r"\s*\{#([^}]*)\}\s*$")
CLOZE_OPEN_RE = re.compile(r"\{\{c(\d+)::")
MAX_CLOZE = 100


def _heading_ids(state) -> None:
    """Core rule: strip a trailing ``{#id}`` from heading text before inline parsing."""
    tokens = state.tokens
    for i, tok in enumerate(tokens):
        if tok.type != "heading_open" or i + 1 >= len(tokens):
            continue
        inline = tokens[i + 1]
        m = HEADING_ID_RE.search(inline.content)
        if m:
            tok.meta["id"] = m.group(1)
            inline.content = inline.content[: m.start()]


def _positions(state) -> None:
    """Core rule: give inline children a source line, and inline math its column offset."""
    for tok in state.tokens:
        if tok.type != "inline" or not tok.children or tok.map is None:
            continue
        src, pos, line = tok.content, 0, tok.map[0] + 1
        for child in tok.children:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            child.meta["line"] = line
            if child.type in ("math_inline", "math_inline_double"):
                delim = "$$" if child.type == "math_inline_double" else "$"
                found = src.find(delim + child.content, pos)
                if found >= 0:
                    child.meta["line"] = tok.map[0] + 1 + src.count("\n", 0, found)
                    pos = found + len(child.content) + 2 * len(delim)


def _cloze(state, silent: bool) -> bool:
    """Inline rule: ``{{cN::text::hint}}``, the text parsed as Markdown (like a link's label).

    An opening without its ``}}`` in the same paragraph becomes a ``cloze_unclosed`` token,
    which the renderer reports. Math and code spans are skipped whole while looking for the
    end, so ``}}`` inside ``$…$`` does not close the cloze.
    """
    if state.src[state.pos] != "{":
        return False
    m = CLOZE_OPEN_RE.match(state.src, state.pos)
    if m is None:
        return False
    end, hint, nested = _cloze_end(state, m.end())
    if end < 0:
        if silent:
            return False
        state.push("cloze_unclosed", "", 0).content = m.group(0)
        state.pos = m.end()
        return True
    if not silent:
        tok = state.push("cloze_open", "mark", 1)
        tok.meta.update(number=m.group(1), hint=state.src[hint + 2:end] if hint >= 0 else "", nested=nested)
        old_max = state.posMax
        state.pos, state.posMax = m.end(), hint if hint >= 0 else end
        state.md.inline.tokenize(state)
        state.posMax = old_max
        state.push("cloze_close", "mark", -1)
    state.pos = end + 2
    return True


def _cloze_end(state, pos: int) -> tuple[int, int, bool]:
    """(position of the closing ``}}`` or -1, of the hint's ``::`` or -1, whether a cloze is nested)."""
    src, start, hint, nested = state.src, state.pos, -1, False
    unclosed_from = getattr(state, "cloze_unclosed_from", None)
    if unclosed_from is not None and unclosed_from[1] == state.posMax and pos >= unclosed_from[0]:
        return -1, -1, False  # an earlier scan found no end after here: do not scan again (linear time)
    try:
        while pos < state.posMax:
            if src.startswith("}}", pos):
                return pos, hint, nested
            if hint >= 0:  # a hint is plain text
                pos += 1
                continue
            if src.startswith("::", pos):
                hint, pos = pos, pos + 2
                continue
            nested |= CLOZE_OPEN_RE.match(src, pos) is not None
            state.pos = pos
            state.md.inline.skipToken(state)
            pos = state.pos
        state.cloze_unclosed_from = (start, state.posMax)
        return -1, -1, nested
    finally:
        state.pos = start


def make_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": False})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, allow_labels=False, allow_space=False, allow_digits=False, double_inline=True)
    container_plugin(md, "details")
    attrs_plugin(md, spans=True)
    md.inline.ruler.before("text", "cloze", _cloze)
    md.core.ruler.after("block", "heading_ids", _heading_ids)
    md.core.ruler.push("positions", _positions)
    for name, rule in _RULES.items():
        md.add_render_rule(name, rule)
    return md


@dataclass
class Parts:
    """Per-fragment render environment: what the placeholders stand for."""

    path: Path
    file_dir: Path
    root: Path
    diags: Diagnostics
    source_lines: list[str]
    formulas: list[Formula] = field(default_factory=list)
    plots: list[PlotBlock] = field(default_factory=list)
    checks: list[CheckBlock] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    code: list[CodeBlock] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    clozes: list[Cloze] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    open_pairs: list[str] = field(default_factory=list)
    """The closing placeholder (or HTML) of each open link, span and cloze, innermost last."""
    looked_up: list[str] = field(default_factory=list)
    """Paths outside the Markdown file that the result depends on (images): the parse cache checks them."""

    def loc(self, line: int, col: int = 0) -> SourceLocation:
        return SourceLocation(self.path, line, col)

    def col(self, line: int, text: str) -> int:
        """1-based column of ``text`` on ``line`` (0 if it is not there)."""
        return self.source_lines[line - 1].find(text) + 1 if 0 < line <= len(self.source_lines) else 0

    def checked(self, f: Formula) -> Formula:
        """Report TeX that would link, load or add markup in a reviewer's MathJax."""
        problem = sanitise.tex_problem(f.tex)
        if problem:
            self.diags.error(f.loc, problem[0])
        return f

    def formula(self, f: Formula) -> None:
        self.formulas.append(self.checked(f))

    def no_cloze_in(self, f: Formula) -> Formula:
        m = CLOZE_OPEN_RE.search(f.tex)
        if m:
            self.diags.error(f.loc, f"cloze '{m.group(0)}' inside math: put the cloze around the whole formula "
                                    "({{c1::$…$}}); KaTeX cannot show it and Anki would show the braces")
        return f


def _env(env) -> Parts:
    return env["collect"]


def _inline_math(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    line = tok.meta.get("line", 1)
    text = c.source_lines[line - 1] if 0 < line <= len(c.source_lines) else ""
    col = text.find("$" + tok.content) + 1
    tex = tok.content.strip()  # col is that of the '$' right before the content
    c.formula(c.no_cloze_in(Formula(tex, tok.type == "math_inline_double", c.loc(line, col),
                                    _starts(c.source_lines, line, col + 1 if col else 1, tex))))
    return marker("F", len(c.formulas) - 1)


def _starts(source: list[str], line: int, col: int, tex: str) -> tuple[tuple[int, int], ...]:
    """(line, column) where each line of ``tex`` begins in ``source``, searching from ``line:col``.

    The verify stage points errors into the formula with it; empty when the text is not found."""
    out = []
    for piece in tex.split("\n"):
        head = piece[:40]
        while 0 < line <= len(source):
            found = source[line - 1].find(head, col - 1) if head else col - 1
            if found >= 0:
                out.append((line, found + 1))
                break
            line, col = line + 1, 1
        else:
            return ()
        line, col = line + 1, 1
    return tuple(out)


def _block_math(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    line = tok.map[0] + 1
    text = c.source_lines[line - 1]
    col = text.find("$$") + 1
    tex = tok.content.strip()
    c.formula(c.no_cloze_in(Formula(tex, True, c.loc(line, col), _starts(c.source_lines, line, col + 2 if col else 1,
                                                                         tex))))
    return f'<div class="math-display">{marker("F", len(c.formulas) - 1)}</div>\n'


def _fence(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    info = tok.info.strip().split()
    lang = info[0] if info else ""
    line = tok.map[0] + 1
    if lang == "check":
        lines = []
        for i, raw in enumerate(tok.content.split("\n")):
            stripped = raw.strip()
            if stripped and not stripped.startswith("%"):
                col = len(raw) - len(raw.lstrip()) + 1
                lines.append(c.checked(Formula(stripped, True, c.loc(line + 1 + i, col), ((line + 1 + i, col),))))
        if not lines:
            c.diags.error(c.loc(line), "empty check block")
        c.checks.append(CheckBlock(tuple(lines), c.loc(line)))
        return marker("C", len(c.checks) - 1)
    if lang == "plot":
        c.plots.append(PlotBlock(tok.content, c.loc(line)))
        return marker("P", len(c.plots) - 1)
    runnable = lang == "python" and "run" in info[1:]
    c.code.append(CodeBlock(lang, tok.content, runnable, c.loc(line)))
    return marker("K", len(c.code) - 1)


def _code_block(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    c.code.append(CodeBlock("", tok.content, False, c.loc(tok.map[0] + 1 if tok.map else 1)))
    return marker("K", len(c.code) - 1)


def _image(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    src = unquote(tok.attrGet("src") or "")
    alt = self.renderInlineAsText(tok.children or [], options, env)
    loc = c.loc(tok.meta.get("line", 1))
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", src) or src.startswith("//"):
        c.diags.error(loc, f"image '{src}' is not a file in the content folder (remote images are not allowed)")
        return escapeHtml(alt)
    if PurePosixPath(src).is_absolute():
        c.diags.error(loc, f"image path '{src}' must be relative to the Markdown file")
        return escapeHtml(alt)
    c.looked_up.append(str(c.file_dir / src))
    path = (c.file_dir / src).resolve()
    if not path.is_relative_to(c.root):
        c.diags.error(loc, f"image path '{src}' leaves the content folder")
        return escapeHtml(alt)
    if not path.is_file():
        c.diags.error(loc, f"image '{src}' not found")
        return escapeHtml(alt)
    problem = sanitise.image_problem(path)
    if problem:
        c.diags.error(loc, f"image '{src}' {problem}" if problem.startswith(("is ", "contains ")) else
                      f"image '{src}': {problem}")
        return escapeHtml(alt)
    c.images.append(Image(path, alt, loc))
    return marker("I", len(c.images) - 1)


def _link_open(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    href = tok.attrGet("href") or ""
    if href.startswith("#") and len(href) > 1:  # a card or chapter link: the emitters decide how it looks
        c.links.append(Link(unquote(href[1:]), c.loc(tok.meta.get("line", 1))))
        c.open_pairs.append(closer("L", len(c.links) - 1))
        return marker("L", len(c.links) - 1)
    c.open_pairs.append("</a>")
    return self.renderToken(tokens, idx, options, env)


def _span_open(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    if "term" in (tok.attrGet("class") or "").split():
        c.terms.append(Term(_plain_until_close(tokens, idx), c.loc(tok.meta.get("line", 1))))
        c.open_pairs.append(closer("T", len(c.terms) - 1))
        return marker("T", len(c.terms) - 1)
    c.open_pairs.append("</span>")
    return self.renderToken(tokens, idx, options, env)


def _plain_until_close(tokens, idx: int) -> str:
    """The text of an inline element as written (math as its TeX), up to its closing token."""
    depth, parts = 0, []
    for tok in tokens[idx:]:
        depth += tok.nesting
        if depth == 0:
            break
        if tok.type in ("text", "code_inline", "math_inline", "math_inline_double"):
            parts.append(tok.content)
        elif tok.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _close_pair(self, tokens, idx, options, env) -> str:
    return _env(env).open_pairs.pop()


def _cloze_open(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    line, digits = tok.meta.get("line", 1), tok.meta["number"]
    loc = c.loc(line, c.col(line, "{{c" + digits + "::"))
    number = int(digits) if len(digits) <= 6 else MAX_CLOZE + 1
    shown = digits if len(digits) <= 20 else digits[:20] + "…"
    problem = ("cloze numbers start at c1" if number == 0 else
               f"cloze number c{shown} is too large (at most c{MAX_CLOZE})" if number > MAX_CLOZE else
               "cloze inside another cloze: write them one after the other" if tok.meta["nested"] else "")
    if problem:
        c.diags.error(loc, problem)
        c.open_pairs.append("")
        return ""
    c.clozes.append(Cloze(number, tok.meta["hint"], loc))
    c.open_pairs.append(closer("Z", len(c.clozes) - 1))
    return marker("Z", len(c.clozes) - 1)


def _cloze_unclosed(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    line = tok.meta.get("line", 1)
    c.diags.error(c.loc(line, c.col(line, tok.content)),
                  f"cloze '{tok.content}' is never closed: its '}}}}' must follow in the same paragraph")
    return escapeHtml(tok.content)


def _table_open(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    c.tables.append(Table(c.loc(tok.map[0] + 1 if tok.map else 1)))
    return marker("B", len(c.tables) - 1) + self.renderToken(tokens, idx, options, env)


def _table_close(self, tokens, idx, options, env) -> str:
    html = self.renderToken(tokens, idx, options, env)  # "</table>\n": the newline stays outside
    return html.rstrip("\n") + closer("B", len(_env(env).tables) - 1) + "\n" * (len(html) - len(html.rstrip("\n")))


_RULES = {"math_inline": _inline_math, "math_inline_double": _inline_math, "math_block": _block_math,
          "fence": _fence, "code_block": _code_block, "image": _image, "link_open": _link_open,
          "link_close": _close_pair, "span_open": _span_open, "span_close": _close_pair,
          "cloze_open": _cloze_open, "cloze_close": _close_pair, "cloze_unclosed": _cloze_unclosed,
          "table_open": _table_open, "table_close": _table_close}
