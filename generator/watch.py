"""``dlcards watch``: build once, then rebuild on every save, with a live preview.

One loop, one build at a time: the cheat sheet is rebuilt in this process (the parse memo,
KaTeX's results and the inlined figures stay warm, so a one-answer edit takes well under a
second), then the other targets (deck, PDF) in a child process in the background. A new
save stops that child first, so the page always refreshes first and two builds never run
at once; the OUT lock also keeps a manual ``make`` out while either runs.

Saves are grouped by watchfiles (a burst of saves is one rebuild) and the pipeline's caches
decide what actually needs redoing. Each rebuild prints one line; problems print as
``path:line:col: error: …`` and go to the page's overlay. Ctrl-C (or SIGTERM) stops the
child and the server and exits 0; interrupted writes are atomic, so no file is half-written.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from . import outdir, pipeline, serve
from .location import GeneratorError
from .templating import TEMPLATES_DIR
from .workers import caused_by_interrupt

BACKGROUND = ("deck", "pdf")
STOP_GRACE = 10.0
"""Seconds a background build gets to stop after SIGINT before it is killed."""
_CARD_RE = re.compile(r'<article class="card[^"]*" id="([^"]+)">')
_ARTICLE_RE = re.compile(r"<article\b|</article>")
PATCH_LIMIT = 2_000_000
"""Largest total size of changed cards sent to the page for an in-place swap (bytes); beyond, it reloads."""


@dataclass
class WatchConfig:
    content: Path = Path("content")
    out: Path = Path("build")
    background: tuple[str, ...] = BACKGROUND
    """Targets rebuilt in a child process after the cheat sheet."""
    host: str = "127.0.0.1"
    port: int = 0
    public: bool = False
    strict: bool = False
    paper: str = "A4"
    name: str | None = None
    """Output file name (without extension); default: the main deck's name."""
    debounce_ms: int = 1600
    step_ms: int = 50


def split_cards(page: str) -> tuple[str, dict[str, str]]:
    """The page as a skeleton (each card replaced by a mark) and each card's markup by id.

    Two builds whose skeletons are equal differ only inside cards: the open page can swap
    those cards in place instead of reloading 7 MB.
    """
    parts, cards, pos = [], {}, 0
    for m in _CARD_RE.finditer(page):
        if m.start() < pos:  # an <article> nested inside the previous card
            continue
        depth, end = 0, len(page)
        for tag in _ARTICLE_RE.finditer(page, m.start()):
            depth += -1 if tag.group(0) == "</article>" else 1
            if depth == 0:
                end = tag.end()
                break
        parts.append(page[pos:m.start()])
        parts.append(f"\0{m.group(1)}\0")
        cards[m.group(1)] = page[m.start():end]
        pos = end
    parts.append(page[pos:])
    return "".join(parts), cards


def describe_changes(changes: set[tuple[watchfiles.Change, str]], roots: list[Path]) -> str:
    """'03-loss.md changed', '02-cnn.md deleted', '3 files changed'.

    Files that came and went within the burst (an editor's or sed's temporary copy) are left out.
    """
    kinds: dict[Path, set[watchfiles.Change]] = {}
    for change, raw in changes:
        kinds.setdefault(Path(raw), set()).add(change)
    names: dict[str, str] = {}
    for path, seen in sorted(kinds.items()):
        if watchfiles.Change.added in seen and watchfiles.Change.deleted in seen and not path.exists():
            continue
        shown = next((path.relative_to(r) for r in roots if path.is_relative_to(r)), path)
        names[str(shown)] = ("deleted" if not path.exists() else
                             "added" if seen == {watchfiles.Change.added} else "changed")
    if not names:
        return "a file came and went"
    if len(names) == 1:
        (name, what), = names.items()
        return f"{name} {what}"
    return f"{len(names)} files changed"


