"""What the join draws straight into the PDF pages: the guide's MathJax formulas and the contents'
dotted leaders (PDF operators; no PDF library here).

WeasyPrint lays each formula out as an empty box of the formula's size (``span.math-svg``) and
records where the box landed (:mod:`.pdflayout`); this module turns :func:`..mathsvg.flatten`'s
glyphs, rules and paths into a content stream per page, with the glyphs as text in the KaTeX fonts
(one subset each for the whole guide, searchable through a ToUnicode map). Drawing a formula here
costs some microseconds; WeasyPrint's SVG renderer took about 8 ms.
"""
from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field

from ..mathsvg import KATEX_FONTS, NUMBER_RE, PATH_COMMAND_RE, FontInfo, compose, font_info

PLACEHOLDER_CLASS = "math-svg"


def font_id(data: bytes, index: int) -> str:
    """A cheap identity for a font file: its size, index and both ends (fonts are tens of MB)."""
    h = hashlib.sha256(f"{len(data)}:{index}:".encode())
    h.update(data[:1 << 20])
    h.update(data[-(1 << 20):])
    return h.hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def fonts_version() -> str:
    """The KaTeX font files' sizes: their glyph ids are in the operators a cached part holds."""
    return ",".join(f"{p.name}:{p.stat().st_size}" for p in sorted(KATEX_FONTS.glob("*.ttf")))


def formula_key(tex: str, display: bool) -> str:
    """The name a placeholder box carries (``data-f``): the formula it stands for."""
    return hashlib.sha256(f"{int(display)}{tex}".encode()).hexdigest()[:16]


def _n(v: float, places: int = 3) -> str:
    """A PDF number: fixed point (PDF has no exponents), no trailing zeros."""
    text = f"{v:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _m(m) -> str:
    a, b, c, d, e, f = m
    return " ".join([_n(a, 6), _n(b, 6), _n(c, 6), _n(d, 6), _n(e), _n(f)])


def _path(d: str) -> str:
    """MathJax's path data (absolute M L H V Q T Z, the subset :func:`..mathsvg.flatten` accepts) as PDF
    operators; quadratic curves become cubic ones."""
    out: list[str] = []
    x = y = 0.0
    qx = qy = None  # the last quadratic control point, for T
    for cmd, args in PATH_COMMAND_RE.findall(d):
        v = [float(t) for t in NUMBER_RE.findall(args)]
        if cmd == "Z":
            out.append("h")
            qx = qy = None
            continue
        if cmd in "QT":
            if cmd == "Q":
                cx, cy, nx, ny = v
            else:
                cx, cy = (2 * x - qx, 2 * y - qy) if qx is not None else (x, y)
                nx, ny = v
            out.append(" ".join(_n(t) for t in (x + 2 / 3 * (cx - x), y + 2 / 3 * (cy - y),
                                                 nx + 2 / 3 * (cx - nx), ny + 2 / 3 * (cy - ny), nx, ny)) + " c")
            x, y, qx, qy = nx, ny, cx, cy
            continue
        if cmd == "H":
            x = v[0]
        elif cmd == "V":
            y = v[0]
        else:
            x, y = v
        out.append(f"{_n(x)} {_n(y)} {'m' if cmd == 'M' else 'l'}")
        qx = qy = None
    return " ".join(out)


