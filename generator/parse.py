"""Content files → content model. The only module that imports markdown_it."""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import yaml
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin

from . import highlight, sanitise
from .structure import check_structure
from .location import Diagnostic, Diagnostics, SourceLocation
from .model import (Chapter, CheckBlock, CodeBlock, Document, Formula, Fragment, Image, Link, Note,
                    PlotBlock, SourceFile, marker)

ID_RE = re.compile(r"[A-Za-z0-9._-]+")
HEADING_ID_RE = re.compile(r"\s*\{#([^}]*)\}\s*$")
CLOZE_RE = re.compile(r"\{\{c\d+::")
FRONT_KEYS = {"deck": str, "tags": list, "title": str, "order": int}

MAX_FILE_BYTES = 32 * 1024 * 1024
# attributes markdown-it itself writes; everything else on a token came from '{…}'
_OWN_ATTRS = {"link_open": {"title"}, "image": {"src", "alt", "title"}}


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


def make_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "typographer": False})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, allow_labels=False, allow_space=False, allow_digits=False, double_inline=True)
    container_plugin(md, "details")
    attrs_plugin(md, spans=True)
    md.core.ruler.after("block", "heading_ids", _heading_ids)
    md.core.ruler.push("positions", _positions)
    for name, rule in _RULES.items():
        md.add_render_rule(name, rule)
    return md


@dataclass
class _Collect:
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
    def loc(self, line: int, col: int = 0) -> SourceLocation:
        return SourceLocation(self.path, line, col)

    def checked(self, f: Formula) -> Formula:
        """Report TeX that would link, load or add markup in a reviewer's MathJax."""
        problem = sanitise.tex_problem(f.tex)
        if problem:
            self.diags.error(f.loc, problem[0])
        return f

    def formula(self, f: Formula) -> None:
        self.formulas.append(self.checked(f))


def _env(env) -> _Collect:
    return env["collect"]


def _inline_math(self, tokens, idx, options, env) -> str:
    c, tok = _env(env), tokens[idx]
    line = tok.meta.get("line", 1)
    text = c.source_lines[line - 1] if 0 < line <= len(c.source_lines) else ""
    col = text.find("$" + tok.content) + 1
    tex = tok.content.strip()  # col is that of the '$' right before the content
    c.formula(Formula(tex, tok.type == "math_inline_double", c.loc(line, col),
                      _starts(c.source_lines, line, col + 1 if col else 1, tex)))
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
    c.formula(Formula(tex, True, c.loc(line, col), _starts(c.source_lines, line, col + 2 if col else 1, tex)))
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
        return f'<div class="check">{marker("C", len(c.checks) - 1)}</div>\n'
    if lang == "plot":
        c.plots.append(PlotBlock(tok.content, c.loc(line)))
        return f'<div class="plot">{marker("P", len(c.plots) - 1)}</div>\n'
    runnable = lang == "python" and "run" in info[1:]
    c.code.append(CodeBlock(lang, tok.content, runnable, c.loc(line)))
    return highlight.block(tok.content, lang)


def _code_block(self, tokens, idx, options, env) -> str:
    return highlight.block(tokens[idx].content, "")


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
    if href.startswith("#") and len(href) > 1:
        c.links.append(Link(unquote(href[1:]), c.loc(tok.meta.get("line", 1))))
    return self.renderToken(tokens, idx, options, env)


_RULES = {"math_inline": _inline_math, "math_inline_double": _inline_math, "math_block": _block_math,
          "fence": _fence, "code_block": _code_block, "image": _image, "link_open": _link_open}


