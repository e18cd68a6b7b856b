"""Checked specs → SVG and PNG files. The only module that imports matplotlib.

Output bytes are deterministic: the style fixes ``svg.hashsalt``, the SVG carries no date,
the PNG no software version, and every element id of the SVG is prefixed with the
figure's hash so that several inline SVGs on one page do not clash.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..resources import template  # noqa: E402
from . import compute  # noqa: E402
from .text import LABEL_KEYS, em, fmt, mathtext_label, wrap  # noqa: E402
from .expr import derivative, gradient, numeric, parse  # noqa: E402

PNG_DPI = 200  # 2× the style's 100 dpi: sharp on phones and high-density screens
LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":", "dashdot": "-."}
GREY = "#777777"
FIG_WIDTH = 5.2


class LabelError(ValueError):
    """A label whose ``$…$`` math matplotlib's mathtext cannot typeset."""

    def __init__(self, label: str, message: str):
        super().__init__(f"cannot typeset label '{label}': {message}")
        self.label = label


def prepare_labels(spec):
    """Rewrite every label of a spec for mathtext and check that it typesets."""
    from matplotlib.mathtext import MathTextParser

    parser = MathTextParser("path")

    def label(text: str) -> str:
        fixed = mathtext_label(text)
        if fixed.count("$") - fixed.count(r"\$") >= 2:
            try:
                parser.parse(fixed, dpi=72)
            except ValueError as e:
                raise LabelError(text, str(e).strip().splitlines()[-1]) from None
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


def render(spec: dict, prefix: str, svg: Path | None, png: Path | None) -> None:
    """Draw one checked spec and write the files that are not ``None``."""
    with plt.style.context(str(template("figures.mplstyle"))):
        spec = prepare_labels(spec)
        fig = DRAWERS[spec["kind"]](spec)
        try:
            # one layout pass for the tight box, shared by both formats (savefig would redo it per file)
            bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
            if svg is not None:
                _save_svg(fig, svg, prefix, bbox)
            if png is not None:
                fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches=bbox, metadata={"Software": None})
        finally:
            plt.close(fig)


def _save_svg(fig, path: Path, prefix: str, bbox) -> None:
    import io
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches=bbox, metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f'url(#{prefix}-{m.group(1)})', text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- helpers


def _colors() -> list[str]:
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _figure(spec: dict, width: float = FIG_WIDTH, height: float = 3.5, **kw):
    fig, ax = plt.subplots(figsize=(width, height), **kw)
    return fig, ax


def _decorate(ax, spec: dict, fig_width: float = FIG_WIDTH) -> None:
    if spec.get("title"):
        ax.set_title(wrap(spec["title"], fig_width * 72 / 12 * 0.95))
    if spec.get("xlabel"):
        ax.set_xlabel(spec["xlabel"])
    if spec.get("ylabel"):
        ax.set_ylabel(spec["ylabel"])


def _legend(ax, spec: dict, **kw) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if spec.get("legend", True) and any(labels):
        ax.legend(**kw)


def _robust_ylim(ax, ys: list[np.ndarray]) -> None:
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


# ---------------------------------------------------------------- kinds


def _draw_function(spec: dict):
    fig, ax = _figure(spec)
    lo, hi = spec["x"]
    xs = np.linspace(lo, hi, 801)
    colors = _colors()
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
        _robust_ylim(ax, ys_all)
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
    _decorate(ax, spec)
    _legend(ax, spec)
    return fig


def _draw_optimizers(spec: dict):
    (x0, x1), (y0, y1) = spec["x"], spec["y"]
    ratio = (y1 - y0) / (x1 - x0)
    equal = 1 / 3 <= ratio <= 3
    height = min(4.2, max(2.6, FIG_WIDTH * ratio + 0.8)) if equal else 3.6
    fig, ax = _figure(spec, height=height)
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
    colors = _colors()
    for i, m in enumerate(spec["methods"]):
        hyper = {k: m[k] for k in ("momentum", "beta1", "beta2", "eps") if k in m}
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
    _decorate(ax, spec)
    n = len(spec["methods"])
    # below the x label: anchored at the axes' bottom edge, pushed down past tick labels and label
    _legend(ax, spec, loc="upper center", bbox_to_anchor=(0.5, 0), borderaxespad=3.4, ncol=min(3, n),
            frameon=False)
    return fig


