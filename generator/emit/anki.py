"""Content model → one .apkg (the only module that imports genanki).

Anki matches an imported note to an existing one by GUID and updates it only when the
note type id and schema are unchanged and the incoming ``mod`` is newer. So: GUIDs come
from note ids, note types have fixed ids and a frozen schema, and each note's ``mod`` is
read from a lock file that advances it only when the note's content changed.
"""
from __future__ import annotations

import functools
import hashlib
import html
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import genanki

from .. import highlight
from ..cache import gc_paused
from ..context import BuildContext, Emitted, display_path, write_atomic
from ..location import GeneratorError
from ..model import (CheckBlock, Cloze, Document, Formula, Image, Link, Note, PlotBlock, cloze_html, fill,
                     split_math)
from ..resources import template
from ..sanitise import tex_problem

NAMESPACE = "dl-study-generator"
LOCK_NAME = "deck.lock.json"
BASIC_MODEL_ID = 1842907731  # fixed forever: changing it forks the note type in every collection
CLOZE_MODEL_ID = 1842907732
# Frozen schemas. Adding or renaming a field or template makes Anki import a copy of the
# note type and skip every update, so these lists must never change.
BASIC_FIELDS = ["Front", "Back", "Extra", "Source", "Id"]
CLOZE_FIELDS = ["Text", "Title", "Extra", "Source", "Id"]


def _model_css() -> str:
    css = highlight.css
    return (template("anki.css").read_text(encoding="utf-8") + "\n" + css(scope=".card .highlight") + "\n"
            + css(dark=True, scope=".nightMode .highlight") + "\n" + css(dark=True, scope=".night_mode .highlight"))


def _models(css: str) -> tuple[genanki.Model, genanki.Model]:
    source = '<div class="source">{{Source}}</div>'
    extra = '{{#Extra}}<div class="extra">{{Extra}}</div>{{/Extra}}'
    basic = genanki.Model(
        BASIC_MODEL_ID, "DL Study · Basic",
        fields=[{"name": n} for n in BASIC_FIELDS],
        templates=[{
            "name": "Card 1",
            "qfmt": '<div class="question">{{Front}}</div>',
            "afmt": '<div class="question">{{Front}}</div>\n<hr id=answer>\n'
                    f'<div class="answer">{{{{Back}}}}</div>\n{extra}\n{source}',
        }],
        css=css, sort_field_index=0)
    cloze = genanki.Model(
        CLOZE_MODEL_ID, "DL Study · Cloze",
        fields=[{"name": n} for n in CLOZE_FIELDS],
        templates=[{
            "name": "Cloze",
            # the front hides the text's check boxes: they would give the clozes away
            "qfmt": '{{#Title}}<div class="title">{{Title}}</div>{{/Title}}\n<div class="answer front">{{cloze:Text}}</div>',
            "afmt": '{{#Title}}<div class="title">{{Title}}</div>{{/Title}}\n<div class="answer">{{cloze:Text}}</div>\n'
                    f'<hr id=answer>\n{extra}\n{source}',
        }],
        css=css, model_type=genanki.Model.CLOZE, sort_field_index=0)
    return basic, cloze


