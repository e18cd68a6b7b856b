"""Content files → content model: front matter, chapters, notes and their fragments.

The Markdown itself is rendered by :mod:`.markdown` (markdown-it and its rules). Each file is parsed
on its own, so :func:`parse_corpus` keeps every file's result (its part of the model and its
diagnostics, as :mod:`.modeljson` lists) in a cache keyed by the file's text, and parses the files
that changed in worker processes when there are enough of them to pay for the processes.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from . import modeljson, sanitise
from .cache import JsonCache, fingerprint, long_lived
from .location import Diagnostic, Diagnostics, SourceLocation
from .model import Chapter, Document, Fragment, Note, SourceFile
from .structure import HEADING_ID_RE, check_structure

if TYPE_CHECKING:  # markdown-it (and PyYAML) are imported when a file must be parsed, not when it is cached
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    from .markdown import Parts

ID_RE = re.compile(r"[A-Za-z0-9._-]+")
MISSING_ID = "missing-id"
FRONT_KEYS = {"deck": str, "tags": list, "title": str, "order": int}

MAX_FILE_BYTES = 32 * 1024 * 1024
# attributes markdown-it itself writes; everything else on a token came from '{…}'
_OWN_ATTRS = {"link_open": {"title"}, "image": {"src", "alt", "title"}}


class _FileRenderer:
    """Renders token ranges of one file into Fragments."""

    def __init__(self, md: MarkdownIt, path: Path, root: Path, lines: list[str], diags: Diagnostics,
                 looked_up: list[str]):
        self.md, self.path, self.root, self.lines, self.diags = md, path, root, lines, diags
        self.file_dir = path.resolve().parent
        self.looked_up = looked_up
        from .markdown import Parts
        self.parts = Parts

    def _collect(self):
        return self.parts(self.path, self.file_dir, self.root, self.diags, self.lines, looked_up=self.looked_up)

    def _finish(self, c: Parts, html: str, text: str) -> Fragment:
        # One allow-list for every fragment, whatever syntax produced it; placeholders are
        # filled in later with trusted markup only.
        return Fragment(sanitise.clean(html), tuple(c.formulas), tuple(c.plots), tuple(c.checks),
                        tuple(c.images), tuple(c.code), tuple(c.links), text, tuple(c.clozes), tuple(c.terms),
                        tuple(c.tables))

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
    from . import yamlread
    try:
        node = yamlread.load("\n".join(lines[1:end]), 2)
    except yamlread.YamlError as e:
        diags.error(SourceLocation(path, e.line, e.col),
                    f"malformed YAML front matter: {e}" if e.syntax else f"front matter: {e}")
        return {}, body
    if node is not None and not isinstance(node.value, dict):
        diags.error(SourceLocation(path, 2), "front matter must be a mapping of keys to values")
        return {}, body
    fields = node.value if node is not None else {}
    data = {key: yamlread.plain(value) for key, value in fields.items()}
    key_line = {key: value.line for key, value in fields.items()}
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
            shown = repr(tag) if len(repr(tag)) <= 60 else repr(tag)[:57] + "…"
            diags.error(SourceLocation(path, key_line.get("tags", 2)), f"tag {shown} must be a non-empty string without spaces")
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
    return parse_text(md, path, root, text, diags)


def parse_text(md: MarkdownIt, path: Path, root: Path, text: str, diags: Diagnostics,
               looked_up: list[str] | None = None) -> SourceFile:
    """One file's text (as :func:`read_source` returns it) → its part of the model.

    ``looked_up`` collects the other paths the result depends on (images), for the cache."""
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
    r = _FileRenderer(md, path, root, lines, diags, looked_up if looked_up is not None else [])

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
            if _has_content(body_tokens):
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


def _note(r: _FileRenderer, head: Token, inline: Token, body: list[Token], loc: SourceLocation,
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
        diags.warning(loc, f"question has no {{#id}}; derived '{note_id}' (run `make ids` to write it into the file)",
                      code=MISSING_ID)
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
    cloze = bool(answer.clozes)
    question = r.inline(inline)
    for frag, part in ((question, "question"), (details, "details")):
        for c in frag.clozes if frag is not None else ():
            diags.warning(c.loc, f"cloze in the {part} makes no card (only the answer's clozes do); "
                                 "it is shown highlighted")
    for toks in (answer_toks, detail_toks):
        if any(c.type == "text" and "**" in c.content for t in toks for c in t.children or ()):
            diags.warning(loc, "'**' left as literal text: the emphasis did not close (CommonMark needs the "
                               "closing '**' to follow a non-space and not sit between punctuation and a letter)")
    return Note(note_id, explicit, question, answer, details, cloze, deck, tags, loc, heading)


def content_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.md") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))


# path → (key, result, diagnostics, parse cache key) of its last parse in this process: a long-running
# caller (the watcher) re-parses only the files that changed, and reads the parse cache only then.
_PARSED: dict[Path, tuple[tuple, SourceFile | None, tuple[Diagnostic, ...], str | None]] = {}

CACHE_VERSION = fingerprint(
    sanitise.ENGINE,
    *(Path(__file__).parent / m for m in ("parse.py", "markdown.py", "sanitise.py", "structure.py", "yamlread.py",
                                          "model.py", "location.py", "modeljson.py")),
    # each names its version there; read, not imported, so that a build with every file cached skips them
    *(Path(spec.origin) for name in ("markdown_it", "mdit_py_plugins", "yaml")
      if (spec := importlib.util.find_spec(name)) is not None and spec.origin))[:16]
"""A file's parse depends on its text, the parsing code and the libraries it calls."""
PARALLEL_MIN_CHARS = 200_000
"""Parse in worker processes too when the files to parse hold at least this much text (and there are
two cores): below it, starting the processes costs more than they save."""
MAX_WORKERS = 4


