"""The draw stage: ``plot`` blocks → numbered figures: SVG for the cheat sheet, SVG with its text
kept as text for the PDF, PNG for Anki; a build draws only what its outputs embed.

``validate_document`` reads and checks every block (YAML, keys, ranges, LaTeX) without
importing matplotlib, so ``make check`` stays fast. ``draw_document`` validates, then draws
the blocks whose files do not exist yet. A file name is the hash of the checked spec, the
style file and the drawing code, so an unchanged figure is never redrawn and a changed
one never reuses a stale file. More than a few blocks to check or draw are spread over
processes, each block checked and drawn in one task.

The catalog of kinds and their keys is documented in docs/format.md; each kind is one module
of :mod:`.kinds` (its checks, drawing and alt text); the numbers (optimiser paths, receptive
fields, norm balls) are computed in :mod:`.compute`; :mod:`.draw` is the only module that
imports matplotlib.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from ..cache import JsonCache, fingerprint
from ..context import Figure
from ..location import Diagnostic, Diagnostics, SourceLocation
from ..model import Document, PlotBlock
from ..resources import template
from .spec import SpecError, load

PACKAGE_DIR = Path(__file__).resolve().parent
STYLE = template("figures.mplstyle")
PARALLEL_MIN = 4
"""Check and draw in worker processes when more than this many blocks need it."""
MAX_WORKERS = 4


def plot_blocks(doc: Document) -> Iterator[PlotBlock]:
    """Every plot block, in document order (chapter introductions before their notes)."""
    for chapter in doc.chapters:
        yield from chapter.intro.plots
        for note in chapter.notes:
            yield from note.question.plots
            yield from note.answer.plots
            if note.details is not None:
                yield from note.details.plots


def check_block(block: PlotBlock, diags: Diagnostics) -> dict | None:
    """The block's checked, normalised spec, or ``None`` after reporting its errors."""
    try:
        node = load(block)
    except SpecError as e:
        diags.error(SourceLocation(block.loc.path, e.line), f"plot: {e}")
        return None
    from . import kinds  # numpy and sympy: only when a block is not in the check cache

    return kinds.check(node, diags, block.loc.path)


def validate_document(doc: Document, diags: Diagnostics) -> None:
    for block in plot_blocks(doc):
        check_block(block, diags)


DRAWING_CODE = ("draw.py", "compute.py", "expr.py", "text.py", "kinds")
"""The modules that turn a checked spec into bytes (checking code only changes the spec, which is hashed)."""


def code_version() -> str:
    """Hash of everything besides the spec that shapes a figure's bytes."""
    return fingerprint(version("matplotlib"), [PACKAGE_DIR / n for n in DRAWING_CODE],
                       PACKAGE_DIR.parent / "latex.py", STYLE)


def figure_name(spec: dict, code: str) -> str:
    blob = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "fig-" + fingerprint(code, blob)[:16]


CHECKING_CODE = ("__init__.py", "spec.py", "kinds", "expr.py", "text.py", "compute.py")
CHECKED_CACHE = ".checked.json"


def _check_cache(path: Path) -> JsonCache:
    """Specs of blocks that checked clean last time, keyed by their YAML (and the checking code).

    Only blocks without any diagnostic are cached, so every error and warning is reported again on
    every run. The alt text is cached with the spec, so a build whose blocks are all cached never
    imports the kinds (numpy, sympy)."""
    return JsonCache(path, fingerprint([PACKAGE_DIR / n for n in CHECKING_CODE], PACKAGE_DIR.parent / "latex.py"))


FORMATS = ("svg", "png")
"""What a figure can be drawn as: ``svg`` (text as paths: the cheat sheet), ``png`` (the deck) and
``text.svg`` (text as text: the PDF)."""


@dataclass(frozen=True)
class _Task:
    """One block to check and then draw (``block``), or one checked spec to draw (``spec``, ``name``)."""

    block: PlotBlock | None
    spec: dict | None
    name: str
    formats: tuple[str, ...]
    """The formats the build needs; only those without a file in ``folder`` are drawn."""
    folder: str
    code: str


@dataclass(frozen=True)
class _Done:
    diagnostics: tuple[Diagnostic, ...] = ()
    """What checking the block found (none for a spec checked before)."""
    spec: dict | None = None
    alt: str = ""
    name: str = ""
    failure: tuple[str, str] | None = None
    """Why drawing failed, and the label at fault (or ""), when it did."""


