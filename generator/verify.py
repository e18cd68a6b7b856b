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

import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import workers
from .cache import JsonCache, fingerprint
from .context import FormulaStatus, Status, display_path, write_atomic
from .location import Diagnostic, Diagnostics
from .model import Document, Formula, fragments
from .relations import (QUANTITY, ClaimTask, Definition, classify_definition, numeric_only, split_equations,
                        uncheckable_relation)

# results depend on the checking code: a change to it invalidates the cache
CACHE_VERSION = fingerprint(*(Path(__file__).parent / m for m in (
    "verify.py", "claims.py", "relations.py", "latex.py", "mathrender.py")))[:16]
LIMITS = workers.Limits()
"""Time and memory per formula check (named in the warning when a formula hits them)."""


def _key(*parts: str) -> str:
    return fingerprint(*parts)


# --------------------------------------------------------------------------- work done in the workers

@dataclass(frozen=True)
class _Syntax:
    tex: str


def _work(task):
    """Runs in a worker process: a KaTeX syntax check or a sympy claim check."""
    if isinstance(task, _Syntax):
        from . import mathrender

        err = mathrender.syntax_error(task.tex)
        return list(err) if err else []
    from .claims import run_claim  # sympy is imported by the workers that need it, never by a no-op build
    return list(run_claim(task))


def _run(tasks: dict[str, object], cache: JsonCache, limits: workers.Limits, limited) -> None:
    """Run the tasks missing from the cache (key → task) and store their results."""
    keys = list(tasks)
    if keys:  # imported here first, so that the forked workers share it (a build with every result cached skips it)
        from . import mathrender  # noqa: F401
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


SYNTAX, CLAIMS = 0, 1
"""The two passes that report problems: syntax (all files first), then claims."""


@dataclass
class _FileRun:
    """One file's formulas and what was found for them.

    A file's results depend only on its formulas (definitions hold within a file) and on the cached
    checks, so they are cached as a whole too: an unchanged file costs one lookup instead of
    classifying every formula again. ``said`` holds the problems as (pass, formula index, severity,
    offset into the TeX or -1 for the formula's own location, message)."""

    entries: list[tuple[Formula, bool, str, str]]
    key: str
    statuses: list[FormulaStatus | None]
    passes: list[int]
    said: list[list]
    uses: list[str]
    """The syntax and claim entries these results were read from: kept in the cache with them."""

    def say(self, phase: int, index: int, severity: str, offset: int, message: str) -> None:
        self.said.append([phase, index, severity, offset, message])

    def memo(self) -> list:
        return [[[str(st.status), st.detail, ps] for st, ps in zip(self.statuses, self.passes)], self.said,
                " ".join(self.uses)]

    def recall(self, memo, cache: JsonCache, made: dict[tuple[str, str], FormulaStatus]) -> bool:
        """Take the results from ``memo``; ``made`` shares equal statuses (most formulas have one of a few)."""
        try:
            rows, said, uses = memo
            if len(rows) != len(self.entries) or not cache.keep(uses.split()):
                return False
            statuses = []
            for st, detail, _ in rows:
                status = made.get((st, detail))
                if status is None:
                    status = made[st, detail] = FormulaStatus(Status(st), detail)
                statuses.append(status)
            self.statuses, self.passes, self.said = statuses, [ps for _, _, ps in rows], said
            return True
        except (TypeError, ValueError):
            return False


def _file_run(sf) -> _FileRun:
    entries = [(f, is_check) + _split_comment(f, is_check) for f, is_check in _formulas_in_order(sf)]
    key = _key("file", json.dumps([[tex, f.display, is_check, comment] for f, is_check, tex, comment in entries],
                                  ensure_ascii=False))
    return _FileRun(entries, key, [None] * len(entries), [CLAIMS] * len(entries), [], [])


