"""The catalog of plot kinds: which keys each takes, checked into a plain, hashable spec.

``check(node, diags, path)`` returns the normalised spec (JSON-compatible dict) or ``None``
when the block has errors; every error is reported at its line. Nothing here draws.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..location import Diagnostics
from . import compute
from .expr import ExprError, LatexError, derivative, numeric, parse
from .spec import STYLES, Node, Reader, as_number, describe

COMMON = ("kind", "title", "caption", "xlabel", "ylabel", "logy", "legend")
MAX_STEPS = 20000
MAX_POINTS = 5000


def check(node: Node, diags: Diagnostics, path) -> dict | None:
    r = Reader(node, diags, path)
    kind = r.choice("kind", KINDS, required=True)
    if kind is None:
        return None
    keys, fn = KINDS[kind]
    spec = {"kind": kind, "title": r.text("title", default=""), "caption": r.text("caption", default=""),
            "xlabel": r.text("xlabel", default=""), "ylabel": r.text("ylabel", default=""),
            "logy": r.flag("logy"), "legend": r.flag("legend", True)}
    spec.update(fn(r))
    r.close(COMMON + keys)
    return spec if r.ok else None


# ---------------------------------------------------------------- expressions


def _expr(r: Reader, key: str, variables: tuple[str, ...], params: dict | None = None,
          required: bool = True) -> str | None:
    """Check that ``key`` holds a LaTeX expression in ``variables``; return the LaTeX."""
    tex = r.text(key, required=required)
    if tex is None:
        return None
    try:
        parse(tex, variables, params)
    except LatexError as e:
        r.error(r.line(key), f"'{key}': cannot parse LaTeX '{tex}': {e}")
        return None
    except ExprError as e:
        r.error(r.line(key), f"'{key}': {e}")
        return None
    return tex


def _sample(r: Reader, key: str, tex: str, lo: float, hi: float, params: dict | None,
            derive: bool = False, logy: bool = False) -> None:
    """Evaluate a checked expression over [lo, hi]; report one that has no finite values there."""
    try:
        e = parse(tex, ("x",), params)
        fns = [("", e)] + ([("derivative of ", derivative(e, "x"))] if derive else [])
        xs = np.linspace(lo, hi, 401)
        for what, f in fns:
            ys = numeric(f, ("x",))(xs)
            good = np.isfinite(ys) & ((ys > 0) if logy else True)
            if not good.any():
                r.error(r.line(key), f"'{key}': {what}'{tex}' has no {'positive ' if logy else ''}"
                        f"finite value for x in [{lo:g}, {hi:g}]")
    except (ExprError, LatexError, TypeError, ValueError) as e:
        r.error(r.line(key), f"'{key}': cannot compute '{tex}'{' (derivative)' if derive else ''}: {e}")


def _params(r: Reader) -> dict[str, float]:
    node = r.raw("params", False)
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        r.error(node.line, f"'params': expected a mapping symbol → number, found {describe(node.value)}")
        return {}
    out = {}
    for name, val in node.value.items():
        sym = name.lstrip("\\")
        if sym in ("x", "y", "e", "pi") or not sym.isidentifier():
            r.error(val.line, f"'params': '{name}' cannot be a parameter name")
            continue
        try:
            out[sym] = as_number(val.value)
        except ValueError as e:
            r.error(val.line, f"'params': '{name}': {e}")
    return out


# ---------------------------------------------------------------- kinds


def _function(r: Reader) -> dict:
    xr = r.range("x", required=True)
    yr = r.range("y", positive=r.flag("logy"))
    params = _params(r)
    curves = []
    for i, item in enumerate(r.items("curves", required=True)):
        c = r.child(item, f"curves[{i + 1}]")
        if c is None:
            continue
        tex = _expr(c, "expr", ("x",), params)
        curve = {"expr": tex, "label": c.text("label", default=""), "derivative": c.flag("derivative"),
                 "style": c.choice("style", STYLES, default="solid")}
        c.close(("expr", "label", "derivative", "style"))
        if tex is not None and xr is not None:
            _sample(c, "expr", tex, *xr, params, curve["derivative"], r.flag("logy"))
        curves.append(curve)
    points = []
    for i, item in enumerate(r.items("points")):
        c = r.child(item, f"points[{i + 1}]")
        if c is None:
            continue
        x = c.number("x", required=True)
        if x is not None and xr is not None and not xr[0] <= x <= xr[1]:
            c.error(c.line("x"), f"x = {x:g} is outside the x range [{xr[0]:g}, {xr[1]:g}]")
        points.append({"x": x, "label": c.text("label", default="")})
        c.close(("x", "label"))
    asymptotes = []
    for i, item in enumerate(r.items("asymptotes")):
        c = r.child(item, f"asymptotes[{i + 1}]")
        if c is None:
            continue
        keys = [k for k in ("x", "y") if k in item.value]
        if len(keys) != 1:
            c.error(item.line, "expected exactly one of {x: value} or {y: value}")
        else:
            asymptotes.append({"axis": keys[0], "value": c.number(keys[0], required=True),
                               "label": c.text("label", default="")})
        c.close(("x", "y", "label"))
    return {"x": xr, "y": yr, "params": params, "curves": curves, "points": points, "asymptotes": asymptotes}


def _optimizers(r: Reader) -> dict:
    loss = _expr(r, "loss", ("x", "y"))
    xr, yr = r.range("x", required=True), r.range("y", required=True)
    start = r.pair("start", required=True)
    steps = r.integer("steps", required=True, lo=1, hi=MAX_STEPS)
    methods = []
    for i, item in enumerate(r.items("methods", required=True)):
        c = r.child(item, f"methods[{i + 1}]")
        if c is None:
            continue
        name = c.choice("name", compute.OPTIMIZERS, required=True)
        method = {"name": name, "lr": c.number("lr", required=True, lo=0, lo_open=True),
                  "label": c.text("label", default=name or "")}
        uses = compute.OPTIMIZERS.get(name, {})
        for key, lo, hi in (("momentum", 0, 1), ("beta1", 0, 1), ("beta2", 0, 1), ("eps", 0, 1)):
            if key in item.value and name is not None and key not in uses:
                c.error(c.line(key), f"'{key}' is not a parameter of {name}"
                        + (f" (it takes {', '.join(uses)})" if uses else ""))
            elif key in uses:
                method[key] = c.number(key, default=uses[key], lo=lo, hi=hi, hi_open=True,
                                       lo_open=key == "eps")
        c.close(("name", "lr", "label", "momentum", "beta1", "beta2", "eps"))
        methods.append(method)
    if loss is not None:
        try:
            from .expr import gradient
            gradient(parse(loss, ("x", "y")), ("x", "y"))(*(start or (0.5, 0.5)))
        except (ExprError, LatexError, TypeError, ValueError) as e:
            r.error(r.line("loss"), f"'loss': cannot differentiate '{loss}': {e}")
    return {"loss": loss, "x": xr, "y": yr, "start": start, "steps": steps, "methods": methods,
            "log_contours": r.flag("log_contours")}


def _norm_balls(r: Reader) -> dict:
    def as_p(v):
        if isinstance(v, str) and v.strip().lower() in ("inf", ".inf", "∞", "infinity"):
            return math.inf
        if isinstance(v, float) and math.isinf(v) and v > 0:
            return math.inf
        p = as_number(v, 0, lo_open=True)
        return p

    ps = []
    for i, item in enumerate(r.items("p", required=True)):
        try:
            ps.append(as_p(item.value))
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


def _receptive_field(r: Reader) -> dict:
    size = r.integer("input", required=True, lo=1)
    layers = []
    for i, item in enumerate(r.items("layers", required=True)):
        c = r.child(item, f"layers[{i + 1}]")
        if c is None:
            continue
        layer = {"name": c.text("name", default=f"L{i + 1}"), "kernel": c.integer("kernel", required=True, lo=1),
                 "stride": c.integer("stride", default=1, lo=1), "padding": c.integer("padding", default=0, lo=0),
                 "round": c.choice("round", ("floor", "ceil"))}
        c.close(("name", "kernel", "stride", "padding", "round"))
        layers.append((layer, item.line))
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


def _series(r: Reader) -> dict:
    logy = r.flag("logy")
    out = []
    for i, item in enumerate(r.items("series", required=True)):
        c = r.child(item, f"series[{i + 1}]")
        if c is None:
            continue
        s = {"label": c.text("label", default=""), "style": c.choice("style", STYLES, default="solid"),
             "markers": c.flag("markers", False)}
        if "expr" in item.value:
            xr = c.range("x", required=True)
            tex = _expr(c, "expr", ("x",))
            if tex is not None and xr is not None:
                _sample(c, "expr", tex, *xr, None, False, logy)
            s.update(expr=tex, x=xr)
        else:
            ys = c.numbers("y", required=True, positive=logy)
            xs = c.numbers("x")
            if ys is not None and xs is not None and len(xs) != len(ys):
                c.error(c.line("x"), f"'x' has {len(xs)} values but 'y' has {len(ys)}")
            if ys is not None and len(ys) > MAX_POINTS:
                c.error(c.line("y"), f"'y': at most {MAX_POINTS} values")
            s.update(y=ys, x=xs if xs is not None else [float(k) for k in range(1, len(ys or []) + 1)])
        c.close(("label", "x", "y", "expr", "style", "markers"))
        out.append(s)
    return {"series": out, "mark": _marks(r)}


def _marks(r: Reader) -> list[dict]:
    marks = []
    for i, item in enumerate(r.items("mark")):
        c = r.child(item, f"mark[{i + 1}]")
        if c is None:
            continue
        marks.append({"x": c.number("x", required=True), "label": c.text("label", default="")})
        c.close(("x", "label"))
    return marks


def _bars(r: Reader) -> dict:
    cats = r.texts("categories", required=True)
    groups = []
    for i, item in enumerate(r.items("groups", required=True)):
        c = r.child(item, f"groups[{i + 1}]")
        if c is None:
            continue
        values = c.numbers("values", required=True, positive=r.flag("logy"))
        if values is not None and cats is not None and len(values) != len(cats):
            c.error(c.line("values"), f"'values' has {len(values)} numbers for {len(cats)} categories")
        groups.append({"label": c.text("label", default=""), "values": values})
        c.close(("label", "values"))
    return {"categories": cats, "groups": groups, "annotate": r.flag("annotate")}


def _heatmap(r: Reader) -> dict:
    rows_node = r.items("matrix", required=True)
    matrix = []
    for i, row in enumerate(rows_node):
        try:
            if not isinstance(row.value, list) or not row.value:
                raise ValueError(f"expected a list of numbers, found {describe(row.value)}")
            matrix.append([as_number(v.value) for v in row.value])
        except ValueError as e:
            r.error(row.line, f"'matrix' row {i + 1}: {e}")
    if matrix and len({len(row) for row in matrix}) > 1:
        r.error(r.line("matrix"), f"'matrix': rows have different lengths {[len(row) for row in matrix]}")
    labels = {}
    for key, n in (("rows", len(matrix)), ("cols", len(matrix[0]) if matrix else 0)):
        names = r.texts(key)
        if names is not None and matrix and len(names) != n:
            r.error(r.line(key), f"'{key}' has {len(names)} labels for {n} {key}")
        labels[key] = names
    annotate = r.flag("annotate")
    return {"matrix": matrix, "rows": labels["rows"], "cols": labels["cols"],
            "annotate": annotate, "colorbar": r.flag("colorbar", not annotate)}


SHAPES = ("box", "round", "circle", "plain")


def _blocks(r: Reader) -> dict:
    nodes, ids = [], set()
    for i, item in enumerate(r.items("nodes", required=True)):
        c = r.child(item, f"nodes[{i + 1}]")
        if c is None:
            continue
        node_id = c.text("id", required=True)
        if node_id is not None and node_id in ids:
            c.error(c.line("id"), f"duplicate node id '{node_id}'")
        ids.add(node_id)
        nodes.append({"id": node_id, "text": c.text("text", default=node_id or ""), "at": c.pair("at", required=True),
                      "shape": c.choice("shape", SHAPES, default="round"),
                      "color": c.integer("color", default=0, lo=0, hi=8)})
        c.close(("id", "text", "at", "shape", "color"))
    edges = []
    for i, item in enumerate(r.items("edges")):
        c = r.child(item, f"edges[{i + 1}]")
        if c is None:
            continue
        edge = {"from": c.text("from", required=True), "to": c.text("to", required=True),
                "text": c.text("text", default=""), "style": c.choice("style", STYLES, default="solid"),
                "bend": c.number("bend", default=0.0, lo=-1, hi=1), "strong": c.flag("strong")}
        for end in ("from", "to"):
            if edge[end] is not None and edge[end] not in ids:
                c.error(c.line(end), f"'{end}': no node has id '{edge[end]}'")
        c.close(("from", "to", "text", "style", "bend", "strong"))
        edges.append(edge)
    return {"nodes": nodes, "edges": edges}


KINDS: dict[str, tuple[tuple[str, ...], Callable[[Reader], dict]]] = {
    "function": (("x", "y", "curves", "points", "asymptotes", "params"), _function),
    "optimizers": (("loss", "x", "y", "start", "steps", "methods", "log_contours"), _optimizers),
    "norm-balls": (("p", "loss"), _norm_balls),
    "receptive-field": (("input", "layers"), _receptive_field),
    "series": (("series", "mark"), _series),
    "bars": (("categories", "groups", "annotate"), _bars),
    "heatmap": (("matrix", "rows", "cols", "annotate", "colorbar"), _heatmap),
    "blocks": (("nodes", "edges"), _blocks),
}