def _listing(root: Path) -> tuple:
    """Every path in the content folder (symlink targets too): parsing checks that images exist."""
    return tuple((str(p), os.readlink(p) if p.is_symlink() else p.is_file()) for p in sorted(root.rglob("*")))


def _stat_key(path: Path, root: Path, listing: tuple) -> tuple | None:
    try:
        st = path.stat()
        return root, listing, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino
    except OSError:
        return None


def _looked_up_state(paths: list[str]) -> dict[str, list]:
    """What the parse saw of each path it looked up: where it leads, and that file's size and time."""
    state = {}
    for p in paths:
        try:
            resolved = Path(p).resolve()
            st = resolved.stat()
            state[p] = [str(resolved), st.st_mode, st.st_size, st.st_mtime_ns]
        except (OSError, RuntimeError):
            state[p] = None
    return state


def _cache_key(path: Path, root: Path, text: str) -> str:
    return fingerprint(str(path), str(path.resolve()), str(root), text)


@functools.cache
def _parser() -> MarkdownIt:
    from .markdown import make_parser
    return make_parser()


def _parse_one(path: Path, root: Path, text: str, encode: bool) -> tuple[SourceFile, list[Diagnostic], list | None]:
    """Parse one file's text; with ``encode``, also its cache entry (None if it cannot be cached)."""
    local, looked_up = Diagnostics(), []
    sf = parse_text(_parser(), path, root, text, local, looked_up)
    entry = None
    if encode:
        try:
            with long_lived():
                entry = [modeljson.encode_file(sf, local.items), _looked_up_state(looked_up)]
        except modeljson.Foreign:
            pass
    return sf, local.items, entry


def _parse_batch(batch: list[tuple[Path, Path, str]]) -> list[list | None]:
    """In a worker process: the cache entries of a few files (decoded by the parent)."""
    return [_parse_one(path, root, text, True)[2] for path, root, text in batch]


DECODE_COST = 1.2
"""A file parsed by a worker costs this process its decoding too: workers get that much less text."""