def _ball_label(p) -> str:
    return r"$L_\infty$" if p == "inf" else f"$L_{{{fmt(p)}}}$"


def _draw_norm_balls(spec: dict):
    colors = _colors()
    ps = [math.inf if p == "inf" else p for p in spec["p"]]
    if spec["loss"] is None:
        fig, ax = _figure(spec, width=4.2, height=4.0)
        for i, p in enumerate(ps):
            pts = compute.unit_ball(p)
            ax.plot(pts[:, 0], pts[:, 1], color=colors[i % len(colors)],
                    linestyle=["-", "--", "-.", ":"][i % 4], label=_ball_label(spec["p"][i]))
        _axes_cross(ax, 1.35, 1.35)
        _decorate(ax, spec, 4.2)
        _legend(ax, spec, loc="upper right", fontsize=9)
        return fig
    n = len(ps)
    fig, axes = plt.subplots(1, n, figsize=(min(2.7 * n, 8.5), 3.1), squeeze=False)
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


def _draw_receptive_field(spec: dict):
    results = compute.receptive_field(spec["input"], spec["layers"])
    names = ["输入"] + [r.name for r in results]
    sizes = [spec["input"]] + [int(r.size) for r in results]
    rfs = [1] + [r.rf for r in results]
    n = len(names)
    width = max(FIG_WIDTH, min(9.0, 0.42 * n + 1.2))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 4.4), sharex=True)
    colors = _colors()
    xs = np.arange(n)
    for ax, values, color, ylabel in ((top, sizes, colors[0], "输出尺寸"), (bottom, rfs, colors[1], "感受野")):
        ax.bar(xs, values, color=color, width=0.65)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, max(values) * 1.22)
        ax.grid(axis="x", visible=False)
        for x, v in zip(xs, values):
            ax.annotate(str(v), (x, v), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=8.5 if n > 12 else 9.5)
    bottom.set_xticks(xs)
    bottom.set_xticklabels(names, rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center", fontsize=9.5)
    if spec["title"]:
        top.set_title(wrap(spec["title"], width * 72 / 12 * 0.95))
    if spec["xlabel"]:
        bottom.set_xlabel(spec["xlabel"])
    fig.align_ylabels()
    return fig


def _draw_series(spec: dict):
    fig, ax = _figure(spec)
    colors = _colors()
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for m in spec["mark"]:
        ax.axvline(m["x"], color=GREY, linestyle="--", linewidth=1.1, zorder=1)
        if m["label"]:
            ax.annotate(m["label"], (m["x"], 1), xycoords=("data", "axes fraction"), xytext=(4, -4),
                        textcoords="offset points", ha="left", va="top", fontsize=9.5, color="#333333")
    _decorate(ax, spec)
    _legend(ax, spec)
    return fig


def _draw_bars(spec: dict):
    cats, groups = spec["categories"], spec["groups"]
    longest = max(em(c) for c in cats)
    width = FIG_WIDTH
    crowded = longest * len(cats) * 11 / 72 > width * 0.85
    fig, ax = _figure(spec, width=width, height=3.7 if crowded else 3.4)
    colors = _colors()
    n = len(groups)
    w = 0.8 / n
    xs = np.arange(len(cats))
    annotate = spec["annotate"]
    for i, g in enumerate(groups):
        pos = xs - 0.4 + w * (i + 0.5)
        bars = ax.bar(pos, g["values"], width=w * 0.95, color=colors[i % len(colors)], label=g["label"] or None)
        if annotate:
            ax.bar_label(bars, labels=[fmt(v) for v in g["values"]], padding=2,
                         fontsize=8 if n * len(cats) > 12 else 9)
    if any(v < 0 for g in groups for v in g["values"]):
        ax.axhline(0, color="#444444", linewidth=0.8)
    ax.set_xticks(xs)
    if crowded:
        ax.set_xticklabels(cats, rotation=30, ha="right", rotation_mode="anchor", fontsize=9.5)
    else:
        ax.set_xticklabels(cats)
    ax.grid(axis="x", visible=False)
    if spec["logy"]:
        ax.set_yscale("log")
    elif annotate:
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.08 * (hi - lo))
    _decorate(ax, spec)
    _legend(ax, spec) if n > 1 or groups[0]["label"] else None
    return fig