class _Renderer:
    """Renders token ranges of one file into Fragments."""

    def __init__(self, md: MarkdownIt, path: Path, root: Path, lines: list[str], diags: Diagnostics):
        self.md, self.path, self.root, self.lines, self.diags = md, path, root, lines, diags
        self.file_dir = path.resolve().parent

    def _collect(self) -> _Collect:
        return _Collect(self.path, self.file_dir, self.root, self.diags, self.lines)

    def _finish(self, c: _Collect, html: str, text: str) -> Fragment:
        # One allow-list for every fragment, whatever syntax produced it; placeholders are
        # filled in later with trusted markup only.
        return Fragment(sanitise.clean(html), tuple(c.formulas), tuple(c.plots), tuple(c.checks),
                        tuple(c.images), tuple(c.code), tuple(c.links), text)

    def blocks(self, tokens: list[Token]) -> Fragment:
        c = self._collect()
        for tok in tokens:
            self._unclosed_math(tok)
            self._dropped(tok)
        html = self.md.renderer.render(tokens, self.md.options, {"collect": c})
        spans = [t.map for t in tokens if t.map is not None]
        text = "\n".join(self.lines[spans[0][0]:spans[-1][1]]) if spans else ""
        return self._finish(c, html, text)

    def inline(self, tok: Token) -> Fragment:
        c = self._collect()
        self._unclosed_math(tok)
        self._dropped(tok)
        html = self.md.renderer.renderInline(tok.children or [], self.md.options, {"collect": c})
        return self._finish(c, html, tok.content)

    def _dropped(self, tok: Token) -> None:
        """Warn about what the sanitiser will remove, where the author wrote it."""
        line = tok.map[0] + 1 if tok.map else 1
        self._dropped_one(tok, line)
        for child in tok.children or ():  # inline children: one level (an image's alt is text only)
            if child.type in ("html_inline", "html_block") or child.attrs:
                self._dropped_one(child, child.meta.get("line", line))

    def _dropped_one(self, tok: Token, line: int) -> None:
        if tok.type in ("html_block", "html_inline"):
            problems = sanitise.html_problems(tok.content)
        elif tok.attrs and tok.type != "image":
            own = _OWN_ATTRS.get(tok.type, set())
            problems = sanitise.attr_problems(tok.tag, {k: str(v) for k, v in tok.attrs.items() if k not in own})
        else:
            return
        for problem in dict.fromkeys(problems):
            self.diags.warning(SourceLocation(self.path, line), problem)

    def _unclosed_math(self, tok: Token) -> None:
        for child in tok.children or []:
            if child.type == "text" and "$$" in child.content:
                line = child.meta.get("line", 1)
                for i in range(tok.map[0] if tok.map else 0, tok.map[1] if tok.map else 0):
                    if "$$" in self.lines[i]:
                        line = i + 1
                        break
                col = self.lines[line - 1].find("$$") + 1 if line <= len(self.lines) else 0
                self.diags.error(SourceLocation(self.path, line, max(col, 0)), "unbalanced '$$': display math is never closed")


