"""``receptive-field``: output size and receptive field, layer by layer, as two bar rows."""
from __future__ import annotations

import numpy as np

from .. import compute
from ..spec import Reader
from ..text import wrap
from .base import FIG_WIDTH, Kind

KEYS = ("input", "layers")
MAX_LAYERS = 60
MAX_INPUT = 100_000


def check(r: Reader) -> dict:
    size = r.integer("input", required=True, lo=1, hi=MAX_INPUT)
    layers = []
    for c in r.children("layers", required=True, max_len=MAX_LAYERS):
        layer = {"name": c.text("name", default=f"L{c.index}"), "kernel": c.integer("kernel", required=True, lo=1),
                 "stride": c.integer("stride", default=1, lo=1), "padding": c.integer("padding", default=0, lo=0),
                 "round": c.choice("round", ("floor", "ceil"))}
        c.close(("name", "kernel", "stride", "padding", "round"))
        layers.append((layer, c.node.line))
    if size is not None and r.ok:
        n: float = size
        for (layer, line), res in zip(layers, compute.receptive_field(size, [ly for ly, _ in layers])):
            k, s, p = layer["kernel"], layer["stride"], layer["padding"]
            raw = (n + 2 * p - k) / s + 1
            if res.size < 1 or not float(res.size).is_integer():
                r.error(line, f"layers: {layer['name']}: output size ({n:g} + 2·{p} − {k})/{s} + 1 = {raw:g} "
                        "is not a positive integer" + ("" if res.size < 1 else
                                                       "; fix padding/stride or add 'round: floor'"))
                break
            n = res.size
    return {"input": size, "layers": [ly for ly, _ in layers]}


def draw(spec: dict, pen):
    results = compute.receptive_field(spec["input"], spec["layers"])
    names = ["输入"] + [r.name for r in results]
    sizes = [spec["input"]] + [int(r.size) for r in results]
    rfs = [1] + [r.rf for r in results]
    n = len(names)
    width = max(FIG_WIDTH, min(9.0, 0.42 * n + 1.2))
    fig, (top, bottom) = pen.subplots(2, 1, figsize=(width, 4.4), sharex=True)
    colors = pen.colors()
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


def alt(spec: dict) -> str:
    res = compute.receptive_field(spec["input"], spec["layers"])
    return f"输入 {spec['input']}；" + "；".join(f"{r.name} 输出 {r.size:g} 感受野 {r.rf}" for r in res)


KIND = Kind("receptive-field", KEYS, check, draw, alt)
