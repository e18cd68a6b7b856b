"""``heatmap``: a matrix as coloured cells (attention maps, confusion matrices)."""
from __future__ import annotations

import numpy as np

from ..spec import Reader, as_number, describe
from ..text import fmt
from .base import Kind

KEYS = ("matrix", "rows", "cols", "annotate", "colorbar")
MAX_SIDE = 60


def check(r: Reader) -> dict:
    matrix = []
    for i, row in enumerate(r.items("matrix", required=True, max_len=MAX_SIDE)):
        try:
            if not isinstance(row.value, list) or not row.value:
                raise ValueError(f"expected a list of numbers, found {describe(row.value)}")
            if len(row.value) > MAX_SIDE:
                raise ValueError(f"at most {MAX_SIDE} numbers per row, found {len(row.value)}")
            matrix.append([as_number(v.value) for v in row.value])
        except ValueError as e:
            r.error(row.line, f"'matrix' row {i + 1}: {e}")
    if matrix and len({len(row) for row in matrix}) > 1:
        r.error(r.line("matrix"), f"'matrix': rows have different lengths {[len(row) for row in matrix]}")
    labels = {}
    for key, n in (("rows", len(matrix)), ("cols", len(matrix[0]) if matrix else 0)):
        names = r.texts(key, max_len=MAX_SIDE)
        if names is not None and matrix and len(names) != n:
            r.error(r.line(key), f"'{key}' has {len(names)} labels for {n} {key}")
        labels[key] = names
    annotate = r.flag("annotate")
    return {"matrix": matrix, "rows": labels["rows"], "cols": labels["cols"],
            "annotate": annotate, "colorbar": r.flag("colorbar", not annotate)}


def draw(spec: dict, pen):
    m = np.array(spec["matrix"], dtype=float)
    rows, cols = m.shape
    cell = min(0.5, 4.6 / cols, 4.6 / rows)
    width = max(2.6, cols * cell + (1.6 if spec["colorbar"] else 0.9))
    height = max(2.0, rows * cell + 1.0)
    fig, ax = pen.figure(width=width, height=height)
    lo, hi = float(m.min()), float(m.max())
    if lo < 0 < hi:
        bound = max(-lo, hi)
        im = ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="equal")
    else:
        im = ax.imshow(m, cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1, aspect="equal")
    if spec["annotate"]:
        for (r, c), v in np.ndenumerate(m):
            rgba = im.cmap(im.norm(v))
            lum = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
            ax.text(c, r, fmt(v), ha="center", va="center", fontsize=9 if cell >= 0.4 else 7.5,
                    color="black" if lum > 0.5 else "white")
    for axis, labels, n, setter in ((ax.xaxis, spec["cols"], cols, ax.set_xticks),
                                    (ax.yaxis, spec["rows"], rows, ax.set_yticks)):
        if labels:
            setter(range(n), labels=labels, fontsize=9 if n <= 12 else 7.5)
        elif n > 8:
            axis.set_major_locator(pen.integer_locator(nbins=8))
        else:
            setter([])
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    if spec["colorbar"]:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    pen.decorate(ax, spec, width)
    return fig


def alt(spec: dict) -> str:
    m = spec["matrix"]
    return f"热力图，{len(m)} 行 × {len(m[0])} 列"


KIND = Kind("heatmap", KEYS, check, draw, alt)