class Background:
    """The deck/PDF build running in a child process; at most one at a time."""

    def __init__(self, cfg: WatchConfig, say) -> None:
        self.cfg, self.say = cfg, say
        self.proc: subprocess.Popen | None = None
        self.cancelled: set[int] = set()
        """pids of children we stopped (their end is not worth a line)"""
        self.waiter: threading.Thread | None = None

    def start(self) -> None:
        if not self.cfg.background:
            return
        self.cancel()
        cmd = [sys.executable, "-m", "generator", "build", "--only", ",".join(self.cfg.background),
               "--content", str(self.cfg.content), "--out", str(self.cfg.out), "--paper", self.cfg.paper]
        if self.cfg.strict:
            cmd.append("--strict")
        if self.cfg.name is not None:
            cmd += ["--name", self.cfg.name]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                          os.environ.get("PYTHONPATH")]))}
        # its own process group: our Ctrl-C handling stops it (and its workers) in order
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", start_new_session=True, env=env)
        self.waiter = threading.Thread(target=self._wait, args=(self.proc, time.perf_counter()),
                                       name="background-build", daemon=True)
        self.waiter.start()

    def _wait(self, proc: subprocess.Popen, started: float) -> None:
        err = proc.stderr.read() if proc.stderr else ""
        rc = proc.wait()
        if proc.pid in self.cancelled:
            return
        took = time.perf_counter() - started
        lines = err.splitlines()
        warnings = sum(1 for line in lines if ": warning: " in line)
        targets = ", ".join(self.cfg.background)
        if rc == 0:
            what = "up to date" if any("nothing changed" in line for line in lines) else "rebuilt"
            self.say(f"{targets} {what} in the background · {took:.1f} s · {_plural(warnings, 'warning')}")
        elif rc not in (130, -signal.SIGINT, -signal.SIGKILL):
            problems = [line for line in lines if ": error: " in line or line.startswith("error: ")]
            for line in problems:
                self.say(line, stamp=False)
            self.say(f"{targets}: background build failed (exit {rc}) · {took:.1f} s · {_plural(warnings, 'warning')}")

    def cancel(self) -> None:
        """Stop the running child, if any: SIGINT (clean exit), then SIGKILL after a grace period."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.cancelled.add(proc.pid)
        for sig, grace in ((signal.SIGINT, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.waiter is not None:
            self.waiter.join(timeout=STOP_GRACE)


@dataclass
class Watcher:
    cfg: WatchConfig
    term: io.TextIOBase = field(default_factory=lambda: sys.stderr)
    state: serve.LiveState = field(default_factory=serve.LiveState)
    cards: dict[str, str] = field(default_factory=dict)
    skeleton: str = ""
    warnings_shown: tuple[str, ...] = ()
    _print_lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, text: str, stamp: bool = True) -> None:
        with self._print_lock:
            print((time.strftime("%H:%M:%S ") if stamp else "") + text, file=self.term, flush=True)

    def rebuild(self, reason: str) -> bool:
        """Rebuild the cheat sheet in this process; publish the result to the page. True if it succeeded."""
        cfg = self.cfg
        bcfg = pipeline.BuildConfig(content=cfg.content, out=cfg.out, targets=("html",), quiet=True,
                                    strict=cfg.strict, paper=cfg.paper, name=cfg.name)
        report = pipeline.BuildReport()
        started = time.perf_counter()
        captured = io.StringIO()
        try:
            with outdir.lock(cfg.out, wait=True, on_wait=lambda who: self.say(f"waiting: {cfg.out} is in use by {who}")):
                with contextlib.redirect_stderr(captured):
                    rc = pipeline.build(bcfg, report)
        except GeneratorError as e:
            rc, report.diagnostics = 1, []
            captured.write(f"error: {e}\n")
        except Exception as e:  # a bug in a stage must not end the session: say so and keep watching
            if caused_by_interrupt(e):
                raise KeyboardInterrupt from None
            rc, report.diagnostics = 1, []
            captured.write(f"error: internal error: {type(e).__name__}: {e} (run `dlcards build` for the traceback)\n")
        took = time.perf_counter() - started
        errors = [d for d in report.diagnostics if d.severity == "error"]
        warnings = [d for d in report.diagnostics if d.severity == "warning"]
        if cfg.strict and rc:
            errors += warnings
        if rc == 0:
            shown = tuple(str(d) for d in sorted(warnings, key=lambda d: (str(d.loc.path), d.loc.line, d.loc.col)))
            if report.up_to_date:  # back to the last good sources: their warnings stand
                shown = self.warnings_shown
            elif shown != self.warnings_shown:  # print warnings when they change, not on every save
                for line in shown:
                    self.say(line, stamp=False)
                self.warnings_shown = shown
            what = self._publish_page(report, len(shown))
            self.say(f"{reason} · {what} · {took:.2f} s · {_plural(len(shown), 'warning')}")
            return True
        for d in sorted(errors, key=lambda d: (str(d.loc.path), d.loc.line, d.loc.col)):
            self.say(str(d), stamp=False)
        other = [line for line in captured.getvalue().splitlines() if line.startswith("error: ")]
        for line in other:
            self.say(line, stamp=False)
        problems = [{"loc": str(d.loc), "message": d.message} for d in errors]
        problems += [{"loc": str(cfg.content), "message": line.removeprefix("error: ")} for line in other]
        self.state.publish(ok=False, errors=problems, warnings=len(warnings), changed=[], removed=[])
        self.say(f"{reason} · build failed: {_plural(len(problems), 'error')} · {took:.2f} s · "
                 f"{_plural(len(warnings), 'warning')} · the page keeps the last good build")
        return False

    def _publish_page(self, report: pipeline.BuildReport, warnings: int) -> str:
        page = next((p for p in report.outputs if p.suffix == ".html"), None) or self.state.page
        if page is None:
            self.state.publish(ok=True, errors=[], warnings=warnings, changed=[], removed=[])
            return "no cheat sheet"
        skeleton, cards = split_cards(page.read_text(encoding="utf-8"))
        changed = [cid for cid, markup in cards.items() if self.cards.get(cid) != markup]
        removed = [cid for cid in self.cards if cid not in cards]
        first = not self.skeleton
        page_changed = first or skeleton != self.skeleton or bool(changed)
        # only cards changed: the page swaps them in place (see templates/live.js)
        swap = None
        if not first and page_changed and skeleton == self.skeleton:
            swap = {cid: cards[cid] for cid in changed}
            if sum(len(v) for v in swap.values()) > PATCH_LIMIT:
                swap = None
        self.cards, self.skeleton = cards, skeleton
        self.state.publish(page=page, page_changed=page_changed, ok=True, errors=[], warnings=warnings,
                           changed=changed, removed=removed, swap=swap)
        if first:
            return f"cheat sheet: {len(cards)} cards"
        if not page_changed:
            return "cheat sheet up to date"
        parts = []
        if changed:
            parts.append(f"{_plural(len(changed), 'card')} changed"
                         + (f" ({', '.join(changed[:3])}{', …' if len(changed) > 3 else ''})" if changed else ""))
        if removed:
            parts.append(f"{len(removed)} removed")
        return "cheat sheet: " + (", ".join(parts) if parts else "page rebuilt")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _stop_on_sigterm() -> None:
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def watch_filter(cfg: WatchConfig):
    """watchfiles' defaults (editor swap and backup files), plus: no hidden files, not our own writes."""
    default = watchfiles.DefaultFilter()
    content, out = cfg.content.resolve(), cfg.out.resolve()
    lock_file = content / "deck.lock.json"  # written by the deck build itself

    def keep(change: watchfiles.Change, raw: str) -> bool:
        path = Path(raw)
        if not default(change, raw) or path == lock_file or path.is_relative_to(out):
            return False
        for root in (content, TEMPLATES_DIR):
            if path.is_relative_to(root):
                return not any(part.startswith(".") for part in path.relative_to(root).parts)
        return True

    return keep


