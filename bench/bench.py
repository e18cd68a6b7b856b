#!/usr/bin/env python3
"""`make bench`: figures to quote as medians and ratios, never as pass/fail tests.

Each part is a function `bench_<name>(args) -> list[str]` (lines of the report); the
`PARTS` table at the bottom lists them in the order they run.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def median_time(cmd: list[str], runs: int, cwd: Path, before=None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------- deck (issue: core pipeline)

NOTE = """\
## Question number {i}: what is $x_{{{i}}}$? {{#syn.q{i}}}

The answer to question {i} uses $a_{{{i}}} + b$ inline and a display formula:

$$
f_{{{i}}}(x) = x^{{2}} + {i}
$$

"""


def synthetic_corpus(root: Path, notes: int, per_file: int = 100) -> None:
    """Question heading + a few lines with one inline and one display formula (as performance.md)."""
    root.mkdir(parents=True, exist_ok=True)
    for start in range(0, notes, per_file):
        body = "".join(NOTE.format(i=i) for i in range(start, min(start + per_file, notes)))
        (root / f"f{start // per_file:04d}.md").write_text(
            f"---\ndeck: Bench::F{start // per_file}\n---\n# File {start // per_file}\n\n" + body, encoding="utf-8")


FLOOR = textwrap.dedent("""
    import sys, genanki, time
    n = int(sys.argv[1])
    model = genanki.Model(1607392319, "m", fields=[{"name": "Q"}, {"name": "A"}],
                          templates=[{"name": "c", "qfmt": "{{Q}}", "afmt": "{{A}}"}])
    deck = genanki.Deck(2059400110, "floor")
    for i in range(n):
        deck.add_note(genanki.Note(model=model, fields=[f"Question number {i}: what is \\\\(x_{i}\\\\)?",
                      f"The answer to question {i} uses \\\\(a_{i} + b\\\\) inline and \\\\[f_{i}(x) = x^2 + {i}\\\\]"],
                      guid=str(i)))
    genanki.Package(deck).write_to_file(sys.argv[2])
""")


def median_wall_cpu(cmd: list[str], runs: int, cwd: Path, before=None) -> tuple[float, float]:
    """Medians of wall and CPU seconds (the process and its workers) over ``runs`` runs."""
    walls, cpus = [], []
    for _ in range(runs):
        if before is not None:
            before()
        wall, cpu = timed(cmd, cwd)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def bench_deck(args) -> list[str]:
    """`build --only deck` of the synthetic corpus with the formula checks (and the parse cache) warm, as
    an author's rebuild after `make check`; then with the parse cache emptied; against bare genanki."""
    lines = [f"deck: synthetic corpus, whole process, median of {args.runs} runs, wall (CPU), "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"]
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        (work / "floor.py").write_text(FLOOR)
        ours = {}
        for n in (1000, 10000):
            content = work / f"c{n}"
            synthetic_corpus(content, n)
            out = work / f"o{n}"
            # cold formula checks are measured by bench_verify; warm them once so this measures the deck path
            subprocess.run([PY, "-m", "generator", "check", "-q", "--content", str(content), "--out", str(out)],
                           cwd=work, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})

            def clear(out=out, parse_cache=False):
                for p in out.glob("*.apkg"):
                    p.unlink()
                (out / ".manifest.json").unlink(missing_ok=True)
                if parse_cache:
                    (out / ".cache" / "parse.json").unlink(missing_ok=True)

            build = [PY, "-m", "generator", "build", "--only", "deck", "-q", "--content", str(content),
                     "--out", str(out)]
            t, cpu = median_wall_cpu(build, args.runs, work, before=clear)
            floor, floor_cpu = median_wall_cpu([PY, str(work / "floor.py"), str(n), str(work / "floor.apkg")],
                                               args.runs, work)
            ours[n] = t
            lines.append(f"  {n:>6} notes: ours {t:5.2f} s ({cpu:4.2f} s), bare genanki {floor:4.2f} s "
                         f"({floor_cpu:4.2f} s), ratio {t / floor:3.1f}x ({cpu / floor_cpu:3.1f}x CPU)")
            if n == 10000:
                cold, cold_cpu = median_wall_cpu(build, args.runs, work, before=lambda: clear(parse_cache=True))
                lines.append(f"  {n} notes with the parse cache emptied (every file parsed, checks warm): "
                             f"{cold:.2f} s ({cold_cpu:.2f} s), ratio {cold / floor:.1f}x")
                noop = median_time(build, max(args.runs, 5), work)
                lines.append(f"  no-op rebuild of {n} notes: {noop * 1000:.0f} ms (median of {max(args.runs, 5)})")
        lines.append(f"  linearity: 10x the notes took {ours[10000] / ours[1000]:.1f}x the time; each further "
                     f"1,000 notes cost {(ours[10000] - ours[1000]) / 9 * 1000:.0f} ms")
    return lines


