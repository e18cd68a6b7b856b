"""Every formula checked: syntax by KaTeX, claims by sympy (through claims.py).

Display relations are classified as definitions (``f(x) = …``; a lone symbol named on the
left), claims (verified symbolically, else numerically at seeded random points) or not
checkable (notation sympy cannot read). ``check`` lines must verify. Inline formulas are
syntax-checked, and those that are purely numeric relations are verified too.

Results are cached on disk by formula text plus the definitions in scope, so a rebuild
re-checks only what changed and imports sympy only when something did.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from . import mathrender
from .cache import JsonCache, fingerprint
from .claims import (REL_RE, UNCHECKABLE_RELATIONS, Definition, NotCheckable, Refuted, Scope, check_relation,
                     classify_definition, split_equations)
from .context import FormulaStatus, display_path, write_atomic
from .location import Diagnostics, SourceLocation
from .model import Document, Formula, fragments

# results depend on the checking code: a change to it invalidates the cache
CACHE_VERSION = fingerprint(*(Path(__file__).parent / m for m in ("verify.py", "claims.py", "latex.py")))[:16]


# --------------------------------------------------------------------------- driver

def _locate(f: Formula, offset: int, lines: list[str]) -> SourceLocation:
    """Line and column in the file of character ``offset`` of the formula's TeX."""
    if f.loc.col == 0 or not lines:
        return f.loc
    line_idx = f.loc.line - 1
    text = lines[line_idx] if line_idx < len(lines) else ""
    start = f.loc.col - 1
    if text.startswith("$$", start):
        start += 2
    elif text.startswith("$", start):
        start += 1
    if not text[start:].strip() and "$$" in text:  # display block: the TeX starts on the next line
        line_idx += 1
        start = 0
    # walk through the TeX (stripped) across lines
    rest = offset
    while line_idx < len(lines):
        seg = lines[line_idx][start:]
        lead = len(seg) - len(seg.lstrip()) if rest == offset else 0
        if rest + lead <= len(seg):
            return SourceLocation(f.loc.path, line_idx + 1, start + lead + rest + 1)
        rest -= len(seg.strip()) + 1
        line_idx += 1
        start = 0
    return f.loc


def _key(*parts: str) -> str:
    return fingerprint(*parts)


def verify_document(doc: Document, diags: Diagnostics, cache_dir: Path | None = None) -> dict[Formula, FormulaStatus]:
    cache = JsonCache(cache_dir / "verify.json" if cache_dir is not None else None, CACHE_VERSION)
    results: dict[Formula, FormulaStatus] = {}
    for sf in doc.files:
        try:
            lines = sf.path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
        except OSError:
            lines = []
        scope = Scope()
        for chapter in sf.chapters:
            formulas: list[tuple[Formula, str]] = [(f, "intro") for f in chapter.intro.formulas]
            for c in chapter.intro.checks:
                formulas += [(f, "check") for f in c.lines]
            for note in chapter.notes:
                for frag in fragments(note):
                    formulas += [(f, "formula") for f in frag.formulas]
                    for c in frag.checks:
                        formulas += [(f, "check") for f in c.lines]
            for f, kind in sorted(formulas, key=lambda fk: (fk[0].loc.line, fk[0].loc.col)):
                results[f] = _verify_one(f, kind == "check", scope, cache, diags, lines)
    cache.save()
    return results


def _verify_one(f: Formula, is_check: bool, scope: Scope, cache: JsonCache, diags: Diagnostics,
                lines: list[str]) -> FormulaStatus:
    tex, comment = f.tex, ""
    if is_check and "%" in tex:
        cut = re.search(r"(?<!\\)%", tex)
        if cut:
            tex, comment = tex[:cut.start()].rstrip(), tex[cut.start() + 1:]
    syntax_key = _key("syntax", tex)
    hit = cache.get(syntax_key)
    if hit is None:
        err = mathrender.syntax_error(tex)
        hit = [err[0], err[1]] if err else []
        cache.put(syntax_key, hit)
    if hit:
        message, col = hit
        loc = _locate(f, max(col - 1, 0), lines)
        diags.error(loc, f"invalid LaTeX: {message}")
        return FormulaStatus("failed", message)
    if not f.display and not is_check:
        return _inline(f, tex, scope, cache, diags, lines)
    parts = split_equations(tex)
    if not parts:
        return FormulaStatus("not-checkable", "empty")
    statuses = []
    for part in parts:
        if any(op in part for op in UNCHECKABLE_RELATIONS) and not REL_RE.search(part):
            statuses.append(FormulaStatus("not-checkable", "relation sympy does not decide"))
            continue
        definition = classify_definition(part, scope) if not is_check else None
        if isinstance(definition, Definition):
            scope.add(definition)
            statuses.append(FormulaStatus("definition", f"defines {definition.name}"))
            continue
        if definition == "quantity":
            statuses.append(FormulaStatus("definition", "names a quantity"))
            continue
        statuses.append(_claim(f, part, comment, scope, cache, diags, is_check,
                               _locate(f, max(tex.find(part), 0), lines)))
    return _combine(statuses)


