"""TeX → SVG for the PDF: MathJax 3 (npm mathjax-full) through Node, once per build, cached on disk.

WeasyPrint lays out KaTeX's nested HTML boxes slowly (about 47 ms a formula); an SVG ``<img>`` costs
a fraction of that. MathJax draws glyphs as paths, which would make the PDF large (every glyph of
every formula drawn again), so each glyph is turned back into text in the KaTeX font it came from
(KaTeX's fonts are MathJax's TeX fonts): WeasyPrint embeds one subset of each font and the formulas
stay vector, selectable text. A glyph that no KaTeX font has at that code point keeps its path.
Formulas with CJK text (``\\text{常数}``) are left to KaTeX HTML by the caller: MathJax has no CJK glyphs.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont

from .cache import JsonCache
from .resources import KATEX_DIR, MATHJAX_DIR as MATHJAX

SCRIPT = Path(__file__).with_name("mathsvg.js")
KATEX_FONTS = KATEX_DIR / "fonts"
VERSION = "mathjax-full 3.2.2 / 1"  # cached SVG is dropped when this changes
EX = 0.442  # MathJax sizes are in ex of its TeX font: x-height 0.442 em

# MathJax TeX font variant → (KaTeX family, weight, style, font file)
VARIANTS = {
    "N": ("KaTeX_Main", "normal", "normal", "Main-Regular"),
    "B": ("KaTeX_Main", "bold", "normal", "Main-Bold"),
    "I": ("KaTeX_Math", "normal", "italic", "Math-Italic"),
    "BI": ("KaTeX_Math", "bold", "italic", "Math-BoldItalic"),
    "SO": ("KaTeX_Size1", "normal", "normal", "Size1-Regular"),
    "LO": ("KaTeX_Size2", "normal", "normal", "Size2-Regular"),
    "S3": ("KaTeX_Size3", "normal", "normal", "Size3-Regular"),
    "S4": ("KaTeX_Size4", "normal", "normal", "Size4-Regular"),
    "A": ("KaTeX_AMS", "normal", "normal", "AMS-Regular"),
    "D": ("KaTeX_AMS", "normal", "normal", "AMS-Regular"),
    "C": ("KaTeX_Caligraphic", "normal", "normal", "Caligraphic-Regular"),
    "CB": ("KaTeX_Caligraphic", "bold", "normal", "Caligraphic-Bold"),
    "FR": ("KaTeX_Fraktur", "normal", "normal", "Fraktur-Regular"),
    "FRB": ("KaTeX_Fraktur", "bold", "normal", "Fraktur-Bold"),
    "SS": ("KaTeX_SansSerif", "normal", "normal", "SansSerif-Regular"),
    "SSB": ("KaTeX_SansSerif", "bold", "normal", "SansSerif-Bold"),
    "SSI": ("KaTeX_SansSerif", "normal", "italic", "SansSerif-Italic"),
    "T": ("KaTeX_Typewriter", "normal", "normal", "Typewriter-Regular"),
    "SC": ("KaTeX_Script", "normal", "normal", "Script-Regular"),
}
_USE_RE = re.compile(r'<use data-c="([0-9A-F]+)" xlink:href="#MJX-\d+-TEX-([A-Z0-9]+)-[0-9A-F]+"'
                     r'(?: transform="([^"]*)")?></use>')
_PATH_RE = re.compile(r'<path id="([^"]+)" d="[^"]*"></path>')
_HREF_RE = re.compile(r'xlink:href="#([^"]+)"')
_CJK_RE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


@dataclass(frozen=True, slots=True)
class Svg:
    svg: str
    width: float   # em of the math font
    height: float
    valign: float


def has_cjk(tex: str) -> bool:
    return bool(_CJK_RE.search(tex))


@lru_cache(maxsize=None)
def _cmap(font_file: str) -> frozenset[int]:
    return frozenset(TTFont(KATEX_FONTS / f"KaTeX_{font_file}.ttf", lazy=True).getBestCmap())


def glyphs_as_text(svg: str) -> str:
    """MathJax's glyph ``<use>`` references → ``<text>`` in the matching KaTeX font."""
    def sub(m: re.Match[str]) -> str:
        char, variant, transform = chr(int(m.group(1), 16)), m.group(2), m.group(3)
        font = VARIANTS.get(variant)
        # math italic/bold letters (U+1D400…) live at their plain code points in KaTeX's fonts
        plain = unicodedata.normalize("NFKC", char)
        if len(plain) == 1:
            char = plain
        if font is None or ord(char) not in _cmap(font[3]):
            return m.group(0)
        family, weight, style, _ = font
        flip = f"{transform} scale(1,-1)" if transform else "scale(1,-1)"
        text = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}.get(char, char)
        return (f'<text font-family="{family}" font-weight="{weight}" font-style="{style}" font-size="1000" '
                f'transform="{flip}">{text}</text>')

    out = _USE_RE.sub(sub, svg)
    used = set(_HREF_RE.findall(out))
    return _PATH_RE.sub(lambda m: m.group(0) if m.group(1) in used else "", out)