# ---------------------------------------------------------------- verify (issue: formula checks)

def bench_verify(args) -> list[str]:
    """Cold `make check` (empty cache) and the no-op re-check, wall and CPU (workers included)."""
    import json
    import resource
    content = Path(args.content).resolve()
    lines = [f"verify: shipped content ({content.name}/), median of {args.runs} runs, {os.cpu_count()} CPUs"]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out"
        check = [PY, "-m", "generator", "check", "-q", "--content", str(content), "--out", str(out)]
        cpu: list[float] = []

        def cold_run():
            shutil.rmtree(out, ignore_errors=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(-(before.ru_utime + before.ru_stime))

        def cpu_of_last():
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[-1] += after.ru_utime + after.ru_stime

        times = []
        for _ in range(args.runs):
            cold_run()
            times.append(median_time(check, 1, ROOT))
            cpu_of_last()
        cold = statistics.median(times)
        warm = median_time(check, args.runs, ROOT)
        report = json.loads((out / "check-report.json").read_text(encoding="utf-8"))
        n = len(report["formulas"])
        claims = sum(1 for f in report["formulas"] if f["status"] in ("verified", "failed", "not-checkable"))
        lines.append(f"  {n} formulas ({claims} claims): cold {cold:.1f} s wall, {statistics.median(cpu):.1f} s CPU "
                     f"({cold / max(n, 1) * 1000:.1f} ms per formula), warm {warm:.2f} s; totals {report['totals']}")
        lines.append(f"  cold runs: {', '.join(f'{t:.1f}' for t in times)} s (the machine's load: "
                     f"{os.getloadavg()[0]:.1f})")
    return lines


# ---------------------------------------------------------------- pdf (issues 5 and 13: PDF study guide)

def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (this process's children: the build and its layout workers)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT), "SOURCE_DATE_EPOCH": "1780000000"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_pdf(args) -> list[str]:
    """`make pdf` of the shipped content: cold, after one edited answer, after structural edits.

    Whole processes on a copy of the content. "Cold PDF" empties the PDF caches but keeps the formula
    checks and figures (their own benchmarks cover them); the fully cold build (empty OUT) runs once.
    """
    from pypdf import PdfReader

    content = Path(args.content).resolve()
    lines = [f"pdf: shipped content ({content.name}/), whole process `build --only pdf`, wall and CPU "
             f"(CPU includes the layout workers; wall above CPU/2 means the 2 cores were shared), "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"]
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        shutil.copytree(content, work / "content")
        out = work / "build"
        build = [PY, "-m", "generator", "build", "--only", "pdf", "-q", "--content", "content", "--out", "build"]

        def pdf_file() -> Path:
            return next(out.glob("*.pdf"))

        fully = []
        for _ in range(args.runs):
            shutil.rmtree(out, ignore_errors=True)
            fully.append(timed(build, work))
        size = pdf_file().stat().st_size
        lines.append(f"  fully cold (empty build/: parse, verify, draw, PDF): median "
                     f"{statistics.median(w for w, _ in fully):.1f} s wall, "
                     f"{statistics.median(c for _, c in fully):.1f} s CPU over {args.runs} runs "
                     f"(each: {', '.join(f'{w:.1f}' for w, _ in fully)} s)")

        def cold_pdf():
            for p in (out / ".cache" / "pdf", out / ".cache" / "mathsvg.json", out / ".manifest.json"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        cold = []
        for _ in range(args.runs):
            cold_pdf()
            cold.append(timed(build, work))
        lines.append(f"  cold PDF (checks and figures cached): median {statistics.median(w for w, _ in cold):.1f} s wall, "
                     f"{statistics.median(c for _, c in cold):.1f} s CPU over {args.runs} runs; "
                     f"{size / 1e6:.2f} MB")

        files = sorted((work / "content").glob("*.md"), key=lambda p: p.stat().st_size)
        median = files[len(files) // 2]
        original = median.read_text(encoding="utf-8")
        # the first answer paragraph of the chapter: a word changes, the page count stays
        edits = []
        answer = original.index("\n", original.index("\n## ") + 1)  # the first question's answer
        spot = original.index("的", answer)
        edited = original[:spot] + "地" + original[spot + 1:]
        for i in range(max(args.runs, 3)):
            text = edited if i % 2 == 0 else original
            median.write_text(text, encoding="utf-8")
            edits.append(timed(build, work))
        lines.append(f"  one answer edited in {median.name} (median size): median {statistics.median(w for w, _ in edits):.2f} s "
                     f"wall, {statistics.median(c for _, c in edits):.2f} s CPU over {len(edits)} runs")
        median.write_text(original, encoding="utf-8")
        timed(build, work)

        structural = {
            "a question added": original + "\n## 基准测试加的问题？ {#bench.added}\n\n一段新答案。\n",
            "a page added": original.replace("\n## ", "\n" + ("为了多出一页而加的段落。" * 40 + "\n\n") * 4 + "## ", 1),
            "chapter renamed": re.sub(r"^# (.+)$", r"# \1（改名）", original, count=1, flags=re.M),
        }
        for what, text in structural.items():
            median.write_text(text, encoding="utf-8")
            wall, cpu = timed(build, work)
            lines.append(f"  {what} ({median.name}): {wall:.1f} s wall, {cpu:.1f} s CPU; "
                         f"{len(PdfReader(pdf_file()).pages)} pages")
            median.write_text(original, encoding="utf-8")
            timed(build, work)
        noop = [timed(build, work) for _ in range(max(args.runs, 3))]
        lines.append(f"  nothing changed: median {statistics.median(w for w, _ in noop) * 1000:.0f} ms")
    return lines


# ---------------------------------------------------------------- html (issue 6: HTML cheat sheet)

def bench_html(args) -> list[str]:
    """Cheat-sheet build time, file size (and what it is made of), time to first render in Chromium."""
    import gzip
    import re

    content = Path(args.content).resolve()
    lines = [f"html: shipped content ({content.name}/)"]
    sys.path.insert(0, str(ROOT))
    from generator.emit import html
    from generator.pipeline import BuildConfig, Progress, analyse

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out"
        build = [PY, "-m", "generator", "build", "--only", "html", "-q", "--force", "--content", str(content),
                 "--out", str(out)]
        try:
            whole = median_time(build, 1, ROOT)
            lines.append(f"  whole process, cold caches (parse, verify, draw, html): {whole:.1f} s")
        except subprocess.CalledProcessError:
            lines.append("  whole process: build failed (content errors); timing the emitter only")
        cfg = BuildConfig(content=content, out=out, targets=("html",), quiet=True)
        analysis = analyse(cfg, Progress(quiet=True), draw=True)
        doc, ctx = analysis.doc, analysis.ctx
        (out / ".cache" / "katex-html.json").unlink(missing_ok=True)  # the first run renders every formula
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            (target,) = html.emit(doc, out, ctx).paths
            times.append(time.perf_counter() - start)
        lines.append(f"  emitter: first run {times[0]:.2f} s (KaTeX cold), median {statistics.median(times):.2f} s "
                     f"of {args.runs}")
        page = target.read_text(encoding="utf-8")
        size = len(page.encode())
        part = {
            "KaTeX markup": katex_bytes(page),
            "figures (SVG)": sum(len(m.encode()) for m in re.findall(r"<svg.*?</svg>", page, re.S)),
            "KaTeX fonts": sum(len(m) for m in re.findall(r"data:font/woff2;base64,[A-Za-z0-9+/=]+", page)),
        }
        part["text, markup, CSS, JS"] = size - sum(part.values())
        lines.append(f"  file: {size / 1e6:.2f} MB ({len(gzip.compress(page.encode())) / 1e6:.2f} MB gzipped), "
                     f"{sum(1 for _ in doc.notes)} cards, {len(ctx.figures)} figures; budget 12 MB")
        lines.append("  made of: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in part.items()))
        lines.append("  first render in Chromium, " + first_render(target, args.runs))
    return lines


def katex_bytes(page: str) -> int:
    """Bytes inside the <span class="katex"> elements (HTML and MathML)."""
    import re

    total, tags = 0, re.compile(r"<span\b|</span>")
    for start in re.finditer(r'<span class="katex">', page):
        depth = 0
        for m in tags.finditer(page, start.start()):
            depth += 1 if m.group(0) == "<span" else -1
            if depth == 0:
                total += len(page[start.start():m.end()].encode())
                break
    return total


def first_render(path: Path, runs: int) -> str:
    """Median first-contentful-paint and load event over fresh browser pages."""
    from playwright.sync_api import sync_playwright

    if not Path("/usr/bin/chromium").exists():
        return "skipped (no /usr/bin/chromium; make sysdeps)"
    fcp, load = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri(), wait_until="load")
            t = page.evaluate("""() => ({
                fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime,
                load: performance.getEntriesByType('navigation')[0].loadEventStart})""")
            fcp.append(t["fcp"])
            load.append(t["load"])
            page.close()
        browser.close()
    return (f"1280 px, median of {runs}: first contentful paint {statistics.median(fcp):.0f} ms, "
            f"load event {statistics.median(load):.0f} ms")


# ---------------------------------------------------------------- diagrams (issue 4: figures from plot blocks)

def bench_diagrams(args) -> list[str]:
    """Draw stage on the shipped content: cold (every figure drawn), per figure, and warm (nothing changed)."""
    content = Path(args.content).resolve()
    sys.path.insert(0, str(ROOT))
    from generator import diagrams
    from generator.location import Diagnostics
    from generator.parse import parse_corpus

    doc = parse_corpus(content, Diagnostics())
    blocks = list(diagrams.plot_blocks(doc))
    lines = [f"diagrams: shipped content ({content.name}/), {len(blocks)} plot blocks"]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "figures"
        start = time.perf_counter()
        diagrams.validate_document(doc, Diagnostics())
        validate = time.perf_counter() - start
        start = time.perf_counter()
        figures = diagrams.draw_document(doc, Diagnostics(), out)  # cold: empty folder, workers import matplotlib
        cold = time.perf_counter() - start
        n = max(len(figures), 1)
        workers = min(os.cpu_count() or 1, diagrams.MAX_WORKERS) if n > diagrams.PARALLEL_MIN else 1
        lines.append(f"  cold draw stage: {cold:.1f} s for {len(figures)} figures = {cold / n * 1000:.0f} ms per figure "
                     f"({workers} processes on {os.cpu_count()} CPUs, matplotlib import included)")
        warm = []
        for _ in range(max(args.runs, 3)):
            start = time.perf_counter()
            diagrams.draw_document(doc, Diagnostics(), out)
            warm.append(time.perf_counter() - start)
        lines.append(f"  warm draw stage (nothing changed, nothing redrawn): {statistics.median(warm) * 1000:.0f} ms; "
                     f"validation alone (make check): {validate * 1000:.0f} ms")
        from generator.diagrams.draw import render

        specs = [s for b in blocks if (s := diagrams.check_block(b, Diagnostics())) is not None]
        one = Path(d) / "one"
        one.mkdir()
        start = time.perf_counter()
        render(specs[0], "w", one / "w.svg", one / "w.png")
        first = time.perf_counter() - start
        per: dict[str, list[float]] = {}
        cpu = time.process_time()
        for spec in specs:
            start = time.perf_counter()
            render(spec, "b", one / "b.svg", one / "b.png")
            per.setdefault(spec["kind"], []).append(time.perf_counter() - start)
        cpu = time.process_time() - cpu
        every = [t for ts in per.values() for t in ts]
        lines.append(f"  one process, serial: first figure {first * 1000:.0f} ms, then median {statistics.median(every) * 1000:.0f} ms "
                     f"per figure (SVG + 2x PNG), total {sum(every):.1f} s wall, {cpu:.1f} s CPU "
                     f"({cpu / len(specs) * 1000:.0f} ms CPU per figure); load average {os.getloadavg()[0]:.1f}")
        lines.append("  median per kind: " + ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms ({len(v)})"
                                                       for k, v in sorted(per.items())))
    return lines


# ---------------------------------------------------------------- watch (issue 18: live preview)

def bench_watch(args) -> list[str]:
    """Save → reload for a one-answer edit: `dlcards watch` on a copy of the content, the page in Chromium."""
    import re
    import shutil
    import threading

    if not Path("/usr/bin/chromium").exists():
        return ["watch: skipped (no /usr/bin/chromium; make sysdeps)"]
    from playwright.sync_api import Error, sync_playwright

    content = Path(args.content).resolve()
    edits = max(args.runs, 5)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        shutil.copytree(content, work / "content")
        if (ROOT / "build" / ".cache").is_dir():  # start from the caches of the last build, as an author would
            shutil.copytree(ROOT / "build" / ".cache", work / "build" / ".cache")
        target = next(p for p in sorted((work / "content").glob("*.md"))
                      if re.search(r"^## .*\{#[^}]+\}", p.read_text(encoding="utf-8"), re.M))
        text = target.read_text(encoding="utf-8")
        heading = re.search(r"^## .*\{#([^}]+)\}\n", text, re.M)
        card = heading.group(1)
        proc = subprocess.Popen([PY, "-m", "generator", "watch", "--content", "content", "--out", "build",
                                 "--targets", "none"], cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()

        def wait_line(pattern: str, timeout: float) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                found = [line for line in lines if re.search(pattern, line)]
                if found:
                    return found[-1]
                time.sleep(0.01)
            raise RuntimeError(f"watcher said no {pattern!r}:\n" + "".join(lines))

        try:
            url = re.search(r"http://\S+/", wait_line("serving the cheat sheet", 60)).group(0)
            first = wait_line("first build", 900)
            saves, rebuilds = [], []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url, wait_until="load")
                page.evaluate(f"document.getElementById({card!r}).scrollIntoView()")
                probe = f"(document.getElementById({card!r}) || {{textContent: ''}}).textContent.includes"
                for i in range(edits):
                    marker = f"编辑标记{i}x"
                    edited = text[:heading.end()] + f"\n{marker}\n" + text[heading.end():]
                    seen = len(lines)
                    start = time.perf_counter()
                    target.write_text(edited, encoding="utf-8")
                    while True:
                        try:
                            if page.evaluate(f"{probe}({marker!r})"):
                                break
                        except Error:
                            pass  # reloading
                        if time.perf_counter() - start > 60:
                            raise RuntimeError("the page never showed the edit:\n" + "".join(lines))
                        time.sleep(0.005)
                    saves.append(time.perf_counter() - start)
                    while len(lines) == seen:
                        time.sleep(0.01)
                    rebuilds.append(float(re.search(r"· ([0-9.]+) s ·", lines[-1]).group(1)))
                    page.wait_for_load_state("load")
                    time.sleep(0.5)
                browser.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    size = (len(text), sum(1 for _ in re.finditer(r"^## ", "".join(
        p.read_text(encoding="utf-8") for p in content.glob("*.md")), re.M)))
    return [f"watch: one-answer edit in {target.name} (card {card}), shipped content ({size[1]} cards), "
            f"{edits} saves",
            f"  first build in the watcher: {re.search(r'· ([0-9.]+) s ·', first).group(1)} s",
            f"  save → new text in the page (Chromium, no touch): median {statistics.median(saves):.2f} s "
            f"(min {min(saves):.2f}, max {max(saves):.2f}); target ≤ 1 s",
            f"  of which the watcher's cheat-sheet rebuild: median {statistics.median(rebuilds):.2f} s"]


PARTS = {"deck": bench_deck, "verify": bench_verify, "pdf": bench_pdf, "html": bench_html, "diagrams": bench_diagrams,
         "watch": bench_watch}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--content", default=str(ROOT / "content"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--only", default=",".join(PARTS))
    args = p.parse_args()
    for name in args.only.split(","):
        for line in PARTS[name](args):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
