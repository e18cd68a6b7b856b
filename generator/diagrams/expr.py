"""LaTeX expressions of plot specs → numpy functions (through sympy, never through eval)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

import numpy as np
import sympy

from ..latex import LatexError, digits, sum_terms, to_sympy, undefined_functions

MAX_DIGITS = 300
"""Largest number (in digits) a plot expression may contain: beyond it no float holds it anyway."""
MAX_TERMS = 10_000
"""Most terms of a sum or product in a plot expression (it is computed at every sample point)."""


class ExprError(ValueError):
    """An expression that parses but cannot be plotted (unknown symbol, relation…)."""


def parse(tex: str, variables: Iterable[str], params: Mapping[str, float] | None = None) -> sympy.Expr:
    """Parse ``tex``; its free symbols must be ``variables`` or keys of ``params`` (substituted).

    Raises :class:`ExprError` (or :class:`LatexError`, a subclass of ``ValueError``).
    """
    variables = tuple(variables)
    params = dict(params or {})
    expr = to_sympy(tex)  # unevaluated: nothing is multiplied out before the bounds below
    if isinstance(expr, sympy.core.relational.Relational) or not isinstance(expr, sympy.Expr):
        raise ExprError(f"expected an expression, found a relation ({type(expr).__name__})")
    _bounded(expr)
    expr = _products(expr, set(variables) | set(params))
    undefined = undefined_functions(expr)
    if undefined:
        names = ", ".join(sorted(undefined))
        raise ExprError(f"unknown function {names} (write it out, e.g. \\frac{{1}}{{1+e^{{-x}}}} for sigmoid)")
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in variables and s.name not in params)
    if unknown:
        allowed = ", ".join(variables + tuple(params))
        raise ExprError(f"unknown symbol{'s' * (len(unknown) > 1)} {', '.join(unknown)} "
                        f"(allowed: {allowed}; give constants under 'params')")
    if params:
        expr = expr.xreplace({sympy.Symbol(k): sympy.Float(v) for k, v in params.items()})
    return expr


def _bounded(expr: sympy.Basic) -> None:
    """Refuse constants that would be multiplied out exactly (the variables are computed in floating point)."""
    for node in sympy.preorder_traversal(expr):
        if node.args and not node.free_symbols and digits(node) > MAX_DIGITS:
            raise ExprError(f"a number in the expression is too large to plot (more than {MAX_DIGITS} digits)")
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Sum, sympy.Product)) and sum_terms(node) > MAX_TERMS:
            raise ExprError(f"a sum or product of more than {MAX_TERMS} terms (or a series) cannot be plotted")


def _products(expr: sympy.Basic, names: set[str]) -> sympy.Basic:
    """``x(1 + x)`` parses as a call of a function ``x``; for a plot variable it is a product."""
    if isinstance(expr, sympy.core.function.AppliedUndef) and expr.func.__name__ in names and len(expr.args) == 1:
        return sympy.Symbol(expr.func.__name__) * _products(expr.args[0], names)
    if not expr.args:
        return expr
    return expr.func(*[_products(a, names) for a in expr.args])


@lru_cache(maxsize=512)
def _lambdify(expr: sympy.Expr, variables: tuple[str, ...]) -> Callable:
    return sympy.lambdify([sympy.Symbol(v) for v in variables], expr, modules="numpy")


def numeric(expr: sympy.Expr, variables: tuple[str, ...]) -> Callable[..., np.ndarray]:
    """A vectorised float function of ``variables``; non-real or non-finite values become NaN."""
    try:
        fn = _lambdify(expr, variables)
    except Exception as e:  # sympy's printer raises assorted errors for unsupported nodes
        raise ExprError(f"cannot compute {expr}: {type(e).__name__}") from None

    def call(*args: np.ndarray) -> np.ndarray:
        shape = np.broadcast(*args).shape
        with np.errstate(all="ignore"):
            out = np.asarray(fn(*args))
        if np.iscomplexobj(out):
            out = np.where(np.abs(out.imag) < 1e-12, out.real, np.nan)
        out = np.broadcast_to(out.astype(float), shape).copy()
        out[~np.isfinite(out)] = np.nan
        return out
    return call


def derivative(expr: sympy.Expr, variable: str) -> sympy.Expr:
    return sympy.diff(expr, sympy.Symbol(variable))


def gradient(expr: sympy.Expr, variables: tuple[str, ...]) -> Callable[..., np.ndarray]:
    """∇expr at one point, as a float array of shape (len(variables),)."""
    parts = [derivative(expr, v) for v in variables]
    try:  # scalar math is ~10× faster than numpy per call; optimisers call it thousands of times
        fn = sympy.lambdify([sympy.Symbol(v) for v in variables], parts, modules="math")
        fn(*([0.5] * len(variables)))
    except Exception:
        fn = None
    slow = [numeric(p, variables) for p in parts]

    def grad(*args: float) -> np.ndarray:
        if fn is not None:
            try:
                return np.array(fn(*args), dtype=float)
            except (ValueError, OverflowError, ZeroDivisionError, TypeError):
                pass
        return np.array([float(p(*(np.asarray(a, dtype=float) for a in args))) for p in slow])
    return grad


__all__ = ["ExprError", "LatexError", "derivative", "gradient", "numeric", "parse"]
