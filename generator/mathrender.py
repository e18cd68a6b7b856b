"""TeX → KaTeX markup at build time (the only module that imports pykatex).

pykatex embeds KaTeX 0.16.22 in QuickJS, so no Node runs at build time; the CSS and
fonts come from the npm package of the same version (see :mod:`.resources`).
"""
from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys

import pykatex

from .cache import JsonCache
from .model import split_math
from .resources import KATEX_VERSION, katex_dir

__all__ = ["KATEX_VERSION", "Katex", "css", "syntax_error"]
_POS_RE = re.compile(r" at position (\d+)")
SAFE_DEPTH = 16
"""Nesting (braces, \\left, \\begin, [) rendered in this process. The embedded JavaScript engine overflows
its stack at about 20 levels of the costliest constructs (pmatrix, \\boxed) and, after a few overflows,
corrupts its heap and aborts the whole process; deeper formulas go to a throw-away process."""
ISOLATED_SECONDS = 20
_DEPTH_RE = re.compile(r"\\left(?![A-Za-z])|\\begin(?![A-Za-z])|\\right(?![A-Za-z])|\\end(?![A-Za-z])|\\.|[{}\[\]]")
_ISOLATED = """
import json, resource, sys
cap = 1024 * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import pykatex
tex, options = json.loads(sys.stdin.read())
try:
    print(json.dumps(["ok", pykatex.renderToString(tex, **options)]))
except pykatex.ParseError as e:
    print(json.dumps(["error", str(e)]))
"""


class TooDeep(ValueError):
    """Valid TeX, perhaps, but nested beyond what the embedded KaTeX can typeset."""


def depth(tex: str) -> int:
    """Deepest nesting of groups, \\left…\\right, environments and brackets."""
    level = deepest = 0
    for m in _DEPTH_RE.finditer(tex):
        t = m.group(0)
        if t in ("{", "[", "\\left", "\\begin"):
            level += 1
            deepest = max(deepest, level)
        elif t in ("}", "]", "\\right", "\\end"):
            level = max(0, level - 1)
    return deepest


def _katex(tex: str, **options) -> str:
    """pykatex.renderToString, in a throw-away process when ``tex`` is nested deeper than SAFE_DEPTH.

    Raises pykatex.ParseError for TeX KaTeX rejects, TooDeep when the engine gives up on its depth."""
    if depth(tex) <= SAFE_DEPTH:
        return pykatex.renderToString(tex, **options)
    try:
        done = subprocess.run([sys.executable, "-c", _ISOLATED], input=json.dumps([tex, options]), text=True,
                              capture_output=True, timeout=ISOLATED_SECONDS)
        kind, text = json.loads(done.stdout) if done.returncode == 0 else ("crash", "")
    except (subprocess.TimeoutExpired, ValueError, OSError):
        kind, text = "crash", ""
    if kind == "ok":
        return text
    if kind == "error" and "size exceeded" not in text and "stack" not in text:
        raise pykatex.ParseError(text)
    raise TooDeep(f"nested {depth(tex)} levels deep: more than the embedded KaTeX engine can typeset "
                  f"(it handles about {SAFE_DEPTH + 4})")


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
            out = _katex(tex, displayMode=display, throwOnError=True, output="htmlAndMathml" if mathml else "html",
                         strict="ignore")
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
    """None if KaTeX renders ``tex``; else (message, 1-based column inside tex, 0 if unknown).

    A message starting "nested " means the formula was too deep to check, not that it is wrong."""
    try:
        _katex(tex, displayMode=True, throwOnError=True, output="html", strict="ignore")
    except TooDeep as e:
        return str(e), 0
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
