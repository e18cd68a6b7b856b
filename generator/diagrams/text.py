"""Label text helpers for the figures (plain strings; no matplotlib)."""
from __future__ import annotations

import re

# KaTeX spellings mathtext does not know, and their mathtext equivalents
_MATHTEXT_FIXES = ((re.compile(r"\\[lr]Vert\b"), r"\\Vert "), (re.compile(r"\\[lr]vert\b"), "|"),
                   (re.compile(r"\\[dt]frac\b"), r"\\frac"),
                   (re.compile(r"\\(?:text|operatorname)\{"), r"\\mathrm{"),
                   (re.compile(r"\\boldsymbol\{"), r"\\mathbf{"),
                   (re.compile(r"\\(?:big|Big|bigg|Bigg)[lr]?\b"), ""),
                   (re.compile(r"\\displaystyle\b"), ""))
LABEL_KEYS = frozenset({"title", "xlabel", "ylabel", "label", "categories", "rows", "cols"})


def mathtext_label(label: str) -> str:
    """``label`` with KaTeX-only commands inside ``$…$`` rewritten for mathtext."""
    def fix(m: re.Match[str]) -> str:
        t = m.group(0)
        for pattern, repl in _MATHTEXT_FIXES:
            t = pattern.sub(repl, t)
        return t
    return re.sub(r"\$[^$]+\$", fix, label)


def em(text: str) -> float:
    """Rough width of a label in em (CJK is 1 em, Latin about 0.55, math source counted shorter)."""
    text = re.sub(r"\$([^$]*)\$", lambda m: "x" * max(1, len(re.sub(r"\\[a-zA-Z]+|[{}^_]", "x", m.group(1))) // 2),
                  text)
    return sum(1.0 if ord(ch) > 0x2E80 else 0.55 for ch in text)


def wrap(text: str, max_em: float) -> str:
    """Break a long title once, at punctuation or a space outside math, near the middle."""
    if not text or em(text) <= max_em:
        return text
    in_math = False
    best, best_score = None, None
    for i, ch in enumerate(text):
        if ch == "$":
            in_math = not in_math
        elif not in_math and ch in " ，、（：;,:(" and 0 < i < len(text) - 1:
            cut = i + (0 if ch in "（(" else 1)
            score = abs(em(text[:cut]) - em(text) / 2)
            if best_score is None or score < best_score:
                best, best_score = cut, score
    return text if best is None else text[:best].rstrip() + "\n" + text[best:].lstrip()


def fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"