@dataclass
class MathFont:
    """A KaTeX font as the join embeds it: the resource name the pages use and the glyphs drawn."""
    file: str
    info: FontInfo
    glyphs: dict[int, str] = field(default_factory=dict)  # glyph id → the character it shows

    @property
    def resource(self) -> str:
        return "/DLM" + self.file

    def widths(self) -> list:
        """The CIDFont's /W array: [first [w w …]] runs of consecutive glyph ids."""
        out: list = []
        for gid in sorted(self.glyphs):
            if out and out[-2] + len(out[-1]) == gid:
                out[-1].append(self.info.widths.get(gid, 0))
            else:
                out += [gid, [self.info.widths.get(gid, 0)]]
        return out

    def to_unicode(self) -> bytes:
        """A ToUnicode CMap: each glyph id (Identity-H, two bytes) → its character."""
        lines = ["/CIDInit /ProcSet findresource begin", "12 dict begin", "begincmap",
                 "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
                 f"/CMapName /DLM-{self.file}-UCS def", "/CMapType 2 def",
                 "1 begincodespacerange", "<0000> <FFFF>", "endcodespacerange"]
        items = sorted(self.glyphs.items())
        for start in range(0, len(items), 100):
            chunk = items[start:start + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            lines += [f"<{gid:04X}> <{''.join(f'{u:04X}' for u in _utf16(ch))}>" for gid, ch in chunk]
            lines.append("endbfchar")
        lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
        return "\n".join(lines).encode("ascii")


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


class Drawing:
    """Content streams for the formulas of the guide's pages, and the glyphs they use of each font."""

    def __init__(self, flats: dict[str, dict]):
        self.flats = flats
        self.fonts: dict[str, MathFont] = {}
        self.missing: set[str] = set()
        """Keys of placed boxes without a drawing (cannot happen unless the cache lost one)."""

    def page(self, placed: list[list]) -> bytes | None:
        """Operators that draw every formula placed on one page: ``[x, top, width, height, key]`` in points."""
        text: list[str] = []
        other: list[str] = []
        current = None
        for x, top, width, height, key in placed:
            flat = self.flats.get(key)
            if flat is None:
                self.missing.add(key)
                continue
            bx, by, bw, bh = flat["box"]
            s = min(width / bw, height / bh)  # SVG's default "xMidYMid meet"
            ox, oy = (width - bw * s) / 2, (height - bh * s) / 2
            to_page = (s, 0.0, 0.0, -s, x + ox - bx * s, top - oy + by * s)
            for op in flat["ops"]:
                if op[0] == "t":
                    font = self._font(op[1])
                    gid = font.info.cmap.get(ord(op[2]))
                    if gid is None:
                        continue  # mathsvg keeps only characters the font has
                    font.glyphs.setdefault(gid, op[2])
                    if current != font.file:
                        text.append(f"{font.resource} 1 Tf")
                        current = font.file
                    text.append(f"{_m(compose(to_page, op[3:]))} Tm <{gid:04X}> Tj")
                elif op[0] == "r":
                    x0, y0, x1, y1 = op[1:]
                    px0, py1 = to_page[0] * x0 + to_page[4], to_page[3] * y1 + to_page[5]
                    px1, py0 = to_page[0] * x1 + to_page[4], to_page[3] * y0 + to_page[5]
                    other.append(f"{_n(px0)} {_n(py1)} {_n(px1 - px0)} {_n(py0 - py1)} re f")
                else:
                    other.append(f"q {_m(compose(to_page, op[2:]))} cm {_path(op[1])} f Q")
        if not text and not other:
            return None
        body = ["q 0 g"]
        if text:
            body += ["BT", *text, "ET"]
        body += other
        body.append("Q")
        return ("\n".join(body) + "\n").encode("ascii")

    def _font(self, file: str) -> MathFont:
        font = self.fonts.get(file)
        if font is None:
            font = self.fonts[file] = MathFont(file, font_info(file))
        return font


LEADER_STEP = 3.4    # pt between dots; every entry's dots on one grid, so they line up in columns
LEADER_DOT = 0.84    # pt across
LEADER_GREY = "0.541"  # #8a8a8a


def leaders(items: list[list]) -> bytes | None:
    """Dots from each ``[from x, to x, y, grid origin x]`` (points), a round-capped zero-length stroke each."""
    dots = []
    for x0, x1, y, origin in items:
        first = origin + LEADER_STEP / 2
        x = first + max(0, math.ceil((x0 + LEADER_DOT / 2 - first) / LEADER_STEP)) * LEADER_STEP
        while x + LEADER_DOT / 2 <= x1:
            dots.append(f"{_n(x)} {_n(y)} m {_n(x)} {_n(y)} l")
            x += LEADER_STEP
    if not dots:
        return None
    return (f"q {LEADER_GREY} G {LEADER_DOT} w 1 J\n" + "\n".join(dots) + "\nS Q\n").encode("ascii")
