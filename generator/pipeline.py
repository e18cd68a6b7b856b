"""The build, in order: read → parse → verify → draw → emit.

Heavy libraries (sympy, matplotlib, WeasyPrint) are imported only by the stage that
needs them, and only when the inputs changed: an unchanged rebuild is a hash comparison.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .location import Diagnostics, GeneratorError
from .model import card_count, fragments

TARGETS = ("deck", "pdf", "html")
# target → the module whose emit(doc, out, ctx) writes it
EMITTERS = {"deck": "generator.emit.anki", "pdf": "generator.emit.pdf", "html": "generator.emit.html"}
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR.parent / "templates"
MANIFEST = ".manifest.json"


@dataclass
class BuildConfig:
    content: Path = Path("content")
    out: Path = Path("build")
    targets: tuple[str, ...] = ("deck",)
    quiet: bool = False
    strict: bool = False
    paper: str = "A4"
    force: bool = False


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
    """Hash of everything a build reads: content files, generator code, templates, options."""
    h = hashlib.sha256()
    h.update(json.dumps([cfg.targets, cfg.paper, sys.version_info[:2]]).encode())
    for base in (cfg.content, PACKAGE_DIR, TEMPLATES_DIR):
        if not base.exists():
            continue
        for p in sorted(base.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(base)).encode() + b"\0")
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


def _save_manifest(cfg: BuildConfig, fingerprint: str, outputs: list[Path]) -> None:
    path = cfg.out / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    manifest[",".join(cfg.targets)] = {
        "inputs": fingerprint,
        "outputs": {str(p.relative_to(cfg.out)): _file_hash(p) for p in outputs}}
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


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
    ctx = BuildContext(deck_name=_deck_name(doc), paper=cfg.paper, quiet=cfg.quiet)
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
            ctx.figures = diagrams.draw_document(doc, diags, cfg.out / "figures")
            progress.stage("draw", f"{len(ctx.figures)} figures")
        else:
            diagrams.validate_document(doc, diags)
    return doc, ctx, diags


def _deck_name(doc) -> str:
    names = [f.deck.split("::")[0] for f in doc.files]
    return max(set(names), key=names.count) if names else "deck"


def build(cfg: BuildConfig) -> int:
    progress = Progress(cfg.quiet)
    fingerprint = input_fingerprint(cfg)
    if not cfg.force and _up_to_date(cfg, fingerprint):
        progress.stage("build", f"nothing changed; {', '.join(cfg.targets)} up to date in {cfg.out}")
        return 0
    doc, ctx, diags = analyse(cfg, progress, draw=True)
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
        progress.stage(target, ", ".join(str(p) for p in written))
    if {"pdf", "html"} & set(cfg.targets):
        mathrender.save_cache()
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
