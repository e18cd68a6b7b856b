"""The catalog of plot kinds: one module per kind, each with its checks, drawing and alt text.

``check(node, diags, path)`` returns the normalised spec (JSON-compatible dict) or ``None``
when the block has errors; every error is reported at its line. ``alt_text(spec)`` says what
a checked spec shows. Drawing is :mod:`..draw`'s, which hands each kind its tools.
"""
from __future__ import annotations

from ...location import Diagnostics
from ..spec import Node, Reader
from . import bars, blocks, function, heatmap, norm_balls, optimizers, receptive_field, series
from .base import Kind, plain

KINDS: dict[str, Kind] = {m.KIND.name: m.KIND for m in (
    function, optimizers, norm_balls, receptive_field, series, bars, heatmap, blocks)}
COMMON = ("kind", "title", "caption", "xlabel", "ylabel", "logy", "legend")
ALT_MAX = 300


def check(node: Node, diags: Diagnostics, path) -> dict | None:
    r = Reader(node, diags, path)
    name = r.choice("kind", KINDS, required=True)
    if name is None:
        return None
    kind = KINDS[name]
    spec = {"kind": name, "title": r.text("title", default=""), "caption": r.text("caption", default=""),
            "xlabel": r.text("xlabel", default=""), "ylabel": r.text("ylabel", default=""),
            "logy": r.flag("logy"), "legend": r.flag("legend", True)}
    spec.update(kind.check(r))
    r.close(COMMON + kind.keys)
    return spec if r.ok else None


def alt_text(spec: dict) -> str:
    """One line for screen readers: the title, then what the figure shows."""
    head = plain(spec["title"]) or plain(spec["caption"])
    body = KINDS[spec["kind"]].alt(spec)
    text = " ".join((f"{head}（{body}）" if head else body).split())  # one line: a newline breaks genanki's check
    return text if len(text) <= ALT_MAX else text[:ALT_MAX - 1] + "…"
