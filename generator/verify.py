"""Every formula checked: syntax by KaTeX, claims by sympy (claims.py), in bounded worker processes.

Display relations are classified as definitions (``f(x) = …``; a lone symbol named on the
left), claims (verified symbolically, else numerically at seeded random points) or not
checkable (notation sympy cannot read). ``check`` lines must verify. Inline formulas are
syntax-checked, and those that are purely numeric relations are verified too.

The driver itself is text only (relations.py): it classifies every formula, looks results up in
the cache, and sends only what changed to worker processes (workers.py), one formula at a time
under a time and memory limit. An unchanged rebuild therefore never imports sympy.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import mathrender, workers
from .context import FormulaStatus, Status, display_path, write_atomic
from .location import Diagnostics
from .model import Document, Formula, fragments
from .relations import (QUANTITY, ClaimTask, Definition, classify_definition, numeric_only, split_equations,
                        uncheckable_relation)

# results depend on the checking code: a change to it invalidates the cache
CACHE_VERSION = hashlib.sha256(b"".join(
    (Path(__file__).parent / m).read_bytes()
    for m in ("verify.py", "claims.py", "relations.py", "latex.py", "mathrender.py"))).hexdigest()[:16]
LIMITS = workers.Limits()
"""Time and memory per formula check (named in the warning when a formula hits them)."""


class _Cache:
    """Results by key, kept in one JSON file; entries not used by a build are dropped when it saves."""

    def __init__(self, path: Path | None):
        self.path = path
        self.data: dict[str, list] = {}
        self.dirty = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if loaded.get("version") == CACHE_VERSION:
                    self.data = loaded["entries"]
            except (OSError, ValueError, KeyError, AttributeError):
                pass
        self.used: set[str] = set()

    def get(self, key: str):
        self.used.add(key)
        return self.data.get(key)

    def put(self, key: str, value: list) -> None:
        self.used.add(key)
        self.data[key] = value
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not (self.dirty or set(self.data) - self.used):
            return
        kept = {k: v for k, v in self.data.items() if k in self.used}
        text = json.dumps({"version": CACHE_VERSION, "entries": kept}, sort_keys=True)
        write_atomic(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


# --------------------------------------------------------------------------- work done in the workers

@dataclass(frozen=True)
class _Syntax:
    tex: str


def _work(task):
    """Runs in a worker process: a KaTeX syntax check or a sympy claim check."""
    if isinstance(task, _Syntax):
        err = mathrender.syntax_error(task.tex)
        return list(err) if err else []
    from .claims import run_claim  # sympy is imported by the workers that need it, never by a no-op build
    return list(run_claim(task))


def _run(tasks: dict[str, object], cache: _Cache, limits: workers.Limits, limited) -> None:
    """Run the tasks missing from the cache (key → task) and store their results."""
    keys = list(tasks)
    for key, outcome in zip(keys, workers.run(_work, [tasks[k] for k in keys], limits)):
        cache.put(key, outcome.value if not outcome.limit else limited(outcome.limit))


# --------------------------------------------------------------------------- driver

@dataclass
class _Part:
    formula: Formula
    tex: str
    offset: int
    key: str = ""
    status: FormulaStatus | None = None


def _formulas_in_order(sf):
    for chapter in sf.chapters:
        found: list[tuple[Formula, bool]] = [(f, False) for f in chapter.intro.formulas]
        for c in chapter.intro.checks:
            found += [(f, True) for f in c.lines]
        for note in chapter.notes:
            for frag in fragments(note):
                found += [(f, False) for f in frag.formulas]
                for c in frag.checks:
                    found += [(f, True) for f in c.lines]
        yield from sorted(found, key=lambda fk: (fk[0].loc.line, fk[0].loc.col))


def _split_comment(f: Formula, is_check: bool) -> tuple[str, str]:
    if is_check and "%" in f.tex:
        cut = re.search(r"(?<!\\)%", f.tex)
        if cut:
            return f.tex[:cut.start()].rstrip(), f.tex[cut.start() + 1:]
    return f.tex, ""


def verify_document(doc: Document, diags: Diagnostics, cache_dir: Path | None = None,
                    limits: workers.Limits = LIMITS) -> dict[Formula, FormulaStatus]:
    cache = _Cache(cache_dir / "verify.json" if cache_dir is not None else None)
    entries = [(f, is_check) + _split_comment(f, is_check) for sf in doc.files for f, is_check in _formulas_in_order(sf)]
    # 1. syntax, by KaTeX
    missing = {}
    for f, _, tex, _ in entries:
        key = _key("syntax", tex)
        if cache.get(key) is None:
            missing[key] = _Syntax(tex)
    _run(missing, cache, limits, lambda limit: ["limit", limit])
    # 2. classify in file order (definitions hold for the rest of their file), collect the claims
    results: dict[Formula, FormulaStatus] = {}
    plans: list[tuple[Formula, bool, str, list]] = []
    claims: dict[str, ClaimTask] = {}
    current_file, defs = None, {}
    for f, is_check, tex, comment in entries:
        if f.loc.path != current_file:
            current_file, defs = f.loc.path, {}
        syntax = cache.get(_key("syntax", tex))
        if syntax:
            results[f] = _syntax_status(f, syntax, diags)
            continue
        parts = _parts(f, is_check, tex, defs)
        for part in parts:
            if part.status is None:
                part.key = _key("claim", part.tex, comment, *sorted(d.key() for d in defs.values()))
                if cache.get(part.key) is None:
                    claims[part.key] = ClaimTask(part.tex, comment, tuple(sorted(defs.values(), key=lambda d: d.name)))
        plans.append((f, is_check, tex, parts))
    # 3. the claims, by sympy; imported here first, so that the forked workers share it instead of
    #    each importing it again (only when something changed: a no-op build never gets here)
    if claims:
        from . import claims as _sympy_side  # noqa: F401
    _run(claims, cache, limits, lambda limit: ["limit", limit, []])
    for f, is_check, tex, parts in plans:
        results[f] = _outcome(f, is_check, parts, cache, diags)
    cache.save()
    return results


def _syntax_status(f: Formula, hit: list, diags: Diagnostics) -> FormulaStatus:
    if hit[0] == "limit":
        diags.warning(f.loc, f"not checkable: KaTeX could not check this formula: {hit[1]}")
        return FormulaStatus(Status.NOT_CHECKABLE, hit[1])
    message, col = hit
    if message.startswith("nested "):  # valid TeX that is too deep for the embedded engine: not an error
        diags.warning(f.at(max(col - 1, 0)), f"not checkable: {message}")
        return FormulaStatus(Status.NOT_CHECKABLE, message)
    diags.error(f.at(max(col - 1, 0)), f"invalid LaTeX: {message}")
    return FormulaStatus(Status.FAILED, message)


def _parts(f: Formula, is_check: bool, tex: str, defs: dict[str, Definition]) -> list[_Part]:
    """The equations of one formula; definitions enter ``defs`` and get their status at once."""
    if not f.display and not is_check:
        if not numeric_only(tex):
            return []
        return [_Part(f, p, off) for p, off in split_equations(tex)]
    parts = []
    for text, offset in split_equations(tex):
        part = _Part(f, text, offset)
        if uncheckable_relation(text):
            part.status = FormulaStatus(Status.NOT_CHECKABLE, "relation sympy does not decide")
        elif not is_check:
            kind = classify_definition(text, frozenset(defs))
            if isinstance(kind, Definition):
                defs[kind.name] = kind
                part.status = FormulaStatus(Status.DEFINITION, f"defines {kind.name}")
            elif kind == QUANTITY:
                part.status = FormulaStatus(Status.DEFINITION, "names a quantity")
        parts.append(part)
    return parts


def _outcome(f: Formula, is_check: bool, parts: list[_Part], cache: _Cache, diags: Diagnostics) -> FormulaStatus:
    if not f.display and not is_check:
        if not parts:
            return FormulaStatus(Status.INLINE, "")
        status = _combine([_claim(p, cache, diags, False) for p in parts])
        return status if status.status != Status.NOT_CHECKABLE else FormulaStatus(Status.INLINE, status.detail)
    if not parts:
        return FormulaStatus(Status.NOT_CHECKABLE, "empty")
    return _combine([p.status if p.status is not None else _claim(p, cache, diags, is_check) for p in parts])


def _claim(part: _Part, cache: _Cache, diags: Diagnostics, is_check: bool) -> FormulaStatus:
    status, detail, warnings = cache.get(part.key)
    loc = part.formula.at(part.offset)
    for w in warnings:
        diags.warning(loc, w)
    if status == "limit":
        if is_check:
            diags.error(loc, f"check line is not verifiable: {detail}")
            return FormulaStatus(Status.FAILED, detail)
        diags.warning(loc, f"not checkable: {detail}")
        return FormulaStatus(Status.NOT_CHECKABLE, detail)
    if status == "failed":
        diags.error(loc, detail)
    elif status == "not-checkable" and is_check:
        diags.error(loc, f"check line is not verifiable: {detail}")
        return FormulaStatus(Status.FAILED, detail)
    return FormulaStatus(Status(status), detail)


def _combine(statuses: list[FormulaStatus]) -> FormulaStatus:
    for s in (Status.FAILED, Status.NOT_CHECKABLE, Status.VERIFIED, Status.DEFINITION, Status.INLINE):
        found = [x for x in statuses if x.status == s]
        if found:
            return FormulaStatus(s, "; ".join(x.detail for x in found if x.detail))
    return FormulaStatus(Status.NOT_CHECKABLE, "")


# --------------------------------------------------------------------------- reporting

def write_report(doc: Document, results: dict[Formula, FormulaStatus], path: Path) -> None:
    entries = [{"file": display_path(f.loc.path), "line": f.loc.line, "col": f.loc.col, "tex": f.tex,
                "display": f.display, "status": str(s.status), "detail": s.detail}
               for f, s in sorted(results.items(), key=lambda fs: (str(fs[0].loc.path), fs[0].loc.line, fs[0].loc.col))]
    # one formula per line: readable and diffable, and the C encoder stays fast on big corpora
    body = ",\n  ".join(json.dumps(e, ensure_ascii=False) for e in entries)
    text = f'{{"totals": {json.dumps(totals(results))},\n "formulas": [\n  {body}\n]}}\n'
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def totals(results: dict[Formula, FormulaStatus]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in results.values():
        out[str(s.status)] = out.get(str(s.status), 0) + 1
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
        lines.append(f"{p:<{width}}  {row.get(Status.VERIFIED, 0):>8}  {row.get(Status.DEFINITION, 0):>11}  "
                     f"{row.get(Status.NOT_CHECKABLE, 0):>13}  {row.get(Status.FAILED, 0):>6}  "
                     f"{row.get(Status.INLINE, 0):>6}")
    return lines
