"""TeX → SVG for the PDF: MathJax 3 (npm mathjax-full) through Node, once per build, cached on disk.

WeasyPrint lays out KaTeX's nested HTML boxes slowly (about 47 ms a formula); an SVG ``<img>`` costs
a fraction of that. MathJax draws glyphs as paths, which would make the PDF large (every glyph of
every formula drawn again), so each glyph is turned back into text in the KaTeX font it came from
(KaTeX's fonts are MathJax's TeX fonts): WeasyPrint embeds one subset of each font and the formulas
stay vector, selectable text. A glyph that no KaTeX font has at that code point keeps its path.
Formulas with CJK text (``\\text{常数}``) are left to KaTeX HTML by the caller: MathJax has no CJK glyphs.

For the PDF, :func:`flatten` reads each SVG once into a flat list of glyphs, rules and paths, which
the join draws straight into the pages (:mod:`.emit.pdfmath`): WeasyPrint's own SVG drawing cost
about 8 ms a formula, over 40 % of the guide's layout time.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont

from .cache import JsonCache
from .resources import KATEX_DIR, MATHJAX_DIR as MATHJAX

SCRIPT = Path(__file__).with_name("mathsvg.js")
KATEX_FONTS = KATEX_DIR / "fonts"
VERSION = "mathjax-full 3.2.2 / 2"  # cached SVG is dropped when this changes
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
    flat: dict | None = None
    """:func:`flatten`'s reading of ``svg``, or None when it holds something the reading does not know."""


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


# ---------------------------------------------------------------- flat drawing

_FAMILY_FILES = {(family, weight, style): file for family, weight, style, file in VARIANTS.values()}
_TRANSFORM_RE = re.compile(r"\s*(translate|scale)\(([^)]*)\)\s*")
PATH_COMMAND_RE = re.compile(r"([MLHVQTZ])([^MLHVQTZ]*)")  # the path data MathJax writes (pdfmath reads it too)
NUMBER_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:e-?\d+)?")
_IGNORED = {"data-mml-node", "data-mjx-texclass", "data-c", "role", "focusable", "style", "width", "height",
            "viewBox", "xmlns", "id"}
_COLOURS = {"stroke": "currentColor", "fill": "currentColor", "stroke-width": "0"}


class _Unsupported(Exception):
    pass


def _matrix(transform: str | None) -> tuple[float, ...]:
    """An SVG transform of translate() and scale() (all MathJax writes) as (a, b, c, d, e, f)."""
    m = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    if not transform:
        return m
    pos = 0
    for found in _TRANSFORM_RE.finditer(transform):
        if found.start() != pos:
            raise _Unsupported(transform)
        pos = found.end()
        args = [float(x) for x in re.split(r"[\s,]+", found.group(2).strip()) if x]
        if found.group(1) == "translate" and len(args) in (1, 2):
            step = (1.0, 0.0, 0.0, 1.0, args[0], args[1] if len(args) == 2 else 0.0)
        elif found.group(1) == "scale" and len(args) in (1, 2):
            step = (args[0], 0.0, 0.0, args[-1], 0.0, 0.0)
        else:
            raise _Unsupported(transform)
        m = compose(m, step)
    if pos != len(transform):
        raise _Unsupported(transform)
    return m


