"""Reading a ``plot`` block's YAML with line numbers, and typed access to its keys.

Every value read through :class:`Reader` is checked; a problem is reported once, at the
line of the offending key or item, and the reader returns ``None`` so that checking can
go on and one run reports every problem of a block.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..location import Diagnostics, SourceLocation
from ..model import PlotBlock
from ..yamlread import Node, YamlError
from ..yamlread import load as load_yaml
from .text import LABEL_KEYS

STYLES = ("solid", "dashed", "dotted", "dashdot")


class SpecError(Exception):
    """A block whose YAML cannot be read at all (reported by the caller)."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def load(block: PlotBlock) -> Node:
    """Parse the block's YAML into :class:`Node` values that remember their lines."""
    try:
        top = load_yaml(block.source, block.loc.line + 1)  # YAML line 0 is the line after the fence
    except YamlError as e:
        raise SpecError(e.line, f"invalid YAML: {e}" if e.syntax else str(e)) from None
    if top is None:
        raise SpecError(block.loc.line, "empty plot block: expected a YAML mapping with 'kind'")
    if not isinstance(top.value, dict):
        raise SpecError(top.line, "a plot block must be a YAML mapping with 'kind'")
    return top


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:57] + '…'}"


class Reader:
    """Checked access to one YAML mapping; records problems in ``diags``."""

    def __init__(self, node: Node, diags: Diagnostics, path, where: str = ""):
        self.node = node
        self.diags = diags
        self.path = path
        self.where = where
        """Prefix for messages, e.g. "curves[2]: "."""
        self.ok = True
        self.parent: Reader | None = None
        self.index = 0
        """1-based position in the parent's list (see :meth:`children`)."""

    # ---- reporting
    def error(self, line: int, message: str) -> None:
        r: Reader | None = self
        while r is not None:
            r.ok = False
            r = r.parent
        self.diags.error(SourceLocation(self.path, line), f"plot: {self.where}{message}")

    def child(self, node: Node, where: str) -> Reader | None:
        if not isinstance(node.value, dict):
            self.error(node.line, f"{where}: expected a mapping, found {describe(node.value)}")
            return None
        r = Reader(node, self.diags, self.path, f"{self.where}{where}: ")
        r.parent = self
        return r

    def children(self, key: str, required: bool = False, min_len: int = 1,
                 max_len: int | None = None) -> Iterator[Reader]:
        """The mappings of the list under ``key``, each read as ``key[i]``; other items are reported."""
        for i, item in enumerate(self.items(key, required, min_len, max_len)):
            c = self.child(item, f"{key}[{i + 1}]")
            if c is not None:
                c.index = i + 1
                yield c

    def has(self, key: str) -> bool:
        return key in self.node.value

    def close(self, allowed: Iterable[str]) -> None:
        """Report keys that are not in ``allowed`` (usually typos)."""
        allowed = list(allowed)
        for key, node in self.node.value.items():
            if key not in allowed:
                hint = _closest(key, allowed)
                self.error(node.line, f"unknown key '{key}'" + (f" (did you mean '{hint}'?)" if hint else
                                                                 f"; expected one of: {', '.join(allowed)}"))

    # ---- typed getters
    def line(self, key: str) -> int:
        node = self.node.value.get(key)
        return node.line if node is not None else self.node.line

    def raw(self, key: str, required: bool) -> Node | None:
        node = self.node.value.get(key)
        if node is None:
            if required:
                self.error(self.node.line, f"missing key '{key}'")
            return None
        return node

    def get(self, key: str, check: Callable[[Any], Any], what: str, required: bool = False, default: Any = None):
        node = self.raw(key, required)
        if node is None:
            return default
        try:
            return check(node.value)
        except (TypeError, ValueError) as e:
            detail = str(e) or f"expected {what}, found {describe(node.value)}"
            self.error(node.line, f"'{key}': {detail}")
            return default

    def text(self, key: str, required: bool = False, default: str | None = None) -> str | None:
        value = self.get(key, as_text, "text", required, default)
        if key in LABEL_KEYS and value and key in self.node.value:
            self.check_label(value, self.line(key))
        return value

    def check_label(self, label: str, line: int) -> None:
        """Warn about TeX markup outside ``$…$``: it would be drawn literally (``λ^t``)."""
        outside = re.sub(r"(?<!\\)\$[^$]*(?<!\\)\$", "", label)
        m = re.search(r"[\^_]|\\[a-zA-Z]+", outside)
        if m:
            self.diags.warning(SourceLocation(self.path, line),
                               f"plot: {self.where}label '{label}' has '{m.group(0)}' outside $…$; "
                               "it is drawn literally (write $…$ around the math)")

    def number(self, key: str, required: bool = False, default: float | None = None, *,
               lo: float | None = None, hi: float | None = None, lo_open: bool = False,
               hi_open: bool = False) -> float | None:
        return self.get(key, lambda v: as_number(v, lo, hi, lo_open, hi_open), "a number", required, default)

    def integer(self, key: str, required: bool = False, default: int | None = None, *,
                lo: int | None = None, hi: int | None = None) -> int | None:
        return self.get(key, lambda v: as_int(v, lo, hi), "an integer", required, default)

    def flag(self, key: str, default: bool = False) -> bool:
        return self.get(key, as_bool, "true or false", False, default)

    def choice(self, key: str, options: Iterable[str], required: bool = False, default: str | None = None):
        options = tuple(options)

        def check(v):
            if not isinstance(v, str) or v not in options:
                raise ValueError(f"expected one of {', '.join(options)}, found {describe(v)}")
            return v
        return self.get(key, check, "a name", required, default)

    def range(self, key: str, required: bool = False, *, positive: bool = False) -> tuple[float, float] | None:
        def check(v):
            if not isinstance(v, list) or len(v) != 2:
                raise ValueError(f"expected a range [lo, hi], found {describe(_plain(v))}")
            lo, hi = (as_number(n.value) for n in v)
            if not lo < hi:
                raise ValueError(f"bad range [{_fmt(lo)}, {_fmt(hi)}]: lo must be less than hi")
            if positive and lo <= 0:
                raise ValueError(f"bad range [{_fmt(lo)}, {_fmt(hi)}]: must be positive on a log axis")
            return (lo, hi)
        return self.get(key, check, "a range", required)

    def pair(self, key: str, required: bool = False) -> tuple[float, float] | None:
        def check(v):
            if not isinstance(v, list) or len(v) != 2:
                raise ValueError(f"expected two numbers [a, b], found {describe(_plain(v))}")
            return tuple(as_number(n.value) for n in v)
        return self.get(key, check, "two numbers", required)

    def numbers(self, key: str, required: bool = False, *, positive: bool = False,
                min_len: int = 1, max_len: int | None = None) -> list[float] | None:
        def check(v):
            if not isinstance(v, list):
                raise ValueError(f"expected a list of numbers, found {describe(v)}")
            if len(v) < min_len:
                raise ValueError(f"expected at least {min_len} numbers, found {len(v)}")
            if max_len is not None and len(v) > max_len:
                raise ValueError(f"at most {max_len} values, found {len(v)}")
            out = []
            for i, n in enumerate(v):
                try:
                    out.append(as_number(n.value, 0 if positive else None, lo_open=True))
                except ValueError as e:
                    raise ValueError(f"item {i + 1}: {e}") from None
            return out
        return self.get(key, check, "a list of numbers", required)

    def texts(self, key: str, required: bool = False, max_len: int | None = None) -> list[str] | None:
        def check(v):
            if not isinstance(v, list) or not v:
                raise ValueError(f"expected a non-empty list of labels, found {describe(_plain(v))}")
            if max_len is not None and len(v) > max_len:
                raise ValueError(f"at most {max_len} labels, found {len(v)}")
            return [as_text(n.value) for n in v]
        values = self.get(key, check, "a list of labels", required)
        for node, value in zip(self.node.value[key].value if values else (), values or ()):
            self.check_label(value, node.line)
        return values

    def items(self, key: str, required: bool = False, min_len: int = 1, max_len: int | None = None) -> list[Node]:
        """A list value; returns its item nodes (empty on error). ``max_len`` bounds a figure's work."""
        node = self.raw(key, required)
        if node is None:
            return []
        if not isinstance(node.value, list):
            self.error(node.line, f"'{key}': expected a list, found {describe(node.value)}")
            return []
        if len(node.value) < min_len:
            self.error(node.line, f"'{key}': expected at least {min_len} item{'s' * (min_len > 1)}")
            return []
        if max_len is not None and len(node.value) > max_len:
            self.error(node.line, f"'{key}': at most {max_len} items, found {len(node.value)}")
            return []
        return node.value


