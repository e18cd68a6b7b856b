"""Writing safely into OUT: one build at a time, and figures published only by a good build.

Two builds into one OUT (a watcher and a manual ``make``) would interleave their writes
and prune each other's figures, so every build holds an exclusive lock on
``OUT/.cache/build.lock`` while it runs. The lock is an ``flock``: the kernel drops it when
the holder exits, even after SIGKILL, so a killed build never leaves OUT locked.

Figures are drawn into ``OUT/.cache/figures`` (a cache: what a failed build draws stays
there, ready for the next one) and copied to ``OUT/figures`` only after every output was
written; a failed or interrupted build leaves ``OUT/figures`` as it was.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .context import write_atomic
from .location import GeneratorError

LOCK = Path(".cache") / "build.lock"
FIGURE_STAGE = Path(".cache") / "figures"
FIGURES = Path("figures")

_held: dict[Path, list] = {}  # resolved lock path → [fd, depth]: the lock is re-entrant within a process
_held_guard = threading.Lock()


class OutLocked(GeneratorError):
    """Another build is writing to the same OUT."""


def _describe(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return "another build"
    return text or "another build"


def _prepare(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise GeneratorError(f"output folder '{out}' is a file, not a folder")
    try:
        (out / LOCK).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GeneratorError(f"cannot create output folder '{out}': {e.strerror}") from None
    return (out / LOCK).resolve()


@contextmanager
def lock(out: Path, wait: bool = False, on_wait=None) -> Iterator[None]:
    """Hold OUT for one build.

    Without ``wait`` a busy OUT raises :class:`OutLocked` naming the other build; with it,
    ``on_wait(holder)`` is called once and the call blocks until the other build ends.
    """
    path = _prepare(out)
    with _held_guard:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
    if entry is not None:
        try:
            yield
        finally:
            with _held_guard:
                entry[1] -= 1
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise GeneratorError(f"cannot write to output folder '{out}': {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(path)
            if not wait:
                raise OutLocked(f"'{out}' is in use by {holder}; run again when it has finished, "
                                f"or build into another folder with --out") from None
            if on_wait is not None:
                on_wait(holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({_command()}, since {time.strftime('%H:%M:%S')})\n".encode(), 0)
        with _held_guard:
            _held[path] = [fd, 1]
        sweep_temporaries(out)
        try:
            yield
        finally:
            with _held_guard:
                del _held[path]
            sweep_temporaries(out)  # what an interrupted writer (or a terminated worker) left
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _command() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:2]]
    if argv[0] in ("__main__.py", "-m", "-c", ""):
        argv[0] = "dlcards"
    return " ".join(argv)


def sweep_temporaries(out: Path) -> None:
    """Remove temporary files that an interrupted or killed build left (we hold the lock: nobody writes them now).

    ``write_atomic`` and the figure workers name them ``.<name>.<random>.tmp``; the KaTeX cache
    writes ``katex.tmp``.
    """
    pdf = out / ".cache" / "pdf"  # and the PDF's laid-out parts and font copies (generator/emit/pdf.py)
    for folder in (out, out / FIGURES, out / ".cache", out / FIGURE_STAGE, pdf, pdf / "parts", pdf / "fonts"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith(".tmp") and (name.startswith(".") or folder.name == ".cache"):
                try:
                    (folder / name).unlink()
                except OSError:
                    pass


def seed_stage(out: Path) -> Path:
    """The folder figures are drawn into; on first use it starts from the published figures."""
    stage, published = out / FIGURE_STAGE, out / FIGURES
    if not stage.is_dir() and published.is_dir():
        stage.mkdir(parents=True, exist_ok=True)
        for p in published.glob("fig-*.*"):
            _link_or_copy(p, stage / p.name)
    return stage


def publish_figures(files: Iterable[Path], out: Path) -> None:
    """Make ``OUT/figures`` hold exactly these figure files (each replaced atomically)."""
    dest = out / FIGURES
    keep = set()
    for src in files:
        keep.add(src.name)
        target = dest / src.name
        if target.is_file() and target.stat().st_size == src.stat().st_size and _same(src, target):
            continue
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f".{src.name}.{os.getpid()}.tmp"
        try:
            _link_or_copy(src, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    if dest.is_dir():
        for p in dest.glob("fig-*.*"):
            if p.name not in keep:
                p.unlink(missing_ok=True)


def _same(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    return a.read_bytes() == b.read_bytes()


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


SNAPSHOT = Path(".cache") / "previous"


class Snapshot:
    """The outputs in OUT (and the deck's lock) as they were before a build wrote any: a build that
    fails while writing (a later output's error, Ctrl-C) puts them all back, so a failed build
    changes nothing. Hard links: taking one costs no copy, and the writers replace files by rename,
    which leaves the linked old file intact."""

    def __init__(self, out: Path, extra: Iterable[Path] = ()):
        self.out = out
        self.folder = out / SNAPSHOT
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.saved: dict[Path, Path] = {}
        extra = list(extra)
        self.absent = [path for path in extra if not path.exists()]
        for path in [*self._outputs(), *extra]:
            if path.is_file() and not path.is_symlink():
                copy = self.folder / str(len(self.saved))
                _link_or_copy(path, copy)  # a copy across file systems (the lock in the content folder)
                self.saved[path] = copy

    def _outputs(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.is_file() and not p.name.startswith("."))

    def restore(self) -> None:
        """Put every saved file back and remove the outputs this build added."""
        for path in [*self._outputs(), *self.absent]:
            if path not in self.saved:
                path.unlink(missing_ok=True)
        for path, copy in self.saved.items():
            try:
                os.replace(copy, path)
            except OSError:  # across file systems: copy next to it, then rename
                write_atomic(path, lambda tmp, copy=copy: shutil.copyfile(copy, tmp))
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
