"""``series``: data series (or synthetic curves) over steps or epochs, with marked x positions."""
from __future__ import annotations

import numpy as np

from ..expr import numeric, parse
from ..spec import STYLES, Reader
from .base import GREY, LINESTYLES, Kind, expr, plain, sample

KEYS = ("series", "mark")
MAX_SERIES, MAX_VALUES, MAX_MARKS = 12, 5000, 12


def check(r: Reader) -> dict:
    logy = r.flag("logy")
    out = []
    for c in r.children("series", required=True, max_len=MAX_SERIES):
        s = {"label": c.text("label", default=""), "style": c.choice("style", STYLES, default="solid"),
             "markers": c.flag("markers", False)}
        if c.has("expr"):
            xr = c.range("x", required=True)
            tex = expr(c, "expr", ("x",))
            if tex is not None and xr is not None:
                sample(c, "expr", tex, *xr, None, False, logy)
            s.update(expr=tex, x=xr)
        else:
            ys = c.numbers("y", required=True, positive=logy, max_len=MAX_VALUES)
            xs = c.numbers("x", max_len=MAX_VALUES)
            if ys is not None and xs is not None and len(xs) != len(ys):
                c.error(c.line("x"), f"'x' has {len(xs)} values but 'y' has {len(ys)}")
            s.update(y=ys, x=xs if xs is not None else [float(k) for k in range(1, len(ys or []) + 1)])
        c.close(("label", "x", "y", "expr", "style", "markers"))
        out.append(s)
    marks = []
    for c in r.children("mark", max_len=MAX_MARKS):
        marks.append({"x": c.number("x", required=True), "label": c.text("label", default="")})
        c.close(("x", "label"))
    return {"series": out, "mark": marks}


def draw(spec: dict, pen):
    fig, ax = pen.figure()
    colors = pen.colors()
    all_x: list[float] = []
    integer_x = True
    for i, s in enumerate(spec["series"]):
        style = LINESTYLES[s["style"]]
        color = colors[i % len(colors)]
        if s.get("expr"):
            lo, hi = s["x"]
            xs = np.linspace(lo, hi, 400)
            ys = numeric(parse(s["expr"], ("x",)), ("x",))(xs)
            integer_x &= float(lo).is_integer() and float(hi).is_integer() and hi - lo <= 60
        else:
            xs, ys = np.array(s["x"], dtype=float), np.array(s["y"], dtype=float)
            integer_x &= bool(np.all(xs == np.round(xs)))
        if spec["logy"]:
            ys = np.where(ys > 0, ys, np.nan)
        few = not s.get("expr") and len(xs) <= 30 and bool(np.all(np.diff(xs) > 0))  # not a staircase
        ax.plot(xs, ys, style, color=color, label=s["label"] or None,
                marker="o" if (s["markers"] or few) else None, markersize=3.5)
        all_x.extend([float(xs[0]), float(xs[-1])])
    if spec["logy"]:
        ax.set_yscale("log")
    if integer_x:
        ax.xaxis.set_major_locator(pen.integer_locator())
    for m in spec["mark"]:
        ax.axvline(m["x"], color=GREY, linestyle="--", linewidth=1.1, zorder=1)
        if m["label"]:
            ax.annotate(m["label"], (m["x"], 1), xycoords=("data", "axes fraction"), xytext=(4, -4),
                        textcoords="offset points", ha="left", va="top", fontsize=9.5, color="#333333")
    pen.decorate(ax, spec)
    pen.legend(ax, spec)
    return fig


def alt(spec: dict) -> str:
    return "曲线：" + "、".join(plain(s["label"]) for s in spec["series"] if s["label"])


KIND = Kind("series", KEYS, check, draw, alt)
