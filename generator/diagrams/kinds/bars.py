"""``bars``: grouped bars, one value per category and group."""
from __future__ import annotations

import numpy as np

from ..spec import Reader
from ..text import em, fmt
from .base import FIG_WIDTH, Kind, plain

KEYS = ("categories", "groups", "annotate")
MAX_CATEGORIES, MAX_GROUPS = 60, 12


def check(r: Reader) -> dict:
    cats = r.texts("categories", required=True, max_len=MAX_CATEGORIES)
    groups = []
    for c in r.children("groups", required=True, max_len=MAX_GROUPS):
        values = c.numbers("values", required=True, positive=r.flag("logy"), max_len=MAX_CATEGORIES)
        if values is not None and cats is not None and len(values) != len(cats):
            c.error(c.line("values"), f"'values' has {len(values)} numbers for {len(cats)} categories")
        groups.append({"label": c.text("label", default=""), "values": values})
        c.close(("label", "values"))
    return {"categories": cats, "groups": groups, "annotate": r.flag("annotate")}


def draw(spec: dict, pen):
    cats, groups = spec["categories"], spec["groups"]
    longest = max(em(c) for c in cats)
    width = FIG_WIDTH
    crowded = longest * len(cats) * 11 / 72 > width * 0.85
    fig, ax = pen.figure(width=width, height=3.7 if crowded else 3.4)
    colors = pen.colors()
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
    pen.decorate(ax, spec)
    if n > 1 or groups[0]["label"]:
        pen.legend(ax, spec)
    return fig


def alt(spec: dict) -> str:
    return "柱状图：" + "；".join(
        (plain(g["label"]) + " " if g["label"] else "")
        + "，".join(f"{plain(c)} {v:g}" for c, v in zip(spec["categories"], g["values"]))
        for g in spec["groups"])


KIND = Kind("bars", KEYS, check, draw, alt)
