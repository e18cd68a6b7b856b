"""Code highlighting with Pygments (the only module that imports it)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pygments import __version__ as PYGMENTS_VERSION
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


@lru_cache(maxsize=64)
def _lexer(lang: str):
    try:
        return get_lexer_by_name(lang or "text")
    except ClassNotFound:
        return get_lexer_by_name("text")


@lru_cache(maxsize=4096)  # the watcher rebuilds the cheat sheet in-process on every save
def block(code: str, lang: str) -> str:
    return highlight(code, _lexer(lang.lower()), _FORMATTER)


def code(c) -> str:
    """A content model :class:`~.model.CodeBlock` as highlighted HTML (every emitter's ``code``)."""
    return block(c.code, c.lang)


class Highlighter:
    """:func:`code` with the results kept in a cache file: Pygments takes about 10 ms a block, and a
    build highlights every block of the content, edited or not."""

    def __init__(self, cache: Path | None):
        from .cache import JsonCache
        self.cache = JsonCache(cache, f"pygments {PYGMENTS_VERSION} / 1")

    def code(self, c) -> str:
        key = f"{c.lang}\0{c.code}"
        found = self.cache.get(key)
        if found is None:
            found = code(c)
            self.cache.put(key, found)
        return found

    def save(self) -> None:
        self.cache.save()


def css(dark: bool = False, scope: str = ".highlight") -> str:
    """Pygments class styles; a colour-blind-safe light style and a dark one."""
    style = "monokai" if dark else "default"
    return HtmlFormatter(style=style, cssclass="highlight").get_style_defs(scope)
