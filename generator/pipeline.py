"""The build, in order: read → parse → verify → draw → emit.

``analyse`` runs everything before the emitters and returns a frozen :class:`Analysis`;
each emitter returns what it wrote and what it found (:class:`~.context.Emitted`);
``build`` returns a :class:`BuildResult`. Heavy libraries (sympy, matplotlib, WeasyPrint)
are imported only by the stage that needs them, and only when the inputs changed: an
unchanged rebuild is a hash comparison.
"""
from __future__ import annotations

import importlib
import json
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import outdir
from .cache import JsonCache, end_long_lived, fingerprint
from .context import BuildContext, Emitted
from .location import Diagnostic, Diagnostics, GeneratorError
from .model import Document, card_count, fragments
from .resources import PACKAGE_DIR, TEMPLATES_DIR

TARGETS = ("deck", "pdf", "html")
# target → the module whose emit(doc, out, ctx) -> Emitted writes it
EMITTERS = {"deck": "generator.emit.anki", "pdf": "generator.emit.pdf", "html": "generator.emit.html"}
FIGURE_FORMATS = {"deck": "png", "pdf": "text.svg", "html": "svg"}  # what each output embeds of a figure
MANIFEST = ".manifest.json"
MAX_READ_BYTES = 32 * 1024 * 1024  # larger Markdown files are refused by the parser


@dataclass
class BuildConfig:
    content: Path = Path("content")
    out: Path = Path("build")
    targets: tuple[str, ...] = ("deck",)
    quiet: bool = False
    strict: bool = False
    paper: str = "A4"
    force: bool = False
    name: str | None = None
    """Output file name (without extension); default: the main top-level deck's name."""


@dataclass(frozen=True)
class Analysis:
    """Everything the emitters read: the parsed content, the verify and draw results, the problems."""

    doc: Document
    ctx: BuildContext
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


@dataclass(frozen=True)
class BuildResult:
    """What one build did: for the CLI's exit code and for callers that present it themselves."""

    ok: bool
    up_to_date: bool = False
    """Nothing changed since the last good build; nothing was written."""
    outputs: tuple[Path, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    """Every problem of the run, the emitters' included, in file order."""

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


_interrupted = False


def _note_interrupt(unraisable) -> None:
    """Ctrl-C that lands in a finaliser or a weakref callback is "ignored" by Python (printed with a
    traceback, then lost): remember it instead, and stop at the next stage line."""
    global _interrupted
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _interrupted = True
    else:
        sys.__unraisablehook__(unraisable)


def _catch_lost_interrupts() -> None:
    global _interrupted
    _interrupted = False
    sys.unraisablehook = _note_interrupt


@dataclass
class Progress:
    """One line per stage: what it did and how long it took."""

    quiet: bool = False
    start: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)

    def stage(self, name: str, message: str) -> None:
        if _interrupted:
            raise KeyboardInterrupt
        now = time.perf_counter()
        if not self.quiet:
            print(f"{name:>7}: {message} ({now - self.last:.2f} s)", file=sys.stderr, flush=True)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def input_fingerprint(cfg: BuildConfig) -> str:
    """Hash of everything a build reads: content files, generator code, templates, options.

    Markdown files are hashed by content; any other file in the content folder only by size
    and modification time, so a large unreferenced file is never read (issue 16).
    """
    options = json.dumps([cfg.targets, cfg.paper, cfg.name, sys.version_info[:2]])
    return fingerprint(options, _content_parts(cfg), PACKAGE_DIR, TEMPLATES_DIR)


DECK_LOCK = "deck.lock.json"
"""The deck's own state (``emit.anki.LOCK_NAME``), which a deck build rewrites: an input of the deck only."""


def _content_parts(cfg: BuildConfig) -> Iterator[str | Path]:
    content = cfg.content.resolve()
    skip = set() if "deck" in cfg.targets else {cfg.content / DECK_LOCK}
    for p in sorted(cfg.content.rglob("*")):
        if p in skip:  # a deck built in the background must not make the cheat sheet or the PDF stale
            continue
        try:
            st = p.stat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or "__pycache__" in p.parts:
            continue
        yield str(p.relative_to(cfg.content))
        if p.suffix != ".md" or st.st_size > MAX_READ_BYTES or (
                p.is_symlink() and not p.resolve().is_relative_to(content)):
            yield f"{st.st_size} {st.st_mtime_ns}"
        else:
            yield p


def _manifest(cfg: BuildConfig) -> JsonCache:
    """Per set of targets: the inputs' fingerprint and each output's, as of the last good build."""
    return JsonCache(cfg.out / MANIFEST, "1", prune=False)