def _plain(v: Any) -> Any:
    if isinstance(v, list):
        return [_plain(n.value) for n in v]
    if isinstance(v, dict):
        return {k: _plain(n.value) for k, n in v.items()}
    return v


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def as_text(v: Any) -> str:
    if isinstance(v, bool) or v is None or isinstance(v, (list, dict)):
        raise ValueError(f"expected text, found {describe(_plain(v))}")
    return str(v)


def as_number(v: Any, lo: float | None = None, hi: float | None = None,
              lo_open: bool = False, hi_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number, found {describe(_plain(v))}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"expected a finite number, found {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"must be {'>' if lo_open else '≥'} {_fmt(lo)}, found {_fmt(v)}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"must be {'<' if hi_open else '≤'} {_fmt(hi)}, found {_fmt(v)}")
    return v


def as_int(v: Any, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise ValueError(f"expected an integer, found {describe(_plain(v))}")
    if lo is not None and v < lo:
        raise ValueError(f"must be ≥ {lo}, found {v}")
    if hi is not None and v > hi:
        raise ValueError(f"must be ≤ {hi}, found {v}")
    return v


def as_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, found {describe(_plain(v))}")
    return v


def _closest(word: str, options: list[str]) -> str | None:
    import difflib
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return match[0] if match else None