def _parse_all(todo: list[tuple[Path, str]], root: Path, encode: bool) -> list[tuple[SourceFile, list, list | None]]:
    """Parse the files (path, text), in worker processes when there is enough text; results in order.

    This process parses a share itself while the workers parse theirs: no core idles, and its own
    share needs no encoding for the trip back and no decoding."""
    if not todo:
        return []
    from .workers import cpu_count

    processes = min(cpu_count(), MAX_WORKERS + 1, len(todo))
    if processes < 2 or sum(len(text) for _, text in todo) < PARALLEL_MIN_CHARS:
        return [_parse_one(path, root, text, encode) for path, text in todo]
    from .workers import map_in_processes

    shares: list[list[int]] = [[] for _ in range(processes)]  # shares[0]: this process's
    load = [0.0] * processes
    for i in sorted(range(len(todo)), key=lambda i: -len(todo[i][1])):  # largest first, to the least loaded
        k = min(range(processes), key=load.__getitem__)
        shares[k].append(i)
        load[k] += len(todo[i][1]) * (1 if k == 0 else DECODE_COST)
    done: dict[int, tuple[SourceFile, list, list | None]] = {}

    def here() -> None:
        for i in shares[0]:
            done[i] = _parse_one(todo[i][0], root, todo[i][1], encode)

    batches = [share for share in shares[1:] if share]
    try:
        answers = map_in_processes(_parse_batch, [[(todo[i][0], root, todo[i][1]) for i in b] for b in batches],
                                   len(batches), meanwhile=here)
    except OSError:  # no processes to be had, or one died: parse the rest here
        answers = []
    with long_lived():
        for b, answer in zip(batches, answers):
            for i, entry in zip(b, answer):
                if entry is not None:  # else not encodable: parsed here below
                    sf, diags = modeljson.decode_file(entry[0], todo[i][0])
                    done[i] = sf, diags, entry
    return [done[i] if i in done else _parse_one(path, root, text, encode) for i, (path, text) in enumerate(todo)]


def parse_corpus(root: Path, diags: Diagnostics, cache_dir: Path | None = None) -> Document:
    """Every content file under ``root``; with ``cache_dir``, unchanged files come from its parse cache."""
    root_resolved = root.resolve()
    paths = content_files(root)
    listing = _listing(root)
    for stale in set(_PARSED) - set(paths):
        del _PARSED[stale]
    cache: JsonCache | None = None  # read only if a file is not in _PARSED (the watcher's rebuilds)
    found: dict[Path, tuple[SourceFile | None, list[Diagnostic]]] = {}
    todo: list[tuple[Path, str, str, list[Diagnostic], tuple | None]] = []
    for path in paths:
        key = _stat_key(path, root_resolved, listing)
        hit = _PARSED.get(path)
        if key is not None and hit is not None and hit[0] == key:
            found[path] = hit[1], list(hit[2])
            continue
        local = Diagnostics()
        text = read_source(path, root_resolved, local)
        if text is None:
            found[path] = None, local.items
            continue
        if cache is None:
            cache = JsonCache(cache_dir / "parse.json" if cache_dir is not None else None, CACHE_VERSION)
        cache_key = _cache_key(path, root_resolved, text)
        hit = _recall(cache.get(cache_key), path)
        if hit is not None:
            found[path] = hit[0], local.items + hit[1]
            _remember(path, key, hit[0], found[path][1], cache_key)
        else:
            todo.append((path, text, cache_key, local.items, key))
    parsed = _parse_all([(path, text) for path, text, *_ in todo], root_resolved, cache_dir is not None)
    for (path, _, cache_key, read_diags, key), (sf, more, entry) in zip(todo, parsed):
        found[path] = sf, read_diags + more
        if entry is not None:
            cache.put(cache_key, entry)
        _remember(path, key, sf, found[path][1], cache_key if entry is not None else None)
    if cache is not None:
        for path in paths:  # files this process knew unchanged: their entries stay
            known = _PARSED.get(path)
            if known is not None and known[3] is not None:
                cache.keep([known[3]])
        cache.save()
    files = []
    for path in paths:
        sf, file_diags = found[path]
        diags.items.extend(file_diags)
        if sf is not None:
            files.append(sf)
    files.sort(key=lambda f: (f.order if f.order is not None else 0, str(f.path)))
    doc = Document(tuple(files), root_resolved)
    _check_ids_and_links(doc, diags)
    return doc


def _recall(entry, path: Path) -> tuple[SourceFile, list[Diagnostic]] | None:
    """A cache entry's model and diagnostics, if the paths it looked up are as they were then."""
    try:
        data, looked_up = entry
        if _looked_up_state(list(looked_up)) != looked_up:
            return None
        with long_lived():
            return modeljson.decode_file(data, path)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):  # not an entry this code wrote
        return None


def _remember(path: Path, key: tuple | None, sf: SourceFile | None, file_diags: list[Diagnostic],
              cache_key: str | None) -> None:
    try:
        unchanged = key is not None and path.stat().st_mtime_ns == key[3]
    except OSError:
        unchanged = False
    if unchanged:  # not saved again while it was being read
        _PARSED[path] = (key, sf, tuple(file_diags), cache_key)


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