def _draw_heatmap(spec: dict):
    m = np.array(spec["matrix"], dtype=float)
    rows, cols = m.shape
    cell = min(0.5, 4.6 / cols, 4.6 / rows)
    width = max(2.6, cols * cell + (1.6 if spec["colorbar"] else 0.9))
    height = max(2.0, rows * cell + 1.0)
    fig, ax = _figure(spec, width=width, height=height)
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
            axis.set_major_locator(MaxNLocator(integer=True, nbins=8))
        else:
            setter([])
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    if spec["colorbar"]:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _decorate(ax, spec, width)
    return fig


_BOXES = {"box": "square,pad=0.35", "round": "round,pad=0.4", "circle": "circle,pad=0.2"}


def _draw_blocks(spec: dict):
    from matplotlib.colors import to_rgba

    xs = [n["at"][0] for n in spec["nodes"]]
    ys = [n["at"][1] for n in spec["nodes"]]
    at = {n["id"]: n["at"] for n in spec["nodes"]}
    for e in spec["edges"]:  # the apex of a bent arrow (arc3) must stay inside the drawing
        (x0, y0), (x1, y1) = at[e["from"]], at[e["to"]]
        xs.append((x0 + x1) / 2 + e["bend"] * (y1 - y0) / 2)
        ys.append((y0 + y1) / 2 - e["bend"] * (x1 - x0) / 2)
    span_x, span_y = max(xs) - min(xs) + 2, max(ys) - min(ys) + 1.4
    unit = min(0.85, 7.5 / span_x, 4.5 / span_y)  # inches per grid unit
    fig, ax = _figure(spec, width=max(2.5, span_x * unit), height=max(1.6, span_y * unit + 0.5))
    colors = _colors()
    boxes = {}
    for n in spec["nodes"]:
        edge = colors[n["color"] - 1] if n["color"] else "#444444"
        face = to_rgba(edge, 0.16) if n["color"] else "white"
        bbox = ({"boxstyle": "round,pad=0.3", "fc": "none", "ec": "none"} if n["shape"] == "plain" else
                {"boxstyle": _BOXES[n["shape"]], "fc": face, "ec": edge, "lw": 1.4})  # plain: invisible, arrows stop there
        boxes[n["id"]] = ax.text(*n["at"], n["text"], ha="center", va="center", bbox=bbox, zorder=3, fontsize=10.5)
    for e in spec["edges"]:
        a, b = boxes[e["from"]], boxes[e["to"]]
        color = "#D55E00" if e["strong"] else "#444444"
        # drawn after the boxes (higher zorder), so the box outlines they clip against are up to date
        ax.annotate("", xy=b.get_position(), xytext=a.get_position(), zorder=4,
                    arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2.4 if e["strong"] else 1.3,
                                "linestyle": LINESTYLES[e["style"]], "connectionstyle": f"arc3,rad={e['bend']}",
                                "patchA": a.get_bbox_patch(), "patchB": b.get_bbox_patch(),
                                "shrinkA": 2, "shrinkB": 2,
                                "mutation_scale": 12})
        if e["text"]:
            (x0, y0), (x1, y1) = a.get_position(), b.get_position()
            mx, my = (x0 + x1) / 2 + e["bend"] * (y1 - y0) / 2, (y0 + y1) / 2 - e["bend"] * (x1 - x0) / 2
            ax.text(mx, my, e["text"], ha="center", va="center", fontsize=9, color="#333333", zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set_xlim(min(xs) - 1, max(xs) + 1)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_aspect("equal")
    ax.axis("off")
    _decorate(ax, spec)
    return fig


DRAWERS = {
    "blocks": _draw_blocks,
    "function": _draw_function,
    "optimizers": _draw_optimizers,
    "norm-balls": _draw_norm_balls,
    "receptive-field": _draw_receptive_field,
    "series": _draw_series,
    "bars": _draw_bars,
    "heatmap": _draw_heatmap,
}
