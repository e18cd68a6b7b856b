"""``norm-balls``: unit balls of L_p norms, optionally touched by an elliptic loss contour."""
from __future__ import annotations

import math

import numpy as np

from .. import compute
from ..spec import Reader, as_number
from ..text import fmt, wrap
from .base import Kind

KEYS = ("p", "loss")
MAX_BALLS = 6


def _as_p(v) -> float:
    if isinstance(v, str) and v.strip().lower() in ("inf", ".inf", "∞", "infinity"):
        return math.inf
    if isinstance(v, float) and math.isinf(v) and v > 0:
        return math.inf
    return as_number(v, 0, lo_open=True)


def check(r: Reader) -> dict:
    ps = []
    for i, item in enumerate(r.items("p", required=True, max_len=MAX_BALLS)):
        try:
            ps.append(_as_p(item.value))
        except ValueError as e:
            r.error(item.line, f"'p' item {i + 1}: expected a positive number or inf ({e})")
    loss = None
    node = r.raw("loss", False)
    if node is not None:
        c = r.child(node, "loss")
        if c is not None:
            center = c.pair("center", required=True)
            axes = c.pair("axes", required=True)
            if axes is not None and min(axes) <= 0:
                c.error(c.line("axes"), f"'axes': the ellipse's semi-axes must be positive, found {list(axes)}")
            for p in ps if center is not None else ():
                if compute.inside_ball(center, p):
                    c.error(c.line("center"), f"'center': {list(center)} lies inside the unit L{_p_name(p)} ball; "
                            "the unconstrained optimum must lie outside for the contour to touch it")
            c.close(("center", "axes"))
            loss = {"center": center, "axes": axes}
    return {"p": ["inf" if math.isinf(p) else p for p in ps], "loss": loss}


def _p_name(p: float) -> str:
    return "∞" if math.isinf(p) else f"{p:g}"


def _ball_label(p) -> str:
    return r"$L_\infty$" if p == "inf" else f"$L_{{{fmt(p)}}}$"


def draw(spec: dict, pen):
    colors = pen.colors()
    ps = [math.inf if p == "inf" else p for p in spec["p"]]
    if spec["loss"] is None:
        fig, ax = pen.figure(width=4.2, height=4.0)
        for i, p in enumerate(ps):
            pts = compute.unit_ball(p)
            ax.plot(pts[:, 0], pts[:, 1], color=colors[i % len(colors)],
                    linestyle=["-", "--", "-.", ":"][i % 4], label=_ball_label(spec["p"][i]))
        _axes_cross(ax, 1.35, 1.35)
        pen.decorate(ax, spec, 4.2)
        pen.legend(ax, spec, loc="upper right", fontsize=9)
        return fig
    n = len(ps)
    fig, axes = pen.subplots(1, n, figsize=(min(2.7 * n, 8.5), 3.1), squeeze=False)
    center, sax = spec["loss"]["center"], spec["loss"]["axes"]
    for i, (p, ax) in enumerate(zip(ps, axes[0])):
        color = colors[i % len(colors)]
        pts = compute.unit_ball(p)
        ax.fill(pts[:, 0], pts[:, 1], color=color, alpha=0.18, linewidth=0)
        ax.plot(pts[:, 0], pts[:, 1], color=color)
        opt, level = compute.constrained_optimum(p, center, sax)
        r = math.sqrt(level)
        ext_x = max(1.3, abs(center[0]) + sax[0] * r * 1.05)
        ext_y = max(1.3, abs(center[1]) + sax[1] * r * 1.05)
        ext = max(ext_x, ext_y)
        grid = np.linspace(-ext, ext, 301)
        X, Y = np.meshgrid(grid, grid)
        Z = compute.ellipse_level(np.stack([X, Y], axis=-1), center, sax)
        ax.contour(X, Y, Z, levels=[level * 0.15, level * 0.45], colors="#9a9a9a", linewidths=0.8)
        ax.contour(X, Y, Z, levels=[level], colors="#333333", linewidths=1.3)
        ax.plot([center[0]], [center[1]], "x", color="black", markersize=7, markeredgewidth=1.8)
        ax.annotate("$w^*$", center, xytext=(5, 4), textcoords="offset points", fontsize=10)
        ax.plot([opt[0]], [opt[1]], "o", color=color, markeredgecolor="black", markersize=7, zorder=5)
        ax.annotate(r"$\tilde{w}$" + f" = ({opt[0]:.2f}, {opt[1]:.2f})", opt, xytext=(-6, -14),
                    textcoords="offset points", fontsize=9, ha="right" if opt[0] > 0 else "left",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        _axes_cross(ax, ext, ext)
        if i:
            ax.set_ylabel("")
        ax.set_title(_ball_label(spec["p"][i]) + " 约束", fontsize=11, fontweight="normal")
    if spec["title"]:
        fig.suptitle(wrap(spec["title"], 30), fontsize=12, fontweight="bold")
    return fig


def _axes_cross(ax, ex: float, ey: float) -> None:
    ax.axhline(0, color="#444444", linewidth=0.8, zorder=1)
    ax.axvline(0, color="#444444", linewidth=0.8, zorder=1)
    ax.set_xlim(-ex, ex)
    ax.set_ylim(-ey, ey)
    ax.set_aspect("equal")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$", rotation=0, labelpad=8)


def alt(spec: dict) -> str:
    ps = "、".join("L∞" if p == "inf" else f"L{p:g}" for p in spec["p"])
    return f"单位球：{ps}" + ("，以及与椭圆损失等高线相切的约束最优点" if spec["loss"] else "")


KIND = Kind("norm-balls", KEYS, check, draw, alt)
