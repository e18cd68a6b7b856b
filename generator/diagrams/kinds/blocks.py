"""``blocks``: a schematic of boxes on hand-placed grid coordinates, joined by arrows."""
from __future__ import annotations

from ..spec import STYLES, Reader
from .base import LINESTYLES, Kind, plain

KEYS = ("nodes", "edges")
SHAPES = ("box", "round", "circle", "plain")
MAX_NODES, MAX_EDGES = 60, 120
_BOXES = {"box": "square,pad=0.35", "round": "round,pad=0.4", "circle": "circle,pad=0.2"}


def check(r: Reader) -> dict:
    nodes, ids = [], set()
    for c in r.children("nodes", required=True, max_len=MAX_NODES):
        node_id = c.text("id", required=True)
        if node_id is not None and node_id in ids:
            c.error(c.line("id"), f"duplicate node id '{node_id}'")
        ids.add(node_id)
        nodes.append({"id": node_id, "text": c.text("text", default=node_id or ""), "at": c.pair("at", required=True),
                      "shape": c.choice("shape", SHAPES, default="round"),
                      "color": c.integer("color", default=0, lo=0, hi=8)})
        c.close(("id", "text", "at", "shape", "color"))
    edges = []
    for c in r.children("edges", max_len=MAX_EDGES):
        edge = {"from": c.text("from", required=True), "to": c.text("to", required=True),
                "text": c.text("text", default=""), "style": c.choice("style", STYLES, default="solid"),
                "bend": c.number("bend", default=0.0, lo=-1, hi=1), "strong": c.flag("strong")}
        for end in ("from", "to"):
            if edge[end] is not None and edge[end] not in ids:
                c.error(c.line(end), f"'{end}': no node has id '{edge[end]}'")
        c.close(("from", "to", "text", "style", "bend", "strong"))
        edges.append(edge)
    return {"nodes": nodes, "edges": edges}


def draw(spec: dict, pen):
    xs = [n["at"][0] for n in spec["nodes"]]
    ys = [n["at"][1] for n in spec["nodes"]]
    at = {n["id"]: n["at"] for n in spec["nodes"]}
    for e in spec["edges"]:  # the apex of a bent arrow (arc3) must stay inside the drawing
        (x0, y0), (x1, y1) = at[e["from"]], at[e["to"]]
        xs.append((x0 + x1) / 2 + e["bend"] * (y1 - y0) / 2)
        ys.append((y0 + y1) / 2 - e["bend"] * (x1 - x0) / 2)
    span_x, span_y = max(xs) - min(xs) + 2, max(ys) - min(ys) + 1.4
    unit = min(0.85, 7.5 / span_x, 4.5 / span_y)  # inches per grid unit
    fig, ax = pen.figure(width=max(2.5, span_x * unit), height=max(1.6, span_y * unit + 0.5))
    colors = pen.colors()
    boxes = {}
    for n in spec["nodes"]:
        edge = colors[n["color"] - 1] if n["color"] else "#444444"
        face = pen.rgba(edge, 0.16) if n["color"] else "white"
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
    pen.decorate(ax, spec)
    return fig


def alt(spec: dict) -> str:
    return "示意图：" + "、".join(plain(n["text"]) for n in spec["nodes"])


KIND = Kind("blocks", KEYS, check, draw, alt)
