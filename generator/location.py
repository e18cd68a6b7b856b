"""Source locations and the diagnostics collected against them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a content file."""

    path: Path
    """Path as the user gave it (relative to the working directory when possible)."""
    line: int
    """1-based line number."""
    col: int = 0
    """1-based column, or 0 when only the line is known."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}" if self.col else f"{self.path}:{self.line}"

    def shifted(self, lines: int = 0, col: int | None = None) -> SourceLocation:
        return SourceLocation(self.path, self.line + lines, self.col if col is None else col)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    loc: SourceLocation
    severity: str
    """"error", "warning" or "note" (information only, never fails a build)."""
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.severity}: {self.message}"


@dataclass(slots=True)
class Diagnostics:
    """Collects problems so that one run reports all of them."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, loc: SourceLocation, message: str) -> None:
        self.items.append(Diagnostic(loc, "error", message))

    def warning(self, loc: SourceLocation, message: str) -> None:
        self.items.append(Diagnostic(loc, "warning", message))

    def note(self, loc: SourceLocation, message: str) -> None:
        self.items.append(Diagnostic(loc, "note", message))

    def extend(self, other: Diagnostics) -> None:
        self.items.extend(other.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (str(d.loc.path), d.loc.line, d.loc.col))


class GeneratorError(Exception):
    """I/O or environment problems that stop a build (not content problems)."""
