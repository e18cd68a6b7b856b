"""LaTeX math → sympy expressions, without evaluating anything as Python.

The only module that imports sympy's LaTeX parser (ANTLR backend). Content strings are
never passed to ``eval``, ``sympify`` or ``parse_expr``: the ANTLR grammar builds the
expression tree, and this module only normalises it:

- ``e`` is Euler's number and ``\\pi`` is π (the parser returns plain symbols);
- ``\\max``/``\\min`` become :class:`sympy.Max`/:class:`sympy.Min`, ``\\operatorname{sgn}``
  :func:`sympy.sign`;
- ``\\left| … \\right|``, ``\\lvert … \\rvert`` are absolute values; ``\\dfrac``/``\\tfrac`` are
  ``\\frac``; thin spaces (``\\,``, ``\\;``, ``\\!``, ``\\quad``) are dropped;
- trailing input the grammar does not consume is an error (the stock parser silently
  drops it: ``x +* 2`` would parse as ``x``).

Other single-letter or Greek functions (``f(x)``, ``\\sigma(x)``) stay undefined sympy
functions; callers decide what they mean.
"""
from __future__ import annotations

import re
from functools import lru_cache

import sympy


class LatexError(ValueError):
    """A LaTeX string that is not a formula we understand."""

    def __init__(self, message: str, col: int = 0):
        super().__init__(message)
        self.message = message
        self.col = col
        """1-based column in the LaTeX string, or 0 when unknown."""

    def __str__(self) -> str:
        return f"{self.message} (column {self.col})" if self.col else self.message


# (pattern, replacement) applied left to right; each keeps a map back to source columns
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\\left\s*\\?\||\\right\s*\\?\||\\[lr]vert\b|\\[lr]Vert\b", "|"),
    (r"\\[dt]frac\b", r"\\frac"),
    (r"\\(?:mathrm|text|operatorname)\{e\}", "e"),
    (r"\\operatorname\{(sgn|sign)\}", r"\\sgn"),
    (r"\\(?:,|;|:|!|quad\b|qquad\b|displaystyle\b)|\\ ", " "),
    (r"\\left\s*\.|\\right\s*\.", ""),
))
_UNSUPPORTED_RE = re.compile(r"\\(operatorname|text|mathrm|mathbf|mathit|mathcal|boldsymbol|begin)\b")
_FUNCTIONS = {"max": sympy.Max, "min": sympy.Min, "sgn": sympy.sign, "sign": sympy.sign}


def _normalise(tex: str) -> tuple[str, list[int]]:
    """Apply the rewrites; return the new string and, per character, its source column (0-based)."""
    text, cols = tex, list(range(len(tex)))
    for pattern, repl in _REWRITES:
        out: list[str] = []
        out_cols: list[int] = []
        pos = 0
        for m in pattern.finditer(text):
            out.append(text[pos:m.start()])
            out_cols.extend(cols[pos:m.start()])
            new = m.expand(repl)
            out.append(new)
            out_cols.extend([cols[m.start()]] * len(new))
            pos = m.end()
        out.append(text[pos:])
        out_cols.extend(cols[pos:])
        text, cols = "".join(out), out_cols
    return text, cols


def _fix(expr: sympy.Basic) -> sympy.Basic:
    """Give ``e``, ``\\pi`` and ``\\max``-style functions their mathematical meaning."""
    if isinstance(expr, sympy.Symbol):
        return {"e": sympy.E, "pi": sympy.pi}.get(expr.name, expr)
    if isinstance(expr, sympy.core.function.AppliedUndef):
        args = [_fix(a) for a in expr.args]
        fn = _FUNCTIONS.get(expr.func.__name__)
        return fn(*args) if fn is not None else expr.func(*args)
    if not expr.args:
        return expr
    return expr.func(*[_fix(a) for a in expr.args])


@lru_cache(maxsize=4096)
def to_sympy(tex: str) -> sympy.Basic:
    """Parse one LaTeX expression or relation (``=``, ``<``, ``\\le``…) into sympy.

    Raises :class:`LatexError` with a 1-based column when the text is not understood.
    """
    if not tex or not tex.strip():
        raise LatexError("empty expression")
    m = _UNSUPPORTED_RE.search(tex)
    if m and not re.match(r"\\(?:mathrm|text|operatorname)\{(?:e|sgn|sign)\}", tex[m.start():]):
        raise LatexError(f"'\\{m.group(1)}' is not supported in computed expressions", m.start() + 1)
    text, cols = _normalise(tex)
    lead = len(text) - len(text.lstrip())
    body = text.strip()
    if not body:
        raise LatexError("empty expression")
    relation = _parse(body, lambda c: cols[min(lead + c, len(cols) - 1)] + 1)
    try:
        return _fix(relation)
    except (TypeError, ValueError) as e:  # e.g. \max with one argument
        raise LatexError(f"cannot build the expression: {e}") from None


def _parse(body: str, col_of) -> sympy.Basic:
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.atn.PredictionMode import PredictionMode
    from sympy.parsing.latex._antlr.latexlexer import LaTeXLexer
    from sympy.parsing.latex._antlr.latexparser import LaTeXParser
    from sympy.parsing.latex._parse_latex_antlr import MathErrorListener, convert_relation
    from sympy.parsing.latex.errors import LaTeXParsingError

    def run(mode):
        listener = MathErrorListener(body)
        lexer = LaTeXLexer(InputStream(body))
        lexer.removeErrorListeners()
        lexer.addErrorListener(listener)
        parser = LaTeXParser(CommonTokenStream(lexer))
        parser.removeErrorListeners()
        parser.addErrorListener(listener)
        parser._interp.predictionMode = mode
        return parser.math().relation()

    # SLL prediction is 100-1000× faster than the default full LL on this grammar; only when it
    # reports an error is the input parsed again with LL (the usual two-stage ANTLR strategy).
    def trailing(rel) -> int:
        end = rel.stop.stop + 1 if rel.stop is not None else 0
        return end if body[end:].strip() else -1

    try:
        relation = run(PredictionMode.SLL)
        if trailing(relation) >= 0:
            raise LaTeXParsingError("trailing input")
    except LaTeXParsingError:
        try:
            relation = run(PredictionMode.LL)
        except LaTeXParsingError as e:
            lines = str(e).split("\n")
            col = len(lines[2]) if len(lines) >= 3 else 0  # "~~~^" under the offending character
            return _raise(lines[0].replace("I expected", "expected"), col_of(col - 1) if col else 0)
    end = trailing(relation)
    if end >= 0:
        rest = body[end:].strip()
        return _raise(f"unexpected '{rest[:20]}'", col_of(end + (len(body[end:]) - len(body[end:].lstrip()))))
    try:
        return convert_relation(relation)
    except LaTeXParsingError as e:
        return _raise(str(e).split("\n")[0], 0)
    except (TypeError, ValueError, AttributeError) as e:
        return _raise(f"cannot convert: {e}", 0)


def _raise(message: str, col: int):
    raise LatexError(message, col)


def symbols_of(expr: sympy.Basic) -> set[str]:
    """Names of the free symbols of ``expr``."""
    return {s.name for s in expr.free_symbols}


def undefined_functions(expr: sympy.Basic) -> set[str]:
    """Names of functions the parser did not know (``f``, ``sigma``…)."""
    return {f.func.__name__ for f in expr.atoms(sympy.core.function.AppliedUndef)}
