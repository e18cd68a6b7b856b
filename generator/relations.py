"""The text side of formula checks: split relations, classify definitions, read tolerances.

Nothing here imports sympy, so the verify driver can classify every formula and look results up
in its cache without paying for the computer-algebra import; claims.py does the mathematics.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

RELATIONS = {"=": "eq", "<": "lt", ">": "gt", "\\le": "le", "\\leq": "le", "\\leqslant": "le",
             "\\ge": "ge", "\\geq": "ge", "\\geqslant": "ge", "\\ne": "ne", "\\neq": "ne",
             "\\approx": "approx", "\\lt": "lt", "\\gt": "gt"}
UNCHECKABLE_RELATIONS = ("\\equiv", "\\propto", "\\sim", "\\to", "\\rightarrow", "\\Rightarrow",
                         "\\iff", "\\implies", "\\mapsto", "\\in", "\\subset", "\\gg", "\\ll", ":=")
REL_RE = re.compile(r"\\(?:leqslant|geqslant|approx|leq|geq|neq|le|ge|ne|lt|gt)(?![A-Za-z])|[=<>]")
OP_TEXT = {"eq": "=", "lt": "<", "gt": ">", "le": "\\le", "ge": "\\ge", "ne": "\\neq", "approx": "\\approx"}
DEFAULT_TOLERANCE = 1e-2
"""Relative tolerance of ``\\approx`` unless a check line states ``% tol=…``."""
TOLERANCE_RANGE = (1e-12, 0.5)
"""A stated tolerance must lie in this range: wider makes any claim "verified"."""
GREEK = frozenset({
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi",
    "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
    "Phi", "Psi", "Omega"})
BUILTINS = frozenset({"sin", "cos", "tan", "tanh", "sinh", "cosh", "exp", "log", "ln", "max", "min", "sqrt",
                      "det", "tr", "Gamma"})


@dataclass(frozen=True)
class Definition:
    name: str
    params: tuple[str, ...]
    body: str

    def key(self) -> str:
        return f"{self.name}({','.join(self.params)})={self.body}"


@dataclass(frozen=True)
class ClaimTask:
    """One claim to check, with the definitions in scope: what the verify driver sends a worker."""

    tex: str
    comment: str
    defs: tuple[Definition, ...]


QUANTITY = "quantity"
"""What :func:`classify_definition` returns for ``o = …`` naming a value."""


class NotCheckable(Exception):
    """sympy cannot read or decide this formula; the message says why."""


class Refuted(Exception):
    """The claim is false; the message shows both sides."""


# --------------------------------------------------------------------------- splitting

_SCANNERS: dict[str, re.Pattern[str]] = {}


def top_level_split(tex: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """Split ``tex`` at matches of ``pattern`` outside braces, \\left…\\right and environments.

    Returns [(text, separator_before)]."""
    scanner = _SCANNERS.get(pattern.pattern)
    if scanner is None:
        scanner = _SCANNERS[pattern.pattern] = re.compile(
            r"(?P<open>\{|\\left(?![A-Za-z])|\\begin(?![A-Za-z]))|(?P<close>\}|\\right(?![A-Za-z])|\\end(?![A-Za-z]))"
            rf"|(?P<sep>{pattern.pattern})|\\[A-Za-z]+|\\.")
    parts, depth, start, sep = [], 0, 0, ""
    for m in scanner.finditer(tex):
        if m.group("open"):
            depth += 1
        elif m.group("close"):
            depth -= 1
        elif m.group("sep") is not None and depth == 0 and m.end() > m.start():
            parts.append((tex[start:m.start()], sep))
            sep, start = m.group("sep"), m.end()
    parts.append((tex[start:], sep))
    return parts


_SEPARATOR_RE = re.compile(r"\s*[,;]?\s*(?:\\qquad|\\quad|\\\\)\s*|\s*[,;]\s*\\text\{[^}]*\}\s*")
_ALIGN_RE = re.compile(r"\\begin\{(aligned|align\*?|gathered)\}|\\end\{(aligned|align\*?|gathered)\}")


def split_equations(tex: str) -> list[tuple[str, int]]:
    """One display formula may hold several equations separated by \\quad, \\qquad or \\\\.

    Returns [(equation, offset of its first character in ``tex``)]."""
    body = _ALIGN_RE.sub(lambda m: " " * len(m.group(0)), tex)
    if "\\begin" not in body:  # '&' inside cases or matrices is structure, not alignment
        body = body.replace("&", " ")
    out, pos = [], 0
    for part, sep in top_level_split(body, _SEPARATOR_RE):
        pos += len(sep)
        text = part.strip().rstrip(",.;").strip()
        if text:
            out.append((text, pos + len(part) - len(part.lstrip())))
        pos += len(part)
    return out


def split_relation(tex: str) -> tuple[list[str], list[str]]:
    """Sides and relation operators of a chain ``a = b \\le c``."""
    pieces = top_level_split(tex, REL_RE)
    sides = [p.strip() for p, _ in pieces]
    ops = [RELATIONS[s] for _, s in pieces[1:]]
    return sides, ops


def uncheckable_relation(tex: str) -> bool:
    """A relation sympy does not decide (``\\propto``, ``\\to``…) and none it does."""
    return any(op in tex for op in UNCHECKABLE_RELATIONS) and not REL_RE.search(tex)


def numeric_only(tex: str) -> bool:
    """An inline relation between plain numbers, such as ``2^5 = 32``: checked like a claim."""
    rest = re.sub(r"\\(?:begin|end)\{[pbv]?matrix\}|\\(times|cdot|frac|tfrac|dfrac|left|right|lfloor|rfloor|lceil|"
                  r"rceil|approx|le|ge|leq|geq|neq|sqrt|binom|det|lVert|rVert|\||,)(?![A-Za-z])", "", tex)
    return bool(REL_RE.search(tex)) and not re.search(r"[A-Za-z]", rest)


# --------------------------------------------------------------------------- tolerance

_TOL_RE = re.compile(r"\btol\s*=\s*(\S*)")


def tolerance(comment: str) -> float:
    """The ``% tol=…`` of a check line, else the default; raises ValueError with the reason."""
    m = _TOL_RE.search(comment)
    if not m:
        return DEFAULT_TOLERANCE
    try:
        value = float(m.group(1))
    except ValueError:
        raise ValueError(f"tolerance '{m.group(1)}' is not a number (write e.g. % tol=1e-4)") from None
    low, high = TOLERANCE_RANGE
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"tolerance {m.group(1)} is outside {low:g}…{high:g} (a relative error)")
    return value


# --------------------------------------------------------------------------- definitions

_OPNAME_RE = re.compile(r"\\(?:operatorname|mathrm|text)\s*\{\s*([A-Za-z]{2,})\s*\}")
_SUB = r"(?:_\{?[A-Za-z0-9]+\}?)?"
_FUNC_LHS_RE = re.compile(r"^(\\?[A-Za-z]+)(?:_(\{[A-Za-z0-9_{}]+\}|[A-Za-z0-9]))?\s*(?:\\left)?\(\s*"
                          r"(\\?[A-Za-z]+" + _SUB + r"(?:\s*,\s*\\?[A-Za-z]+" + _SUB + r")*)\s*(?:\\right)?\)$")
_SYMBOL_RE = re.compile(r"(\\[A-Za-z]+|(?<![A-Za-z\\])[A-Za-z])(?![A-Za-z])(\s*_\s*(\{(?:[^{}]|\{[^{}]*\})*\}|\\?[A-Za-z0-9]))?('*)")
_DECORATED_RE = re.compile(r"\\(?:hat|tilde|bar|boldsymbol|mathbf|vec|widehat|widetilde|overline|dot)(?![A-Za-z])"
                           r"|\^\s*\{?\s*(?:\*|\\ast|\\star|\(\w+\))")
_OPERATOR_RE = re.compile(r"[+\-/=<>]|\\(?:frac|cdot|times|sum|prod|int|left)(?![A-Za-z])")
_SUBSCRIPT_RE = re.compile(r"_\s*\{[^{}]*\}")
_UPDATE_LHS_RE = re.compile(r"\\Delta\s*\\?[A-Za-z]+(?:_\s*(?:\{[^{}]*\}|\w))?"
                            r"|\\?[A-Za-z]+\s*\[[^\[\]]*\]\s*_\s*(?:\{[^{}]*\}|\w)")
_STARRED_RE = re.compile(r"\s*\^\s*\{?\s*(?:\*|\\ast|\\star)")
_EXPLICIT_RE = re.compile(r":=|\\leftarrow(?![A-Za-z])|\\gets(?![A-Za-z])")


def _canonical(sub: str | None) -> str:
    return re.sub(r"\s+|[{}]|\\(?:mathrm|text|operatorname)", "", sub or "")


def function_name(name: str, sub: str | None) -> str:
    """How sympy's parser names ``f_1``: ``f_{1}``, so f_1 and f_2 are different functions (L_1: L_{1})."""
    if not sub:
        return name
    inner = sub[1:-1] if sub.startswith("{") and sub.endswith("}") else sub
    inner = re.sub(r"_([A-Za-z0-9])(?![A-Za-z0-9}])", r"_{\1}", inner)
    return name + "_{" + inner + "}"


