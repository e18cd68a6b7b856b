"""Relations in LaTeX → sympy verdicts: split, classify definitions, verify claims.

Definitions (``f(x) = …``) enter a :class:`Scope` and are turned into sympy lazily; a claim is
proved symbolically where sympy can, otherwise tested at seeded random points; decimals are
exact rationals. Nothing here evaluates content as Python: LaTeX goes through latex.to_sympy.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

RELATIONS = {"=": "eq", "<": "lt", ">": "gt", "\\le": "le", "\\leq": "le", "\\leqslant": "le",
             "\\ge": "ge", "\\geq": "ge", "\\geqslant": "ge", "\\ne": "ne", "\\neq": "ne",
             "\\approx": "approx", "\\lt": "lt", "\\gt": "gt"}
UNCHECKABLE_RELATIONS = ("\\equiv", "\\propto", "\\sim", "\\to", "\\rightarrow", "\\Rightarrow",
                          "\\iff", "\\implies", "\\mapsto", "\\in", "\\subset", "\\gg", "\\ll", ":=")
REL_RE = re.compile(r"\\(?:leqslant|geqslant|approx|leq|geq|neq|le|ge|ne|lt|gt)(?![A-Za-z])|[=<>]")
DEFAULT_TOLERANCE = 1e-2
"""Relative tolerance of ``\\approx`` unless a check line states ``% tol=…``."""
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
          "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi",
          "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
          "Phi", "Psi", "Omega"}
_BUILTIN_PRIME_RE = re.compile(r"\\(tanh|sinh|cosh|sin|cos|tan|exp|ln|log)\s*('+)")
_OPNAME_RE = re.compile(r"\\(?:operatorname|mathrm|text)\s*\{\s*([A-Za-z]{2,})\s*\}")
_DIGIT_GROUP_RE = re.compile(r"(?<=\d)(?:\\,|\\ |\{,\}|\\!|~)(?=\d{3})")


@dataclass(frozen=True)
class Definition:
    name: str
    params: tuple[str, ...]
    body: str

    def key(self) -> str:
        return f"{self.name}({','.join(self.params)})={self.body}"


class NotCheckable(Exception):
    """sympy cannot read or decide this formula; the message says why."""


class Refuted(Exception):
    """The claim is false; the message shows both sides."""


# --------------------------------------------------------------------------- splitting

_SCANNERS: dict[str, re.Pattern[str]] = {}


def _top_level_split(tex: str, pattern: re.Pattern[str]) -> list[tuple[str, str]]:
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


def split_equations(tex: str) -> list[str]:
    """One display formula may hold several equations separated by \\quad, \\qquad or \\\\."""
    body = re.sub(r"\\begin\{(aligned|align\*?|gathered)\}|\\end\{(aligned|align\*?|gathered)\}", "", tex)
    if "\\begin" not in body:  # '&' inside cases or matrices is structure, not alignment
        body = body.replace("&", "")
    out = []
    for part, _ in _top_level_split(body, _SEPARATOR_RE):
        part = part.strip().rstrip(",.;").strip()
        if part:
            out.append(part)
    return out


def split_relation(tex: str) -> tuple[list[str], list[str]]:
    """Sides and relation operators of a chain ``a = b \\le c``."""
    pieces = _top_level_split(tex, REL_RE)
    sides = [p.strip() for p, _ in pieces]
    ops = [RELATIONS[s] for _, s in pieces[1:]]
    return sides, ops


# --------------------------------------------------------------------------- sympy side

_DECIMAL_RE = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")


def _prepare(tex: str) -> str:
    """Rewrite notation the LaTeX grammar lacks into forms it reads (text only, no evaluation)."""
    tex = _DIGIT_GROUP_RE.sub("", tex)
    # written decimals are exact: 0.72 is 72/100 (the parser would make lossy floats of them)
    tex = _DECIMAL_RE.sub(lambda m: "\\frac{%s}{1%s}" % (int(m.group(1) + m.group(2)), "0" * len(m.group(2))), tex)
    tex = _OPNAME_RE.sub(lambda m: "\\" + m.group(1), tex)
    tex = _BUILTIN_PRIME_RE.sub(lambda m: "\\builtin" + m.group(1) + m.group(2), tex)
    tex = re.sub(r"\\bigl|\\bigr|\\Bigl|\\Bigr|\\big|\\Big", "", tex)
    tex = re.sub(r"\\cdot(?![A-Za-z])", r"\\times ", tex)
    if "\\int" not in tex:  # the grammar lexes 'd\\times' or 'd \\theta' as a differential
        tex = re.sub(r"(?<![A-Za-z\\])d(?=\s*\\[A-Za-z])", "{d}", tex)
    return tex


class Scope:
    """Definitions visible at a point of a file, turned into sympy lazily."""

    def __init__(self) -> None:
        self.defs: dict[str, Definition] = {}
        self._compiled: dict[str, tuple] = {}

    def key(self) -> str:
        return "\n".join(d.key() for d in sorted(self.defs.values(), key=lambda d: d.name))

    def add(self, d: Definition) -> None:
        self.defs[d.name] = d
        self._compiled.pop(d.name, None)

    def lookup(self, name: str):
        import sympy

        from .latex import LatexError, to_sympy
        if name not in self._compiled:
            d = self.defs[name]
            try:
                body = self.expand(to_sympy(_prepare(d.body)))
            except LatexError as e:
                raise NotCheckable(f"definition of {name} is not computable: {e}") from None
            self._compiled[name] = (tuple(sympy.Symbol(p) for p in d.params), body)
        return self._compiled[name]

    def expand(self, expr):
        """Substitute defined functions, derivatives written with primes, and builtin primes."""
        import sympy
        from sympy.core.function import AppliedUndef

        def resolve(e):
            name = e.func.__name__
            primes = len(name) - len(name.rstrip("'"))
            base = name.rstrip("'")
            if base.startswith("builtin"):
                fn = getattr(sympy, {"ln": "log"}.get(base[7:], base[7:]))
                t = sympy.Dummy("t")
                body, params = fn(t), (t,)
            elif base in self.defs:
                params, body = self.lookup(base)
            else:
                return None
            if len(params) != len(e.args):
                raise NotCheckable(f"{base} takes {len(params)} argument(s), got {len(e.args)}")
            if primes:
                if len(params) != 1:
                    raise NotCheckable(f"{base}' of a function of several variables")
                body = sympy.diff(body, params[0], primes)
            return body.subs(dict(zip(params, e.args)), simultaneous=True)

        changed = True
        for _ in range(10):
            if not changed:
                break
            changed = False
            for e in sorted(expr.atoms(AppliedUndef), key=sympy.default_sort_key):
                new = resolve(e)
                if new is not None:
                    expr = expr.xreplace({e: new})
                    changed = True
        lazy = (sympy.Derivative, sympy.Sum, sympy.Product, sympy.Limit, sympy.Integral)
        return expr.doit() if expr.has(*lazy) else expr


def _side(tex: str, scope: Scope):
    import sympy
    from sympy.core.function import AppliedUndef

    from .latex import LatexError, to_sympy
    try:
        expr = to_sympy(_prepare(tex))
    except LatexError as e:
        raise NotCheckable(f"sympy cannot read '{tex}': {e}") from None
    if isinstance(expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom)):
        raise NotCheckable(f"unexpected relation inside '{tex}'")
    expr = scope.expand(expr)
    # exact rationals for written decimals: 0.72 is 18/25
    expr = expr.xreplace({f: sympy.Rational(str(f)) for f in expr.atoms(sympy.Float)})
    undefined = sorted({f.func.__name__ for f in expr.atoms(AppliedUndef)})
    if undefined:
        raise NotCheckable(f"undefined function(s) {', '.join(undefined)}")
    for s in expr.free_symbols:
        base = s.name.split("_")[0].lstrip("\\")
        if len(base) > 1 and base not in _GREEK:
            raise NotCheckable(f"'{s.name}' is notation, not a variable")
    return expr


def _tolerance(comment: str) -> float:
    m = re.search(r"tol\s*=\s*([0-9.eE+-]+)", comment)
    return float(m.group(1)) if m else DEFAULT_TOLERANCE


def _values(expr, point):
    import sympy
    v = expr.evalf(30, subs=point) if point else expr.evalf(30)
    if not v.is_number:
        raise NotCheckable("could not evaluate to a number")
    c = complex(v)
    if abs(c.imag) > 1e-12 * max(1.0, abs(c.real)) or c.real != c.real:
        return None
    return sympy.Float(c.real, 30)


def _fmt(v) -> str:
    import sympy
    if isinstance(v, sympy.Integer) or (isinstance(v, sympy.Rational) and v.q < 10**6):
        return str(v)
    return f"{float(v):.6g}"


def _holds(op: str, a, b, tol: float, exact: bool) -> bool:
    import sympy
    if exact and op in ("eq", "ne"):
        same = sympy.simplify(a - b) == 0
        return same if op == "eq" else not same
    fa, fb = float(a), float(b)
    scale = max(1.0, abs(fa), abs(fb))
    if op == "eq":
        return abs(fa - fb) <= 1e-9 * scale
    if op == "ne":
        return abs(fa - fb) > 1e-9 * scale
    if op == "approx":
        return abs(fa - fb) <= tol * max(abs(fa), abs(fb), 1e-300)
    return {"lt": fa < fb, "le": fa <= fb + 1e-12 * scale, "gt": fa > fb, "ge": fa >= fb - 1e-12 * scale}[op]


def check_relation(tex: str, scope: Scope, comment: str = "") -> str:
    """Verify one chain; returns how it was verified, raises Refuted or NotCheckable."""
    import sympy
    sides, ops = split_relation(tex)
    if not ops:
        raise NotCheckable("no relation to check")
    if any(not s for s in sides):
        raise NotCheckable("a side of the relation is empty")
    exprs = [_side(s, scope) for s in sides]
    tol = _tolerance(comment)
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
    how = "exactly"
    for i, op in enumerate(ops):
        a, b = exprs[i], exprs[i + 1]
        shown = f"{sides[i]} {_op_text(op)} {sides[i + 1]}"
        if not symbols:
            exact = a.is_Rational and b.is_Rational
            try:
                va = a if a.is_Rational else _values(a, {})
                vb = b if b.is_Rational else _values(b, {})
                if va is None or vb is None:
                    raise NotCheckable("a side is not a real number")
                ok = _holds(op, va, vb, tol, exact and op in ("eq", "ne"))
            except (TypeError, ValueError) as e:
                raise NotCheckable(f"cannot compare the sides: {e}") from None
            if not ok:
                raise Refuted(f"claim is false: {shown} (left = {_fmt(va)}, right = {_fmt(vb)})")
            if op == "approx":
                how = f"numerically (relative tolerance {tol:g})"
            continue
        rng = random.Random(hashlib.sha256(tex.encode()).hexdigest())
        tested = 0
        for _ in range(12):
            point = {s: sympy.Rational(rng.randint(3, 27), 10) for s in symbols}
            va, vb = _values(a, point), _values(b, point)
            if va is None or vb is None:
                continue
            tested += 1
            if not _holds(op, va, vb, tol, False):
                at = ", ".join(f"{s} = {_fmt(v)}" for s, v in point.items())
                raise Refuted(f"claim is false: {shown} (at {at}: left = {_fmt(va)}, right = {_fmt(vb)})")
            if tested >= 6:
                break
        if tested == 0:
            raise NotCheckable("the sides are not real at any test point")
        if op == "eq" and _proved(a - b):
            how = "symbolically" if how in ("exactly", "symbolically") else how
        else:
            how = f"numerically at {tested} points"
    return how


def _proved(diff) -> bool:
    import sympy
    try:
        return sympy.simplify(diff.rewrite(sympy.exp)) == 0 or sympy.simplify(diff) == 0
    except Exception:  # noqa: BLE001 — sympy raises many types; an unproved identity stays numeric
        return False


def _op_text(op: str) -> str:
    return {"eq": "=", "lt": "<", "gt": ">", "le": "\\le", "ge": "\\ge", "ne": "\\neq", "approx": "\\approx"}[op]


_FUNC_LHS_RE = re.compile(r"^(\\?[A-Za-z]+)(?:_\{?([A-Za-z0-9]+)\}?)?\s*(?:\\left)?\(\s*(\\?[A-Za-z]+(?:\s*,\s*\\?[A-Za-z]+)*)\s*(?:\\right)?\)$")
_SYMBOL_RE = re.compile(r"(\\[A-Za-z]+|(?<![A-Za-z\\])[A-Za-z])(?![A-Za-z])(\s*_\s*(\{(?:[^{}]|\{[^{}]*\})*\}|\\?[A-Za-z0-9]))?('*)")
_BUILTINS = {"sin", "cos", "tan", "tanh", "sinh", "cosh", "exp", "log", "ln", "max", "min", "sqrt"}


def _canonical(sub: str | None) -> str:
    return re.sub(r"\s+|[{}]|\\(?:mathrm|text|operatorname)", "", sub or "")


_DECORATED_RE = re.compile(r"\\(?:hat|tilde|bar|boldsymbol|mathbf|vec|widehat|widetilde|overline|dot)(?![A-Za-z])"
                           r"|\^\s*\{?\s*(?:\*|\\ast|\\star|\(\w+\))")
_OPERATOR_RE = re.compile(r"[+\-/=<>]|\\(?:frac|cdot|times|sum|prod|int|left)(?![A-Za-z])")


def classify_definition(tex: str, scope: Scope) -> Definition | str | None:
    """A Definition for ``f(x) = …``; "quantity" for ``o = …`` naming a value; None for a claim."""
    if len(_top_level_split(tex, re.compile(r":="))) == 2:
        return "quantity"  # an explicit definition
    sides, ops = split_relation(tex)
    if ops != ["eq"]:
        return None
    lhs_raw = sides[0].strip()
    if _DECORATED_RE.search(lhs_raw) and not _OPERATOR_RE.search(lhs_raw) and lhs_raw not in sides[1]:
        return "quantity"  # \hat m_t, \tilde c_t, \boldsymbol w, D^{*}(x): a new name for a value
    lhs = _OPNAME_RE.sub(lambda m: "\\" + m.group(1), sides[0].strip())
    m = _FUNC_LHS_RE.match(lhs)
    if m:
        name = m.group(1).lstrip("\\")
        if name in _BUILTINS:
            return None
        if m.group(2):  # f_1 and f_2 are different functions; sympy names them f_{1}, f_{2}
            name += "_{" + m.group(2) + "}"
        if name in scope.defs:
            return None
        params = tuple(p.strip().lstrip("\\") for p in m.group(3).split(","))
        if any(len(p) > 1 and p not in _GREEK for p in params):
            return None
        return Definition(name, params, sides[1])
    m = _SYMBOL_RE.fullmatch(lhs)
    if m and not m.group(4):
        base, sub = m.group(1), _canonical(m.group(3))
        # L_{clip} is not L: only the same symbol with the same subscript conflicts with a definition
        if base.lstrip("\\") in _BUILTINS or base.lstrip("\\") + (f"_{{{sub}}}" if sub else "") in scope.defs:
            return None
        for other in _SYMBOL_RE.finditer(sides[1]):
            if other.group(1) == base and _canonical(other.group(3)) == sub:
                return None
        return "quantity"
    return None


