"""What a build keeps between runs: one JSON cache class and one fingerprint helper.

Every stage that remembers work (formula checks, KaTeX markup, checked plot specs, the
manifest of outputs) uses :class:`JsonCache`; every hash of inputs goes through
:func:`fingerprint`, which streams files, so a large file is never read whole.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from .context import write_atomic

_CHUNK = 1 << 20


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: for a block that makes many objects which reference counting
    frees when it ends (an emitter's notes and rows); the collector would only scan them in vain."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """For blocks that build many small containers kept for the rest of the build (a large JSON file, a
    decoded model): no cyclic garbage collection inside, and what is alive at the end is exempted from
    later collections (``gc.freeze``). Otherwise the collector scans those objects again and again as
    the heap grows, which costs more than building them. They form no cycles: when they are no longer
    used, reference counting still frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def end_long_lived() -> None:
    """What earlier builds in this process froze (the watcher builds again and again) is collected as
    usual from now on."""
    gc.unfreeze()


def fingerprint(*parts: str | bytes | Path | Iterable[str | Path]) -> str:
    """SHA-256 over strings, bytes and files (by name and content), each part delimited.

    A folder is every file under it (``__pycache__`` excluded), in sorted order, with
    its path relative to the folder.
    """
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            h.update(part.encode())
        elif isinstance(part, bytes):
            h.update(part)
        elif isinstance(part, Path):
            _hash_path(h, part)
        else:  # files, with names or stamps (str) in between
            for p in part:
                if isinstance(p, Path):
                    _hash_file(h, p) if p.is_file() else _hash_path(h, p)
                else:
                    h.update(str(p).encode() + b"\0")
        h.update(b"\0\1")
    return h.hexdigest()


def _hash_path(h, path: Path) -> None:
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(path)).encode() + b"\0")
                _hash_file(h, p)
    elif path.is_file():
        h.update(path.name.encode() + b"\0")
        _hash_file(h, path)


def _hash_file(h, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    h.update(b"\0")


class JsonCache:
    """A JSON file of key → value.

    ``version`` names what the values depend on besides their key (checking code, a
    library version): a file written under another version starts empty. With
    ``prune`` (the default), :meth:`save` keeps only the entries read or written in this
    run, so the file holds what the content uses now. Writes go through ``write_atomic``.
    A ``path`` of ``None`` keeps everything in memory.
    """

    def __init__(self, path: Path | None, version: str, *, prune: bool = True):
        self.path, self.version, self.prune = path, version, prune
        self.data: dict[str, object] = {}
        self.used: set[str] = set()
        self.dirty = False
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
                with long_lived():
                    loaded = json.loads(text)
                if loaded.get("version") == version and isinstance(loaded.get("entries"), dict):
                    self.data = loaded["entries"]
            except (OSError, ValueError, AttributeError):
                pass

    def get(self, key: str, default=None):
        if key in self.data:
            self.used.add(key)
            return self.data[key]
        return default

    def keep(self, keys: Iterable[str]) -> bool:
        """Count ``keys`` as used (kept by :meth:`save`), as a result derived from them is; False if one is
        missing, and then the derived result must be made again."""
        keys = set(keys)
        if not keys <= self.data.keys():
            return False
        self.used |= keys
        return True

    def put(self, key: str, value) -> None:
        self.used.add(key)
        if self.data.get(key) != value:
            self.data[key] = value
            self.dirty = True

    def save(self) -> None:
        stale = self.prune and bool(set(self.data) - self.used)
        if self.path is None or not (self.dirty or stale):
            return
        kept = {k: v for k, v in self.data.items() if k in self.used} if self.prune else self.data
        text = json.dumps({"version": self.version, "entries": kept}, ensure_ascii=False, sort_keys=True)
        write_atomic(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        self.data, self.dirty = kept, False
