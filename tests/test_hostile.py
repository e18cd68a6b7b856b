"""Hostile notes (issue 15, parts of issue 16): the `tests/hostile/` corpus, one case per folder.

Each case has `content/` and `expected.txt`: the exit code of `build --only deck,html`, then the
diagnostics the build must print (`file:line[:col]: severity: message prefix`). Every build is
followed by a look at the file tree: nothing may appear or change outside OUT except the
content folder's own lock file. Cases that build are then opened the way a learner would: the deck
imported into a real Anki collection, the cheat sheet in Chromium.
"""
from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import import_apkg, run, write

HOSTILE = Path(__file__).parent / "hostile"
CASES = sorted(p.name for p in HOSTILE.iterdir() if (p / "expected.txt").is_file())
DIAG_RE = re.compile(r"^(?P<path>.*?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<sev>error|warning|note): (?P<msg>.*)$")
LOCK = "deck.lock.json"
# classes with a meaning on the pages or in Anki that notes must not borrow
PAGE_CLASSES = {"vh", "toolbar", "skip", "card", "chapter", "cloze", "katex", "self", "shared-defs", "nightMode"}
PNG = (HOSTILE / "media" / "content" / "img" / "dot.png").read_bytes()


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` except OUT (build/) and the lock file."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*")) if p.relative_to(root).parts[0] != "build" and p.name != LOCK}


def build(project: Path, capsys, *extra: str) -> tuple[int, str]:
    """Build the deck and the cheat sheet; check nothing outside OUT changed."""
    before = tree(project)
    code = run("build", "--only", "deck,html", "-q", *extra)
    assert tree(project) == before, "the build wrote outside OUT"
    return code, capsys.readouterr().err


def expected(case: str) -> tuple[int, list[str], str | None]:
    lines = (HOSTILE / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    code = int(lines[0].removeprefix("exit: "))
    output = next((ln.removeprefix("output: ") for ln in lines[1:] if ln.startswith("output: ")), None)
    return code, [ln for ln in lines[1:] if ln and not ln.startswith("output: ")], output


def matches(want: str, got: list[str]) -> bool:
    w = DIAG_RE.match(want)
    for line in got:
        g = DIAG_RE.match(line)
        if g and g["path"].endswith("/" + w["path"]) and g["line"] == w["line"] and g["sev"] == w["sev"] \
                and (w["col"] is None or g["col"] == w["col"]) and g["msg"].startswith(w["msg"]):
            return True
    return False


@pytest.mark.parametrize("case", CASES)
def test_case_gives_its_diagnostics_and_writes_only_into_out(project, capsys, case):
    shutil.rmtree(project / "content")
    shutil.copytree(HOSTILE / case / "content", project / "content")
    code, err = build(project, capsys)
    want_code, want, output = expected(case)
    lines = err.splitlines()
    assert code == want_code, err
    for w in want:
        assert matches(w, lines), f"missing {w!r} in:\n{err}"
    assert not any("Traceback" in ln for ln in lines)
    if code == 0:
        names = sorted(p.name for p in (project / "build").iterdir() if not p.name.startswith("."))
        stem = output or "Hostile"
        assert f"{stem}.apkg" in names and f"{stem}.html" in names, names
    else:
        assert not list((project / "build").glob("*.apkg")) and not list((project / "build").glob("*.html"))


# --- what a learner opens -------------------------------------------------------------------------

class _Attrs(HTMLParser):
    """Every (tag, attribute, value) in a piece of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.seen.extend((tag, k, v or "") for k, v in attrs)


def inert_html_problems(html: str, ids: tuple[str, ...] = (), rendered: bool = False) -> list[str]:
    """Anything in a card that could run, fetch, overlay or clash with the page."""
    p = _Attrs()
    p.feed(html)
    problems = [f"{t} {k}={v!r}" for t, k, v in p.seen if k.startswith("on") or k in ("ping", "srcset")
                or (k == "id" and v not in ids)
                or (k == "style" and not re.fullmatch(r"text-align:\s*\w+;?", v))
                or (k in ("href", "src") and re.match(r"\s*(javascript|data|vbscript|file):", v, re.I))]
    if not rendered:  # Anki's own cloze spans carry class="cloze"
        problems += [f"{t} class={v!r}" for t, k, v in p.seen if k == "class" and set(v.split()) & PAGE_CLASSES]
    if re.search(r"<(script|iframe|object|embed|style|form)\b", html, re.I):
        problems.append("active element")
    if "\ue000" in html or "\ue001" in html:
        problems.append("placeholder left")
    for m in re.finditer(r"\\(href|url)\s*\{([^}]*)\}", html):
        if not m.group(2).startswith(("http://", "https://")):
            problems.append(m.group(0))
    return problems


PAGE_AUDIT = """() => {
  const out = {handlers: [], js: [], ids: [], styles: [], dead: []};
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) out.handlers.push(el.tagName + ' ' + a.name);
      if (/^\\s*javascript:/i.test(a.value)) out.js.push(el.tagName + ' ' + a.name);
    }
    if (el.id) out.ids.push(el.id);
    if (el.tagName === 'A' && /^#./.test(el.getAttribute('href') || '')
        && !document.getElementById(decodeURIComponent(el.getAttribute('href').slice(1))))
      out.dead.push(el.getAttribute('href'));
    const cs = getComputedStyle(el);
    if (el.closest('main') && (cs.position === 'fixed' || cs.backgroundImage.includes('url(')))
      out.styles.push(el.tagName + ' ' + cs.position + ' ' + cs.backgroundImage);
  }
  return out;
}"""
TEMPLATE_IDS = {"toolbar", "q", "count", "hide-all", "reveal-all", "theme", "main"}


def audit_page(browser, page_path: Path, note_ids: set[str]) -> None:
    from test_html import Watched
    w = Watched(browser, page_path.as_uri())
    try:
        w.page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        got = w.page.evaluate(PAGE_AUDIT)
        assert got["handlers"] == [] and got["js"] == [] and got["styles"] == [] and got["dead"] == [], got
        unexpected = [i for i in got["ids"] if i not in TEMPLATE_IDS | note_ids
                      and not re.fullmatch(r"ch-.*|fig-\d+|f\d+-.*|g[0-9a-f]{10}", i)]
        assert unexpected == [] and len(got["ids"]) == len(set(got["ids"])), got["ids"]
        assert [u for u in w.requests if not u.startswith(("file:", "data:"))] == []
        w.page.mouse.move(5, 5)  # where an overlay or a hover handler would catch the pointer
        assert [m for m in w.console if m.startswith(("error", "pageerror"))] == []
    finally:
        w.close()


@pytest.mark.parametrize("case", ["forged-placeholder", "attrs", "raw-html", "chapter-link"])
def test_built_outputs_are_inert_in_anki_and_chromium(project, capsys, col, browser, case):
    shutil.rmtree(project / "content")
    shutil.copytree(HOSTILE / case / "content", project / "content")
    code, err = build(project, capsys)
    assert code == 0, err
    [apkg] = (project / "build").glob("*.apkg")
    import_apkg(col, apkg)
    note_ids = set()
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        note_ids.add(note["Id"])
        for name, value in note.items():
            assert inert_html_problems(value) == [], (name, value)
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        rendered = re.sub(r"<style>.*?</style>", "", card.question() + card.answer(), flags=re.S)  # the model's CSS
        assert inert_html_problems(rendered, ids=("answer",), rendered=True) == [], rendered  # <hr id=answer>
    audit_page(browser, project / "build" / "Hostile.html", note_ids)


# --- 15.1 placeholders ------------------------------------------------------------------------------

def test_forged_placeholders_never_become_markup(project, capsys, col):
    shutil.rmtree(project / "content")
    shutil.copytree(HOSTILE / "forged-placeholder" / "content", project / "content")
    assert build(project, capsys)[0] == 0
    import_apkg(col, next((project / "build").glob("*.apkg")))
    [nid] = col.find_notes("")
    back = col.get_note(nid)["Back"]
    # the formula's quotes stay inside the MathJax text, and the forged markers are plain text
    assert '\\(x&quot; onmouseover=&quot;alert(document.domain)&quot; y\\)' in back
    assert back.count("\ufffd") == 6 and 'title="\ufffdF0\ufffd"' in back
    page = (project / "build" / "Hostile.html").read_text(encoding="utf-8")
    assert "\ue000" not in page and 'title="\ufffdF0\ufffd"' in page


# --- 15.3 math -----------------------------------------------------------------------------------------

def test_http_links_in_math_are_allowed(project, capsys):
    write(project / "content", "a.md", "# C\n\n## Q {#m.ok}\n\n$\\href{https://example.com/}{x}$\n",
          deck="Hostile")
    code, err = build(project, capsys)
    assert code == 0, err


# --- 15.4 output names --------------------------------------------------------------------------------

@pytest.mark.parametrize("deck, stem", [
    ("../escaped::sub", "escaped"),
    ("2024/25 复习::第一章", "2024-25 复习"),
    ("深" * 300, "深" * 40),
    ("CON", "CON_"),
])
def test_output_names_stay_inside_out(project, capsys, deck, stem):
    write(project / "content", "a.md", "# C\n\n## Q {#n.q}\n\nA\n", deck=f'"{deck}"')
    code, err = build(project, capsys)
    assert code == 0, err
    files = sorted(p.relative_to(project / "build").as_posix() for p in (project / "build").rglob("*")
                   if p.is_file() and ".cache" not in p.parts and not p.name.startswith("."))
    assert files == sorted([f"{stem}.apkg", f"{stem}.html", "check-report.json"]), files


def test_absolute_deck_name_writes_inside_out(project, capsys, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(project / "content", "a.md", "# C\n\n## Q {#n.q}\n\nA\n", deck=f'"{elsewhere}/ABS"')
    code, err = build(project, capsys)
    assert code == 0, err
    assert list(elsewhere.iterdir()) == []
    assert (project / "build" / (str(elsewhere).strip("/").replace("/", "-") + "-ABS.apkg")).is_file()


@pytest.mark.parametrize("deck, message", [('""', "deck name is empty"),
                                           ('"a\\0b"', "deck name contains the control character U+0000"),
                                           ('"::sub"', "deck name is empty or has an empty part between '::'")])
def test_unusable_deck_names_are_errors(project, capsys, deck, message):
    write(project / "content", "a.md", "# C\n\n## Q {#n.q}\n\nA\n", deck=deck)
    code, err = build(project, capsys)
    assert code == 1 and f"content/a.md:2: error: {message}" in err, err


def test_output_name_from_the_command_line(project, capsys):
    write(project / "content", "a.md", "# C\n\n## Q {#n.q}\n\nA\n", deck="Hostile")
    assert build(project, capsys, "--name", "复习-2024")[0] == 0
    assert (project / "build" / "复习-2024.apkg").is_file()
    code, err = build(project, capsys, "--name", "../x")
    assert code == 1 and "output name '../x' is not a safe file name; try 'x'" in err


# --- 15.5 symlinked notes -------------------------------------------------------------------------

def test_symlinked_note_outside_the_content_is_refused(project, capsys):
    write(project / "content", "a.md", "# C\n\n## Q {#s.q}\n\nA\n", deck="Hostile")
    outside = project / "outside"
    write(outside, "secret.md", "# Secret\n\n## 机密 {#s.secret}\n\nTOP-SECRET\n", deck="Hostile")
    (project / "content" / "link.md").symlink_to(outside / "secret.md")
    code, err = build(project, capsys)
    assert code == 1
    assert "content/link.md:1: error: is a symbolic link to a file outside the content folder" in err
    assert not any(b"TOP-SECRET" in p.read_bytes() for p in (project / "build").rglob("*") if p.is_file())


# --- 15.6 media -------------------------------------------------------------------------------------

def test_plain_images_ship_and_oversized_ones_are_refused(project, capsys, col):
    shutil.copytree(HOSTILE / "media" / "content" / "img", project / "content" / "img")
    # a matplotlib export (DOCTYPE, metadata, styles, clip paths) is a plain drawing too
    shutil.copy(Path(__file__).parent / "golden" / "html" / "figure.svg", project / "content" / "img" / "plot.svg")
    write(project / "content", "a.md", "# C\n\n## Q {#m.ok}\n\n![ok](img/ok.svg) ![dot](img/dot.png) "
          "![plot](img/plot.svg)\n", deck="Hostile")
    code, err = build(project, capsys)
    assert code == 0, err
    import_apkg(col, next((project / "build").glob("*.apkg")))
    media = sorted(p.suffix for p in Path(col.media.dir()).iterdir())
    assert media == [".png", ".svg", ".svg"]
    page = (project / "build" / "Hostile.html").read_text(encoding="utf-8")
    assert page.count("data:image/svg+xml;base64,") == 2 and page.count("data:image/png;base64,") == 1
    (project / "content" / "img" / "big.png").write_bytes(PNG + b"\0" * (6 * 1024 * 1024))
    write(project / "content", "b.md", "# D\n\n## Big {#m.big}\n\n![big](img/big.png)\n", deck="Hostile")
    code, err = build(project, capsys)
    assert code == 1
    assert "content/b.md:9: error: image 'img/big.png': image is 6.0 MB; the limit is 5 MB per image" in err


# --- OUT and the content folder ---------------------------------------------------------------------------

def test_out_inside_content_is_refused(project, capsys):
    write(project / "content", "a.md", "# C\n\n## Q {#o.q}\n\nA\n", deck="Hostile")
    for out in ("content", "content/build"):
        assert run("build", "--only", "deck", "--out", out) == 1
        assert "is inside the content folder" in capsys.readouterr().err
    assert sorted(p.name for p in (project / "content").iterdir()) == ["a.md"]


def test_out_that_is_a_file_or_cannot_be_made(project, capsys):
    write(project / "content", "a.md", "# C\n\n## Q {#o.q}\n\nA\n", deck="Hostile")
    (project / "afile").write_text("x")
    assert run("build", "--only", "deck", "--out", "afile") == 1
    assert "error: output folder 'afile' exists and is not a folder" in capsys.readouterr().err
    assert run("build", "--only", "deck", "--out", "afile/sub") == 1
    err = capsys.readouterr().err
    assert "error: cannot write to the output folder 'afile/sub'" in err and "Traceback" not in err


def test_lock_file_that_cannot_be_written_leaves_the_deck_as_it_was(project, capsys):
    write(project / "content", "a.md", "# C\n\n## Q {#o.q}\n\nA\n", deck="Hostile")
    assert run("build", "--only", "deck", "-q") == 0
    deck = project / "build" / "Hostile.apkg"
    before = deck.read_bytes()
    lock = project / "content" / LOCK
    lock.unlink()
    lock.mkdir()  # as unwritable as a read-only folder, even for root
    write(project / "content", "a.md", "# C\n\n## Q {#o.q}\n\nA changed answer\n", deck="Hostile")
    assert run("build", "--only", "deck", "-q") == 1
    err = capsys.readouterr().err
    assert "cannot write content/deck.lock.json" in err and "Traceback" not in err
    assert deck.read_bytes() == before
    assert sorted(p.name for p in (project / "build").iterdir() if p.suffix in (".apkg", ".tmp")) == ["Hostile.apkg"]


# --- issue 16: `dlcards ids` and line breaks ------------------------------------------------------------

def test_ids_counts_lines_like_the_parser(project, capsys):
    path = project / "content" / "a.md"
    text = "---\ndeck: D\n---\n# C\n\n## First {#i.first}\n\nA\u2028B\fC\x0bD\x85E\n\n## Second\n\nAnswer.\n"
    path.write_bytes(text.encode("utf-8"))
    assert run("ids", "--content", "content") == 0
    after = path.read_bytes().decode("utf-8")
    assert after == text.replace("## Second\n", "## Second {#a.second}\n")


def test_tied_decks_name_the_outputs_the_same_way_under_any_hash_seed(project):
    import os
    import subprocess
    import sys
    shutil.rmtree(project / "content")
    shutil.copytree(HOSTILE / "deck-tie" / "content", project / "content")
    names = set()
    for seed in ("1", "2", "3"):
        out = project / f"out{seed}"
        subprocess.run([sys.executable, "-m", "generator", "build", "--only", "deck", "-q", "--out", str(out)],
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120)
        names.add(tuple(sorted(p.name for p in out.glob("*.apkg"))))
    assert names == {("Deck 08.apkg",)}  # the first file read (a.md) wins the tie


def test_fingerprint_reads_only_markdown(project, monkeypatch):
    from generator import pipeline
    write(project / "content", "a.md", "# C\n\n## Q {#f.q}\n\nA\n", deck="Hostile")
    big = project / "content" / "big.bin"
    big.write_bytes(b"\0" * 1024)
    read = []
    original = Path.open  # the fingerprint streams files through Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: read.append(self.name) or original(self, *a, **k))
    cfg = pipeline.BuildConfig(content=Path("content"), out=Path("build"))
    first = pipeline.input_fingerprint(cfg)
    assert "a.md" in read and "big.bin" not in read
    big.write_bytes(b"\1" * 2048)
    assert pipeline.input_fingerprint(cfg) != first  # a changed file still counts, by size and date


def test_chapter_links_resolve_in_the_guide(project):
    from generator.emit import pdf
    from generator.location import Diagnostics
    from generator.parse import parse_corpus
    from generator.context import BuildContext
    shutil.rmtree(project / "content")
    shutil.copytree(HOSTILE / "chapter-link" / "content", project / "content")
    diags = Diagnostics()
    doc = parse_corpus(project / "content", diags)
    assert not diags.errors
    page = pdf.render_html(doc, BuildContext(deck_name="Hostile"))[0]
    targets = re.findall(r'<a class="xref" href="#([^"]+)"', page)
    assert sorted(targets) == ["Basics", "基础"]
    assert all(f'id="{t}"' in page for t in targets)


def test_chapter_link_in_the_cheat_sheet_goes_to_the_chapter(project, capsys):
    shutil.rmtree(project / "content")
    shutil.copytree(HOSTILE / "chapter-link" / "content", project / "content")
    assert build(project, capsys)[0] == 0
    page = (project / "build" / "Hostile.html").read_text(encoding="utf-8")
    assert '<a href="#ch-基础">本章</a>' in page and '<a href="#ch-Basics">另一章</a>' in page
