"""The draw stage: ``plot`` blocks → numbered figures: SVG for the cheat sheet, SVG with its text
kept as text for the PDF, PNG for Anki; a build draws only what its outputs embed.

``validate_document`` reads and checks every block (YAML, keys, ranges, LaTeX) without
importing matplotlib, so ``make check`` stays fast. ``draw_document`` validates, then draws
the blocks whose files do not exist yet. A file name is the hash of the checked spec, the
style file and the drawing code, so an unchanged figure is never redrawn and a changed
one never reuses a stale file. More than a few figures to draw are spread over processes.

The catalog of kinds and their keys is documented in docs/format.md; each kind is one module
of :mod:`.kinds` (its checks, drawing and alt text); the numbers (optimiser paths, receptive
fields, norm balls) are computed in :mod:`.compute`; :mod:`.draw` is the only module that
imports matplotlib.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from ..cache import JsonCache, fingerprint
from ..context import Figure
from ..location import Diagnostics, SourceLocation
from ..model import Document, PlotBlock
from ..resources import template
from .spec import SpecError, load

PACKAGE_DIR = Path(__file__).resolve().parent
STYLE = template("figures.mplstyle")
PARALLEL_MIN = 4
"""Draw in worker processes when more than this many figures changed."""
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


def check_cached(doc: Document, diags: Diagnostics, path: Path) -> list[tuple[PlotBlock, dict, str]]:
    """Check every block, reusing the specs of blocks that checked clean last time.

    Only blocks without any diagnostic are cached (keyed by their YAML and the checking code), so
    every error and warning is reported again on every run. The alt text is cached with the spec,
    so a build whose blocks are all cached never imports the kinds (numpy, sympy).
    """
    cache = JsonCache(path, fingerprint([PACKAGE_DIR / n for n in CHECKING_CODE], PACKAGE_DIR.parent / "latex.py"))
    checked = []
    for block in plot_blocks(doc):
        key = fingerprint(block.source)
        entry = cache.get(key)
        if entry is None:
            local = Diagnostics()
            spec = check_block(block, local)
            diags.extend(local)
            if spec is None:
                continue
            from .kinds import alt_text

            entry = {"spec": spec, "alt": alt_text(spec)}
            if local.items:
                checked.append((block, entry["spec"], entry["alt"]))
                continue
        cache.put(key, entry)
        checked.append((block, entry["spec"], entry["alt"]))
    cache.save()
    return checked


FORMATS = ("svg", "png")
"""What a figure can be drawn as: ``svg`` (text as paths: the cheat sheet), ``png`` (the deck) and
``text.svg`` (text as text: the PDF)."""


def draw_document(doc: Document, diags: Diagnostics, out_dir: Path,
                  formats: tuple[str, ...] = FORMATS) -> dict[PlotBlock, Figure]:
    """Draw every figure in the ``formats`` the build needs (a PDF needs no PNG, a deck no SVG).
    A figure's other format is handed on too when an earlier build left it in ``out_dir``."""
    checked = check_cached(doc, diags, out_dir / CHECKED_CACHE)
    if not checked:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    code = code_version()
    names = [figure_name(spec, code) for _, spec, _ in checked]
    jobs: dict[str, tuple[dict, tuple[str, ...]]] = {}
    for (_, spec, _), name in zip(checked, names):
        todo = tuple(f for f in formats if not (out_dir / f"{name}.{f}").is_file())
        if todo:
            jobs[name] = (spec, todo)
    failures = draw_many(jobs, out_dir)
    _prune(out_dir, set(names) - set(failures))
    figures: dict[PlotBlock, Figure] = {}
    number = 0
    for (block, spec, alt), name in zip(checked, names):
        if name in failures:
            message, label = failures[name]
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
    items = [(name, spec, formats, str(out_dir)) for name, (spec, formats) in sorted(jobs.items())]
    if len(items) <= PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        return {r[0]: r[1:] for r in _draw_batch(items) if r[1]}
    from ..workers import map_in_processes

    workers = min(os.cpu_count() or 1, MAX_WORKERS, (len(items) + 2) // 3)
    batches = [items[i::workers] for i in range(workers)]
    try:
        results = [r for batch in map_in_processes(_draw_batch, batches, workers) for r in batch]
    except OSError:  # no processes to be had: draw here
        results = _draw_batch(items)
    return {r[0]: r[1:] for r in results if r[1]}


def _draw_batch(items: list[tuple[str, dict, tuple[str, ...], str]]) -> list[tuple[str, str, str]]:
    from ..workers import caused_by_interrupt
    from .draw import LabelError, render

    out = []
    for name, spec, formats, folder in items:
        files = {f: Path(folder) / f"{name}.{f}" for f in formats}
        tmps = {f: p.with_name(f".{p.name}.{os.getpid()}.tmp") for f, p in files.items()}
        try:
            render(spec, name, tmps.get("svg"), tmps.get("png"), tmps.get("text.svg"))
            for f, p in files.items():
                os.replace(tmps[f], p)
            out.append((name, "", ""))
        except LabelError as e:
            out.append((name, str(e), e.label))
        except Exception as e:  # a bug in drawing must not hide the other figures
            if caused_by_interrupt(e):  # Ctrl-C while matplotlib loads its extensions: an ImportError
                raise KeyboardInterrupt from None
            out.append((name, f"{type(e).__name__}: {e}", ""))
        finally:
            for p in tmps.values():
                p.unlink(missing_ok=True)
    return out
