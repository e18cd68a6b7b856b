"""Checked specs → SVG and PNG files. The only module that imports matplotlib.

Each kind draws with the :class:`Pen` it is handed (see :mod:`.kinds`).

Output bytes are deterministic: the style fixes ``svg.hashsalt``, the SVG carries no date,
the PNG no software version, and every element id of the SVG is prefixed with the
figure's hash so that several inline SVGs on one page do not clash.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..resources import template  # noqa: E402
from .kinds import KINDS  # noqa: E402
from .kinds.base import FIG_WIDTH  # noqa: E402
from .text import LABEL_KEYS, mathtext_label, wrap  # noqa: E402

PNG_DPI = 200  # 2× the style's 100 dpi: sharp on phones and high-density screens
TEXT_FONTS = frozenset({"Noto Sans CJK SC", "DejaVu Sans"})
"""Fonts a print SVG may name: the PDF's stylesheet has them (DejaVu from matplotlib's own files,
generator/emit/pdf.py). A figure whose text needs another font (mathtext's cmsy10 or STIX
symbols) keeps its text as paths."""
_FAMILY_RE = re.compile(r"font(?:-family)?: ([^;\"]+)")  # a shorthand "font: 10px X" fails the check: paths


def _share_typeset_math() -> None:
    """Typeset each piece of math once per process, not once per file drawn.

    matplotlib remembers typeset math per parser object, and every renderer (one per file saved) makes
    a parser of its own, so every figure typeset its tick labels and math labels again (``$x_1$``,
    ``$10^{2}$``, 256 distinct strings in 1,490 parses for the shipped content): about a quarter of
    drawing a figure. One bounded memo for the process instead, keyed like matplotlib's own plus the
    parser's output type. A matplotlib whose private method looks different is left alone."""
    from matplotlib.mathtext import MathTextParser

    parse = getattr(MathTextParser._parse_cached, "__wrapped__", None)
    if parse is None or list(inspect.signature(parse).parameters) != [
            "self", "s", "dpi", "prop", "antialiased", "load_glyph_flags"]:
        return
    memo: dict = {}

    def shared(self, s, dpi, prop, antialiased, load_glyph_flags):
        key = (self._output_type, s, dpi, prop, antialiased, load_glyph_flags)
        found = memo.get(key)
        if found is None:
            if len(memo) >= 4096:
                memo.clear()
            found = memo[key] = parse(self, s, dpi, prop, antialiased, load_glyph_flags)
        return found
    MathTextParser._parse_cached = shared


_share_typeset_math()


class LabelError(ValueError):
    """A label whose ``$…$`` math matplotlib's mathtext cannot typeset."""

    def __init__(self, label: str, message: str):
        super().__init__(f"cannot typeset label '{label}': {message}")
        self.label = label


def prepare_labels(spec, fonts: set[str] | None = None):
    """Rewrite every label of a spec for mathtext and check that it typesets; add the fonts its math
    is set in to ``fonts``."""
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")

    def label(text: str) -> str:
        fixed = mathtext_label(text)
        if fixed.count("$") - fixed.count(r"\$") >= 2:
            try:
                typeset = parser.parse(fixed, dpi=72)
            except ValueError as e:
                raise LabelError(text, str(e).strip().splitlines()[-1]) from None
            if fonts is not None:
                try:
                    fonts.update(glyph[0].family_name for glyph in typeset.glyphs)
                except (AttributeError, IndexError, TypeError):
                    pass  # glyphs shaped otherwise (another matplotlib): the drawn SVG is checked anyway
        return fixed

    def walk(value, key=None):
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str) and key in LABEL_KEYS:
            return label(value)
        return value
    return walk(spec)


def render(spec: dict, prefix: str, svg: Path | None, png: Path | None, text_svg: Path | None = None) -> None:
    """Draw one checked spec and write the files that are not ``None``."""
    with plt.style.context(str(template("figures.mplstyle"))):
        fonts: set[str] = set()
        spec = prepare_labels(spec, fonts)
        fig = KINDS[spec["kind"]].draw(spec, Pen())
        try:
            if text_svg is not None:  # a label set in another font would only be drawn again as paths
                _save_text_svg(fig, text_svg, prefix, as_text=fonts <= TEXT_FONTS)
            if svg is not None:
                _write_svg(_svg_text(fig), svg, prefix)
            if png is not None:  # cropped as an Agg canvas measures it, whatever else was drawn
                bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
                fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches=bbox, metadata={"Software": None})
        finally:
            plt.close(fig)


