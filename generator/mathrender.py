"""TeX → KaTeX markup at build time (the only module that imports pykatex).

pykatex embeds KaTeX 0.16.22 in QuickJS, so no Node runs at build time; the CSS and
fonts come from the npm package of the same version (see :mod:`.resources`).
"""
from __future__ import annotations

import base64
import html
import re

import pykatex

from .cache import JsonCache
from .model import split_math
from .resources import KATEX_VERSION, katex_dir

__all__ = ["KATEX_VERSION", "Katex", "css", "syntax_error"]
_POS_RE = re.compile(r" at position (\d+)")


class Katex:
    """Renders formulas, each distinct (TeX, mode) once.

    With a :class:`JsonCache` (an emitter's own, under ``OUT/.cache``), markup is kept
    between builds, so an unchanged formula is rendered once, ever.
    """

    def __init__(self, cache: JsonCache | None = None):
        self.cache = cache if cache is not None else JsonCache(None, KATEX_VERSION)

    def render(self, tex: str, display: bool, mathml: bool = False) -> str:
        """KaTeX HTML for one formula. Raises ValueError for TeX that KaTeX cannot parse."""
        key = f"{int(display)}{int(mathml)}{tex}"
        found = self.cache.get(key)
        if found is not None:
            return found
        try:
            out = pykatex.renderToString(tex, displayMode=display, throwOnError=True,
                                         output="htmlAndMathml" if mathml else "html", strict="ignore")
        except pykatex.ParseError as e:
            raise ValueError(str(e)) from None
        self.cache.put(key, out)
        return out

    def label(self, text: str, mathml: bool = False) -> str:
        """A plain label (figure caption) as HTML: escaped text, ``$…$`` typeset inline.

        Labels are checked for matplotlib's mathtext, not for KaTeX: what KaTeX cannot
        render is shown as written rather than failing the build.
        """
        out = []
        for is_math, part in split_math(text):
            if is_math:
                try:
                    out.append(self.render(part, False, mathml=mathml))
                    continue
                except ValueError:
                    part = f"${part}$"
            out.append(html.escape(part))
        return "".join(out)

    def save(self) -> None:
        self.cache.save()


def cache_for(path) -> JsonCache:
    """The on-disk cache of rendered markup at ``path`` (emptied when KaTeX changes)."""
    return JsonCache(path, KATEX_VERSION)


def syntax_error(tex: str) -> tuple[str, int] | None:
    """None if KaTeX renders ``tex``; else (message, 1-based column inside tex, 0 if unknown)."""
    try:
        pykatex.renderToString(tex, displayMode=True, throwOnError=True, output="html", strict="ignore")
    except pykatex.ParseError as e:
        message = str(e)
        m = _POS_RE.search(message)
        col = int(m.group(1)) if m else 0
        short = message.split(" at position")[0].split(": \\")[0] if m else message
        return short.removeprefix("KaTeX parse error: "), col
    return None


def css(embed_fonts: bool) -> str:
    """katex.min.css with font URLs either absolute file URLs or inlined woff2 data URIs."""
    base = katex_dir()
    text = (base / "katex.min.css").read_text(encoding="utf-8")

    def font(m: re.Match[str]) -> str:
        name = m.group(1)
        path = base / "fonts" / name
        if embed_fonts:
            return f"url(data:font/woff2;base64,{base64.b64encode(path.read_bytes()).decode()})"
        return f"url({path.as_uri()})"

    # keep only the woff2 source of each @font-face: every current browser and WeasyPrint read it
    text = re.sub(r"url\(fonts/([^)]+\.woff2)\) format\(\"woff2\"\)(,url\(fonts/[^)]+\) format\(\"[a-z]+\"\))*",
                  lambda m: font(m) + ' format("woff2")', text)
    return text