def run(cfg: WatchConfig) -> int:
    """Watch until Ctrl-C or SIGTERM; 0 when stopped that way."""
    if not cfg.content.is_dir():
        raise GeneratorError(f"content folder '{cfg.content}' does not exist")
    watcher = Watcher(cfg)
    server = serve.start(cfg.out, watcher.state, cfg.host, cfg.port, cfg.public)
    background = Background(cfg, watcher.say)
    _stop_on_sigterm()
    roots = [cfg.content.resolve(), TEMPLATES_DIR]
    try:
        watcher.say(f"serving the cheat sheet on {server.url} · watching {cfg.content} · "
                    f"background: {', '.join(cfg.background) or 'nothing'} · Ctrl-C to stop")
        if watcher.rebuild("first build"):
            background.start()
        for changes in watchfiles.watch(*roots, watch_filter=watch_filter(cfg), debounce=cfg.debounce_ms,
                                        step=cfg.step_ms, raise_interrupt=True):
            background.cancel()
            if watcher.rebuild(describe_changes(changes, roots)):
                background.start()
    except KeyboardInterrupt:
        pass
    finally:
        # a second Ctrl-C must not cut the clean-up short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            background.cancel()
            server.stop()
        finally:
            signal.signal(signal.SIGINT, previous)
    watcher.say("stopped")
    return 0
