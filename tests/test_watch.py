"""`dlcards watch` end to end: a real watcher process on a copy of the test corpus, its page in Chromium.

The page is never touched by the test after it is opened: every change must arrive through the
watcher (file events → rebuild → server-sent event → reload or overlay).
"""
from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import watchfiles

from generator import watch

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "golden" / "html" / "content"
LINE_RE = re.compile(r"^\d\d:\d\d:\d\d .+ · .+ · \d+\.\d\d s · \d+ warnings?")


class WatchProcess:
    """`python -m generator watch` in its own process group, its terminal lines collected."""

    def __init__(self, cwd: Path, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "generator", "watch", "--content", "content", "--out", "build", *args],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float) -> str:
        """The next line matching ``pattern`` (earlier lines are kept in ``lines``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {timeout} s; got:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get(timeout=1))
            except queue.Empty:
                return


def poll(page, script: str, timeout: float):
    """Evaluate ``script`` until it is truthy; navigation (a reload) in between is fine."""
    from playwright.sync_api import Error
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = page.evaluate(script)
            if value:
                return value
        except Error:
            pass  # the page is reloading
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {script}")
        time.sleep(0.02)


def card_text(card_id: str) -> str:
    return f"(() => {{ const c = document.getElementById({card_id!r}); return c ? c.textContent : ''; }})()"


OVERLAY = """(() => { const h = document.getElementById('dlcards-live-overlay');
  return h ? h.shadowRoot.textContent : ''; })()"""


def test_watch_session_in_chromium(tmp_path, browser):
    shutil.copytree(CORPUS, tmp_path / "content")
    basics, code = tmp_path / "content" / "01-basics.md", tmp_path / "content" / "02-code.md"
    w = WatchProcess(tmp_path, "--targets", "deck")
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/", w.expect(r"serving the cheat sheet on", 60)).group(0)
        first = w.expect(r"first build", 180)
        assert LINE_RE.match(first)
        warnings = re.search(r"· (\d+ warnings?)$", first).group(1)  # the corpus's raw HTML is dropped, with a word
        w.expect(r"deck rebuilt in the background", 120)
        context = browser.new_context(viewport={"width": 900, "height": 300})
        page = context.new_page()
        console = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.goto(url)
        assert "ReLU" in page.evaluate(card_text("g.relu"))

        # the card being edited keeps its place on screen across the reload
        page.evaluate("window.scrollBy(0, document.getElementById('g.cloze').getBoundingClientRect().top - 40)")
        page.evaluate("document.querySelector('[id=\"g.bn\"] details.qa').open = false")  # the quiz state stays
        page.evaluate("window.notReloaded = true")
        before = page.evaluate("document.getElementById('g.cloze').getBoundingClientRect().top")
        text = basics.read_text(encoding="utf-8")
        basics.write_text(text.replace("is at most", "is never more than"), encoding="utf-8")
        saved = time.monotonic()
        poll(page, f"{card_text('g.cloze')}.includes('never more than')", 2.0)
        took = time.monotonic() - saved
        assert took < 2.0
        line = w.expect(r"01-basics\.md changed", 10)
        assert LINE_RE.match(line) and "1 card changed (g.cloze)" in line and line.endswith(warnings), line
        after = poll(page, "document.readyState === 'complete' && "
                           "document.getElementById('g.cloze').getBoundingClientRect().top", 5)
        assert abs(after - before) <= 4, (before, after)
        assert page.evaluate("window.notReloaded === true")  # only the card was swapped, in place
        page.fill("#q", "never more than")  # search sees the swapped card
        assert page.evaluate("[...document.querySelectorAll('.card')].filter(c => !c.hidden).map(c => c.id)") == [
            "g.cloze"]
        page.fill("#q", "")
        assert page.evaluate("document.querySelector('[id=\"g.bn\"] details.qa').open") is False

        # a broken formula: the terminal and the overlay say where; the page keeps the last good build
        text = code.read_text(encoding="utf-8")
        code.write_text(text.replace(r"$\mathbf{W}$", r"$\mathbf{W$"), encoding="utf-8")
        line_no = text.splitlines().index(next(s for s in text.splitlines() if r"\mathbf{W}" in s)) + 1
        error = w.expect(r": error: ", 10)
        assert re.match(rf"content/02-code\.md:{line_no}:\d+: error: invalid LaTeX", error), error
        assert "build failed: 1 error" in w.expect(r"02-code\.md changed", 10)
        overlay = poll(page, OVERLAY, 2.0)
        assert f"content/02-code.md:{line_no}:" in overlay and "invalid LaTeX" in overlay
        assert "never more than" in page.evaluate(card_text("g.cloze"))
        assert r"\mathbf{W$" not in (tmp_path / "build" / "Golden.html").read_text(encoding="utf-8")

        # fixed: the overlay goes
        code.write_text(text, encoding="utf-8")
        w.expect(r"02-code\.md changed · cheat sheet", 10)
        poll(page, f"!{OVERLAY}", 2.0)

        # a deleted file takes its cards with it
        assert page.evaluate("!!document.getElementById('g.softmax')")
        code.unlink()
        poll(page, "document.readyState !== 'loading' && document.getElementById('g.relu') && "
                   "!document.getElementById('g.softmax')", 2.0)
        assert "removed" in w.expect(r"02-code\.md deleted", 10)
        assert page.evaluate("window.notReloaded === undefined")  # the page's layout changed: it reloaded
        page.fill("#q", "sigmoid")  # the page's own script works on the new page
        assert page.evaluate("[...document.querySelectorAll('.card')].filter(c => !c.hidden).map(c => c.id)") == [
            "g.cloze"]
        context.close()
        assert [m for m in console if not m.startswith("log")] == []
    finally:
        rc = w.stop()
        w.drain()
    log = "\n".join(w.lines)
    assert rc == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log and w.lines[-1].endswith("stopped")
    # consistent outputs: no temporary file, the page as built (no live script), and the manifest
    # matching the sources, so a manual build finds nothing to do
    out = tmp_path / "build"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    page_text = (out / "Golden.html").read_text(encoding="utf-8")
    assert "live-config" not in page_text and 'id="g.softmax"' not in page_text and "never more than" in page_text
    check = subprocess.run([sys.executable, "-m", "generator", "build", "--only", "html", "--content", "content",
                            "--out", "build"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert check.returncode == 0 and "nothing changed" in check.stderr, check.stderr


def test_sigterm_stops_cleanly_and_a_broken_start_shows_the_errors(tmp_path):
    """Started on content with an error: the terminal lists it; SIGTERM ends the session with 0."""
    shutil.copytree(CORPUS, tmp_path / "content")
    basics = tmp_path / "content" / "01-basics.md"
    basics.write_text(basics.read_text(encoding="utf-8") + "\n## 又一个问题 {#g.relu}\n\n答案。\n", encoding="utf-8")
    w = WatchProcess(tmp_path, "--targets", "none")
    try:
        w.expect(r"serving the cheat sheet", 60)
        assert "duplicate id 'g.relu'" in w.expect(r": error: ", 120)
        assert "build failed: 1 error" in w.expect(r"first build", 30)
    finally:
        rc = w.stop(signal.SIGTERM)
        w.drain()
    assert rc == 0 and "Traceback" not in "\n".join(w.lines)
    assert not (tmp_path / "build" / "Golden.html").exists()


def test_ctrl_c_while_the_watcher_draws_in_workers(tmp_path):
    """Ctrl-C reaches the watcher and its figure workers (one process group): exit 0, no trace, no temp file."""
    shutil.copytree(CORPUS, tmp_path / "content")
    (tmp_path / "content" / "03-plots.md").write_text("---\ndeck: Golden::Plots\n---\n# 图\n" + "".join(
        f"\n## 曲线 {k} {{#p.c{k}}}\n\n答案。\n\n```plot\nkind: function\nx: [-3, 3]\ncurves:\n"
        f"  - expr: 'x^{{2}} + {k}'\n```\n" for k in range(6)), encoding="utf-8")
    w = WatchProcess(tmp_path, "--targets", "none")
    try:
        w.expect(r"serving the cheat sheet", 60)
        stage = tmp_path / "build" / ".cache" / "figures"
        deadline = time.monotonic() + 120
        while not any(stage.glob("fig-*.svg")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(stage.glob("fig-*.svg")), "the figures never started"
        os.killpg(w.proc.pid, signal.SIGINT)  # what the terminal does
        rc = w.proc.wait(timeout=60)
    finally:
        rc = w.stop()
        w.drain()
    log = "\n".join(w.lines)
    assert rc == 0 and w.lines[-1].endswith("stopped"), log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    assert not [p for p in (tmp_path / "build").rglob("*") if p.name.endswith(".tmp")]
    assert not (tmp_path / "build" / "figures").exists() and not (tmp_path / "build" / "Golden.html").exists()


def test_describe_changes_names_the_file_and_skips_temporary_copies(tmp_path):
    (tmp_path / "a.md").write_text("x", encoding="utf-8")
    added, deleted, modified = watchfiles.Change.added, watchfiles.Change.deleted, watchfiles.Change.modified
    tmp = str(tmp_path / "sedX1")
    assert watch.describe_changes({(modified, str(tmp_path / "a.md")), (added, tmp), (deleted, tmp)},
                                  [tmp_path]) == "a.md changed"
    assert watch.describe_changes({(deleted, str(tmp_path / "b.md"))}, [tmp_path]) == "b.md deleted"
    assert watch.describe_changes({(added, str(tmp_path / "a.md"))}, [tmp_path]) == "a.md added"
    assert watch.describe_changes({(modified, str(tmp_path / "a.md")), (deleted, str(tmp_path / "b.md"))},
                                  [tmp_path]) == "2 files changed"


def test_filter_ignores_our_own_writes_and_hidden_files(tmp_path):
    content, out = tmp_path / "content", tmp_path / "content" / "build"
    keep = watch.watch_filter(watch.WatchConfig(content=content, out=out))
    modified = watchfiles.Change.modified
    assert keep(modified, str(content / "a.md")) and keep(modified, str(content / "img" / "x.png"))
    for ignored in (content / "deck.lock.json", content / ".deck.lock.json.abc.tmp", content / ".a.md.swp",
                    content / "a.md~", out / "Deck.html", content / ".git" / "index"):
        assert not keep(modified, str(ignored)), ignored
    assert keep(modified, str(watch.TEMPLATES_DIR / "cheatsheet.css"))


def test_split_cards_separates_card_markup_from_the_rest():
    page = ('<main><article class="card" id="a">A<article>nested</article></article>\n'
            '<article class="card cloze" id="b">B</article></main>')
    skeleton, cards = watch.split_cards(page)
    assert skeleton == "<main>\0a\0\n\0b\0</main>"
    assert cards == {"a": '<article class="card" id="a">A<article>nested</article></article>',
                     "b": '<article class="card cloze" id="b">B</article>'}
    skeleton2, cards2 = watch.split_cards(page.replace(">B<", ">B2<"))
    assert skeleton2 == skeleton and cards2["a"] == cards["a"] and cards2["b"] != cards["b"]