def _front_matter(text: str, path: Path, diags: Diagnostics) -> tuple[dict | None, str]:
    """Split off YAML front matter (None if there is none); blank its lines so line numbers stay true."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return None, text  # a plain Markdown file: the caller chooses the deck and says so
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        diags.error(SourceLocation(path, 1), "front matter is not closed by '---'")
        return {}, text
    body = "\n" * end + "\n" + "\n".join(lines[end + 1:])
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).split("\n")[0]
        diags.error(SourceLocation(path, line, (mark.column + 1) if mark else 0), f"malformed YAML front matter: {problem}")
        return {}, body
    if not isinstance(data, dict):
        diags.error(SourceLocation(path, 2), "front matter must be a mapping of keys to values")
        return {}, body
    key_line = {m.group(1): i + 2 for i, l in enumerate(lines[1:end]) if (m := re.match(r"(\w+)\s*:", l))}
    for key, value in data.items():
        loc = SourceLocation(path, key_line.get(str(key), 2))
        if key not in FRONT_KEYS:
            diags.error(loc, f"unknown front matter key '{key}' (expected one of: {', '.join(FRONT_KEYS)})")
        elif not isinstance(value, FRONT_KEYS[key]) or isinstance(value, bool):
            diags.error(loc, f"front matter '{key}' must be a {FRONT_KEYS[key].__name__}")
    if "deck" not in data:
        diags.error(SourceLocation(path, 1), "front matter needs 'deck:' (the Anki deck, '::' for subdecks)")
    elif isinstance(data["deck"], str) and (problem := _deck_problem(data["deck"])):
        diags.error(SourceLocation(path, key_line.get("deck", 2)), problem)
    for tag in data.get("tags") or [] if isinstance(data.get("tags"), list) else []:
        if not isinstance(tag, str) or not tag or any(ch.isspace() for ch in tag):
            diags.error(SourceLocation(path, key_line.get("tags", 2)), f"tag {tag!r} must be a non-empty string without spaces")
    return data, body


def _deck_problem(deck: str) -> str | None:
    bad = next((ch for ch in deck if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn")
                and ch not in " "), None)
    if bad is not None:
        return f"deck name contains the control character U+{ord(bad):04X}"
    if any(not part.strip() for part in deck.split("::")):
        return "deck name is empty or has an empty part between '::'"
    return None


def derive_id(path: Path, heading: str) -> str:
    """An id for a heading without one: file stem + ASCII words, or a short hash of the text."""
    stem = re.sub(r"^[\d_-]+", "", path.stem) or "note"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-").lower() or "note"
    words = re.findall(r"[A-Za-z0-9]+", heading)
    if words and all(ord(ch) < 128 for ch in heading):
        return f"{stem}.{'-'.join(w.lower() for w in words[:6])}"
    digest = hashlib.sha1(heading.strip().encode()).hexdigest()[:8]
    return f"{stem}.{'-'.join(w.lower() for w in words[:3]) + '-' if words else ''}{digest}"


def slugify(title: str) -> str:
    return re.sub(r"\s+", "_", title.strip()) or "chapter"


def read_source(path: Path, root: Path, diags: Diagnostics) -> str | None:
    """A content file's text with newlines normalised, or None (reported) if it cannot be used."""
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            diags.error(SourceLocation(path, 1), "is a symbolic link to a file outside the content folder; not read")
            return None
        size = resolved.stat().st_size
        if size > MAX_FILE_BYTES:
            diags.error(SourceLocation(path, 1), f"file is {size / 1024 / 1024:.0f} MB; the limit is "
                                                 f"{MAX_FILE_BYTES // (1024 * 1024)} MB per Markdown file")
            return None
        text = resolved.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        diags.error(SourceLocation(path, 1), f"file is not valid UTF-8 ({e.reason} at byte {e.start})")
        return None
    except (OSError, RuntimeError) as e:
        diags.error(SourceLocation(path, 1), f"cannot read the file ({getattr(e, 'strerror', None) or e})")
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if sanitise.RESERVED_RE.search(text):
        text = _replace_reserved(text, path, diags)
    return text


