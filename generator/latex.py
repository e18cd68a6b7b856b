"""LaTeX math → sympy expressions, without evaluating anything as Python.

The only module that imports sympy's LaTeX parser (ANTLR backend). Content strings are
never passed to ``eval``, ``sympify`` or ``parse_expr``: the ANTLR grammar builds the
expression tree, and this module only normalises it. The tree is built **unevaluated**
(``10^{10^{10}}`` stays a power, it is not multiplied out): callers decide what is safe to compute.

- ``e`` is Euler's number and ``\\pi`` is π; ``\\mathrm{i}`` is the imaginary unit (a bare ``i`` is
  left to the caller, which knows whether it is an index);
- ``\\max``/``\\min`` become :class:`sympy.Max`/:class:`sympy.Min`, ``\\operatorname{sgn}``
  :func:`sympy.sign`;
- ``\\left| … \\right|``, ``\\lvert … \\rvert`` are absolute values; ``\\dfrac``/``\\tfrac`` are
  ``\\frac``; thin spaces (``\\,``, ``\\;``, ``\\!``, ``\\quad``) are dropped;
- higher and mixed derivatives (``\\frac{\\partial^{2}}{\\partial x\\,\\partial y}``, ``\\frac{d^{2}y}{dx^{2}}``)
  are read as repeated first derivatives (the stock grammar misreads them);
- structures the grammar lacks are read here, their parts through the grammar: matrices
  (``pmatrix``, ``bmatrix``, ``Bmatrix``, ``matrix``; ``vmatrix`` is the determinant) with ``\\det``,
  ``\\operatorname{tr}``, ``^{\\top}``/``^{T}`` and ``^{-1}``; norms ``\\|v\\|``, ``\\lVert v\\rVert_{1}``;
  ``cases`` as a piecewise function; expectations over a stated finite distribution
  (``\\mathbb{E}_{x \\sim \\{1,\\dots,6\\}}[x^{2}]``, ``\\operatorname{Var}``, ``\\mathrm{Bernoulli}(p)``);
- trailing input the grammar does not consume is an error (the stock parser silently
  drops it: ``x +* 2`` would parse as ``x``).

Other single-letter or Greek functions (``f(x)``, ``\\sigma(x)``) stay undefined sympy
functions; callers decide what they mean.
"""
from __future__ import annotations

import functools
import math
import operator
import re
from functools import lru_cache

import sympy
from antlr4 import CommonTokenStream, InputStream
from antlr4.atn.PredictionMode import PredictionMode
from sympy.core.parameters import evaluate
from sympy.parsing.latex._antlr.latexlexer import LaTeXLexer
from sympy.parsing.latex import _parse_latex_antlr
from sympy.parsing.latex._antlr.latexparser import LaTeXParser
from sympy.parsing.latex._parse_latex_antlr import MathErrorListener, convert_relation
from sympy.parsing.latex.errors import LaTeXParsingError

from .relations import split_relation


def _number(text) -> sympy.Number:
    """A number token of the grammar, read without sympify (which would run parse_expr on content)."""
    text = str(text)
    try:
        if text.isdigit():
            return sympy.Integer(int(text))
        if re.fullmatch(r"\d*\.\d+|\d+\.\d*", text):
            return sympy.Float(text)
    except ValueError:  # more digits than Python converts
        pass
    raise LatexError(f"not a number we read: '{text[:20]}'")


class _Sympy:
    """sympy, as the grammar's converter sees it, with Number read by :func:`_number`.

    The converter builds numbers with ``sympy.Number(text)``, i.e. sympify → parse_expr: 40 % of the
    parse time, and Python's expression parser applied to content."""

    Number = staticmethod(_number)

    def __getattr__(self, name):
        return getattr(sympy, name)


_parse_latex_antlr.sympy = _Sympy()


class LatexError(ValueError):
    """A LaTeX string that is not a formula we understand."""

    def __init__(self, message: str, col: int = 0):
        super().__init__(message)
        self.message = message
        self.col = col
        """1-based column in the LaTeX string, or 0 when unknown."""

    def __str__(self) -> str:
        return f"{self.message} (column {self.col})" if self.col else self.message


