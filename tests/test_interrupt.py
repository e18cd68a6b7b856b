"""Interrupted and concurrent builds: Ctrl-C and SIGKILL at random moments of each stage, two builds
into one OUT, and a failed build that must leave OUT/figures alone.

Each kill test copies the state left by a good build of version 1 of a small corpus, changes the
content to version 2 (an edited answer, a new claim to verify, two new figures and one removed), starts a real `python -m generator build` in its own process group, waits for the progress line
that opens the stage, sleeps a random time and signals the whole group (as a terminal's Ctrl-C does).
Then: no traceback; every output is byte-identical to version 1's, or (once the emitters ran) the
complete version 2 file; no temporary file (SIGKILL: none after the next build); and the next build,
reusing whatever caches the killed one left, produces exactly what a clean build of version 2 does.

The random delays come from KILL_SEED (printed on failure) so a failure can be replayed.
"""
from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from generator import outdir, pipeline

from conftest import snapshot

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "golden" / "html" / "content"
ALL = "deck,html,pdf"
QUICK = "deck,html"
"""Targets of the kill tests, but for the PDF stage: the PDF costs most of a build's time."""
SEED = int(os.environ.get("KILL_SEED", random.SystemRandom().randrange(1 << 30)))
PLOT = """
## 曲线 {k} {{#p.c{k}}}

第 {k} 条曲线。

```plot
kind: function
x: [-3, 3]
curves:
  - expr: 'x^{{{power}}} + {k}'
caption: 曲线 {k}
```
"""


def plots(power: int, count: int) -> str:
    return "---\ndeck: Golden::Plots\n---\n# 图 Plots\n" + "".join(
        PLOT.format(k=k, power=power) for k in range(count))


def version_1(content: Path) -> None:
    shutil.copytree(CORPUS, content)
    (content / "03-plots.md").write_text(plots(2, 3), encoding="utf-8")


def version_2(content: Path) -> None:
    basics = content / "01-basics.md"
    text = basics.read_text(encoding="utf-8").replace("a coffee costs", "an espresso costs")
    basics.write_text(text.replace("## sigmoid", "$$\n3 \\times 4 + 1 = 13\n$$\n\n## sigmoid", 1), encoding="utf-8")
    (content / "03-plots.md").write_text(plots(3, 2), encoding="utf-8")  # two new figures, the third goes


def gen(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600, **kw)