def _up_to_date(cfg: BuildConfig, inputs: str) -> bool:
    entry = _manifest(cfg).get(",".join(cfg.targets))
    try:
        return entry["inputs"] == inputs and all(
            (cfg.out / name).is_file() and fingerprint(cfg.out / name) == digest
            for name, digest in entry["outputs"].items())
    except (TypeError, KeyError, AttributeError):
        return False


def _save_manifest(cfg: BuildConfig, inputs: str, outputs: list[Path]) -> None:
    manifest = _manifest(cfg)
    manifest.put(",".join(cfg.targets), {
        "inputs": inputs, "outputs": {str(p.relative_to(cfg.out)): fingerprint(p) for p in outputs}})
    manifest.save()


def _recorded_outputs(cfg: BuildConfig) -> tuple[Path, ...]:
    entry = _manifest(cfg).get(",".join(cfg.targets)) or {}
    return tuple(cfg.out / name for name in entry.get("outputs", {}))


def print_diagnostics(diags) -> None:
    for d in sorted(diags, key=_order):
        print(d, file=sys.stderr)


def _order(d: Diagnostic) -> tuple:
    return (str(d.loc.path), d.loc.line, d.loc.col)


def analyse(cfg: BuildConfig, progress: Progress, draw: bool) -> Analysis:
    """Parse, verify and (optionally) draw: everything before the emitters."""
    from . import lint, verify
    from .parse import parse_corpus

    if not cfg.content.is_dir():
        raise GeneratorError(f"content folder '{cfg.content}' does not exist")
    end_long_lived()
    diags = Diagnostics()
    doc = parse_corpus(cfg.content, diags, cache_dir=cfg.out / ".cache")
    lint.lint_document(doc, diags)  # card-quality warnings
    notes = sum(1 for _ in doc.notes)
    progress.stage("parse", f"{len(doc.files)} files, {sum(1 for _ in doc.chapters)} chapters, {notes} notes")
    if draw and not diags.errors:
        for target in cfg.targets:  # an output may start slow work of its own now (the PDF: MathJax)
            begin = getattr(importlib.import_module(EMITTERS[target]), "begin", None)
            if begin is not None:
                begin(doc, cfg.out)
    formulas = verify.verify_document(doc, diags, cache_dir=cfg.out / ".cache")
    counts: dict[str, int] = {}
    for st in formulas.values():
        counts[st.status] = counts.get(st.status, 0) + 1
    progress.stage("verify", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no formulas")
    figures = {}
    has_plots = any(frag.plots for note in doc.notes for frag in fragments(note)) or any(
        c.intro.plots for c in doc.chapters)
    if has_plots:  # the diagrams stage imports sympy (and matplotlib when a figure must be drawn)
        from . import diagrams

        if draw:
            # drawn into a cache; OUT/figures changes only when the build succeeds (publish_figures)
            formats = tuple(sorted({FIGURE_FORMATS[t] for t in cfg.targets}))
            figures = diagrams.draw_document(doc, diags, outdir.seed_stage(cfg.out), formats)
            progress.stage("draw", f"{len(figures)} figures")
        else:
            diagrams.validate_document(doc, diags)
    ctx = BuildContext(deck_name=_deck_name(doc), output_name=cfg.name or "", paper=cfg.paper, quiet=cfg.quiet,
                       figures=figures, formulas=formulas)
    return Analysis(doc, ctx, tuple(diags.sorted()))


def _deck_name(doc) -> str:
    """The top-level deck most files belong to; a tie goes to the one read first."""
    counts: dict[str, int] = {}
    for f in doc.files:
        top = f.deck.split("::")[0]
        counts[top] = counts.get(top, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else "deck"  # max keeps the first of equals


def check_folders(cfg: BuildConfig) -> None:
    """Refuse an OUT that would write into the notes (or hold them), or cannot be written."""
    content, out = cfg.content.resolve(), cfg.out.resolve()
    if not content.is_dir():
        raise GeneratorError(f"content folder '{cfg.content}' does not exist")
    if out == content or out.is_relative_to(content):
        raise GeneratorError(f"output folder '{cfg.out}' is inside the content folder '{cfg.content}'; "
                             "outputs and caches would land among the notes: choose another --out")
    if content.is_relative_to(out):
        raise GeneratorError(f"content folder '{cfg.content}' is inside the output folder '{cfg.out}'; "
                             "choose an --out of its own (`make clean` deletes it)")
    if cfg.out.exists() and not cfg.out.is_dir():
        raise GeneratorError(f"output folder '{cfg.out}' exists and is not a folder")
    from .sanitise import file_name
    if cfg.name is not None and file_name(cfg.name) != cfg.name:
        raise GeneratorError(f"output name '{cfg.name}' is not a safe file name; try '{file_name(cfg.name)}'")
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cfg.out):
            pass
    except OSError as e:
        raise GeneratorError(f"cannot write to the output folder '{cfg.out}': {e.strerror}") from None


def build(cfg: BuildConfig) -> BuildResult:
    """Build ``cfg.targets`` into ``cfg.out``; print progress and problems unless quiet."""
    check_folders(cfg)
    _catch_lost_interrupts()
    with outdir.lock(cfg.out):
        return _build(cfg)


def _build(cfg: BuildConfig) -> BuildResult:
    progress = Progress(cfg.quiet)
    inputs = input_fingerprint(cfg)
    if not cfg.force and _up_to_date(cfg, inputs):
        progress.stage("build", f"nothing changed; {', '.join(cfg.targets)} up to date in {cfg.out}")
        return BuildResult(ok=True, up_to_date=True, outputs=_recorded_outputs(cfg))
    analysis = analyse(cfg, progress, draw=True)
    print_diagnostics(analysis.diagnostics)
    if analysis.errors or (cfg.strict and analysis.warnings):
        print(f"build failed: {len(analysis.errors)} errors, {len(analysis.warnings)} warnings; "
              f"nothing in {cfg.out} was changed", file=sys.stderr)
        return BuildResult(ok=False, diagnostics=analysis.diagnostics)
    doc, ctx = analysis.doc, analysis.ctx
    from .verify import write_report

    # a build that fails from here on (a later output's error, Ctrl-C) leaves every earlier output as it was
    snapshot = outdir.Snapshot(cfg.out, [cfg.content / DECK_LOCK] if "deck" in cfg.targets else [])
    try:
        write_report(doc, ctx.formulas, cfg.out / "check-report.json")
        results: list[Emitted] = []
        for target in cfg.targets:
            emitted = importlib.import_module(EMITTERS[target]).emit(doc, cfg.out, ctx)
            results.append(emitted)
            print_diagnostics(emitted.diagnostics)
            paths = ", ".join(str(p) for p in emitted.paths)
            progress.stage(target, f"{paths} ({emitted.summary})" if emitted.summary else paths)
    except BaseException:
        snapshot.restore()
        raise
    outputs = tuple(p for e in results for p in e.paths)
    late = tuple(d for e in results for d in e.diagnostics)
    diagnostics = tuple(sorted(analysis.diagnostics + late, key=_order))
    warnings = [d for d in diagnostics if d.severity == "warning"]
    if any(d.severity == "error" for d in late) or (cfg.strict and warnings):
        snapshot.restore()
        print(f"build failed: {len(late)} problems while writing the outputs "
              f"({len(warnings)} warnings in all); nothing in {cfg.out} was changed", file=sys.stderr)
        return BuildResult(ok=False, diagnostics=diagnostics)
    outdir.publish_figures([p for f in ctx.figures.values() for p in (f.svg, f.png, f.text_svg) if p is not None],
                           cfg.out)
    _save_manifest(cfg, input_fingerprint(cfg), list(outputs))
    snapshot.discard()
    if not cfg.quiet:
        notes = list(doc.notes)
        cards = sum(card_count(n) for n in notes)
        print(f"done: {len(notes)} notes, {cards} cards, {len(outputs)} outputs written, "
              f"{len(warnings)} warnings in {progress.total():.1f} s", file=sys.stderr)
        for e in results:
            for line in e.notes:
                print(line, file=sys.stderr)
    return BuildResult(ok=True, outputs=outputs, diagnostics=diagnostics)


def check(cfg: BuildConfig) -> int:
    check_folders(cfg)
    _catch_lost_interrupts()
    with outdir.lock(cfg.out):
        return _check(cfg)


def _check(cfg: BuildConfig) -> int:
    progress = Progress(cfg.quiet)
    analysis = analyse(cfg, progress, draw=False)
    from . import verify

    verify.write_report(analysis.doc, analysis.ctx.formulas, cfg.out / "check-report.json")
    if not cfg.quiet:
        print("\n".join(verify.summary(analysis.ctx.formulas)), file=sys.stderr)
    print_diagnostics(analysis.diagnostics)
    failed = analysis.errors or (cfg.strict and analysis.warnings)
    if not cfg.quiet or failed:
        print(f"check {'failed' if failed else 'passed'}: {len(analysis.errors)} errors, "
              f"{len(analysis.warnings)} warnings", file=sys.stderr)
    return 1 if failed else 0
