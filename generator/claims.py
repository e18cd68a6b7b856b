"""The sympy side of formula checks: read a claim's sides, then prove or test it.

A claim is read through latex.to_sympy (never eval), definitions in scope are substituted, and
notation is interpreted by the rules in docs/format.md (imaginary unit, juxtaposition, domains).
It is then decided in this order: exactly when both sides are small rational numbers; at seeded
random points where every part of the formula is real-valued (with arbitrary-exponent mpmath
numbers, so 10^{10^{10}} is compared, not multiplied out); and, for equations, symbolically.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

import mpmath
import sympy
from sympy.core.function import AppliedUndef
from sympy.core.parameters import evaluate

from . import workers
from .latex import LatexError, digits, to_sympy
from .relations import (GREEK, OP_TEXT, ClaimTask, Definition, NotCheckable, Refuted, split_relation,
                        tolerance)

EXACT_DIGITS = 10_000
"""Largest exact number (in decimal digits) a check computes; beyond it values are compared in floating point."""
MAX_TERMS = 100_000
"""Most terms of a sum or product evaluated term by term at a test point."""
PROOF_SECONDS = 1.0
"""Time for the symbolic proof of an equation that already holds at every test point."""
POINTS = 6
"""Test points a claim with variables must hold at."""
FUNCTION_LETTERS = frozenset({"f", "g", "h", "p", "q", "r", "u", "v", "F", "G", "H", "P", "Q", "L", "J", "D", "E", "R",
                              "sigma", "phi", "varphi", "psi", "Phi", "Psi", "ell", "pi_{theta}"})
"""Letters that name functions in ML notes: ``p(x)`` with p undefined is an unknown function, not p·x."""
_BUILTIN_PRIME_RE = re.compile(r"builtin(tanh|sinh|cosh|sin|cos|tan|exp|ln|log)")
_SPECIAL = {"Gamma": sympy.gamma}


@dataclass
class Reading:
    """How a claim was read: its sides as sympy, and the choices the rules made."""

    sides: list
    imaginary: bool = False
    integers: set = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


class Scope:
    """Definitions visible at a point of a file, turned into sympy lazily."""

    def __init__(self, defs: tuple[Definition, ...] = ()) -> None:
        self.defs: dict[str, Definition] = {d.name: d for d in defs}
        self._compiled: dict[str, tuple] = {}

    def lookup(self, name: str):
        if name not in self._compiled:
            d = self.defs[name]
            try:
                body = self.expand(to_sympy(prepare_tex(d.body)), frozenset(d.params), [])
            except LatexError as e:
                raise NotCheckable(f"definition of {name} is not computable: {e}") from None
            self._compiled[name] = (tuple(sympy.Symbol(p) for p in d.params), body)
        return self._compiled[name]

    def expand(self, expr, variables: frozenset[str], warnings: list[str]):
        """Substitute defined functions and primes; read ``n(n+1)`` as a product where the rules say so."""
        with evaluate(False):
            for _ in range(10):
                calls = sorted(expr.atoms(AppliedUndef), key=sympy.default_sort_key)
                new = {e: r for e in calls if (r := self._resolve(e, variables, warnings)) is not None}
                # \frac{\partial f}{\partial x} names the function alone: its body, in its own parameters
                bare = {d: d.func(self.lookup(d.expr.name)[1], *d.args[1:]) for d in expr.atoms(sympy.Derivative)
                        if isinstance(d.expr, sympy.Symbol) and d.expr.name in self.defs and self.defs[d.expr.name].params}
                if not new and not bare:
                    break
                expr = expr.xreplace({**new, **bare})
        return expr

    def _resolve(self, e, variables, warnings):
        name = e.func.__name__
        base = name.rstrip("'")
        primes = len(name) - len(base)
        m = _BUILTIN_PRIME_RE.fullmatch(base)
        if m:
            t = sympy.Dummy("t")
            fn = getattr(sympy, {"ln": "log"}.get(m.group(1), m.group(1)))
            params, body = (t,), fn(t)
        elif base in self.defs:
            params, body = self.lookup(base)
        elif base in _SPECIAL and not primes:
            return _SPECIAL[base](*e.args)
        elif not primes and len(e.args) == 1 and _juxtaposition(base, e.args[0], variables, warnings):
            return sympy.Mul(sympy.Symbol(base), e.args[0])
        else:
            return None
        if len(params) != len(e.args):
            raise NotCheckable(f"{base} takes {len(params)} argument(s), got {len(e.args)}")
        if primes:
            if len(params) != 1:
                raise NotCheckable(f"{base}' of a function of several variables")
            with evaluate(True):
                body = sympy.diff(body, params[0], primes)
        return body.xreplace(dict(zip(params, e.args)))


def _juxtaposition(name: str, arg, variables: frozenset[str], warnings: list[str]) -> bool:
    """``n(n+1)`` is n·(n+1) unless n names a function by convention (f, g, p, σ…) and is used only so."""
    if name not in FUNCTION_LETTERS:
        return len(name) == 1 or name in GREEK
    if sympy.Symbol(name) in arg.free_symbols:
        return True  # p(1-p): the letter is a number inside its own "argument"
    if name in variables:
        warnings.append(f"ambiguous: '{name}(…)' is read as a product, since {name} is also a plain variable here "
                        f"(define {name}(x) = … to make it a function)")
        return True
    return False


# --------------------------------------------------------------------------- reading a claim

_DECIMAL_RE = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_DIGIT_GROUP_RE = re.compile(r"(?<=\d)(?:\\,|\\ |\{,\}|\\!|~)(?=\d{3})")
_OPNAME_RE = re.compile(r"\\(?:operatorname|mathrm|text)\s*\{\s*([A-Za-z]{2,})\s*\}")
_PRIME_RE = re.compile(r"\\(tanh|sinh|cosh|sin|cos|tan|exp|ln|log)\s*('+)")
_INDEX_I_RE = re.compile(r"_\s*(?:\{[^{}]*(?<![A-Za-z\\])i(?![A-Za-z])[^{}]*\}|i(?![A-Za-z]))")
_BARE_I_RE = re.compile(r"(?<![A-Za-z\\])i(?![A-Za-z])")
_SUM_I_RE = re.compile(r"\\(?:sum|prod)\s*_\s*\{?\s*i\s*=")
_KEPT_NAMES = frozenset({"Var", "E", "Bernoulli", "Bern", "Uniform", "otherwise", "else", "if", "when", "tr", "Tr",
                         "trace", "det", "sgn", "sign"})
"""\\operatorname{…} names latex.py reads itself; others become plain function names."""


def prepare_tex(tex: str) -> str:
    """Rewrite notation the LaTeX grammar lacks into forms it reads (text only, no evaluation)."""
    tex = _DIGIT_GROUP_RE.sub("", tex)
    # written decimals are exact: 0.72 is 72/100 (the parser would make lossy floats of them)
    tex = _DECIMAL_RE.sub(lambda m: "\\frac{%s}{1%s}" % (int(m.group(1) + m.group(2)), "0" * len(m.group(2))), tex)
    tex = _OPNAME_RE.sub(lambda m: m.group(0) if m.group(1) in _KEPT_NAMES else "\\" + m.group(1), tex)
    tex = _PRIME_RE.sub(lambda m: "\\builtin" + m.group(1) + m.group(2), tex)
    tex = re.sub(r"\\bigl|\\bigr|\\Bigl|\\Bigr|\\biggl|\\biggr|\\big|\\Big", "", tex)
    tex = re.sub(r"\\cdot(?![A-Za-z])", r"\\times ", tex)
    if "\\int" not in tex and "\\frac{d" not in tex.replace(" ", ""):
        # the grammar lexes 'd\\times' or 'd \\theta' as a differential
        tex = re.sub(r"(?<![A-Za-z\\])d(?=\s*\\[A-Za-z])", "{d}", tex)
    return tex


def read_claim(tex: str, scope: Scope) -> tuple[list[str], list[str], Reading]:
    """Sides (as text), operators, and the sides read as sympy under the notation rules."""
    sides, ops = split_relation(tex)
    if not ops:
        raise NotCheckable("no relation to check")
    if any(not s for s in sides):
        raise NotCheckable("a side of the relation is empty")
    parsed = []
    for s in sides:
        try:
            expr = to_sympy(prepare_tex(s))
        except LatexError as e:
            raise NotCheckable(f"sympy cannot read '{s}': {e}") from None
        if isinstance(expr, (sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom)):
            raise NotCheckable(f"unexpected relation inside '{s}'")
        parsed.append(expr)
    reading = Reading([])
    variables = frozenset(s.name for e in parsed for s in e.free_symbols)
    imaginary = _imaginary_unit(tex, ops, variables, reading.warnings)
    for expr in parsed:
        expr = scope.expand(expr, variables, reading.warnings)
        if imaginary:
            with evaluate(False):
                expr = expr.xreplace({sympy.Symbol("i"): sympy.I})
        reading.sides.append(_checked(expr))
    reading.imaginary = any(e.has(sympy.I) for e in reading.sides)
    reading.integers = _integer_symbols(reading.sides)
    return sides, ops, reading


def _imaginary_unit(tex: str, ops: list[str], variables: frozenset[str], warnings: list[str]) -> bool:
    """Bare ``i`` is the imaginary unit unless it is an index in this formula (x_i, \\sum_{i=1})."""
    if "i" not in variables:
        return False
    summed = bool(_SUM_I_RE.search(tex))
    indexed = bool(_INDEX_I_RE.search(_SUM_I_RE.sub("", tex)))
    if summed or indexed:
        if indexed and not summed and _BARE_I_RE.search(re.sub(r"_\s*\{[^{}]*\}|_\s*\\?[A-Za-z0-9]", "", tex)):
            warnings.append("ambiguous: 'i' is an index here (x_i) and also stands alone; it is read as a variable "
                            "(write \\mathrm{i} for the imaginary unit)")
        return False
    if any(op in ("lt", "le", "gt", "ge") for op in ops):
        warnings.append("ambiguous: 'i' in an inequality is read as a variable, not the imaginary unit "
                        "(complex numbers are not ordered)")
        return False
    return True


def _checked(expr):
    """Refuse what is notation rather than a computable expression."""
    undefined = sorted({f.func.__name__ for f in expr.atoms(AppliedUndef)})
    if undefined:
        raise NotCheckable(f"undefined function(s) {', '.join(undefined)}")
    for s in expr.free_symbols:
        base = s.name.split("_")[0].lstrip("\\")
        if len(base) > 1 and base not in GREEK:
            raise NotCheckable(f"'{s.name}' is notation, not a variable")
    return expr


def _integer_symbols(sides) -> set:
    """Symbols that count things: bounds of sums and products, arguments of ! and binomials."""
    out = set()
    for e in sides:
        for node in sympy.preorder_traversal(e):
            if isinstance(node, (sympy.Sum, sympy.Product)):
                for _, lo, hi in node.limits:
                    out |= lo.free_symbols | hi.free_symbols
            elif isinstance(node, (sympy.factorial, sympy.binomial)):
                out |= node.free_symbols
    return out


# --------------------------------------------------------------------------- numbers

class _NotReal(Exception):
    """A part of the formula is not a real number at this point."""


_MP_FUNCS = {sympy.exp: mpmath.exp, sympy.sin: mpmath.sin, sympy.cos: mpmath.cos, sympy.tan: mpmath.tan,
             sympy.tanh: mpmath.tanh, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh, sympy.atan: mpmath.atan,
             sympy.asin: mpmath.asin, sympy.acos: mpmath.acos, sympy.erf: mpmath.erf, sympy.gamma: mpmath.gamma,
             sympy.Abs: abs, sympy.floor: mpmath.floor, sympy.ceiling: mpmath.ceil, sympy.sign: mpmath.sign,
             sympy.factorial: mpmath.factorial, sympy.asinh: mpmath.asinh, sympy.acosh: mpmath.acosh,
             sympy.atanh: mpmath.atanh, sympy.cot: mpmath.cot, sympy.sec: mpmath.sec, sympy.csc: mpmath.csc}


def _num(expr, point: dict, complex_ok: bool):
    """Value of ``expr`` at ``point`` in mpmath numbers, never building exact huge integers.

    Real mode raises _NotReal where a part of the formula leaves the reals (log of a negative…)."""
    if isinstance(expr, sympy.Symbol):
        if expr in point:
            return point[expr]
        raise NotCheckable(f"no value for {expr.name}")
    if not expr.args:
        return _atom(expr)
    for cls in type(expr).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule(expr, point, complex_ok)
    fn = _MP_FUNCS.get(expr.func)
    if fn is not None and len(expr.args) == 1:
        return _function(fn, _num(expr.args[0], point, complex_ok), complex_ok)
    return _fallback(expr, point, complex_ok)


def _atom(expr):
    if isinstance(expr, sympy.Integer):
        return mpmath.mpf(int(expr))
    if isinstance(expr, sympy.Rational):
        return mpmath.mpf(expr.p) / expr.q
    if isinstance(expr, sympy.Float):
        return mpmath.mpf(expr._mpf_)
    if expr is sympy.I:
        return mpmath.mpc(0, 1)
    if isinstance(expr, sympy.NumberSymbol):
        return mpmath.mpf(sympy.Float(expr.evalf(mpmath.mp.dps + 5), mpmath.mp.dps + 5)._mpf_)
    raise _NotReal()  # oo, zoo, nan


def _add(expr, point, complex_ok):
    return _real(mpmath.fsum([_num(a, point, complex_ok) for a in expr.args]), complex_ok)


def _mul(expr, point, complex_ok):
    out = mpmath.mpf(1)
    for a in expr.args:
        out *= _num(a, point, complex_ok)
    return out


def _power(expr, point, complex_ok):
    base, e = _num(expr.base, point, complex_ok), _num(expr.exp, point, complex_ok)
    if (not complex_ok and base < 0 and e != int(e)) or (base == 0 and e < 0):
        raise _NotReal()
    try:
        return _real(mpmath.power(base, e), complex_ok)
    except OverflowError:
        raise NotCheckable("too large to evaluate, even in floating point") from None


def _log(expr, point, complex_ok):
    x = _num(expr.args[0], point, complex_ok)
    if not complex_ok and x <= 0:
        raise _NotReal()
    out = mpmath.log(x)
    if len(expr.args) > 1:
        out /= mpmath.log(_num(expr.args[1], point, complex_ok))
    return out


def _extremum(expr, point, complex_ok):
    values = [_num(a, point, complex_ok) for a in expr.args]
    return max(values) if isinstance(expr, sympy.Max) else min(values)


def _binomial(expr, point, complex_ok):
    return mpmath.binomial(*(_num(a, point, complex_ok) for a in expr.args))


def _piecewise(expr, point, complex_ok):
    for value, cond in expr.args:
        if _truth(cond, point, complex_ok):
            return _num(value, point, complex_ok)
    raise _NotReal()


_REAL_DOMAIN = {mpmath.asin: lambda x: abs(x) <= 1, mpmath.acos: lambda x: abs(x) <= 1,
                mpmath.atanh: lambda x: abs(x) < 1, mpmath.acosh: lambda x: x >= 1}


def _function(fn, x, complex_ok):
    if not complex_ok and fn in _REAL_DOMAIN and not _REAL_DOMAIN[fn](x):
        raise _NotReal()
    if fn in (mpmath.factorial, mpmath.gamma) and x <= 0 and x == int(x):
        raise _NotReal()  # a pole
    return _real(fn(x), complex_ok)


def _real(v, complex_ok):
    if isinstance(v, mpmath.mpc):
        if abs(v.imag) <= mpmath.mpf(10) ** (-20) * max(1, abs(v.real)):
            return v.real
        if not complex_ok:
            raise _NotReal()
    elif not mpmath.isfinite(v):
        raise _NotReal()
    return v


def _truth(cond, point, complex_ok) -> bool:
    if cond is sympy.true or cond == True:  # noqa: E712 — sympy's true
        return True
    if cond is sympy.false:
        return False
    if isinstance(cond, sympy.And):
        return all(_truth(c, point, complex_ok) for c in cond.args)
    if isinstance(cond, sympy.Or):
        return any(_truth(c, point, complex_ok) for c in cond.args)
    if isinstance(cond, sympy.core.relational.Relational):
        a, b = _num(cond.lhs, point, complex_ok), _num(cond.rhs, point, complex_ok)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[cond.rel_op]
    raise NotCheckable(f"cannot decide the condition {cond}")


def _series(expr, point, complex_ok):
    """A sum or product with bounds that are integers at this point, term by term."""
    (var, lo, hi), *rest = expr.limits
    if lo.has(sympy.oo, -sympy.oo) or hi.has(sympy.oo, -sympy.oo):
        return _fallback(expr, point, complex_ok)
    a, b = _num(lo, point, complex_ok), _num(hi, point, complex_ok)
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)) or a != int(a) or b != int(b) or b - a > MAX_TERMS:
        return _fallback(expr, point, complex_ok)
    inner = expr.func(expr.function, *rest) if rest else expr.function
    terms = [_num(inner, {**point, var: mpmath.mpf(k)}, complex_ok) for k in range(int(a), int(b) + 1)]
    if isinstance(expr, sympy.Sum):
        return mpmath.fsum(terms)
    return mpmath.fprod(terms)


def _fallback(expr, point, complex_ok):
    """Anything else (limits, integrals, infinite sums): let sympy evaluate it, then read the number."""
    if digits(expr) > EXACT_DIGITS:
        raise NotCheckable(f"too large to evaluate (more than {EXACT_DIGITS} digits)")
    with evaluate(True):
        subs = {s: sympy.Float(mpmath.nstr(v, mpmath.mp.dps), mpmath.mp.dps) if not isinstance(v, mpmath.mpc)
                else sympy.Float(mpmath.nstr(v.real, 30), 30) + sympy.I * sympy.Float(mpmath.nstr(v.imag, 30), 30)
                for s, v in point.items() if s in expr.free_symbols}
        done = expr.xreplace(subs).doit()
        if done.has(sympy.Integral, sympy.Sum, sympy.Product, sympy.Limit):
            done = done.evalf(mpmath.mp.dps)
        if done == expr or done.has(sympy.Integral, sympy.Sum, sympy.Product, sympy.Limit, AppliedUndef):
            raise NotCheckable(f"sympy cannot evaluate {type(expr).__name__.lower()} {expr}")
        if done.free_symbols:
            raise NotCheckable("could not evaluate to a number")
        if done.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
            raise _NotReal()
    return _num(done, {}, complex_ok)


_RULES = {sympy.Add: _add, sympy.Mul: _mul, sympy.Pow: _power, sympy.log: _log, sympy.Max: _extremum,
          sympy.Min: _extremum, sympy.binomial: _binomial, sympy.Piecewise: _piecewise,
          sympy.Sum: lambda e, p, c: _series(e, p, c), sympy.Product: lambda e, p, c: _series(e, p, c)}
"""How each kind of node is computed; anything else goes through _MP_FUNCS or sympy (_fallback)."""


# --------------------------------------------------------------------------- deciding

@dataclass(frozen=True)
class Verdict:
    how: str
    """How the claim was verified: "exactly", "symbolically", "numerically at 6 points"…"""
    warnings: tuple[str, ...] = ()


def check_relation(tex: str, scope: Scope, comment: str = "") -> Verdict:
    """Verify one chain ``a = b \\le c``; raises Refuted or NotCheckable."""
    try:
        tol = tolerance(comment)
    except ValueError as e:
        raise NotCheckable(str(e)) from None
    sides, ops, reading = read_claim(tex, scope)
    exprs = [_derivatives_done(e) for e in reading.sides]
    symbols = sorted(set().union(*(e.free_symbols for e in exprs)), key=lambda s: s.name)
    hows = []
    for i, op in enumerate(ops):
        pair = (exprs[i], exprs[i + 1])
        shown = f"{sides[i]} {OP_TEXT[op]} {sides[i + 1]}"
        if isinstance(pair[0], sympy.MatrixBase) != isinstance(pair[1], sympy.MatrixBase):
            raise NotCheckable("one side is a matrix and the other is not")
        if not symbols:
            hows.append(_decide_constant(op, pair, shown, tol, reading.imaginary))
        else:
            hows.append(_decide_sampled(op, pair, shown, tol, symbols, reading, tex))
    order = ("numerically", "symbolically", "exactly")
    how = min(hows, key=lambda h: next(k for k, w in enumerate(order) if h.startswith(w)))
    return Verdict(how, tuple(reading.warnings))


def _derivatives_done(expr):
    """Carry out derivatives (and sums whose closed form is cheap) before values are put in."""
    if digits(expr) > EXACT_DIGITS:
        return expr
    if expr.has(sympy.Derivative):
        with evaluate(True):
            expr = expr.replace(lambda e: isinstance(e, sympy.Derivative), lambda e: e.doit())
    return expr


def _elements(pair):
    a, b = pair
    if isinstance(a, sympy.MatrixBase):
        if a.shape != b.shape:
            raise Refuted(f"claim is false: the sides have shapes {a.shape[0]}×{a.shape[1]} and {b.shape[0]}×{b.shape[1]}")
        return list(zip(a, b))
    return [pair]


def _decide_constant(op, pair, shown, tol, complex_ok) -> str:
    """Both sides are numbers: exactly when they are small rationals, else at 30 digits."""
    how = "exactly"
    for a, b in _elements(pair):
        exact = None
        if digits(a) <= EXACT_DIGITS and digits(b) <= EXACT_DIGITS:
            with evaluate(True):
                ea, eb = a.doit(), b.doit()
            if ea.is_Rational and eb.is_Rational:
                exact = (ea, eb)
        if exact and op != "approx":
            ok = {"eq": exact[0] == exact[1], "ne": exact[0] != exact[1], "lt": exact[0] < exact[1],
                  "le": exact[0] <= exact[1], "gt": exact[0] > exact[1], "ge": exact[0] >= exact[1]}[op]
            va, vb = exact
        else:
            if exact is None and digits(a) <= EXACT_DIGITS and digits(b) <= EXACT_DIGITS:
                a, b = ea, eb  # sympy found closed forms (π²/6); read those rather than sum a series
            with mpmath.workdps(30):
                try:
                    va, vb = _num(a, {}, complex_ok), _num(b, {}, complex_ok)
                except _NotReal:
                    raise NotCheckable("a side is not a real number") from None
                ok = _holds(op, va, vb, tol)
            how = f"numerically (relative tolerance {tol:g})" if op == "approx" else "numerically"
        if not ok:
            raise Refuted(f"claim is false: {shown} (left = {_fmt(va)}, right = {_fmt(vb)})")
    return how


def _holds(op: str, a, b, tol: float) -> bool:
    scale = max(mpmath.mpf(1), abs(a), abs(b))
    if op == "eq":
        return abs(a - b) <= mpmath.mpf(10) ** -9 * scale
    if op == "ne":
        return abs(a - b) > mpmath.mpf(10) ** -9 * scale
    if op == "approx":
        return abs(a - b) <= tol * max(abs(a), abs(b), mpmath.mpf(10) ** -300)
    if isinstance(a, mpmath.mpc) or isinstance(b, mpmath.mpc):
        raise NotCheckable("an inequality between complex numbers")
    slack = mpmath.mpf(10) ** -12 * scale
    return {"lt": a < b, "le": a <= b + slack, "gt": a > b, "ge": a >= b - slack}[op]


def _points(symbols, integers, seed: str):
    """Test points: integers 1…10 for counting symbols, else reals with 0.3 ≤ |x| ≤ 2.7.

    Every other point is all positive; the ones between run through sign patterns, so a claim
    true only for positive values is caught wherever its parts are real there."""
    rng = random.Random(hashlib.sha256(seed.encode()).hexdigest())
    for k in range(60):
        pattern = (k // 2 + 1) if k % 2 else 0
        point = {}
        for j, s in enumerate(symbols):
            if s in integers:
                point[s] = mpmath.mpf(rng.randint(1, 10))
            else:
                v = mpmath.mpf(rng.randint(3, 27)) / 10
                point[s] = -v if (pattern >> (j % 8)) & 1 else v
        yield point


def _decide_sampled(op, pair, shown, tol, symbols, reading: Reading, seed: str) -> str:
    tested = 0
    with mpmath.workdps(30):
        for point in _points(symbols, reading.integers, seed):
            try:
                values = [(_num(a, point, reading.imaginary), _num(b, point, reading.imaginary))
                          for a, b in _elements(pair)]
            except (_NotReal, ZeroDivisionError):
                continue
            tested += 1
            for va, vb in values:
                if not _holds(op, va, vb, tol):
                    at = ", ".join(f"{s} = {_fmt(v)}" for s, v in point.items())
                    raise Refuted(f"claim is false: {shown} (at {at}: left = {_fmt(va)}, right = {_fmt(vb)})")
            if tested >= POINTS:
                break
    if tested == 0:
        raise NotCheckable("the sides are not real at any test point")
    if op == "eq" and _proved(pair):
        return "symbolically"
    return f"numerically at {tested} points"


def _proved(pair) -> bool:
    """A symbolic proof of a = b, within PROOF_SECONDS; an unproved identity stays numeric."""
    if any(digits(x) > EXACT_DIGITS for x in pair):
        return False
    try:
        with workers.deadline(PROOF_SECONDS) as limit, evaluate(True):
            return all(_zero(a.doit() - b.doit()) for a, b in _elements(pair))
    except workers.TimeLimit as e:
        if e is not limit:
            raise
        return False
    except Exception:  # noqa: BLE001 — sympy raises many types; an unproved identity stays numeric
        return False


def _zero(diff) -> bool:
    """Cheapest first: most identities in notes are polynomial or rational once expanded."""
    return (sympy.expand(diff) == 0 or sympy.cancel(diff) == 0 or sympy.simplify(diff) == 0
            or sympy.simplify(diff.rewrite(sympy.exp)) == 0)


def _fmt(v) -> str:
    if isinstance(v, sympy.Integer) or (isinstance(v, sympy.Rational) and v.q < 10**6):
        return str(v)
    if isinstance(v, mpmath.mpc):
        return mpmath.nstr(v, 6)
    if isinstance(v, mpmath.mpf) and abs(v) < 10**15 and v == int(v):
        return str(int(v))
    return mpmath.nstr(v, 6)


# --------------------------------------------------------------------------- worker entry point

_SCOPES: dict[tuple[Definition, ...], Scope] = {}


def run_claim(task: ClaimTask) -> tuple[str, str, tuple[str, ...]]:
    """(status, detail, warnings) for one claim; called in a worker process."""
    scope = _SCOPES.get(task.defs)
    if scope is None:
        scope = _SCOPES[task.defs] = Scope(task.defs)
        if len(_SCOPES) > 64:
            _SCOPES.pop(next(iter(_SCOPES)))
    try:
        verdict = check_relation(task.tex, scope, task.comment)
        return "verified", verdict.how, verdict.warnings
    except Refuted as e:
        return "failed", str(e), ()
    except NotCheckable as e:
        return "not-checkable", str(e), ()
    except RecursionError:
        return "not-checkable", "nested too deeply for sympy", ()
    except Exception as e:  # noqa: BLE001 — sympy internals; never a traceback for content
        return "not-checkable", f"sympy could not decide ({type(e).__name__})", ()