MAX_MATRIX = 12
"""Largest matrix dimension read (a determinant of more is not a formula anyone checks by hand)."""
MAX_SUPPORT = 1000
"""Most values a finite distribution under \\mathbb{E} may take."""

# (pattern, replacement) applied left to right; each keeps a map back to source columns
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"\\left\s*\\?\||\\right\s*\\?\||\\[lr]vert\b", "|"),
    (r"\\[dt]frac\b", r"\\frac"),
    (r"\\(?:mathrm|text|operatorname)\{e\}", "e"),
    (r"\\(?:mathrm|text|operatorname)\{[ij]\}", r"\\zzimag "),
    (r"\\mathrm\{d\}", "d"),
    (r"\\operatorname\{(sgn|sign)\}|\\(sgn|sign)\b", r"\\sgn"),
    (r"\\(?:operatorname|mathrm)\{(tr|Tr|trace|det)\}", r"\\\1"),
    (r"\\(det|tr|Tr|trace)\s*(?!\\left)(\\zzslot[a-z]+|\\[A-Za-z]+|[A-Za-z0-9])", r"\\\1(\2)"),
    (r"\\(?:,|;|:|!|quad\b|qquad\b|displaystyle\b)|\\ ", " "),
    (r"\\left\s*\.|\\right\s*\.", ""),
    (r"\^\s*\{\s*(?:\\top|\\intercal|\\mathsf\{T\}|\\mathrm\{T\}|T)\s*\}|\^\s*(?:\\top|\\intercal|T)(?![A-Za-z])",
     r"^{\\zztransp}"),
))
_UNSUPPORTED_RE = re.compile(r"\\(operatorname|text|mathrm|mathbf|mathit|mathcal|mathbb|boldsymbol|begin|\||[lr]Vert)"
                             r"(?![A-Za-z])")
_FUNCTIONS = {"max": sympy.Max, "min": sympy.Min, "sgn": sympy.sign, "sign": sympy.sign}
_MATRIX_FUNCTIONS = {"det": lambda m: m.det(), "tr": lambda m: m.trace(), "Tr": lambda m: m.trace(),
                     "trace": lambda m: m.trace()}


# --------------------------------------------------------------------------- text edits with a column map

def _splice(text: str, cols: list[int], spans: list[tuple[int, int, str]]) -> tuple[str, list[int]]:
    """Replace ``text[start:end]`` by each replacement; the map sends new characters to source columns."""
    out: list[str] = []
    out_cols: list[int] = []
    pos = 0
    for start, end, new in sorted(spans):
        out.append(text[pos:start])
        out_cols.extend(cols[pos:start])
        out.append(new)
        out_cols.extend([cols[start] if start < len(cols) else (cols[-1] if cols else 0)] * len(new))
        pos = end
    out.append(text[pos:])
    out_cols.extend(cols[pos:])
    return "".join(out), out_cols


def _normalise(text: str, cols: list[int]) -> tuple[str, list[int]]:
    for pattern, repl in _REWRITES:
        text, cols = _splice(text, cols, [(m.start(), m.end(), m.expand(repl)) for m in pattern.finditer(text)])
    return text, cols


# --------------------------------------------------------------------------- derivatives

_D = r"(?:\\partial|d)(?![A-Za-z])"
_DN = r"(?:\\partial(?![A-Za-z])|d)"
_VAR = r"(?:\\[A-Za-z]+|[A-Za-z])(?:_\{?[A-Za-z0-9]+\}?)?"
_GAP = r"(?:\s|\\[,;!:]|\\ )*"
_HIGHER_RE = re.compile(r"\\frac\s*\{\s*(" + _D + r")\s*\^\s*\{?\s*(\d+)\s*\}?\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
                        r"\s*\{((?:" + _GAP + _DN + r"\s*" + _VAR + r"\s*(?:\^\s*\{?\s*\d+\s*\}?)?" + _GAP + r")+)\}")
