"""Code highlighting with Pygments (the only module that imports it)."""
from __future__ import annotations

from functools import lru_cache

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


@lru_cache(maxsize=64)
def _lexer(lang: str):
    try:
        return get_lexer_by_name(lang or "text")
    except ClassNotFound:
        return get_lexer_by_name("text")


def block(code: str, lang: str) -> str:
    return highlight(code, _lexer(lang.lower()), _FORMATTER)


def css(dark: bool = False, scope: str = ".highlight") -> str:
    """Pygments class styles; a colour-blind-safe light style and a dark one."""
    style = "monokai" if dark else "default"
    return HtmlFormatter(style=style, cssclass="highlight").get_style_defs(scope)


def token_classes() -> frozenset[str]:
    """Every class name :func:`block` can put on a token (for the sanitiser's allow-list)."""
    return frozenset(c for c in STANDARD_TYPES.values() if c) | {"highlight", "hll"}
