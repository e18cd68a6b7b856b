"""``optimizers``: paths of gradient methods on the contours of a 2-D loss."""
from __future__ import annotations

import numpy as np

from .. import compute
from ..expr import ExprError, LatexError, gradient, numeric, parse
from ..spec import Reader
from .base import FIG_WIDTH, Kind, expr, plain

KEYS = ("loss", "x", "y", "start", "steps", "methods", "log_contours")
MAX_STEPS = 20000
MAX_METHODS = 8
MAX_PATH_STEPS = 40000
"""Gradient steps of all methods together: a figure draws in a few seconds."""
HYPER = ("momentum", "beta1", "beta2", "eps")


def check(r: Reader) -> dict:
    loss = expr(r, "loss", ("x", "y"))
    xr, yr = r.range("x", required=True), r.range("y", required=True)
    start = r.pair("start", required=True)
    steps = r.integer("steps", required=True, lo=1, hi=MAX_STEPS)
    methods = []
    for c in r.children("methods", required=True, max_len=MAX_METHODS):
        name = c.choice("name", compute.OPTIMIZERS, required=True)
        method = {"name": name, "lr": c.number("lr", required=True, lo=0, lo_open=True),
                  "label": c.text("label", default=name or "")}
        uses = compute.OPTIMIZERS.get(name, {})
        for key, lo, hi in (("momentum", 0, 1), ("beta1", 0, 1), ("beta2", 0, 1), ("eps", 0, 1)):
            if c.has(key) and name is not None and key not in uses:
                c.error(c.line(key), f"'{key}' is not a parameter of {name}"
                        + (f" (it takes {', '.join(uses)})" if uses else ""))
            elif key in uses:
                method[key] = c.number(key, default=uses[key], lo=lo, hi=hi, hi_open=True,
                                       lo_open=key == "eps")
        c.close(("name", "lr", "label") + HYPER)
        methods.append(method)
    if steps is not None and steps * len(methods) > MAX_PATH_STEPS:
        r.error(r.line("steps"), f"'steps': {steps} steps × {len(methods)} methods = {steps * len(methods)} gradient "
                f"steps; at most {MAX_PATH_STEPS} per figure (fewer steps or methods)")
    if loss is not None:
        try:
            gradient(parse(loss, ("x", "y")), ("x", "y"))(*(start or (0.5, 0.5)))
        except (ExprError, LatexError, TypeError, ValueError) as e:
            r.error(r.line("loss"), f"'loss': cannot differentiate '{loss}': {e}")
    return {"loss": loss, "x": xr, "y": yr, "start": start, "steps": steps, "methods": methods,
            "log_contours": r.flag("log_contours")}


def draw(spec: dict, pen):
    (x0, x1), (y0, y1) = spec["x"], spec["y"]
    ratio = (y1 - y0) / (x1 - x0)
    equal = 1 / 3 <= ratio <= 3
    height = min(4.2, max(2.6, FIG_WIDTH * ratio + 0.8)) if equal else 3.6
    fig, ax = pen.figure(height=height)
    loss = parse(spec["loss"], ("x", "y"))
    f = numeric(loss, ("x", "y"))
    X, Y = np.meshgrid(np.linspace(x0, x1, 241), np.linspace(y0, y1, 241))
    Z = f(X, Y)
    finite = Z[np.isfinite(Z)]
    if finite.size:
        if spec["log_contours"]:
            Zs = Z - finite.min() + 1e-3 * max(np.ptp(finite), 1e-9)
            levels = np.geomspace(np.nanmin(Zs), np.nanmax(Zs), 16)
            ax.contour(X, Y, Zs, levels=levels, colors="#9a9a9a", linewidths=0.7)
        else:
            # evenly spaced in √(f − min): equally spaced rings on a quadratic bowl
            lo, hi = float(finite.min()), float(np.quantile(finite, 0.98))
            levels = np.unique(lo + (hi - lo) * np.linspace(0, 1, 16)[1:] ** 2)
            ax.contour(X, Y, Z, levels=levels, colors="#9a9a9a", linewidths=0.7)
    grad = gradient(loss, ("x", "y"))
    colors = pen.colors()
    for i, m in enumerate(spec["methods"]):
        hyper = {k: m[k] for k in HYPER if k in m}
        path = compute.trajectory(grad, tuple(spec["start"]), spec["steps"], m["name"], m["lr"], **hyper)
        label = m["label"] + ("（发散）" if len(path) < spec["steps"] + 1 else "")
        marker = "o" if spec["steps"] <= 60 else None
        ax.plot(path[:, 0], path[:, 1], color=colors[i % len(colors)], linewidth=1.6, marker=marker,
                markersize=2.5, label=label, zorder=3 + i * 0.01)
        ax.plot(path[-1:, 0], path[-1:, 1], "o", color=colors[i % len(colors)], markeredgecolor="black",
                markersize=5, zorder=4)
    ax.plot([spec["start"][0]], [spec["start"][1]], "s", color="black", markersize=5, zorder=5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if equal:
        ax.set_aspect("equal")
    ax.grid(False)
    spec = {**spec, "xlabel": spec["xlabel"] or "$x$", "ylabel": spec["ylabel"] or "$y$"}
    pen.decorate(ax, spec)
    n = len(spec["methods"])
    # below the x label: anchored at the axes' bottom edge, pushed down past tick labels and label
    pen.legend(ax, spec, loc="upper center", bbox_to_anchor=(0.5, 0), borderaxespad=3.4, ncol=min(3, n),
               frameon=False)
    return fig


def alt(spec: dict) -> str:
    return (f"优化轨迹：{'、'.join(plain(m['label']) for m in spec['methods'])}，"
            f"损失 {spec['loss']}，起点 ({spec['start'][0]:g}, {spec['start'][1]:g})，{spec['steps']} 步")


KIND = Kind("optimizers", KEYS, check, draw, alt)
