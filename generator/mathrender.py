"""TeX → KaTeX markup at build time (the only module that imports pykatex).

pykatex embeds KaTeX 0.16.22 in QuickJS, so no Node runs at build time; the CSS and
fonts come from the npm package of the same version (package.json, `make setup`).
"""
from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path

import pykatex

from .location import GeneratorError

KATEX_VERSION = "0.16.22"
ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "node_modules" / "katex" / "dist"
_POS_RE = re.compile(r" at position (\d+)")


@lru_cache(maxsize=None)
def render(tex: str, display: bool, mathml: bool = False) -> str:
    """KaTeX HTML for one formula; each distinct (tex, mode) is rendered once per process.

    Raises ValueError for TeX that KaTeX cannot parse.
    """
    try:
        return pykatex.renderToString(tex, displayMode=display, throwOnError=True,
                                      output="htmlAndMathml" if mathml else "html", strict="ignore")
    except pykatex.ParseError as e:
        raise ValueError(str(e)) from None


def syntax_error(tex: str) -> tuple[str, int] | None:
    """None if KaTeX renders ``tex``; else (message, 1-based column inside tex, 0 if unknown)."""
    try:
        render(tex, True)
    except ValueError as e:
        message = str(e)
        m = _POS_RE.search(message)
        col = int(m.group(1)) if m else 0
        short = message.split(" at position")[0].split(": \\")[0] if m else message
        return short.removeprefix("KaTeX parse error: "), col
    return None


def dist() -> Path:
    if not (DIST / "katex.min.css").is_file():
        raise GeneratorError(f"KaTeX assets missing in {DIST}: run `make setup` (npm ci installs katex@{KATEX_VERSION})")
    return DIST


def css(embed_fonts: bool) -> str:
    """katex.min.css with font URLs either absolute file URLs or inlined woff2 data URIs."""
    base = dist()
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