def build(cwd: Path, targets: str = ALL) -> subprocess.CompletedProcess:
    done = gen("build", "--only", targets, "--content", "content", "--out", "build", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def deck_notes(apkg: Path) -> list[tuple[str, str]]:
    """(guid, fields) of every note in the package: what Anki imports."""
    with zipfile.ZipFile(apkg) as z, z.open("collection.anki2") as f:
        data = f.read()
    tmp = apkg.with_name(apkg.name + ".db")
    tmp.write_bytes(data)
    try:
        with sqlite3.connect(tmp) as db:
            return sorted(db.execute("select guid, flds from notes").fetchall())
    finally:
        tmp.unlink()


def pdf_text(pdf: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages]


def same_output(name: str, data: bytes, reference: dict[str, bytes], folder: Path) -> bool:
    """Byte-identical, or for the deck and the PDF (which carry build times) the same notes / text."""
    if data == reference.get(name):
        return True
    if name not in reference:
        return False
    if name.endswith((".apkg", ".pdf")):
        a, b = folder / f"a-{Path(name).name}", folder / f"b-{Path(name).name}"
        a.write_bytes(data)
        b.write_bytes(reference[name])
        read = deck_notes if name.endswith(".apkg") else pdf_text
        return read(a) == read(b)
    return name == ".manifest.json"  # records output hashes, so it differs with the deck's and PDF's bytes


@pytest.fixture(scope="module")
def states(tmp_path_factory):
    """The folder after a good build of version 1, and the outputs of good builds of version 2 on top
    (of the quick targets and of all)."""
    v1 = tmp_path_factory.mktemp("v1")
    version_1(v1 / "content")
    build(v1)
    new = {}
    for targets in (QUICK, ALL):
        v2 = tmp_path_factory.mktemp("v2")
        shutil.copytree(v1, v2, dirs_exist_ok=True)
        version_2(v2 / "content")
        build(v2, targets)
        new[targets] = snapshot(v2 / "build")
    return v1, snapshot(v1 / "build"), new


def temporaries(*folders: Path) -> list[str]:
    return [str(p) for folder in folders for p in folder.rglob("*") if p.name.endswith(".tmp")]


# stage → (the progress line that opens it, longest random delay after it in seconds); the parse stage
# opens when the build has taken the OUT lock (before that, a signal would only hit Python's start-up)
STAGES = {
    "parse": (None, 0.6),
    "verify": (r"^\s*parse:", 1.5),
    "draw": (r"^\s*verify:", 2.0),
    "deck": (r"^\s*draw:", 0.6),
    "html": (r"^\s*deck:", 1.0),
    "pdf": (r"^\s*html:", 3.0),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_killed_build_leaves_outputs_and_caches_usable(states, tmp_path, stage, sig):
    v1, old, news = states
    targets = ALL if stage == "pdf" else QUICK
    new = news[targets]
    shutil.copytree(v1, tmp_path, dirs_exist_ok=True)
    version_2(tmp_path / "content")
    out = tmp_path / "build"
    rng = random.Random(f"{SEED}-{stage}-{int(sig)}")
    marker, longest = STAGES[stage]
    delay = rng.uniform(0, longest)
    why = f"KILL_SEED={SEED}: {sig.name} {delay:.2f} s into {stage}"

    proc = subprocess.Popen([sys.executable, "-m", "generator", "build", "--only", targets, "--content", "content",
                             "--out", "build"], cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    reached = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if marker is None or re.search(marker, line):
                reached.set()
        reached.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if marker is None:
        lock, deadline = out / outdir.LOCK, time.monotonic() + 120
        while time.monotonic() < deadline and not (
                lock.is_file() and lock.read_text(encoding="utf-8").startswith(f"pid {proc.pid} ")):
            time.sleep(0.002)
        reached.set()
    assert reached.wait(300), why
    time.sleep(delay)
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    rc = proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(lines)
    why += f" (exit {rc})\n{err}"

    assert "Traceback" not in err and "KeyboardInterrupt" not in err, why
    # the build ended before the signal arrived; a SIGINT during the interpreter's own shutdown, after the
    # summary, ends it with the default action (the signal module is torn down by then)
    finished = rc == 0 or (rc == -sig and "\ndone: " in "\n" + err)
    # Ctrl-C: the CLI returns 130, but CPython ends itself with SIGINT (the conventional exit of an
    # interrupted program) when the interrupt passed through code an extension ran through the C API, as
    # happens while matplotlib loads; either way after the clean-up, with no traceback
    interrupted = (130, -signal.SIGINT) if sig == signal.SIGINT else (-signal.SIGKILL,)
    assert finished or rc in interrupted, why
    after = snapshot(out)
    # outputs change only once the draw stage has ended (its line printed), whichever stage was aimed at
    emitting = finished or re.search(r"^\s*draw:", err, re.M)
    if not emitting:
        assert after == old, why
    else:
        for name, data in after.items():
            if name.endswith(".tmp") and sig == signal.SIGKILL:
                continue
            assert data == old.get(name) or same_output(name, data, new, tmp_path), f"{name}: {why}"
    if sig == signal.SIGINT or finished:
        assert temporaries(out, tmp_path / "content") == [], why

    # the next build reuses what the killed one left and gets version 2 exactly right
    again = build(tmp_path, targets)
    final = snapshot(out)
    assert sorted(final) == sorted(new), why + again.stderr
    for name, data in final.items():
        assert same_output(name, data, new, tmp_path), f"{name}: {why}"
    assert temporaries(out) == [], why
    assert "nothing changed" in build(tmp_path, targets).stderr  # and it recorded that it is complete


# ---------------------------------------------------------------- Ctrl-C in the figure workers

def test_ctrl_c_while_figures_draw_in_workers(tmp_path):
    """SIGINT to the whole group while worker processes draw: one clean exit, no worker trace, no orphan."""
    version_1(tmp_path / "content")
    (tmp_path / "content" / "03-plots.md").write_text(plots(4, 6), encoding="utf-8")  # more than PARALLEL_MIN
    proc = subprocess.Popen([sys.executable, "-m", "generator", "build", "--only", "html", "--content", "content",
                             "--out", "build"], cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if re.search(r"^\s*verify:", line):
            break
    stage = tmp_path / "build" / outdir.FIGURE_STAGE
    deadline = time.monotonic() + 120
    while not any(stage.glob("fig-*.svg")) and time.monotonic() < deadline:  # the workers are drawing
        time.sleep(0.05)
    assert any(stage.glob("fig-*.svg")), "".join(lines)
    os.killpg(proc.pid, signal.SIGINT)
    err = "".join(lines) + proc.stderr.read()
    assert proc.wait(timeout=60) in (130, -signal.SIGINT), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no worker of the group is left
    assert temporaries(tmp_path / "build") == []
    assert not (tmp_path / "build" / "figures").exists()


# ---------------------------------------------------------------- two builds into one OUT

def test_second_build_into_a_busy_out_stops_with_a_clear_message(tmp_path):
    version_1(tmp_path / "content")
    (tmp_path / "content" / "03-plots.md").unlink()
    out = tmp_path / "build"
    with outdir.lock(out):
        done = gen("build", "--only", "deck", "--content", "content", "--out", "build", cwd=tmp_path)
        checked = gen("check", "--content", "content", "--out", "build", cwd=tmp_path)
    assert done.returncode == 1 and checked.returncode == 1
    message = f"error: 'build' is in use by pid {os.getpid()} ("
    assert done.stderr.startswith(message) and "run again when it has finished" in done.stderr, done.stderr
    assert checked.stderr.startswith(message)
    assert sorted(p.name for p in out.iterdir()) == [".cache"]  # it wrote nothing
    assert build_ok(tmp_path)  # free again once the holder is done


def build_ok(cwd: Path) -> bool:
    return gen("build", "--only", "deck", "--content", "content", "--out", "build", cwd=cwd).returncode == 0


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from generator import outdir\nwith outdir.lock(Path(sys.argv[1])):\n"
                               "    print('held', flush=True); time.sleep(60)", str(tmp_path / "build")],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(outdir.OutLocked, match=f"in use by pid {holder.pid}"):
        with outdir.lock(tmp_path / "build"):
            pass
    holder.kill()
    holder.wait()
    with outdir.lock(tmp_path / "build"):
        pass


def test_waiting_lock_and_reentry(tmp_path):
    out = tmp_path / "build"
    told, order = [], []
    release = threading.Event()

    def hold() -> None:
        with outdir.lock(out):
            with outdir.lock(out):  # re-entrant: the watcher holds it around pipeline.build, which locks again
                order.append("first")
                release.wait(10)
            order.append("first done")

    t = threading.Thread(target=hold)
    t.start()
    while not order:
        time.sleep(0.01)
    fd = os.open(out / outdir.LOCK, os.O_RDONLY)  # another open file description: as another process sees it
    try:
        import fcntl
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    release.set()
    t.join()
    with outdir.lock(out, wait=True, on_wait=told.append):
        order.append("second")
    assert order == ["first", "first done", "second"] and told == []


def test_out_that_is_a_file_is_an_error(tmp_path):
    version_1(tmp_path / "content")
    (tmp_path / "build").write_text("not a folder", encoding="utf-8")
    done = gen("build", "--only", "deck", "--content", "content", "--out", "build", cwd=tmp_path)
    assert done.returncode == 1 and "error: output folder 'build' exists and is not a folder" in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- a failed build and OUT/figures

def test_failed_build_changes_nothing_in_out_figures(tmp_path, capsys, monkeypatch):
    version_1(tmp_path / "content")
    monkeypatch.chdir(tmp_path)
    cfg = pipeline.BuildConfig(content=Path("content"), out=Path("build"), targets=("html",), quiet=True)
    assert pipeline.build(cfg).exit_code == 0
    before = snapshot(tmp_path / "build")
    figures_before = sorted(p.name for p in (tmp_path / "build" / "figures").iterdir())
    assert len(figures_before) == 4  # the cheat sheet's SVG of 3 plots and the corpus's own
    version_2(tmp_path / "content")
    broken = tmp_path / "content" / "02-code.md"
    broken.write_text(broken.read_text(encoding="utf-8") + "\n$$\n2 + 2 = 5\n$$\n", encoding="utf-8")
    assert pipeline.build(cfg).exit_code == 1
    assert "nothing in build was changed" in capsys.readouterr().err
    assert snapshot(tmp_path / "build") == before  # no new figure, no pruned one
    staged = {p.name for p in (tmp_path / "build" / outdir.FIGURE_STAGE).glob("fig-*")}
    assert len(staged - set(figures_before)) == 2  # the new ones wait in the cache for the next good build
    broken.write_text(broken.read_text(encoding="utf-8").replace("2 + 2 = 5", "2 + 2 = 4"), encoding="utf-8")
    assert pipeline.build(cfg).exit_code == 0
    figures_after = {p.name for p in (tmp_path / "build" / "figures").iterdir()}
    assert len(figures_after) == 3 and len(figures_after & set(figures_before)) == 1  # only the corpus's own kept
    page = (tmp_path / "build" / "Golden.html").read_text(encoding="utf-8")
    assert page.count("<figure") == 3
    manifest = json.loads((tmp_path / "build" / ".manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["entries"]) == ["html"]


def test_ctrl_c_inside_a_c_extension_import_is_an_interrupt(monkeypatch, capsys):
    """numpy turns a KeyboardInterrupt during its import into an ImportError: still Ctrl-C, no traceback."""
    from generator import cli

    def interrupted_import(cfg, report=None):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError("PyCapsule_Import could not import module \"datetime\"")

    monkeypatch.setattr(pipeline, "build", interrupted_import)
    assert cli.main(["build", "--only", "deck"]) == 130
    monkeypatch.setattr(pipeline, "build", lambda cfg, report=None: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a plain bug still shows its traceback
        cli.main(["build", "--only", "deck"])
