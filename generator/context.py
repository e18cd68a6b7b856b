"""What the stages after parsing hand to the emitters, what emitters hand back, and file helpers."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from .location import Diagnostic
from .model import Formula, PlotBlock
from .sanitise import file_name


@dataclass(frozen=True, slots=True)
class Figure:
    """A drawn ``plot`` block."""

    number: int
    caption: str
    alt: str
    svg: Path | None
    png: Path | None
    text_svg: Path | None = None
    """The SVG for print: text kept as text in fonts the PDF embeds (smaller, faster to lay out,
    searchable); the plain SVG draws text as paths so it looks the same on any device."""


class Status(StrEnum):
    """What the verify stage found for one formula (a str, so reports and templates read it as text)."""

    VERIFIED = "verified"
    """A claim sympy proved or tested true."""
    DEFINITION = "definition"
    """Defines a function or names a quantity; not a claim."""
    NOT_CHECKABLE = "not-checkable"
    """A claim sympy cannot read or decide; the detail says why."""
    FAILED = "failed"
    """False, invalid LaTeX, or a check line that cannot be verified."""
    INLINE = "inline"
    """Inline notation: syntax-checked only."""


@dataclass(frozen=True, slots=True)
class FormulaStatus:
    status: Status
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BuildContext:
    """Read-only results of the verify and draw stages, and the options the emitters read."""

    deck_name: str = "deck"
    """The main top-level deck: the title of the PDF and the cheat sheet."""
    output_name: str = ""
    """Stem of every output file, safe on every OS; default ``sanitise.file_name(deck_name)``."""
    paper: str = "A4"
    quiet: bool = False
    figures: Mapping[PlotBlock, Figure] = field(default_factory=dict)
    formulas: Mapping[Formula, FormulaStatus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.output_name:
            object.__setattr__(self, "output_name", file_name(self.deck_name))  # frozen: set once, here

    def figure(self, plot: PlotBlock) -> Figure | None:
        return self.figures.get(plot)

    def formula(self, f: Formula) -> FormulaStatus | None:
        return self.formulas.get(f)


@dataclass(frozen=True, slots=True)
class Emitted:
    """What one emitter wrote, and what it has to say about it."""

    paths: tuple[Path, ...]
    diagnostics: tuple[Diagnostic, ...] = ()
    """Problems found while emitting (counted like any other; ``--strict`` fails on warnings)."""
    summary: str = ""
    """A few words for the progress line (``3 media files``)."""
    notes: tuple[str, ...] = ()
    """Lines for the end of the build, in the emitter's own words."""


@lru_cache(maxsize=4096)
def display_path(path: Path) -> str:
    """A path as users should see it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_atomic(target: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