_DENOM_RE = re.compile(r"(" + _DN + r")\s*(" + _VAR + r")\s*(?:\^\s*\{?\s*(\d+)\s*\}?)?")


def _derivatives(text: str) -> list[tuple[int, int, str]]:
    """``\\frac{\\partial^{2} f}{\\partial x \\partial y}`` → ``\\frac{\\partial}{\\partial x}\\frac{\\partial}{\\partial y} f``."""
    spans = []
    for m in _HIGHER_RE.finditer(text):
        order, body = int(m.group(2)), m.group(3).strip()
        steps = [(d, var) for d, var, n in _DENOM_RE.findall(m.group(4)) for _ in range(int(n or 1))]
        if len(steps) != order:
            raise LatexError(f"derivative of order {order} over {len(steps)} variable(s)", m.start() + 1)
        ops = "".join(f"\\frac{{{d}}}{{{d} {var}}}" for d, var in steps)
        spans.append((m.start(), m.end(), f"{ops} {body} " if body else ops))
    return spans


# --------------------------------------------------------------------------- structures the grammar lacks

_ENV_RE = re.compile(r"\\begin\s*\{(pmatrix|bmatrix|Bmatrix|vmatrix|matrix|cases)\}")
_NORM_OPEN_RE = re.compile(r"\\left\s*(?:\\\||\\lVert|\\Vert)|\\lVert(?![A-Za-z])|\\\||\\Vert(?![A-Za-z])")
_EXPECT_RE = re.compile(r"\\mathbb\s*\{\s*E\s*\}|\\(?:operatorname|mathrm)\s*\{\s*(?:Var|E)\s*\}|\\Var(?![A-Za-z])")