def _replace_reserved(text: str, path: Path, diags: Diagnostics) -> str:
    """Private-use characters would pass for the build's placeholders: replace them, say where."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        for m in sanitise.RESERVED_RE.finditer(line):
            diags.warning(SourceLocation(path, i + 1, m.start() + 1),
                          f"private-use character U+{ord(m.group()):04X} replaced by U+FFFD (the build reserves "
                          "these code points for its placeholders)")
    return sanitise.RESERVED_RE.sub("\ufffd", text)


def parse_file(md: MarkdownIt, path: Path, root: Path, diags: Diagnostics) -> SourceFile | None:
    text = read_source(path, root, diags)
    if text is None:
        return None
    meta, body = _front_matter(text, path, diags)
    tokens = md.parse(body, {})
    if meta is None:
        meta = {"deck": _default_deck(tokens, path, diags)}
    lines = text.split("\n")
    deck = meta.get("deck") if isinstance(meta.get("deck"), str) else "Default"
    tags = tuple(t for t in meta.get("tags") or [] if isinstance(t, str)) if isinstance(meta.get("tags"), list) else ()
    title = meta.get("title") if isinstance(meta.get("title"), str) else None
    order = meta.get("order") if isinstance(meta.get("order"), int) else None
    check_structure(tokens, body.split("\n"), path, diags)
    r = _Renderer(md, path, root, lines, diags)

    # Split the level-0 token stream at '#' and '##' headings.
    sections: list[tuple[Token | None, Token | None, list[Token]]] = [(None, None, [])]
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open" and tok.level == 0 and tok.tag in ("h1", "h2"):
            sections.append((tok, tokens[i + 1], []))
            i += 3
            continue
        sections[-1][2].append(tok)
        i += 1

    chapters: list[Chapter] = []
    chap_title, chap_loc, chap_intro, chap_notes = None, SourceLocation(path, 1), None, []

    def close_chapter():
        if chap_title is None and not chap_notes:
            return
        t = chap_title or title or path.stem
        chapters.append(Chapter(t, chap_intro or Fragment(""), tuple(chap_notes), chap_loc, slugify(t)))

    for head, inline, body_tokens in sections:
        if head is None:
            if any(t.type not in ("front_matter",) for t in body_tokens) and _has_content(body_tokens):
                chap_intro = r.blocks(body_tokens)
            continue
        loc = SourceLocation(path, head.map[0] + 1)
        if head.tag == "h1":
            close_chapter()
            chap_title, chap_loc, chap_notes = inline.content.strip(), loc, []
            chap_intro = r.blocks(body_tokens)
            continue
        chapter_tag = "chapter::" + slugify(chap_title or title or path.stem)
        chap_notes.append(_note(r, head, inline, body_tokens, loc, deck, tags + (chapter_tag,), diags))
    close_chapter()
    return SourceFile(path, deck, tags, title, order, tuple(chapters))


def _default_deck(tokens: list[Token], path: Path, diags: Diagnostics) -> str:
    """The deck of a file without front matter: its first '#' title, else its file name."""
    first = next((tokens[i + 1] for i, t in enumerate(tokens[:-1])
                  if t.type == "heading_open" and t.tag == "h1" and t.level == 0), None)
    title = " ".join(HEADING_ID_RE.sub("", first.content).split()) if first is not None else ""
    deck, source = (title, "its '#' title") if title and not _deck_problem(title) else (path.stem, "the file name")
    if _deck_problem(deck):
        deck, source = "Default", "the default"
    diags.note(SourceLocation(path, 1), f"no front matter: deck '{deck}' (from {source}); "
                                        "a front matter 'deck:' line chooses another")
    return deck


def _has_content(tokens: list[Token]) -> bool:
    return any(t.type not in ("paragraph_open", "paragraph_close") or t.content.strip() for t in tokens)


def _note(r: _Renderer, head: Token, inline: Token, body: list[Token], loc: SourceLocation,
          deck: str, tags: tuple[str, ...], diags: Diagnostics) -> Note:
    heading = inline.content.strip()
    if not heading:
        diags.error(loc, "question heading is empty")
    note_id = head.meta.get("id")
    explicit = note_id is not None
    if explicit and not ID_RE.fullmatch(note_id):
        col = r.lines[loc.line - 1].rfind("{#") + 1
        diags.error(loc.shifted(col=col), f"invalid id '{note_id}': use letters, digits, '.', '-' and '_'")
    if not explicit:
        note_id = derive_id(r.path, heading)
        diags.warning(loc, f"question has no {{#id}}; derived '{note_id}' (run `make ids` to write it into the file)")
    answer_toks, detail_toks, depth = [], [], 0
    for tok in body:
        if tok.type == "container_details_open":
            depth += 1
            if depth == 1:
                continue
        elif tok.type == "container_details_close":
            depth -= 1
            if depth == 0:
                continue
        (detail_toks if depth else answer_toks).append(tok)
    answer = r.blocks(answer_toks)
    details = r.blocks(detail_toks) if detail_toks else None
    if not answer and not details:
        diags.error(loc, "question has no answer")
    unprotected = re.sub(r"<(pre|code)\b.*?</\1>", "", answer.html, flags=re.S)
    cloze = bool(CLOZE_RE.search(unprotected))
    for frag in (answer, details):
        if frag is not None and "**" in re.sub(r"<(pre|code)\b.*?</\1>", "", frag.html, flags=re.S):
            diags.warning(loc, "'**' left as literal text: the emphasis did not close (CommonMark needs the "
                               "closing '**' to follow a non-space and not sit between punctuation and a letter)")
    return Note(note_id, explicit, r.inline(inline), answer, details, cloze, deck, tags, loc, heading)


def content_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.md") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))


# path → (key, result, diagnostics) of its last parse in this process: a long-running caller
# (the watcher) re-parses only the files that changed.
_PARSED: dict[Path, tuple[tuple, SourceFile | None, tuple[Diagnostic, ...]]] = {}


def _listing(root: Path) -> tuple:
    """Every path in the content folder (symlink targets too): parsing checks that images exist."""
    return tuple((str(p), os.readlink(p) if p.is_symlink() else p.is_file()) for p in sorted(root.rglob("*")))


def _parse_cached(md: MarkdownIt, path: Path, root: Path, listing: tuple, diags: Diagnostics) -> SourceFile | None:
    try:
        st = path.stat()
        key = (root, listing, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    except OSError:
        key = None
    hit = _PARSED.get(path)
    if key is not None and hit is not None and hit[0] == key:
        diags.items.extend(hit[2])
        return hit[1]
    local = Diagnostics()
    sf = parse_file(md, path, root, local)
    diags.extend(local)
    try:
        unchanged = key is not None and path.stat().st_mtime_ns == key[3]
    except OSError:
        unchanged = False
    if unchanged:  # not saved again while it was being read
        _PARSED[path] = (key, sf, tuple(local.items))
    return sf


def parse_corpus(root: Path, diags: Diagnostics) -> Document:
    md = make_parser()
    root_resolved = root.resolve()
    files = []
    paths = content_files(root)
    listing = _listing(root)
    for stale in set(_PARSED) - set(paths):
        del _PARSED[stale]
    for path in paths:
        sf = _parse_cached(md, path, root_resolved, listing, diags)
        if sf is not None:
            files.append(sf)
    files.sort(key=lambda f: (f.order if f.order is not None else 0, str(f.path)))
    doc = Document(tuple(files), root_resolved)
    _check_ids_and_links(doc, diags)
    return doc


# Ids the pages use for themselves: the cheat sheet's controls, chapter, figure and index anchors.
PAGE_IDS = frozenset({"toolbar", "q", "count", "hide-all", "reveal-all", "theme", "main"})
PAGE_ID_RE = re.compile(r"(fig|chapter|term)-\d+|f\d+-.*|g[0-9a-f]{10}")


def _check_ids_and_links(doc: Document, diags: Diagnostics) -> None:
    seen: dict[str, Note] = {}
    chapter_ids = {f"ch-{c.slug}" for c in doc.chapters}
    for note in doc.notes:
        first = seen.get(note.id)
        if note.id in PAGE_IDS or note.id in chapter_ids or PAGE_ID_RE.fullmatch(note.id):
            diags.warning(note.loc, f"id '{note.id}' is also one of the pages' own anchors (controls, chapters, "
                                    "figures): links to it may land there; choose another")
        if first is not None:
            diags.error(note.loc, f"duplicate id '{note.id}' (first used at {first.loc})")
        else:
            seen[note.id] = note
    anchors = set(seen) | {c.slug for c in doc.chapters}
    for note in doc.notes:
        for frag in (note.question, note.answer, note.details):
            for link in frag.links if frag else ():
                if link.target not in anchors:
                    diags.error(link.loc, f"link to unknown card '#{link.target}'")
