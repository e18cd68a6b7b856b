"""End-to-end through the CLI: exit codes, diagnostics, untouched outputs, `ids`."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import run, snapshot, write

GOOD = "# Ch\n\n## Q {#q.one}\n\nAnswer $x^2$.\n"


@pytest.mark.parametrize("name, body, expected", [
    ("yaml", None, "content/a.md:2:8: error: malformed YAML front matter: mapping values are not allowed here"),
    ("dollars", "## Q {#q.one}\n\n$$\nx = 1\n", "content/a.md:7:1: error: unbalanced '$$'"),
    ("image", "## Q {#q.one}\n\n![x](nope.png)\n", "content/a.md:7: error: image 'nope.png' not found"),
    ("escape", "## Q {#q.one}\n\n![x](../../etc/passwd)\n", "content/a.md:7: error: image path '../../etc/passwd' leaves the content folder"),
    ("duplicate", "## Q {#q.one}\n\nA\n\n## R {#q.one}\n\nB\n", "content/a.md:9: error: duplicate id 'q.one' (first used at content/a.md:5)"),
])
def test_bad_input_fails_with_location_and_leaves_outputs(project, capsys, name, body, expected):
    write(project / "content", "a.md", GOOD)
    assert run("build", "--only", "deck", "-q") == 0
    before = snapshot(project / "build")
    lock_before = (project / "content" / "deck.lock.json").read_bytes()
    if body is None:
        (project / "content" / "a.md").write_text("---\ndeck: a: b\n---\n" + GOOD, encoding="utf-8")
    else:
        write(project / "content", "a.md", body)
    capsys.readouterr()
    assert run("build", "--only", "deck", "-q") == 1
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Traceback" not in err
    assert snapshot(project / "build") == before
    assert (project / "content" / "deck.lock.json").read_bytes() == lock_before


def test_all_errors_reported_in_one_run(project, capsys):
    write(project / "content", "a.md", "## Q {#x}\n\n![a](no.png)\n")
    write(project / "content", "b.md", "## Q {#x}\n\n[l](#nowhere)\n")
    assert run("check", "-q") == 1
    err = capsys.readouterr().err
    assert "content/a.md:7: error: image 'no.png' not found" in err
    assert "content/b.md:5: error: duplicate id 'x'" in err
    assert "content/b.md:7: error: link to unknown card '#nowhere'" in err


def test_progress_lines_and_summary(project, capsys):
    write(project / "content", "a.md", GOOD)
    assert run("build", "--only", "deck") == 0
    err = capsys.readouterr().err
    assert "parse: 1 files, 1 chapters, 1 notes" in err
    assert "done: 1 notes, 1 cards, 1 outputs written, 0 warnings" in err
    assert run("build", "--only", "deck") == 0
    assert "nothing changed" in capsys.readouterr().err
    assert run("build", "--only", "deck", "-q") == 0
    assert capsys.readouterr().err == ""


def test_usage_errors(project, capsys):
    assert run("build", "--only", "nope") == 2
    with pytest.raises(SystemExit) as e:
        run("frobnicate")
    assert e.value.code == 2


def test_strict_turns_warnings_into_errors(project):
    write(project / "content", "a.md", "## No id here\n\nA\n")
    assert run("check", "-q") == 0
    assert run("check", "-q", "--strict") == 1


def test_ids_command_changes_nothing_else(project, capsys):
    original = ("---\r\ndeck: D\r\n---\r\n# Ch  \r\n\r\n## What is ReLU  \r\n\r\nmax(0, x)   \r\n\r\n"
                "## Known {#k.id}\r\n\r\n$x$\r\n\r\n## 为什么要归一化\r\n\r\n因为\r\n")
    path = project / "content" / "a.md"
    path.write_bytes(original.encode())
    assert run("ids") == 0
    new = path.read_bytes().decode()
    assert "## What is ReLU {#a.what-is-relu}\r\n" in new
    derived = [line for line in new.split("\r\n") if line.startswith("## 为什么要归一化 {#a.")]
    assert len(derived) == 1
    stripped = new.replace(" {#a.what-is-relu}", "  ").replace(derived[0], "## 为什么要归一化")
    assert stripped == original
    assert run("check", "-q", "--strict") == 0
    assert run("ids") == 0 and path.read_bytes().decode() == new  # idempotent


def test_noop_rebuild_imports_no_heavy_library(project):
    write(project / "content", "a.md", GOOD)
    assert run("build", "--only", "deck", "-q") == 0
    code = ("import sys; from generator.cli import main; rc = main(['build', '--only', 'deck', '-q']); "
            "heavy = [m for m in ('sympy', 'matplotlib', 'weasyprint', 'markdown_it', 'genanki') if m in sys.modules]; "
            "print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project, check=True)
    assert out.stdout.strip() == "0 []"


def test_deck_lock_is_an_input_of_the_deck_only(project, capsys):
    """A deck built in the background (watch mode) rewrites the lock; the cheat sheet stays up to date."""
    from generator import pipeline
    from generator.emit import anki

    assert pipeline.DECK_LOCK == anki.LOCK_NAME
    write(project / "content", "a.md", GOOD)
    assert run("build", "--only", "html", "-q") == 0
    assert run("build", "--only", "deck", "-q") == 0  # writes content/deck.lock.json
    assert (project / "content" / anki.LOCK_NAME).is_file()
    capsys.readouterr()
    assert run("build", "--only", "html") == 0
    assert "nothing changed" in capsys.readouterr().err
    (project / "content" / anki.LOCK_NAME).write_text("{}\n", encoding="utf-8")
    assert run("build", "--only", "deck") == 0
    assert "nothing changed" not in capsys.readouterr().err  # the deck does read it


def _failing_html(monkeypatch, how: str) -> None:
    """The cheat sheet, the last output of a deck+html build, fails after the deck was written."""
    from generator.context import Emitted
    from generator.emit import html
    from generator.location import Diagnostic, GeneratorError, SourceLocation

    real = html.emit

    def emit(doc, out, ctx):
        emitted = real(doc, out, ctx)
        if how == "raise":
            raise GeneratorError("the cheat sheet failed")
        return Emitted(emitted.paths, (Diagnostic(SourceLocation(doc.root, 1), "error", "late problem"),))
    monkeypatch.setattr(html, "emit", emit)


@pytest.mark.parametrize("how", ["raise", "error"])
def test_a_later_output_failing_leaves_every_earlier_output_as_it_was(project, monkeypatch, how):
    path = write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n答案。\n")
    assert run("build", "--only", "deck,html", "-q") == 0
    before, lock = snapshot(project / "build"), (project / "content" / "deck.lock.json").read_bytes()
    path.write_text(path.read_text(encoding="utf-8").replace("答案。", "新答案。\n\n## 新问题 {#a.r}\n\n新的。"),
                    encoding="utf-8")
    _failing_html(monkeypatch, how)
    assert run("build", "--only", "deck,html", "-q") == 1
    assert snapshot(project / "build") == before  # the deck was written, then put back
    assert (project / "content" / "deck.lock.json").read_bytes() == lock
    assert not list((project / "build").glob(".*.tmp")) and not (project / "build" / ".cache" / "previous").exists()


def test_a_first_build_that_fails_late_leaves_no_outputs(project, monkeypatch):
    write(project / "content", "a.md", "# 章\n\n## 问题 {#a.q}\n\n答案。\n")
    _failing_html(monkeypatch, "error")
    assert run("build", "--only", "deck,html", "-q") == 1
    assert not [p for p in (project / "build").iterdir() if not p.name.startswith(".")]
    assert not (project / "content" / "deck.lock.json").exists()
