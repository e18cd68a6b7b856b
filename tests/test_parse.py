"""Parser unit tests: the content contract in docs/format.md."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from generator.location import Diagnostics
from generator.parse import parse_corpus


def parse(root: Path):
    diags = Diagnostics()
    return parse_corpus(root, diags), diags


def one(tmp_path: Path, body: str):
    write(tmp_path, "a.md", body)
    doc, diags = parse(tmp_path)
    return list(doc.notes), diags


@pytest.mark.parametrize("text, formulas", [
    ("a coffee costs $5 and tea costs $3", []),
    ("$2^5 = 32$ holds", ["2^5 = 32"]),
    ("literal \\$ sign and $x$", ["x"]),
    ("$ x$ and $y $ are not math", []),
    ("$a$5 is not math but $b$ is", ["b"]),
    ("`$code$` and $c$", ["c"]),
    ("inline display $$E = mc^2$$ here", ["E = mc^2"]),
])
def test_pandoc_dollar_rule(tmp_path, text, formulas):
    notes, diags = one(tmp_path, f"## Q {{#q}}\n\n{text}\n")
    assert [f.tex for f in notes[0].answer.formulas] == formulas
    assert not diags.errors


def test_structure_ids_details_cloze(tmp_path):
    notes, diags = one(tmp_path, """
        # Chapter one

        Intro text with $x$.

        ## First *question* {#ch.first}

        Answer with $a^2$.

        $$
        b = c
        $$

        ::: details
        Details with $d$.
        :::

        ## Cloze card {#ch.cloze}

        The value is {{c1::$\\frac{1}{4}$}}.
        """)
    assert not diags.items
    first, cloze = notes
    assert (first.id, first.id_explicit, first.heading_text) == ("ch.first", True, "First *question*")
    assert first.question.html == "First <em>question</em>"
    assert [f.tex for f in first.answer.formulas] == ["a^2", "b = c"]
    assert [f.display for f in first.answer.formulas] == [False, True]
    assert first.answer.formulas[0].loc.line == 11 and first.answer.formulas[0].loc.col == 13
    assert first.answer.formulas[1].loc.line == 13
    assert [f.tex for f in first.details.formulas] == ["d"]
    assert not first.cloze and cloze.cloze
    assert first.tags == ("t1", "dl::basics", "chapter::Chapter_one")
    assert first.deck == "Test::Deck"


def test_check_and_plot_blocks_keep_locations(tmp_path):
    notes, _ = one(tmp_path, """
        ## Q {#q}

        ```check
        2^5 = 32

          7 \\times 2^6 = 448
        ```

        ```plot
        kind: function
        x: [-1, 1]
        ```

        ```python run
        assert 1 + 1 == 2
        ```
        """)
    (check,) = notes[0].answer.checks
    assert [(f.tex, f.loc.line, f.loc.col) for f in check.lines] == [("2^5 = 32", 8, 1), ("7 \\times 2^6 = 448", 10, 3)]
    (plot,) = notes[0].answer.plots
    assert plot.loc.line == 13 and plot.source.startswith("kind: function")
    (code,) = notes[0].answer.code
    assert code.runnable and code.lang == "python"


def test_sanitises_raw_html(tmp_path):
    notes, _ = one(tmp_path, """
        ## Q {#q}

        <script>alert(1)</script><b onclick="x()">bold</b> <a href="javascript:alert(1)">x</a> <sub>2</sub>
        """)
    html = notes[0].answer.html
    assert "script" not in html and "alert" not in html and "onclick" not in html
    assert "<b>bold</b>" in html and "<sub>2</sub>" in html


def test_errors_name_file_and_line(tmp_path):
    write(tmp_path, "a.md", """
        ## Q {#dup}

        $$
        x = 1

        ![pic](missing.png) ![up](../outside.png) ![web](http://example.com/a.png)

        ## Q2 {#dup}

        [bad link](#nowhere)

        ## Q3 {#bad id!}

        x
        """)
    (tmp_path.parent / "outside.png").write_bytes(b"x")
    _, diags = parse(tmp_path)
    got = {(d.loc.line, d.message.split(" (")[0].split(":")[0]) for d in diags.errors}
    assert (7, "unbalanced '$$'") in got
    assert (10, "image 'missing.png' not found") in got
    assert (10, "image path '../outside.png' leaves the content folder") in got
    assert (10, "image 'http") in got
    assert any(d.loc.line == 12 and "duplicate id 'dup'" in d.message and ":5" in d.message for d in diags.errors)
    assert (14, "link to unknown card '#nowhere'") in got
    assert any(d.loc.line == 16 and "invalid id" in d.message for d in diags.errors)


@pytest.mark.parametrize("front, line, fragment", [
    ("---\ndeck: [unclosed\n---\n", 2, "malformed YAML"),
    ("---\ntags: [a]\n---\n", 1, "needs 'deck:'"),
    ("---\ndeck: X\ncolour: red\n---\n", 3, "unknown front matter key 'colour'"),
    ("---\ndeck: X\ntags: [has space]\n---\n", 3, "without spaces"),
    ("---\ndeck: a::::b\n---\n", 2, "empty part between '::'"),
])
def test_front_matter_errors(tmp_path, front, line, fragment):
    (tmp_path / "a.md").write_text(front + "\n## Q {#q}\n\nA\n", encoding="utf-8")
    _, diags = parse(tmp_path)
    assert any(d.loc.line == line and fragment in d.message for d in diags.errors), diags.items


def test_missing_id_is_derived_with_warning(tmp_path):
    notes, diags = one(tmp_path, "## What is ReLU\n\nmax(0, x)\n\n## 为什么\n\n因为\n")
    assert notes[0].id == "a.what-is-relu" and not notes[0].id_explicit
    assert notes[1].id.startswith("a.") and len(notes[1].id) == len("a.") + 8
    assert len(diags.warnings) == 2 and not diags.errors


def test_files_in_path_order_and_order_key(tmp_path):
    write(tmp_path, "b.md", "## B {#b}\n\nb\n")
    write(tmp_path, "a.md", "## A {#a}\n\na\n")
    (tmp_path / "c.md").write_text("---\ndeck: X\norder: -1\n---\n## C {#c}\n\nc\n", encoding="utf-8")
    doc, _ = parse(tmp_path)
    assert [n.id for n in doc.notes] == ["c", "a", "b"]


def test_unclosed_bold_is_a_warning(tmp_path):
    notes, diags = one(tmp_path, "## Q {#q1}\n\n随机把**单个权重（连接）**置 0；`a**b` 是代码。\n")
    assert [d.message.split(":")[0] for d in diags.warnings] == ["'**' left as literal text"]
    assert diags.warnings[0].loc.line == 5