def draw_document(doc: Document, diags: Diagnostics, out_dir: Path,
                  formats: tuple[str, ...] = FORMATS) -> dict[PlotBlock, Figure]:
    """Check every block and draw every figure in the ``formats`` the build needs (a PDF needs no PNG,
    a deck no SVG). A figure's other format is handed on too when an earlier build left it in ``out_dir``.

    A block whose spec is cached and whose files exist costs a lookup. The others are tasks for worker
    processes, one block each, checked and drawn in the same task: the checks (sympy) do not run on one
    core before the drawing starts, and no batch ends long after the other. Problems are reported in
    document order, as one process checking and drawing the blocks one after the other would."""
    blocks = list(plot_blocks(doc))
    if not blocks:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = _check_cache(out_dir / CHECKED_CACHE)
    code = code_version()
    rows: list[tuple[PlotBlock, str, dict | None, int]] = []  # block, cache key, cached entry, its task or -1
    tasks: list[_Task] = []
    drawing: dict[str, int] = {}  # figure name → task: equal specs are drawn once
    for block in blocks:
        key = fingerprint(block.source)
        entry = cache.get(key)
        index = -1
        if entry is None:
            index = len(tasks)
            tasks.append(_Task(block, None, "", formats, str(out_dir), code))
        else:
            name = figure_name(entry["spec"], code)
            if _missing(out_dir, name, formats):
                index = drawing.get(name, len(tasks))
                if index == len(tasks):
                    drawing[name] = index
                    tasks.append(_Task(None, entry["spec"], name, formats, str(out_dir), code))
        rows.append((block, key, entry, index))
    done = _run(tasks)
    checked: list[tuple[PlotBlock, dict, str, str, tuple[str, str] | None]] = []
    for block, key, entry, index in rows:
        result = done[index] if index >= 0 else _Done()
        if entry is None:
            diags.items.extend(result.diagnostics)
            if result.spec is None:
                continue
            entry = {"spec": result.spec, "alt": result.alt}
            if result.diagnostics:  # reported again next time: not cached
                checked.append((block, result.spec, result.alt, result.name, result.failure))
                continue
        cache.put(key, entry)
        checked.append((block, entry["spec"], entry["alt"], figure_name(entry["spec"], code), result.failure))
    cache.save()
    _prune(out_dir, {name for *_, name, failure in checked if failure is None})
    figures: dict[PlotBlock, Figure] = {}
    number = 0
    for block, spec, alt, name, failure in checked:
        if failure is not None:
            message, label = failure
            line = _line_of(block, label) if label else block.loc.line
            diags.error(SourceLocation(block.loc.path, line),
                        f"plot: {message}" if label else f"plot: drawing failed: {message}")
            continue
        number += 1
        found = {f: out_dir / f"{name}.{f}" for f in ("svg", "png", "text.svg")}
        found = {f: p if p.is_file() else None for f, p in found.items()}
        figures[block] = Figure(number=number, caption=spec["caption"] or spec["title"], alt=alt,
                                svg=found["svg"], png=found["png"], text_svg=found["text.svg"])
    return figures


def _missing(folder: Path, name: str, formats: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f for f in formats if not (folder / f"{name}.{f}").is_file())


def _prune(out_dir: Path, keep: set[str]) -> None:
    """Remove figure files no block produces any more (edited or deleted plots)."""
    for p in out_dir.glob("fig-*.*"):
        if p.suffix in (".svg", ".png") and p.name.split(".")[0] not in keep:
            p.unlink(missing_ok=True)


def _line_of(block: PlotBlock, text: str) -> int:
    """The file line of the block that holds ``text`` (as written, or with YAML-escaped backslashes)."""
    for i, line in enumerate(block.source.splitlines()):
        if text in line or text.replace("\\", "\\\\") in line:
            return block.loc.line + 1 + i
    return block.loc.line


def draw_many(jobs: dict[str, tuple[dict, tuple[str, ...]]], out_dir: Path) -> dict[str, tuple[str, str]]:
    """Draw every (spec, formats) to ``out_dir/<name>.svg|png``; return {name: (error, label)} for failures."""
    if not jobs:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [_Task(None, spec, name, formats, str(out_dir), "") for name, (spec, formats) in sorted(jobs.items())]
    return {t.name: r.failure for t, r in zip(tasks, _run(tasks)) if r.failure is not None}


def _run(tasks: list[_Task]) -> list[_Done]:
    """Every task's result, in task order: in worker processes when there are more than a few."""
    if len(tasks) <= PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        return [_work(t) for t in tasks]
    from ..workers import map_in_processes

    workers = min(os.cpu_count() or 1, MAX_WORKERS, (len(tasks) + 2) // 3)
    try:  # one task per message: a worker takes the next block when it is done, so both finish together
        return map_in_processes(_work, tasks, workers)
    except OSError:  # no processes to be had: work here
        return [_work(t) for t in tasks]


def _work(task: _Task) -> _Done:
    """Check the block if there is one, then draw what is missing of its figure."""
    diagnostics: tuple[Diagnostic, ...] = ()
    spec, alt, name = task.spec, "", task.name
    if task.block is not None:
        local = Diagnostics()
        spec = check_block(task.block, local)
        diagnostics = tuple(local.items)
        if spec is None:
            return _Done(diagnostics)
        from .kinds import alt_text

        alt, name = alt_text(spec), figure_name(spec, task.code)
    formats = _missing(Path(task.folder), name, task.formats)
    failure = _draw(name, spec, formats, Path(task.folder)) if formats else None
    return _Done(diagnostics, spec, alt, name, failure)


def _draw(name: str, spec: dict, formats: tuple[str, ...], folder: Path) -> tuple[str, str] | None:
    """Draw one figure's files (each written under a temporary name, then renamed); None, or why not."""
    from ..workers import caused_by_interrupt
    from .draw import LabelError, render

    files = {f: folder / f"{name}.{f}" for f in formats}
    tmps = {f: p.with_name(f".{p.name}.{os.getpid()}.tmp") for f, p in files.items()}
    try:
        render(spec, name, tmps.get("svg"), tmps.get("png"), tmps.get("text.svg"))
        for f, p in files.items():
            os.replace(tmps[f], p)
        return None
    except LabelError as e:
        return str(e), e.label
    except Exception as e:  # a bug in drawing must not hide the other figures
        if caused_by_interrupt(e):  # Ctrl-C while matplotlib loads its extensions: an ImportError
            raise KeyboardInterrupt from None
        return f"{type(e).__name__}: {e}", ""
    finally:
        for p in tmps.values():
            p.unlink(missing_ok=True)