def classify_definition(tex: str, defined: frozenset[str] | set[str]) -> Definition | str | None:
    """A Definition for ``f(x) = …``; QUANTITY for ``o = …`` naming a value; None for a claim.

    ``defined`` holds the names of the functions already defined in the file."""
    if len(top_level_split(tex, _EXPLICIT_RE)) == 2:
        return QUANTITY  # an explicit definition
    sides, ops = split_relation(tex)
    if ops != ["eq"]:
        return None
    lhs, rhs = sides[0].strip(), sides[1]
    bare = _SUBSCRIPT_RE.sub("", lhs)  # w_{t+1}: the '+' of a subscript is not an operator
    if _DECORATED_RE.search(lhs) and not _OPERATOR_RE.search(bare) and lhs not in rhs:
        return QUANTITY  # \hat m_t, \tilde c_t, \boldsymbol w_{t+1}, D^{*}(x): a new name for a value
    if _UPDATE_LHS_RE.fullmatch(lhs) and lhs not in rhs:
        return QUANTITY  # \Delta\theta_t = …, E[g^2]_t = … E[g^2]_{t-1}: an update rule names the new value
    lhs = _OPNAME_RE.sub(lambda m: "\\" + m.group(1), lhs)
    m = _FUNC_LHS_RE.match(lhs)
    if m:
        return _function_definition(m, rhs, defined)
    m = _SYMBOL_RE.fullmatch(lhs)
    if m and not m.group(4):
        return _named_quantity(m, rhs, defined)
    return None


