"""The build, in order: read → parse → verify → draw → emit.

Heavy libraries (sympy, matplotlib, WeasyPrint) are imported only by the stage that
needs them, and only when the inputs changed: an unchanged rebuild is a hash comparison.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import outdir
from .context import write_atomic
from .location import Diagnostic, Diagnostics, GeneratorError
from .model import card_count, fragments

TARGETS = ("deck", "pdf", "html")
# target → the module whose emit(doc, out, ctx) writes it
EMITTERS = {"deck": "generator.emit.anki", "pdf": "generator.emit.pdf", "html": "generator.emit.html"}
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates"
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


@dataclass
class BuildReport:
    """What one build did, for callers that present it themselves (the watcher)."""

    up_to_date: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)


@dataclass
class Progress:
    """One line per stage: what it did and how long it took."""

    quiet: bool = False
    start: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)

    def stage(self, name: str, message: str) -> None:
        now = time.perf_counter()
        if not self.quiet:
            print(f"{name:>7}: {message} ({now - self.last:.2f} s)", file=sys.stderr, flush=True)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def _stage_module(name: str):
    """Import an optional stage (verify, diagrams) if this version of the package has it."""
    try:
        return importlib.import_module(f"generator.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"generator.{name}":
            return None
        raise


def input_fingerprint(cfg: BuildConfig) -> str:
    """Hash of everything a build reads: content files, generator code, templates, options.

    Markdown files are hashed by content; any other file in the content folder only by size
    and modification time, so a large unreferenced file is never read (issue 16).
    """
    h = hashlib.sha256()
    h.update(json.dumps([cfg.targets, cfg.paper, cfg.name, sys.version_info[:2]]).encode())
    content = cfg.content.resolve()
    for base in (cfg.content, PACKAGE_DIR, TEMPLATES_DIR):
        if not base.exists():
            continue
        for p in sorted(base.rglob("*")):
            try:
                st = p.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or "__pycache__" in p.parts:
                continue
            h.update(str(p.relative_to(base)).encode() + b"\0")
            if base is cfg.content and (p.suffix != ".md" or st.st_size > MAX_READ_BYTES or (
                    p.is_symlink() and not p.resolve().is_relative_to(content))):
                h.update(f"{st.st_size} {st.st_mtime_ns}".encode())
            else:
                h.update(p.read_bytes())
    return h.hexdigest()


def _file_hash(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _up_to_date(cfg: BuildConfig, fingerprint: str) -> bool:
    try:
        manifest = json.loads((cfg.out / MANIFEST).read_text(encoding="utf-8"))
        entry = manifest[",".join(cfg.targets)]
        return entry["inputs"] == fingerprint and all(
            (cfg.out / name).is_file() and _file_hash(cfg.out / name) == digest
            for name, digest in entry["outputs"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _recorded_outputs(cfg: BuildConfig) -> list[Path]:
    manifest = json.loads((cfg.out / MANIFEST).read_text(encoding="utf-8"))
    return [cfg.out / name for name in manifest[",".join(cfg.targets)]["outputs"]]


def _save_manifest(cfg: BuildConfig, fingerprint: str, outputs: list[Path]) -> None:
    path = cfg.out / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    manifest[",".join(cfg.targets)] = {
        "inputs": fingerprint,
        "outputs": {str(p.relative_to(cfg.out)): _file_hash(p) for p in outputs}}
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def print_diagnostics(diags: Diagnostics) -> None:
    for d in diags.sorted():
        print(d, file=sys.stderr)


def analyse(cfg: BuildConfig, progress: Progress, draw: bool):
    """Parse, verify and (optionally) draw: everything before the emitters."""
    from .context import BuildContext
    from .parse import parse_corpus

    if not cfg.content.is_dir():
        raise GeneratorError(f"content folder '{cfg.content}' does not exist")
    diags = Diagnostics()
    doc = parse_corpus(cfg.content, diags)
    importlib.import_module("generator.lint").lint_document(doc, diags)  # card-quality warnings
    notes = sum(1 for _ in doc.notes)
    progress.stage("parse", f"{len(doc.files)} files, {sum(1 for _ in doc.chapters)} chapters, {notes} notes")
    deck = _deck_name(doc)
    ctx = BuildContext(deck_name=deck, output_name=cfg.name or "", paper=cfg.paper, quiet=cfg.quiet)
    verify = _stage_module("verify")
    if verify is not None:
        ctx.formulas = verify.verify_document(doc, diags, cache_dir=cfg.out / ".cache")
        counts: dict[str, int] = {}
        for st in ctx.formulas.values():
            counts[st.status] = counts.get(st.status, 0) + 1
        progress.stage("verify", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no formulas")
    has_plots = any(frag.plots for note in doc.notes for frag in fragments(note)) or any(
        c.intro.plots for c in doc.chapters)
    diagrams = _stage_module("diagrams") if has_plots else None  # importing it costs sympy + matplotlib
    if diagrams is not None:
        if draw:
            # drawn into a cache; OUT/figures changes only when the build succeeds (publish_figures)
            ctx.figures = diagrams.draw_document(doc, diags, outdir.seed_stage(cfg.out))
            progress.stage("draw", f"{len(ctx.figures)} figures")
        else:
            diagrams.validate_document(doc, diags)
    return doc, ctx, diags


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


def build(cfg: BuildConfig, report: BuildReport | None = None) -> int:
    """Build ``cfg.targets``; ``report`` (if given) receives the diagnostics and outputs."""
    check_folders(cfg)
    with outdir.lock(cfg.out):
        return _build(cfg, report if report is not None else BuildReport())


def _build(cfg: BuildConfig, report: BuildReport) -> int:
    progress = Progress(cfg.quiet)
    fingerprint = input_fingerprint(cfg)
    if not cfg.force and _up_to_date(cfg, fingerprint):
        progress.stage("build", f"nothing changed; {', '.join(cfg.targets)} up to date in {cfg.out}")
        report.up_to_date = True
        report.outputs = _recorded_outputs(cfg)
        return 0
    doc, ctx, diags = analyse(cfg, progress, draw=True)
    report.diagnostics = diags.items
    failed = diags.errors or (cfg.strict and diags.warnings)
    print_diagnostics(diags)
    if failed:
        print(f"build failed: {len(diags.errors)} errors, {len(diags.warnings)} warnings; "
              f"nothing in {cfg.out} was changed", file=sys.stderr)
        return 1
    outputs: list[Path] = []
    verify = _stage_module("verify")
    if verify is not None:
        verify.write_report(doc, ctx.formulas, cfg.out / "check-report.json")
    if {"pdf", "html"} & set(cfg.targets):
        from . import mathrender
        mathrender.use_cache(cfg.out / ".cache" / "katex.json")
    for target in cfg.targets:
        module = importlib.import_module(EMITTERS[target])
        written = module.emit(doc, cfg.out, ctx)
        outputs.extend(written)
        report.outputs = outputs
        progress.stage(target, ", ".join(str(p) for p in written))
    if {"pdf", "html"} & set(cfg.targets):
        mathrender.save_cache()
    outdir.publish_figures([p for f in ctx.figures.values() for p in (f.svg, f.png) if p is not None], cfg.out)
    _save_manifest(cfg, input_fingerprint(cfg), outputs)
    _summary(cfg, doc, ctx, diags, outputs, progress)
    return 0


def _summary(cfg, doc, ctx, diags, outputs, progress) -> None:
    if cfg.quiet:
        return
    notes = list(doc.notes)
    cards = sum(card_count(n) for n in notes)
    media = ctx.stats.get("media", 0)
    print(f"done: {len(notes)} notes, {cards} cards, {media} media files, "
          f"{len(outputs)} outputs written, {len(diags.warnings)} warnings in {progress.total():.1f} s",
          file=sys.stderr)
    removed = ctx.stats.get("removed") or []
    if removed:
        query = " or ".join(f'"Id:{r}"' for r in removed)
        print(f"note: {len(removed)} notes left the content since the last build; "
              f"to delete them in Anki, search the browser for: {query}", file=sys.stderr)


def check(cfg: BuildConfig) -> int:
    check_folders(cfg)
    with outdir.lock(cfg.out):
        return _check(cfg)


def _check(cfg: BuildConfig) -> int:
    progress = Progress(cfg.quiet)
    doc, ctx, diags = analyse(cfg, progress, draw=False)
    verify = _stage_module("verify")
    if verify is not None:
        verify.write_report(doc, ctx.formulas, cfg.out / "check-report.json")
        if not cfg.quiet:
            print("\n".join(verify.summary(ctx.formulas)), file=sys.stderr)
    print_diagnostics(diags)
    failed = diags.errors or (cfg.strict and diags.warnings)
    if not cfg.quiet or failed:
        print(f"check {'failed' if failed else 'passed'}: {len(diags.errors)} errors, "
              f"{len(diags.warnings)} warnings", file=sys.stderr)
    return 1 if failed else 0