def compose(m: tuple[float, ...], n: tuple[float, ...]) -> tuple[float, ...]:
    """The affine map that applies ``n`` first, then ``m``."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (a * a2 + c * b2, b * a2 + d * b2, a * c2 + c * d2, b * c2 + d * d2,
            a * e2 + c * f2 + e, b * e2 + d * f2 + f)


def _path_ok(d: str) -> bool:
    return "".join(PATH_COMMAND_RE.sub("", d).split()) == "" and all(
        len(NUMBER_RE.findall(args)) == {"M": 2, "L": 2, "H": 1, "V": 1, "Q": 4, "T": 2, "Z": 0}[cmd]
        for cmd, args in PATH_COMMAND_RE.findall(d))


def flatten(svg: str) -> dict | None:
    """The formula as ``{"box": [x, y, w, h], "ops": [...]}`` in the coordinates of its viewBox (y down):
    ``["t", font file, char, a, b, c, d, e, f]`` a glyph (the matrix maps its em square, y up),
    ``["r", x0, y0, x1, y1]`` a filled rule, ``["p", d, a, b, c, d, e, f]`` a filled path in MathJax's
    font units. None when the SVG holds anything else (colour, clipped pieces): the caller keeps the image."""
    try:
        root = ET.fromstring(svg)
        box = [float(x) for x in root.get("viewBox", "").split()]
        if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
            return None
        paths = {}
        for el in root.iter():
            if el.tag.endswith("}path") or el.tag == "path":
                paths[el.get("id")] = el.get("d", "")
        ops: list[list] = []
        for child in root:
            _walk(child, (1.0, 0.0, 0.0, 1.0, 0.0, 0.0), paths, ops)
    except (_Unsupported, ET.ParseError, ValueError):
        return None
    return {"box": box, "ops": ops}


def _walk(el, m: tuple[float, ...], paths: dict[str, str], ops: list[list]) -> None:
    tag = el.tag.rsplit("}", 1)[-1]
    attrs = {k.rsplit("}", 1)[-1]: v for k, v in el.attrib.items()}
    for k, v in attrs.items():
        if k in _COLOURS and v != _COLOURS[k]:
            raise _Unsupported(f"{k}={v}")  # \color: the image draws it
    if tag == "defs":
        return
    if tag == "g":
        m = compose(m, _matrix(attrs.get("transform")))
        for child in el:
            _walk(child, m, paths, ops)
    elif tag == "text":
        file = _FAMILY_FILES.get((attrs.get("font-family"), attrs.get("font-weight"), attrs.get("font-style")))
        if file is None or attrs.get("font-size") != "1000" or len(el.text or "") != 1 or len(el):
            raise _Unsupported("text")
        t = compose(compose(m, _matrix(attrs.get("transform"))), (1000.0, 0.0, 0.0, -1000.0, 0.0, 0.0))
        ops.append(["t", file, el.text, *(round(v, 4) for v in t)])
    elif tag == "rect":
        if m[1] or m[2] or len(el):
            raise _Unsupported("rect")
        x, y, w, h = (float(attrs.get(k, "0")) for k in ("x", "y", "width", "height"))
        x0, y0 = m[0] * x + m[4], m[3] * y + m[5]
        x1, y1 = m[0] * (x + w) + m[4], m[3] * (y + h) + m[5]
        ops.append(["r", *(round(v, 4) for v in (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))])
    elif tag == "use":
        d = paths.get(attrs.get("href", "").lstrip("#"))
        if d is None or (d and not _path_ok(d)) or len(el):
            raise _Unsupported("use")
        if d:  # an invisible operator (U+2061) has no outline
            ops.append(["p", d, *(round(v, 4) for v in compose(m, _matrix(attrs.get("transform"))))])
    else:
        raise _Unsupported(tag)
    unknown = set(attrs) - _IGNORED - set(_COLOURS) - {"transform", "font-family", "font-weight", "font-style",
                                                       "font-size", "x", "y", "href"}
    if unknown:
        raise _Unsupported(", ".join(sorted(unknown)))


@dataclass(frozen=True)
class FontInfo:
    """What the PDF needs of a KaTeX font to draw formula glyphs with it."""
    name: str         # PostScript name
    path: Path
    cmap: dict[int, int]      # code point → glyph id
    widths: dict[int, int]    # glyph id → advance, in 1/1000 em
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int
    italic_angle: float


@lru_cache(maxsize=None)
def font_info(file: str) -> FontInfo:
    """Metrics of ``KaTeX_<file>.ttf`` in PDF glyph units (1/1000 em)."""
    path = KATEX_FONTS / f"KaTeX_{file}.ttf"
    font = TTFont(path, lazy=True)
    quiet = logging.getLogger("fontTools.ttLib.tables._h_e_a_d")  # KaTeX's files carry 1904 dates: harmless
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        head = font["head"]
    finally:
        quiet.setLevel(level)
    scale = 1000 / head.unitsPerEm
    order = font.getGlyphOrder()
    gid = {name: i for i, name in enumerate(order)}
    cmap = {cp: gid[name] for cp, name in font.getBestCmap().items()}
    hmtx = font["hmtx"]
    widths = {i: round(hmtx[name][0] * scale) for i, name in enumerate(order)}
    hhea = font["hhea"]
    os2 = font["OS/2"] if "OS/2" in font else None
    cap = getattr(os2, "sCapHeight", 0) or hhea.ascent
    return FontInfo(name=str(font["name"].getDebugName(6) or f"KaTeX_{file}"), path=path, cmap=cmap, widths=widths,
                    bbox=tuple(round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),
                    ascent=round(hhea.ascent * scale), descent=round(hhea.descent * scale),
                    cap_height=round(cap * scale), italic_angle=float(font["post"].italicAngle))


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
        self._reader: threading.Thread | None = None
        self._failure: BaseException | None = None

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

    def start(self, formulas: list[tuple[str, bool]], background: bool = False) -> None:
        """Start rendering the formulas not cached yet in a Node process of their own, so that it runs
        while the build does other work; :meth:`prepare` collects them. Files go through OUT/.cache.
        ``background``: a thread reads Node's output as soon as it is there (turning glyphs into text and
        flattening the SVG take about half a second, which the build's process has to spare while the
        formulas are checked and the figures drawn)."""
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
        if background:
            self._reader = threading.Thread(target=self._collect_in_background, daemon=True)
            self._reader.start()

    def _collect_in_background(self) -> None:
        try:
            self._collect()
        except BaseException as e:  # handed to prepare(), in the build's own thread
            self._failure = e

    def prepare(self, formulas: list[tuple[str, bool]]) -> None:
        """Render every formula not cached yet: collect what :meth:`start` began, then the rest."""
        if self._reader is not None:
            self._reader.join()
            self._reader = None
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise failure
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
                text = glyphs_as_text(item["svg"])
                item = {"svg": text, "width": item["width"] * EX, "height": item["height"] * EX,
                        "valign": item["valign"] * EX, "flat": flatten(text)}
            self.cache.put(self._key(tex, display), item)

    def get(self, tex: str, display: bool) -> Svg | None:
        """The formula's SVG, or None (CJK text, or MathJax could not parse it)."""
        item = self.cache.get(self._key(tex, display))
        if item is None or "svg" not in item:
            return None
        return Svg(item["svg"], item["width"], item["height"], item["valign"], item.get("flat"))

    def save(self) -> None:
        self.cache.save()