class _LockedNote(genanki.Note):
    """A note whose ``mod`` comes from the lock file, not from the build time."""

    def __init__(self, *args, mod: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.mod = mod

    def write_to_db(self, cursor, timestamp, deck_id, id_gen):
        super().write_to_db(cursor, self.mod, deck_id, id_gen)


_DIGIT_PAIRS = [a + b for a in genanki.util.BASE91_TABLE for b in genanki.util.BASE91_TABLE]


def guid(note_id: str) -> str:
    """``genanki.guid_for(NAMESPACE, note_id)``, the same string in a third of its time (it runs once per
    note): the hash's first 8 bytes in base 91, two digits at a time."""
    n = int.from_bytes(hashlib.sha256(f"{NAMESPACE}__{note_id}".encode()).digest()[:8], "big")
    pairs = []
    while n:
        n, r = divmod(n, 91 * 91)
        pairs.append(_DIGIT_PAIRS[r])
    digits = "".join(reversed(pairs))
    return digits[1:] if digits[:1] == "a" else digits  # a leading zero digit, from the last pair


def deck_id(name: str) -> int:
    return (1 << 30) + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % (1 << 30)


def _escape_tex(tex: str) -> str:
    """'"' too, so that a formula can never end an attribute it might stand in (issue 15.1);
    "'" is left alone: every attribute here is double-quoted, and f'(x) stays as it was."""
    return html.escape(tex, quote=False).replace('"', "&quot;")


def _tex(f: Formula, cloze: bool) -> str:
    tex = " ".join(f.tex.split())  # a newline inside MathJax breaks it on some clients
    if cloze:
        while "}}" in tex:
            tex = tex.replace("}}", "} }")
        while "::" in tex:
            tex = tex.replace("::", ": :")
    tex = _escape_tex(tex)
    return f"\\[{tex}\\]" if f.display else f"\\({tex}\\)"


_TEX_COMMENT_RE = re.compile(r"(?<!\\)%.*")


def _check_box(c: CheckBlock, ctx: BuildContext, cloze: bool) -> str:
    """A check block as a small box on the card, so the sentence that leads into it is not left
    dangling. Each relation is set inline (display style, no display margins) to stay compact on a
    phone; the sympy mark appears only when every line was verified, as in the PDF."""
    statuses = [ctx.formula(f) for f in c.lines]
    verified = bool(statuses) and all(s is not None and s.status == "verified" for s in statuses)
    head = '<div class="check-head">✓ 已由 sympy 验证</div>' if verified else ""
    rows = []
    for f in c.lines:
        tex = _TEX_COMMENT_RE.sub("", f.tex).strip()  # "% tol=…" is for the checker, and would eat "\)"
        line = _tex(Formula(r"\displaystyle " + tex, False, f.loc), cloze)
        rows.append(f'<div class="check-line">{line}</div>')
    return f'<div class="check">{head}{"".join(rows)}</div>\n'  # styled as the box


@dataclass
class _Media:
    files: dict[str, Path]

    def add(self, path: Path) -> str:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        name = f"dl-{digest}{path.suffix.lower()}"
        self.files[name] = path
        return name


def _field(frag, ctx: BuildContext, media: _Media, cloze: bool, cloze_text: bool = False) -> str:
    """One field's HTML. ``cloze``: a field of a cloze note (Anki must not see ``}}`` in its math);
    ``cloze_text``: the field Anki makes cards from, where clozes are written back as ``{{cN::…}}``."""
    if frag is None:
        return ""

    def image(img: Image) -> str:
        return f'<img src="{media.add(img.path)}" alt="{html.escape(img.alt)}">'

    def plot(p: PlotBlock) -> str:
        fig = ctx.figure(p)
        if fig is None or fig.png is None:
            return ""
        text = "".join(f"\\({_escape_tex(t)}\\)" if is_math and not tex_problem(t) else
                       html.escape(f"${t}$" if is_math else t) for is_math, t in split_math(fig.caption))
        cap = f'<div class="caption">{text}</div>' if text else ""
        return (f'<div class="plot"><div class="figure"><img src="{media.add(fig.png)}" '
                f'alt="{html.escape(fig.alt)}">{cap}</div></div>\n')

    def check(c: CheckBlock) -> str:
        return _check_box(c, ctx, cloze)

    def link(target: Link, inner: str) -> str:  # no page to jump to on a card: marked, for the template's CSS
        return f'<span class="ref" data-ref="{html.escape(target.target)}">{inner}</span>'

    def anki_cloze(c: Cloze, inner: str) -> str:
        return f"{{{{c{c.number}::{inner}{'::' + html.escape(c.hint, quote=False) if c.hint else ''}}}}}"

    out = fill(frag, formula=lambda f: _tex(f, cloze), plot=plot, check=check, image=image, code=highlight.code,
               link=link, cloze=anki_cloze if cloze_text else cloze_html)
    return out.strip()


def _source(note: Note, root: Path) -> str:
    """``content/02-cnn.md:42``: the same on every machine, wherever the build ran from."""
    return _shown_path(note.loc.path, root) + f":{note.loc.line}"


@functools.lru_cache(maxsize=4096)
def _shown_path(path: Path, root: Path) -> str:
    """Once per file, not once per note: resolving a path asks the file system."""
    path = path.resolve()
    return html.escape(f"{root.name}/{path.relative_to(root).as_posix()}" if path.is_relative_to(root)
                       else display_path(path))


def note_fields(note: Note, ctx: BuildContext, media: _Media, root: Path) -> list[str]:
    source = _source(note, root)
    question = _field(note.question, ctx, media, note.cloze)
    extra = _field(note.details, ctx, media, note.cloze)
    if note.cloze:
        return [_field(note.answer, ctx, media, True, cloze_text=True), question, extra, source, note.id]
    return [question, _field(note.answer, ctx, media, False), extra, source, note.id]


def _load_lock(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("version") == 1:
            return data
    except (OSError, ValueError):
        pass
    return {"version": 1, "models": {}, "notes": {}}


def _stamp(entries: dict, key: str, digest: str, now: int) -> int:
    old = entries.get(key)
    if old and old.get("hash") == digest:
        return int(old["mod"])
    mod = max(now, int(old["mod"]) + 1) if old else now
    entries[key] = {"hash": digest, "mod": mod}
    return mod


_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9._-]+")
_HEX_RE = re.compile(r"[0-9a-f]+")


def _entry_text(key: str, entry: dict) -> str:
    """``"key": {"hash": "…", "mod": 1}``, as json.dumps writes it, without calling it twice per note."""
    digest, mod = entry.get("hash"), entry.get("mod")
    if (len(entry) == 2 and type(mod) is int and isinstance(digest, str) and _HEX_RE.fullmatch(digest)
            and _PLAIN_KEY_RE.fullmatch(key)):
        return f'  "{key}": {{"hash": "{digest}", "mod": {mod}}}'
    return f"  {json.dumps(key, ensure_ascii=False)}: {json.dumps(entry, sort_keys=True)}"


def _lock_text(lock: dict) -> str:
    """One note per line: small diffs when the content changes, and fast to write."""
    def block(entries: dict) -> str:
        return ",\n".join(_entry_text(k, v) for k, v in sorted(entries.items()))
    return (f'{{"version": 1,\n "models": {{\n{block(lock["models"])}\n }},\n'
            f' "notes": {{\n{block(lock["notes"])}\n }}\n}}\n')


def emit(doc: Document, out: Path, ctx: BuildContext) -> Emitted:
    with gc_paused():  # some 20 objects per note, all freed when the package is written
        return _emit(doc, out, ctx)


def _emit(doc: Document, out: Path, ctx: BuildContext) -> Emitted:
    lock_path = doc.root / LOCK_NAME
    lock = _load_lock(lock_path)
    now = int(time.time())
    css = _model_css()
    basic, cloze = _models(css)
    model_mods = []
    for m in (basic, cloze):
        digest = hashlib.sha256(json.dumps([m.name, m.fields, m.templates, m.css]).encode()).hexdigest()
        model_mods.append(_stamp(lock["models"], str(m.model_id), digest, now))
    media = _Media({})
    decks: dict[str, genanki.Deck] = {}
    mods = list(model_mods)
    seen = set()
    for note in doc.notes:
        fields = note_fields(note, ctx, media, doc.root)
        model = cloze if note.cloze else basic
        tags = sorted(set(note.tags))
        digest = hashlib.sha256("\x00".join([str(model.model_id), *fields, *tags]).encode()).hexdigest()
        mod = _stamp(lock["notes"], note.id, digest, now)
        mods.append(mod)
        seen.add(note.id)
        deck = decks.get(note.deck)
        if deck is None:
            deck = decks[note.deck] = genanki.Deck(deck_id(note.deck), note.deck)
        deck.add_note(_LockedNote(model=model, fields=fields, tags=tags, guid=guid(note.id), mod=mod))
    removed = sorted(set(lock["notes"]) - seen)
    for key in removed:
        del lock["notes"][key]
    package = genanki.Package(list(decks.values()), media_files=[str(p) for p in media.files.values()])
    # genanki stores media under their own basenames: give it files named as the fields say.
    staging = out / ".cache" / "anki-media"
    staging.mkdir(parents=True, exist_ok=True)
    files = []
    for name, src in sorted(media.files.items()):
        dst = staging / name
        if not dst.exists():  # named by content hash; atomic, so a killed build leaves no torn copy
            write_atomic(dst, lambda tmp, src=src: tmp.write_bytes(src.read_bytes()))
        files.append(str(dst))
    package.media_files = files
    target = out / f"{ctx.output_name}.apkg"
    new_lock = _lock_text(lock)

    def write(tmp: Path) -> None:
        # The deck is complete before the lock changes and replaces the old one only after:
        # a lock that cannot be written (read-only notes) leaves both files as they were.
        package.write_to_file(str(tmp), timestamp=max(mods, default=now))
        try:
            if not lock_path.is_file() or lock_path.read_text(encoding="utf-8") != new_lock:
                write_atomic(lock_path, lambda t: t.write_text(new_lock, encoding="utf-8"))
        except OSError as e:
            raise GeneratorError(f"cannot write {display_path(lock_path)} ({e.strerror}): the lock file "
                                 "records note versions and must be saved with the notes; "
                                 "nothing was changed") from None

    write_atomic(target, write)
    return Emitted((target,), summary=f"{len(media.files)} media files", notes=_removed_notice(removed))


def _removed_notice(removed: list[str]) -> tuple[str, ...]:
    """How to find, in Anki, the notes that left the content (an import never deletes)."""
    if not removed:
        return ()
    query = " or ".join(f'"Id:{r}"' for r in removed)
    return (f"note: {len(removed)} notes left the content since the last build; "
            f"to delete them in Anki, search the browser for: {query}",)
