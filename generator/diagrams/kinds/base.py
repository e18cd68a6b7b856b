"""What every kind shares: the registry entry, common check helpers, drawing constants.

A kind is one module of this package with ``KIND = Kind(name, keys, check, draw, alt)``:
``check`` reads the block through a :class:`~..spec.Reader` into a plain, hashable spec;
``draw`` turns a checked spec into a matplotlib figure with the tools it is handed (it
imports no matplotlib itself); ``alt`` describes the figure in one line for screen readers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...plaintext import plain_label
from ..expr import ExprError, LatexError, derivative, numeric, parse
from ..spec import Reader, as_number, describe

LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":", "dashdot": "-."}
GREY = "#777777"
FIG_WIDTH = 5.2


@dataclass(frozen=True)
class Kind:
    name: str
    keys: tuple[str, ...]
    """Keys besides the common ones (``kind``, ``title``, ``caption``, …)."""
    check: Callable[[Reader], dict]
    draw: Callable[[dict, object], object]
    """(checked spec, the drawing tools of :mod:`..draw`) → matplotlib figure."""
    alt: Callable[[dict], str]
    """Checked spec → the figure's content in words (without the title)."""


def plain(label: str) -> str:
    return plain_label(label)


def expr(r: Reader, key: str, variables: tuple[str, ...], params: dict | None = None,
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


def sample(r: Reader, key: str, tex: str, lo: float, hi: float, params: dict | None,
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


def params(r: Reader) -> dict[str, float]:
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
