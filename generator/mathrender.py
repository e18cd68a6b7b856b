"""TeX → KaTeX markup at build time (the only module that imports pykatex).

pykatex embeds KaTeX 0.16.22 in QuickJS, so no Node runs at build time; the CSS and
fonts come from the npm package of the same version (package.json, `make setup`).
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pykatex

from .location import GeneratorError
from .model import split_math

KATEX_VERSION = "0.16.22"
ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "node_modules" / "katex" / "dist"
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


class _Store:
    """Rendered markup by (mode, TeX); kept on disk between builds when a path is given."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.data: dict[str, str] = {}
        self.used: set[str] = set()
        self.dirty = False

    def load(self, path: Path) -> None:
        self.path = path
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if loaded.get("katex") == KATEX_VERSION:
                self.data.update(loaded["markup"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass

    def save(self) -> None:
        if self.path is None or not (self.dirty or set(self.data) - self.used):
            return
        kept = {k: v for k, v in self.data.items() if k in self.used}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"katex": KATEX_VERSION, "markup": kept}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)
        self.dirty = False


_STORE = _Store()


def use_cache(path: Path) -> None:
    """Keep rendered formulas in ``path`` so an unchanged formula is rendered once, ever."""
    _STORE.load(path)


def save_cache() -> None:
    _STORE.save()


def render(tex: str, display: bool, mathml: bool = False) -> str:
    """KaTeX HTML for one formula; each distinct (tex, mode) is rendered once.

    Raises ValueError for TeX that KaTeX cannot parse.
    """
    key = f"{int(display)}{int(mathml)}{tex}"
    _STORE.used.add(key)
    found = _STORE.data.get(key)
    if found is not None:
        return found
    try:
        out = _katex(tex, displayMode=display, throwOnError=True, output="htmlAndMathml" if mathml else "html",
                     strict="ignore")
    except pykatex.ParseError as e:
        raise ValueError(str(e)) from None
    _STORE.data[key] = out
    _STORE.dirty = True
    return out


def label(text: str, mathml: bool = False) -> str:
    """A plain label (figure caption) as HTML: escaped text, ``$…$`` typeset inline.

    Labels are checked for matplotlib's mathtext, not for KaTeX: what KaTeX cannot
    render is shown as written rather than failing the build.
    """
    out = []
    for is_math, part in split_math(text):
        if is_math:
            try:
                out.append(render(part, False, mathml=mathml))
                continue
            except ValueError:
                part = f"${part}$"
        out.append(html.escape(part))
    return "".join(out)


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