def _stop(proc: subprocess.Popen, files: list[Path]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for f in files:
        f.unlink(missing_ok=True)


class Renderer:
    """SVG of each (TeX, display) the build needs; new ones rendered in one Node run, all kept on disk."""

    def __init__(self, cache: Path):
        self.cache = JsonCache(cache, VERSION)
        self.scratch = cache.parent
        self._job = None

    @staticmethod
    def available() -> str | None:
        """None when Node and mathjax-full are there; else why not."""
        if shutil.which("node") is None:
            return "node is not installed"
        if not (MATHJAX / "package.json").is_file():
            return (f"{MATHJAX} is missing (in a checkout `make setup` installs it with npm; for an installed "
                    "tool, set DLCARDS_MATHJAX to a node_modules/mathjax-full folder)")
        return None

    @staticmethod
    def _key(tex: str, display: bool) -> str:
        return f"{int(display)}{tex}"

    def start(self, formulas: list[tuple[str, bool]]) -> None:
        """Start rendering the formulas not cached yet in a Node process of their own, so that it runs
        while the build does other work; :meth:`prepare` collects them. Files go through OUT/.cache."""
        todo = sorted({(tex, d) for tex, d in formulas if self.cache.get(self._key(tex, d)) is None
                       and not has_cjk(tex)})
        if not todo or self._job is not None:
            return
        scratch = self.scratch
        scratch.mkdir(parents=True, exist_ok=True)
        files = [scratch / f".mathjax-{part}.{os.getpid()}.tmp" for part in ("in", "out", "err")]
        files[0].write_text(json.dumps(todo), encoding="utf-8")
        env = {**os.environ, "NODE_PATH": str(MATHJAX.parent)}
        with open(files[0], "rb") as stdin, open(files[1], "wb") as stdout, open(files[2], "wb") as stderr:
            proc = subprocess.Popen(["node", str(SCRIPT)], stdin=stdin, stdout=stdout, stderr=stderr,
                                    env=env, cwd=MATHJAX.parent)
        self._job = (todo, proc, files, time.monotonic() + 60 + 0.05 * len(todo))
        atexit.register(_stop, proc, files)  # a build that ends early (an error, Ctrl-C) leaves nothing

    def prepare(self, formulas: list[tuple[str, bool]]) -> None:
        """Render every formula not cached yet: collect what :meth:`start` began, then the rest."""
        self._collect()
        self.start(formulas)
        self._collect()

    def _collect(self) -> None:
        if self._job is None:
            return
        todo, proc, files, deadline = self._job
        self._job = None
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"MathJax (node {SCRIPT.name}) took too long for {len(todo)} formulas") from None
        finally:
            out, err = files[1].read_bytes(), files[2].read_bytes()
            _stop(proc, files)
        if proc.returncode != 0:
            raise RuntimeError(f"MathJax (node {SCRIPT.name}) failed: {err.decode(errors='replace').strip()[-500:]}")
        for (tex, display), item in zip(todo, json.loads(out)):
            if "svg" in item:
                item = {"svg": glyphs_as_text(item["svg"]), "width": item["width"] * EX,
                        "height": item["height"] * EX, "valign": item["valign"] * EX}
            self.cache.put(self._key(tex, display), item)

    def get(self, tex: str, display: bool) -> Svg | None:
        """The formula's SVG, or None (CJK text, or MathJax could not parse it)."""
        item = self.cache.get(self._key(tex, display))
        if item is None or "svg" not in item:
            return None
        return Svg(item["svg"], item["width"], item["height"], item["valign"])

    def save(self) -> None:
        self.cache.save()