def _save_text_svg(fig, path: Path, prefix: str, as_text: bool = True) -> None:
    text = ""
    if as_text:
        with plt.rc_context({"svg.fonttype": "none"}):
            text = _svg_text(fig)
    families = {f.strip().strip("'\"") for m in _FAMILY_RE.findall(text) for f in m.split(",")}
    if not text or not families <= TEXT_FONTS:
        text = _svg_text(fig)  # text as paths
    _write_svg(text, path, prefix)


MARGIN = 4.0
"""Inches of canvas drawn around an SVG figure: what sticks out of the figure (a legend below the axes,
a long label) stays on the canvas, where the SVG backend does not cut lines off, and in the view box."""


class _TightBox(Artist):
    """Drawn last, it measures the figure's tight box with the renderer that has just laid out every
    text and typeset its math: ``bbox_inches="tight"`` would lay it all out in a pass of its own first."""

    def __init__(self):
        super().__init__()
        self.set_in_layout(False)
        self.set_zorder(float("inf"))
        self.bbox = None

    def draw(self, renderer):
        self.bbox = self.figure.get_tightbbox(renderer).padded(plt.rcParams["savefig.pad_inches"])


def _svg_text(fig) -> str:
    """The figure as SVG, cropped to its tight box: drawn once, on a canvas MARGIN inches larger on
    every side, while a :class:`_TightBox` measures; the view box then shows just the tight box."""
    import io

    from matplotlib.transforms import Bbox

    for ax in fig.axes:  # the canvas pins the axes where they are: settle their aspect first, as a draw would
        if ax.get_axes_locator() is None:
            ax.apply_aspect()
    width, height = fig.get_size_inches()
    meter = _TightBox()
    fig.add_artist(meter)
    buf = io.StringIO()
    try:
        fig.savefig(buf, format="svg", bbox_inches=Bbox.from_extents(-MARGIN, -MARGIN, width + MARGIN, height + MARGIN),
                    metadata={"Date": None, "Creator": None})
    finally:
        meter.remove()
    box = meter.bbox  # inches from the canvas's bottom left; SVG units are points from its top left
    x0, y0, w, h = (v * 72 for v in (box.x0, height + 2 * MARGIN - box.y1, box.width, box.height))
    size = f'width="{_num(w)}pt" height="{_num(h)}pt" viewBox="{_num(x0)} {_num(y0)} {_num(w)} {_num(h)}"'
    text, found = re.subn(r'width="[^"]*pt" height="[^"]*pt" viewBox="[^"]*"', size, buf.getvalue(), count=1)
    if not found:
        raise ValueError("matplotlib wrote an SVG without the expected size attributes")
    return text


def _num(v: float) -> str:
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _write_svg(text: str, path: Path, prefix: str) -> None:
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f'url(#{prefix}-{m.group(1)})', text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- the kinds' tools


class Pen:
    """What a kind's ``draw`` needs from matplotlib besides the figure and axes it gets."""

    @staticmethod
    def figure(width: float = FIG_WIDTH, height: float = 3.5, **kw):
        return plt.subplots(figsize=(width, height), **kw)

    @staticmethod
    def subplots(rows: int, cols: int, **kw):
        return plt.subplots(rows, cols, **kw)

    @staticmethod
    def colors() -> list[str]:
        return plt.rcParams["axes.prop_cycle"].by_key()["color"]

    @staticmethod
    def rgba(color: str, alpha: float):
        from matplotlib.colors import to_rgba
        return to_rgba(color, alpha)

    @staticmethod
    def integer_locator(**kw) -> MaxNLocator:
        return MaxNLocator(integer=True, **kw)

    @staticmethod
    def decorate(ax, spec: dict, fig_width: float = FIG_WIDTH) -> None:
        if spec.get("title"):
            ax.set_title(wrap(spec["title"], fig_width * 72 / 12 * 0.95))
        if spec.get("xlabel"):
            ax.set_xlabel(spec["xlabel"])
        if spec.get("ylabel"):
            ax.set_ylabel(spec["ylabel"])

    @staticmethod
    def legend(ax, spec: dict, **kw) -> None:
        handles, labels = ax.get_legend_handles_labels()
        if spec.get("legend", True) and any(labels):
            ax.legend(**kw)

    @staticmethod
    def robust_ylim(ax, ys: list[np.ndarray]) -> None:
        """Keep poles from flattening everything else: clip the autoscaled y range to the bulk."""
        data = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.array([])
        if data.size < 10:
            return
        lo, hi = np.nanmin(data), np.nanmax(data)
        p_lo, p_hi = np.percentile(data, [2, 98])
        spread = max(p_hi - p_lo, 1e-12)
        if hi - lo > 8 * spread:
            pad = 0.15 * spread
            ax.set_ylim(p_lo - pad, p_hi + pad)
