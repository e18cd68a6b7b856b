"""``function``: curves y = f(x) from LaTeX, optionally with derivatives, points and asymptotes."""
from __future__ import annotations

import math

import numpy as np

from ..expr import derivative, numeric, parse
from ..spec import STYLES, Reader
from ..text import fmt
from .base import GREY, LINESTYLES, Kind, expr, params, plain, sample

KEYS = ("x", "y", "curves", "points", "asymptotes", "params")
MAX_CURVES, MAX_POINTS, MAX_ASYMPTOTES = 12, 40, 12


def check(r: Reader) -> dict:
    xr = r.range("x", required=True)
    yr = r.range("y", positive=r.flag("logy"))
    values = params(r)
    curves = []
    for c in r.children("curves", required=True, max_len=MAX_CURVES):
        tex = expr(c, "expr", ("x",), values)
        curve = {"expr": tex, "label": c.text("label", default=""), "derivative": c.flag("derivative"),
                 "style": c.choice("style", STYLES, default="solid")}
        c.close(("expr", "label", "derivative", "style"))
        if tex is not None and xr is not None:
            sample(c, "expr", tex, *xr, values, curve["derivative"], r.flag("logy"))
        curves.append(curve)
    points = []
    for c in r.children("points", max_len=MAX_POINTS):
        x = c.number("x", required=True)
        if x is not None and xr is not None and not xr[0] <= x <= xr[1]:
            c.error(c.line("x"), f"x = {x:g} is outside the x range [{xr[0]:g}, {xr[1]:g}]")
        points.append({"x": x, "label": c.text("label", default="")})
        c.close(("x", "label"))
    asymptotes = []
    for c in r.children("asymptotes", max_len=MAX_ASYMPTOTES):
        keys = [k for k in ("x", "y") if c.has(k)]
        if len(keys) != 1:
            c.error(c.node.line, "expected exactly one of {x: value} or {y: value}")
        else:
            asymptotes.append({"axis": keys[0], "value": c.number(keys[0], required=True),
                               "label": c.text("label", default="")})
        c.close(("x", "y", "label"))
    return {"x": xr, "y": yr, "params": values, "curves": curves, "points": points, "asymptotes": asymptotes}


def draw(spec: dict, pen):
    fig, ax = pen.figure()
    lo, hi = spec["x"]
    xs = np.linspace(lo, hi, 801)
    colors = pen.colors()
    ys_all, first = [], None
    for i, curve in enumerate(spec["curves"]):
        color = colors[i % len(colors)]
        e = parse(curve["expr"], ("x",), spec["params"])
        f = numeric(e, ("x",))
        ys = f(xs)
        ys_all.append(ys)
        if first is None:
            first = f
        ax.plot(xs, ys, LINESTYLES[curve["style"]], color=color, label=curve["label"] or None)
        if curve["derivative"]:
            dy = numeric(derivative(e, "x"), ("x",))(xs)
            ys_all.append(dy)
            label = f"{curve['label']} 的导数" if curve["label"] else "导数"
            ax.plot(xs, dy, "--" if curve["style"] != "dashed" else ":", color=color, linewidth=1.5, label=label)
    ax.set_xlim(lo, hi)
    if spec["logy"]:
        ax.set_yscale("log")
    if spec["y"]:
        ax.set_ylim(*spec["y"])
    elif not spec["logy"]:
        pen.robust_ylim(ax, ys_all)
    for a in spec["asymptotes"]:
        v = a["value"]
        text = a["label"] or (f"$y={fmt(v)}$" if a["axis"] == "y" else f"$x={fmt(v)}$")
        if a["axis"] == "y":
            ax.axhline(v, color=GREY, linestyle="--", linewidth=1, zorder=1)
            ax.annotate(text, (1, v), xycoords=("axes fraction", "data"), xytext=(-3, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=9, color="#555555")
        else:
            ax.axvline(v, color=GREY, linestyle="--", linewidth=1, zorder=1)
            ax.annotate(text, (v, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", ha="left", va="top", fontsize=9, color="#555555")
    for p in spec["points"]:
        y = float(first(np.array([p["x"]]))[0]) if first is not None else math.nan
        if not math.isfinite(y):
            continue
        ax.plot([p["x"]], [y], "o", color=colors[0], markeredgecolor="black", markersize=6, zorder=5)
        if p["label"]:
            ax.annotate(p["label"], (p["x"], y), xytext=(6, -12 if y > np.mean(ax.get_ylim()) else 6),
                        textcoords="offset points", fontsize=9.5, zorder=6,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    pen.decorate(ax, spec)
    pen.legend(ax, spec)
    return fig


def alt(spec: dict) -> str:
    names = [plain(c["label"]) or c["expr"] for c in spec["curves"]]
    return f"函数曲线：{'、'.join(names)}，x 从 {spec['x'][0]:g} 到 {spec['x'][1]:g}"


KIND = Kind("function", KEYS, check, draw, alt)