def _claim(f, part, comment, scope, cache, diags, is_check, loc=None) -> FormulaStatus:
    key = _key("claim", part, comment, scope.key())
    hit = cache.get(key)
    if hit is None:
        try:
            hit = ["verified", check_relation(part, scope, comment)]
        except Refuted as e:
            hit = ["failed", str(e)]
        except NotCheckable as e:
            hit = ["not-checkable", str(e)]
        except Exception as e:  # noqa: BLE001 — sympy internals; never a traceback for content
            hit = ["not-checkable", f"sympy could not decide ({type(e).__name__})"]
        cache.put(key, hit)
    status, detail = hit
    loc = loc or f.loc
    if status == "failed":
        diags.error(loc, detail)
    elif status == "not-checkable" and is_check:
        diags.error(loc, f"check line is not verifiable: {detail}")
        status = "failed"
    return FormulaStatus(status, detail)


def _inline(f, tex, scope, cache, diags, lines) -> FormulaStatus:
    """Inline math is notation unless it is a relation between plain numbers."""
    if not REL_RE.search(tex) or re.search(r"[A-Za-z]", re.sub(r"\\(times|cdot|frac|tfrac|dfrac|left|right|lfloor|rfloor|lceil|rceil|approx|le|ge|leq|geq|neq|sqrt|,)", "", tex)):
        return FormulaStatus("inline", "")
    status = _combine([_claim(f, p, "", scope, cache, diags, False, _locate(f, max(tex.find(p), 0), lines))
                       for p in split_equations(tex)])
    return status if status.status != "not-checkable" else FormulaStatus("inline", status.detail)


def _combine(statuses: list[FormulaStatus]) -> FormulaStatus:
    for s in ("failed", "not-checkable", "verified", "definition", "inline"):
        found = [x for x in statuses if x.status == s]
        if found:
            return FormulaStatus(s, "; ".join(x.detail for x in found if x.detail))
    return FormulaStatus("not-checkable", "")


# --------------------------------------------------------------------------- reporting

def write_report(doc: Document, results: dict[Formula, FormulaStatus], path: Path) -> None:
    entries = [{"file": display_path(f.loc.path), "line": f.loc.line, "col": f.loc.col, "tex": f.tex,
                "display": f.display, "status": s.status, "detail": s.detail}
               for f, s in sorted(results.items(), key=lambda fs: (str(fs[0].loc.path), fs[0].loc.line, fs[0].loc.col))]
    # one formula per line: readable and diffable, and the C encoder stays fast on big corpora
    body = ",\n  ".join(json.dumps(e, ensure_ascii=False) for e in entries)
    text = f'{{"totals": {json.dumps(totals(results))},\n "formulas": [\n  {body}\n]}}\n'
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def totals(results: dict[Formula, FormulaStatus]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in results.values():
        out[s.status] = out.get(s.status, 0) + 1
    return dict(sorted(out.items()))


def summary(results: dict[Formula, FormulaStatus]) -> list[str]:
    """One line per file: verified / definitions / not checkable / failed."""
    per: dict[str, dict[str, int]] = {}
    for f, s in results.items():
        row = per.setdefault(display_path(f.loc.path), {})
        row[s.status] = row.get(s.status, 0) + 1
    width = max((len(p) for p in per), default=10)
    lines = [f"{'file':<{width}}  verified  definitions  not-checkable  failed  inline"]
    for p, row in sorted(per.items()):
        lines.append(f"{p:<{width}}  {row.get('verified', 0):>8}  {row.get('definition', 0):>11}  "
                     f"{row.get('not-checkable', 0):>13}  {row.get('failed', 0):>6}  {row.get('inline', 0):>6}")
    return lines