def _group(text: str, start: int, open_: str = "{", close: str = "}") -> int:
    """Index just past the group opened at ``text[start]``; raises LatexError if it never closes."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise LatexError(f"'{open_}' is never closed", start + 1)


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` (``&`` or ``\\\\``) outside braces and nested environments."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith("\\begin", i):
            depth += 1
        elif text.startswith("\\end", i):
            depth -= 1
        if depth == 0 and text.startswith(sep, i) and not (sep == "&" and i and text[i - 1] == "\\"):
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        c = text[i]
        if c == "\\":
            i += 2
            continue
        depth += c == "{"
        depth -= c == "}"
        i += 1
    parts.append(text[start:])
    return parts


def _environment(text: str, m: re.Match[str]) -> tuple[int, sympy.Basic]:
    env = m.group(1)
    end_re = re.compile(r"\\(begin|end)\s*\{" + env + r"\}")
    depth, pos = 1, m.end()
    for e in end_re.finditer(text, m.end()):
        depth += 1 if e.group(1) == "begin" else -1
        if depth == 0:
            body, pos = text[m.end():e.start()], e.end()
            break
    else:
        raise LatexError(f"\\begin{{{env}}} is never ended", m.start() + 1)
    rows = [r for r in _split_top(body, "\\\\") if r.strip()]
    if env == "cases":
        return pos, _cases(rows)
    cells = [[to_sympy(c.strip()) for c in _split_top(r, "&")] for r in rows]
    if not cells or len({len(r) for r in cells}) != 1:
        raise LatexError(f"the rows of the {env} have different lengths", m.start() + 1)
    if len(cells) > MAX_MATRIX or len(cells[0]) > MAX_MATRIX:
        raise LatexError(f"matrix larger than {MAX_MATRIX}×{MAX_MATRIX}", m.start() + 1)
    if any(isinstance(x, sympy.MatrixBase) for row in cells for x in row):
        raise LatexError("a matrix inside a matrix", m.start() + 1)
    matrix = sympy.ImmutableMatrix(cells)
    if env == "vmatrix":
        if not matrix.is_square:
            raise LatexError("the determinant of a matrix that is not square", m.start() + 1)
        with evaluate(True):
            return pos, matrix.det(method="berkowitz")
    return pos, matrix


_OTHERWISE_RE = re.compile(r"^\s*(?:\\text\s*\{\s*(?:otherwise|else|其他|否则)\s*\}|\\mathrm\s*\{\s*otherwise\s*\})\s*$")
_IF_RE = re.compile(r"^\s*,?\s*(?:\\text\s*\{\s*,?\s*(?:if|when|若|当)\s*\}|\\mbox\s*\{\s*if\s*\}|\\quad|\\,)*\s*|\s*[,.]?\s*$")


def _cases(rows: list[str]) -> sympy.Basic:
    pieces = []
    for row in rows:
        cells = _split_top(row, "&")
        if len(cells) != 2:
            raise LatexError("each line of cases needs 'value & condition'")
        value = to_sympy(cells[0].strip().rstrip(",").strip())
        cond_text = cells[1]
        if _OTHERWISE_RE.match(cond_text) or not cond_text.strip():
            pieces.append((value, sympy.true))
            continue
        cond_text = _IF_RE.sub("", cond_text)
        sides, ops = split_relation(cond_text)
        if not ops:
            raise LatexError(f"cannot read the condition '{cond_text.strip()}'")
        exprs = [to_sympy(s) for s in sides]
        rel = {"lt": sympy.Lt, "le": sympy.Le, "gt": sympy.Gt, "ge": sympy.Ge, "eq": sympy.Eq, "ne": sympy.Ne}
        if any(op not in rel for op in ops):
            raise LatexError(f"cannot read the condition '{cond_text.strip()}'")
        with evaluate(True):
            cond = sympy.And(*(rel[op](exprs[i], exprs[i + 1]) for i, op in enumerate(ops)))
        pieces.append((value, cond))
    with evaluate(True):
        return sympy.Piecewise(*pieces)


def _norm(text: str, m: re.Match[str]) -> tuple[int, sympy.Basic]:
    opener = m.group(0)
    left = opener.startswith("\\left")
    if left:
        close_re = re.compile(r"\\right\s*(?:\\\||\\rVert|\\Vert)|\\left\s*(?:\\\||\\lVert|\\Vert)")
    elif "lVert" in opener:
        close_re = re.compile(r"\\rVert(?![A-Za-z])|\\lVert(?![A-Za-z])")
    else:
        close_re = re.compile(re.escape(opener) + r"(?![A-Za-z])")
    depth, inner_end, end = 1, None, None
    for c in close_re.finditer(text, m.end()):
        if (left and c.group(0).startswith("\\left")) or ("lVert" in c.group(0)):
            depth += 1
            continue
        depth -= 1
        if depth == 0:
            inner_end, end = c.start(), c.end()
            break
    if end is None:
        raise LatexError("a norm that is never closed", m.start() + 1)
    p = "2"
    sub = re.compile(r"\s*_\s*(?:\{\s*([^{}]*)\s*\}|(\\infty|[0-9A-Za-z]))").match(text, end)
    if sub:
        p = (sub.group(1) or sub.group(2)).strip()
        end = sub.end()
    return end, _norm_of(to_sympy(text[m.end():inner_end]), p, m.start() + 1)


def _norm_of(value: sympy.Basic, p: str, col: int) -> sympy.Basic:
    if not isinstance(value, sympy.MatrixBase):
        return sympy.Abs(value)
    entries = list(value)
    if p in ("\\infty", "\\inf", "∞"):
        return sympy.Max(*(sympy.Abs(x) for x in entries))
    if p == "F" or (p == "2" and 1 in value.shape):
        return sympy.sqrt(sympy.Add(*(sympy.Abs(x) ** 2 for x in entries)))
    if p.isdigit() and 1 in value.shape:
        n = int(p)
        return sympy.Add(*(sympy.Abs(x) ** n for x in entries)) ** sympy.Rational(1, n)
    raise LatexError(f"the {p}-norm of a matrix is not read (vectors: 1, 2, p, \\infty; matrices: F)", col)


_DIST_SET_RE = re.compile(r"^(?:\\(?:mathrm|operatorname|text)\{(?:Uniform|U)\}|\\mathcal\{U\}|U)?\s*\\\{(.*)\\\}$")
_DIST_BERN_RE = re.compile(r"^\\(?:mathrm|operatorname|text)\{(?:Bernoulli|Bern)\}\s*\((.*)\)$")
_DOTS_RE = re.compile(r"\\(?:dots|ldots|cdots|dotsc)(?![A-Za-z])|\.\.\.")


def _distribution(text: str, col: int) -> list[tuple[sympy.Basic, sympy.Basic]]:
    """[(value, probability)] of ``\\{1, 2, 3\\}``, ``\\{1, \\dots, 6\\}`` or ``\\mathrm{Bernoulli}(p)``."""
    text = text.strip()
    m = _DIST_BERN_RE.match(text)
    if m:
        p = to_sympy(m.group(1))
        return [(sympy.Integer(1), p), (sympy.Integer(0), 1 - p)]
    m = _DIST_SET_RE.match(text)
    if not m:
        raise LatexError("the distribution under \\mathbb{E} must be a finite set \\{…\\} or \\mathrm{Bernoulli}(p)", col)
    items = [s.strip() for s in _split_top(m.group(1), ",")]
    if len(items) == 3 and _DOTS_RE.fullmatch(items[1]):
        with evaluate(True):
            lo, hi = to_sympy(items[0]).doit(), to_sympy(items[2]).doit()
            fits = lo.is_Integer and hi.is_Integer and 0 < int(hi) - int(lo) + 1 <= MAX_SUPPORT
        if not fits:
            raise LatexError(f"a range under \\mathbb{{E}} needs integer ends at most {MAX_SUPPORT} apart", col)
        values = [sympy.Integer(v) for v in range(int(lo), int(hi) + 1)]
    else:
        if any(_DOTS_RE.search(s) for s in items) or len(items) > MAX_SUPPORT:
            raise LatexError("write a finite set as \\{a, b, c\\} or \\{1, \\dots, n\\}", col)
        values = [to_sympy(s) for s in items]
    return [(v, sympy.Rational(1, len(values))) for v in values]


def _expectation(text: str, m: re.Match[str]) -> tuple[int, sympy.Basic]:
    variance = "Var" in m.group(0)
    pos = m.end()
    sub = re.compile(r"\s*_\s*\{").match(text, pos)
    if not sub:
        raise LatexError("an expectation needs its finite distribution: \\mathbb{E}_{x \\sim \\{1, \\dots, 6\\}}[x]",
                         m.start() + 1)
    close = _group(text, sub.end() - 1)
    spec = text[sub.end():close - 1]
    var_m = re.match(r"\s*(\\[A-Za-z]+|[A-Za-z])\s*\\sim(?![A-Za-z])(.*)$", spec, re.S)
    if not var_m:
        raise LatexError("write the distribution as x \\sim …", m.start() + 1)
    body_m = re.compile(r"\s*(\\left\s*\[|\[)").match(text, close)
    if not body_m:
        raise LatexError("an expectation needs its argument in brackets: \\mathbb{E}_{…}[…]", m.start() + 1)
    if body_m.group(1).startswith("\\left"):
        end_m = re.compile(r"\\right\s*\]").search(text, body_m.end())
        if not end_m:
            raise LatexError("\\left[ without \\right]", m.start() + 1)
        body, end = text[body_m.end():end_m.start()], end_m.end()
    else:
        end = _group(text, body_m.end() - 1, "[", "]")
        body = text[body_m.end():end - 1]
    x = sympy.Symbol(var_m.group(1).lstrip("\\"))
    f = to_sympy(body)
    dist = _distribution(var_m.group(2), m.start() + 1)
    with evaluate(True):
        mean = sympy.Add(*(p * f.xreplace({x: v}) for v, p in dist))
        if variance:
            mean = sympy.Add(*(p * f.xreplace({x: v}) ** 2 for v, p in dist)) - mean ** 2
    return end, mean


def _structures(text: str) -> tuple[list[tuple[int, int, str]], dict[str, sympy.Basic]]:
    """Find matrices, cases, norms and expectations; each becomes a placeholder symbol."""
    spans, values, pos = [], {}, 0
    finders = ((_ENV_RE, _environment), (_NORM_OPEN_RE, _norm), (_EXPECT_RE, _expectation))
    while True:
        found = [(m.start(), m, fn) for pattern, fn in finders if (m := pattern.search(text, pos))]
        if not found:
            return spans, values
        start, m, fn = min(found, key=lambda t: t[0])
        end, value = fn(text, m)
        name = "zzslot" + "".join(chr(97 + int(d)) for d in str(len(values)))
        values[name] = value
        spans.append((start, end, f" \\{name} "))
        pos = end


# --------------------------------------------------------------------------- parse

@lru_cache(maxsize=4096)
def to_sympy(tex: str) -> sympy.Basic:
    """Parse one LaTeX expression or relation (``=``, ``<``, ``\\le``…) into an unevaluated sympy tree.

    Raises :class:`LatexError` with a 1-based column when the text is not understood.
    """
    if not tex or not tex.strip():
        raise LatexError("empty expression")
    text, cols = tex, list(range(len(tex)))
    text, cols = _splice(text, cols, _derivatives(text))
    spans, slots = _structures(text)
    text, cols = _splice(text, cols, spans)
    text, cols = _normalise(text, cols)
    m = _UNSUPPORTED_RE.search(text)
    if m:
        raise LatexError(f"'\\{m.group(1)}' is not supported in computed expressions", cols[m.start()] + 1)
    lead = len(text) - len(text.lstrip())
    body = text.strip()
    if not body:
        raise LatexError("empty expression")
    relation = _parse(body, lambda c: cols[min(lead + c, len(cols) - 1)] + 1)
    try:
        return _fix(relation, slots)
    except (TypeError, ValueError, AttributeError, sympy.ShapeError, sympy.NonSquareMatrixError) as e:
        if isinstance(e, LatexError):
            raise
        raise LatexError(f"cannot build the expression: {e}") from None


def _rebuild(expr: sympy.Basic, args: list) -> sympy.Basic:
    """``expr`` with new arguments, not evaluated (10^{10^{10}} must stay a power)."""
    try:
        return expr.func(*args, evaluate=False)
    except TypeError:
        return expr.func(*args)


def _fix(expr: sympy.Basic, slots: dict[str, sympy.Basic]) -> sympy.Basic:
    """Give ``e``, ``\\pi``, placeholders and ``\\max``-style functions their meaning; matrix algebra."""
    if isinstance(expr, sympy.Symbol):
        if expr.name in slots:
            return slots[expr.name]
        return {"e": sympy.E, "pi": sympy.pi, "zzimag": sympy.I}.get(expr.name, expr)
    if not expr.args or isinstance(expr, sympy.MatrixBase):
        return expr
    args = [_fix(a, slots) for a in expr.args]
    if isinstance(expr, sympy.core.function.AppliedUndef):
        name = expr.func.__name__
        if name in _MATRIX_FUNCTIONS and len(args) == 1 and isinstance(args[0], sympy.MatrixBase):
            if not args[0].is_square:
                raise LatexError(f"\\{name} of a matrix that is not square")
            with evaluate(True):
                return _MATRIX_FUNCTIONS[name](args[0])
        fn = _FUNCTIONS.get(name)
        return fn(*args, evaluate=False) if fn is not None else expr.func(*args)
    if isinstance(expr, sympy.Pow) and args[1] == sympy.Symbol("zztransp"):
        if isinstance(args[0], sympy.MatrixBase):
            return args[0].T
        raise LatexError("a transpose of something that is not a matrix written out")
    if any(isinstance(a, sympy.MatrixBase) for a in args):
        return _matrix_op(expr, args)
    return _rebuild(expr, args)


def _matrix_op(expr: sympy.Basic, args: list) -> sympy.Basic:
    """Matrix algebra in the order written: sums, products, integer powers (−1 is the inverse)."""
    with evaluate(True):
        if isinstance(expr, sympy.Add):
            return functools.reduce(operator.add, args)
        if isinstance(expr, sympy.Mul):
            return functools.reduce(operator.mul, args)
        if isinstance(expr, sympy.Pow) and isinstance(args[0], sympy.MatrixBase) and args[1].is_Integer:
            if abs(int(args[1])) > 64:
                raise LatexError("matrix power above 64")
            if int(args[1]) < 0 and args[0].det() == 0:
                raise LatexError("the inverse of a singular matrix")
            return args[0] ** args[1]
    raise LatexError(f"cannot apply {type(expr).__name__} to a matrix")


def _parse(body: str, col_of) -> sympy.Basic:
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


# --------------------------------------------------------------------------- sizes

def digits(expr: sympy.Basic) -> float:
    """Upper bound of the decimal digits of the exact value of an unevaluated tree (inf when astronomical).

    Callers compare it with their limit before asking sympy for anything exact: ``10^{10^{10}}`` is
    10^10 digits, ``(10^{8})!`` about 7.6·10^8, and neither is ever multiplied out."""
    if isinstance(expr, sympy.Integer):
        return max(1.0, abs(int(expr)).bit_length() * 0.30103)
    if isinstance(expr, sympy.Rational):
        return digits(sympy.Integer(expr.p)) + digits(sympy.Integer(expr.q))
    if isinstance(expr, (sympy.Float, sympy.Symbol, sympy.NumberSymbol)) or not expr.args:
        return 2.0
    if isinstance(expr, sympy.Pow):
        if not expr.exp.is_number:  # computed at sample points, in floating point: no exact power
            return digits(expr.base) + digits(expr.exp)
        return digits(expr.base) * _bound(expr.exp)
    if isinstance(expr, (sympy.factorial, sympy.gamma)):
        n = _bound(expr.args[0])
        return n * max(1.0, math.log10(n + 1)) if n < 1e300 else math.inf
    if isinstance(expr, sympy.binomial):
        return _bound(expr.args[0]) * 0.30103 + 1
    if isinstance(expr, (sympy.Sum, sympy.Product)):
        terms = sum_terms(expr)
        if terms == math.inf:
            return digits(expr.function) + 1  # a series: sympy finds its closed form, term by term is no option
        body = digits(expr.function)
        return body * terms if isinstance(expr, sympy.Product) else body + math.log10(terms)
    if isinstance(expr, sympy.MatrixBase):
        return sum(digits(x) for x in expr) if expr.args else 2.0
    return sum(digits(a) for a in expr.args if isinstance(a, sympy.Basic)) + 1


def sum_terms(expr: sympy.Basic) -> float:
    """How many terms a sum or product has (variables in its bounds count as 100; inf for a series)."""
    terms = 1.0
    for _, lo, hi in expr.limits:
        if lo.has(sympy.oo, -sympy.oo) or hi.has(sympy.oo, -sympy.oo):
            return math.inf
        terms *= max(1.0, _bound(hi) + _bound(lo) + 1)
    return terms


def _bound(expr: sympy.Basic) -> float:
    """Upper bound of |expr| (expressions with variables count as 100), as a float that may be inf."""
    if not expr.is_number:
        return 100.0  # a variable: test points and plot ranges are small, nothing symbolic is multiplied out
    d = digits(expr)
    if d > 300:
        return math.inf
    try:
        value = complex(expr.evalf(15))
        return abs(value) + 1 if math.isfinite(abs(value)) else math.inf
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return 10.0 ** d


def symbols_of(expr: sympy.Basic) -> set[str]:
    """Names of the free symbols of ``expr``."""
    return {s.name for s in expr.free_symbols}


def undefined_functions(expr: sympy.Basic) -> set[str]:
    """Names of functions the parser did not know (``f``, ``sigma``…)."""
    return {f.func.__name__ for f in expr.atoms(sympy.core.function.AppliedUndef)}