def _function_definition(m: re.Match[str], rhs: str, defined) -> Definition | None:
    name = m.group(1).lstrip("\\")
    if name in BUILTINS:
        return None
    name = function_name(name, m.group(2))
    if name in defined:
        return None  # a second f(x) = … in the file is a claim about the first
    params = tuple(_param(p) for p in m.group(3).split(","))
    if any(len(p.split("_")[0]) > 1 and p.split("_")[0] not in GREEK for p in params):
        return None
    return Definition(name, params, rhs)


def _param(text: str) -> str:
    """A parameter as sympy's parser names it: ``p_t`` → ``p_{t}``, ``\\lambda`` → ``lambda``."""
    m = re.fullmatch(r"\s*\\?([A-Za-z]+)(?:_\{?([A-Za-z0-9]+)\}?)?\s*", text)
    return m.group(1) + ("_{" + m.group(2) + "}" if m.group(2) else "") if m else text.strip()


def _named_quantity(m: re.Match[str], rhs: str, defined) -> str | None:
    base, sub = m.group(1), _canonical(m.group(3))
    # L_{clip} is not L: only the same symbol with the same subscript conflicts with a definition
    if base.lstrip("\\") in BUILTINS or function_name(base.lstrip("\\"), sub) in defined:
        return None
    for other in _SYMBOL_RE.finditer(rhs):
        if other.group(1) == base and _canonical(other.group(3)) == sub and not _STARRED_RE.match(rhs, other.end()):
            return None  # x = x + 1 uses the name it would define: a claim (w_i^{*} is another name)
    return QUANTITY