def verify_document(doc: Document, diags: Diagnostics, cache_dir: Path | None = None,
                    limits: workers.Limits = LIMITS) -> dict[Formula, FormulaStatus]:
    cache = JsonCache(cache_dir / "verify.json" if cache_dir is not None else None, CACHE_VERSION)
    runs = [_file_run(sf) for sf in doc.files]
    made: dict[tuple[str, str], FormulaStatus] = {}
    todo = [run for run in runs if not run.recall(cache.get(run.key), cache, made)]
    # 1. syntax, by KaTeX
    missing = {}
    for run in todo:
        for f, _, tex, _ in run.entries:
            key = _key("syntax", tex)
            run.uses.append(key)
            if cache.get(key) is None:
                missing[key] = _Syntax(tex)
    _run(missing, cache, limits, lambda limit: ["limit", limit])
    # 2. classify in file order (definitions hold for the rest of their file), collect the claims
    plans: list[tuple[_FileRun, int, list]] = []
    claims: dict[str, ClaimTask] = {}
    for run in todo:
        defs: dict[str, Definition] = {}
        for i, (f, is_check, tex, comment) in enumerate(run.entries):
            syntax = cache.get(run.uses[i])
            if syntax:
                run.statuses[i], run.passes[i] = _syntax_status(run, i, syntax), SYNTAX
                continue
            parts = _parts(f, is_check, tex, defs)
            for part in parts:
                if part.status is None:
                    part.key = _key("claim", part.tex, comment, *sorted(d.key() for d in defs.values()))
                    if cache.get(part.key) is None:
                        claims[part.key] = ClaimTask(part.tex, comment,
                                                     tuple(sorted(defs.values(), key=lambda d: d.name)))
            plans.append((run, i, parts))
    # 3. the claims, by sympy; imported here first, so that the forked workers share it instead of
    #    each importing it again (only when something changed: a no-op build never gets here)
    if claims:
        from . import claims as _sympy_side  # noqa: F401
    _run(claims, cache, limits, lambda limit: ["limit", limit, []])
    for run, i, parts in plans:
        run.statuses[i] = _outcome(run, i, parts, cache)
    for run in todo:
        cache.put(run.key, run.memo())
    cache.save()
    # what was found, in the order the passes found it: every file's syntax problems, then the claims'
    results: dict[Formula, FormulaStatus] = {}
    for phase in (SYNTAX, CLAIMS):
        for run in runs:
            for i, (f, *_) in enumerate(run.entries):
                if run.passes[i] == phase:
                    results[f] = run.statuses[i]
            for ph, i, severity, offset, message in run.said:
                if ph == phase:
                    f = run.entries[i][0]
                    diags.items.append(Diagnostic(f.loc if offset < 0 else f.at(offset), severity, message))
    return results


def _syntax_status(run: _FileRun, i: int, hit: list) -> FormulaStatus:
    if hit[0] == "limit":
        run.say(SYNTAX, i, "warning", -1, f"not checkable: KaTeX could not check this formula: {hit[1]}")
        return FormulaStatus(Status.NOT_CHECKABLE, hit[1])
    message, col = hit
    if message.startswith("nested "):  # valid TeX that is too deep for the embedded engine: not an error
        run.say(SYNTAX, i, "warning", max(col - 1, 0), f"not checkable: {message}")
        return FormulaStatus(Status.NOT_CHECKABLE, message)
    run.say(SYNTAX, i, "error", max(col - 1, 0), f"invalid LaTeX: {message}")
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


def _outcome(run: _FileRun, i: int, parts: list[_Part], cache: JsonCache) -> FormulaStatus:
    f, is_check = run.entries[i][:2]
    if not f.display and not is_check:
        if not parts:
            return FormulaStatus(Status.INLINE, "")
        status = _combine([_claim(run, i, p, cache, False) for p in parts])
        return status if status.status != Status.NOT_CHECKABLE else FormulaStatus(Status.INLINE, status.detail)
    if not parts:
        return FormulaStatus(Status.NOT_CHECKABLE, "empty")
    return _combine([p.status if p.status is not None else _claim(run, i, p, cache, is_check) for p in parts])


def _claim(run: _FileRun, i: int, part: _Part, cache: JsonCache, is_check: bool) -> FormulaStatus:
    run.uses.append(part.key)
    status, detail, warnings = cache.get(part.key)
    for w in warnings:
        run.say(CLAIMS, i, "warning", part.offset, w)
    if status == "limit":
        if is_check:
            run.say(CLAIMS, i, "error", part.offset, f"check line is not verifiable: {detail}")
            return FormulaStatus(Status.FAILED, detail)
        run.say(CLAIMS, i, "warning", part.offset, f"not checkable: {detail}")
        return FormulaStatus(Status.NOT_CHECKABLE, detail)
    if status == "failed":
        run.say(CLAIMS, i, "error", part.offset, detail)
    elif status == "not-checkable" and is_check:
        run.say(CLAIMS, i, "error", part.offset, f"check line is not verifiable: {detail}")
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
    # one formula per line, each as json.dumps writes it: readable and diffable, and written by hand
    # because json.dumps per formula costs more than the rest of a warm build's verify stage
    text = json.encoder.encode_basestring  # the C encoder behind json.dumps(..., ensure_ascii=False)
    by_file: dict[Path, list] = {}  # sorted by file, then by place in it: as one sort, with cheaper keys
    for f, s in results.items():
        by_file.setdefault(f.loc.path, []).append((f.loc.line, f.loc.col, f, s))
    rows = []
    for file in sorted(by_file, key=str):
        shown = text(display_path(file))
        found = by_file[file]
        found.sort(key=lambda r: (r[0], r[1]))  # stable: formulas at one place keep their order
        rows += (f'{{"file": {shown}, "line": {line}, "col": {col}, "tex": {text(f.tex)}, '
                 f'"display": {"true" if f.display else "false"}, "status": {text(str(s.status))}, '
                 f'"detail": {text(s.detail)}}}' for line, col, f, s in found)
    body = ",\n  ".join(rows)
    report = f'{{"totals": {json.dumps(totals(results))},\n "formulas": [\n  {body}\n]}}\n'
    write_atomic(path, lambda tmp: tmp.write_text(report, encoding="utf-8"))


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
