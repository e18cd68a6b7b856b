"""The deck, imported into a real Anki collection with the importer's default options."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from anki.collection import Collection  # noqa: I001 (import order matters)
from anki.cards import Card
from anki.scheduler_pb2 import CardAnswer

from conftest import import_apkg, run, write

BASE = """
# 激活函数

The chapter introduction is not a card.

## 为什么需要非线性？ {#act.why}

Without it, stacked layers collapse: $W_2 (W_1 x) = (W_2 W_1) x$. A coffee costs $5 and tea costs $3.

$$
\\sigma(x) = \\frac{1}{1 + e^{-x}}
$$

::: details
Longer story with **bold** and a [link](#act.sigmoid-max).
:::

## sigmoid 导数的最大值 {#act.sigmoid-max}

The maximum is {{c1::$\\frac{1}{4}$}}, reached at {{c2::$x = 0$}}; in a fraction {{c1::$\\frac{1}{\\sqrt{2}}$}}.

## Code and tables {#act.code}

| a | b |
|---|---|
| 1 | 2 |

```python
def f(x):
    return max(0, x)
```

![a picture](img/dot.png)
"""

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a3c2a70000000049454e44ae426082")


def _content(project: Path, body: str = BASE, name: str = "01-act.md") -> None:
    write(project / "content", name, body)
    (project / "content" / "img").mkdir(exist_ok=True)
    (project / "content" / "img" / "dot.png").write_bytes(PNG)


def _build(project: Path) -> Path:
    assert run("build", "--only", "deck", "-q") == 0
    [apkg] = (project / "build").glob("*.apkg")
    return apkg


def _notes(col: Collection) -> dict[str, object]:
    return {col.get_note(nid)["Id"]: col.get_note(nid) for nid in col.find_notes("")}


def _review_all(col: Collection) -> int:
    col.decks.select(col.decks.id("Test"))
    answered = 0
    while True:
        queued = col.sched.get_queued_cards(fetch_limit=1)
        if not queued.cards:
            return answered
        qc = queued.cards[0]
        card = Card(col, backend_card=qc.card)
        card.start_timer()
        col.sched.answer_card(col.sched.build_answer(card=card, states=qc.states, rating=CardAnswer.GOOD))
        answered += 1


def test_every_note_imports_and_renders(project, col):
    _content(project)
    log = import_apkg(col, _build(project))
    assert len(log.new) == 3
    notes = _notes(col)
    assert set(notes) == {"act.why", "act.sigmoid-max", "act.code"}
    cards = [col.get_card(cid) for cid in col.find_cards("")]
    assert len(cards) == 4  # one basic card, two cloze cards, one more basic card
    media = Path(col.media.dir())
    for card in cards:
        for html in (card.question(), card.answer()):
            text = re.sub(r"<[^>]+>", "", html)
            assert "**" not in text and "$" not in text.replace("$5", "").replace("$3", "") and "```" not in text
            assert "<em>" not in " ".join(re.findall(r"\\\(.*?\\\)|\\\[.*?\\\]", html, re.S))
            assert html.count("\\(") == html.count("\\)") and html.count("\\[") == html.count("\\]")
            for src in re.findall(r'<img src="([^"]+)"', html):
                assert (media / src).is_file(), src
    why = notes["act.why"]
    assert "\\(W_2 (W_1 x) = (W_2 W_1) x\\)" in why["Back"]
    assert "A coffee costs $5 and tea costs $3." in why["Back"]
    assert "<strong>bold</strong>" in why["Extra"] and "act.why" == why["Id"]
    assert why["Source"] == "content/01-act.md:9"
    assert "chapter::激活函数" in why.tags and "dl::basics" in why.tags
    cloze = notes["act.sigmoid-max"]
    assert "\\frac{1}{\\sqrt{2} }\\)}}" in cloze["Text"]  # '}}' inside cloze math is split
    assert cloze["Title"] == "sigmoid 导数的最大值"
    code = notes["act.code"]
    assert "<table>" in code["Back"] and 'class="highlight"' in code["Back"]
    assert col.decks.by_name("Test::Deck") is not None


def test_rebuild_after_edits_keeps_review_history(project, col):
    _content(project)
    import_apkg(col, _build(project))
    before = {nid: col.get_note(nid)["Id"] for nid in col.find_notes("")}
    assert _review_all(col) >= 4
    sched = {c: (col.get_card(c).ivl, col.get_card(c).due, col.get_card(c).type) for c in col.find_cards("")}
    revlog = col.db.scalar("select count() from revlog")
    assert revlog >= 4

    # (a) edit an answer, (b) reword a question under the same id, (c) move a card to another file
    body = BASE.replace("stacked layers collapse", "stacked linear layers collapse into one")
    body = body.replace("## 为什么需要非线性？ {#act.why}", "## 为什么神经网络需要非线性激活？ {#act.why}")
    moved, rest = body.split("## Code and tables {#act.code}")
    write(project / "content", "01-act.md", moved)
    write(project / "content", "02-more.md", "# 更多\n\n## Code and tables {#act.code}" + rest)
    log = import_apkg(col, _build(project))
    assert len(log.new) == 0 and len(log.conflicting) == 0
    # act.why (answer and question edited) and act.code (moved: its Source changed) are newer;
    # the untouched cloze note is reported as "duplicate", i.e. skipped as not newer
    assert sorted(n.fields[-1] for n in log.updated) == ["act.code", "act.why"]
    assert [n.fields[-1] for n in log.duplicate] == ["act.sigmoid-max"]
    after = {nid: col.get_note(nid)["Id"] for nid in col.find_notes("")}
    assert after == before  # same note ids: updated in place, no duplicate, no orphan
    notes = _notes(col)
    assert "stacked linear layers collapse into one" in notes["act.why"]["Back"]
    assert notes["act.why"]["Front"] == "为什么神经网络需要非线性激活？"
    assert notes["act.code"]["Source"] == "content/02-more.md:7"
    assert col.db.scalar("select count() from revlog") == revlog
    assert {c: (col.get_card(c).ivl, col.get_card(c).due, col.get_card(c).type) for c in col.find_cards("")} == sched


def test_moved_card_source_updates(project, col):
    _content(project)
    import_apkg(col, _build(project))
    assert _notes(col)["act.code"]["Source"] == "content/01-act.md:25"
    kept, moved = BASE.split("## Code and tables {#act.code}")
    write(project / "content", "01-act.md", kept)
    write(project / "content", "02-more.md", "# 激活函数\n\n## Code and tables {#act.code}" + moved)
    log = import_apkg(col, _build(project))
    assert [n.fields[-1] for n in log.updated] == ["act.code"]  # only the moved note is newer
    assert _notes(col)["act.code"]["Source"] == "content/02-more.md:7"


def test_unchanged_notes_are_not_newer(project, col):
    _content(project)
    import_apkg(col, _build(project))
    assert run("build", "--only", "deck", "-q", "--force") == 0  # a new file, written from the same notes
    log = import_apkg(col, next((project / "build").glob("*.apkg")))
    assert len(log.updated) == 0 and len(log.new) == 0
    assert sorted(n.fields[-1] for n in log.duplicate) == sorted(_notes(col))


def test_same_sources_give_identical_notes(project, tmp_path):
    _content(project)
    first = _build(project)
    copy = tmp_path / "first.apkg"
    shutil.copy(first, copy)
    shutil.rmtree(project / "build")
    second = _build(project)
    rows = []
    for i, apkg in enumerate((copy, second)):
        (tmp_path / f"c{i}").mkdir()
        c = Collection(str(tmp_path / f"c{i}" / "collection.anki2"))
        import_apkg(c, apkg)
        rows.append(sorted(c.db.all("select guid, flds, mod, tags from notes")))
        c.close()
    assert rows[0] == rows[1]


def test_edit_advances_mod_only_for_that_note(project):
    _content(project)
    _build(project)
    import json
    lock1 = json.loads((project / "content" / "deck.lock.json").read_text())
    write(project / "content", "01-act.md", BASE.replace("The maximum is", "Its maximum is"))
    _build(project)
    lock2 = json.loads((project / "content" / "deck.lock.json").read_text())
    assert lock2["notes"]["act.why"] == lock1["notes"]["act.why"]
    assert lock2["notes"]["act.sigmoid-max"]["mod"] > lock1["notes"]["act.sigmoid-max"]["mod"]
    assert lock2["notes"]["act.sigmoid-max"]["hash"] != lock1["notes"]["act.sigmoid-max"]["hash"]


def test_source_field_does_not_depend_on_where_the_build_ran(project, tmp_path, col, monkeypatch):
    _content(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run("build", "--only", "deck", "-q", "--content", str(project / "content"), "--out", "out") == 0
    import_apkg(col, next((elsewhere / "out").glob("*.apkg")))
    assert _notes(col)["act.why"]["Source"] == "content/01-act.md:9"


CHECKED = """
# 正则化

## L2 的驻点 {#reg.stationary}

验证一维时这是损失的驻点：

```check
\\frac{d}{dw}\\left(\\frac{1}{2}(w - 3)^{2} + \\frac{1}{2} w^{2}\\right) = 2 w - 3
\\frac{1}{1 + e^{-2}} \\approx 0.8808 % tol=1e-4
```

::: details
细节里的验算：

```check
2^{5} = 32
```
:::

## 填空里的验算 {#reg.cloze}

$\\frac{1}{4}$ 是 {{c1::sigmoid 导数的最大值}}：

```check
\\frac{1}{4} = 0.25
```
"""


def test_check_blocks_show_on_the_card_back(project, col):
    _content(project, CHECKED)
    import_apkg(col, _build(project))
    notes = _notes(col)
    basic = notes["reg.stationary"].cards()[0]
    front, back = basic.question(), basic.answer()
    assert "已由 sympy 验证" not in front
    # the lead-in sentence is followed by the box, each relation typeset and marked as verified
    box = back[back.index("验证一维时这是损失的驻点："):]
    assert box.index('<div class="check">') < box.index("✓ 已由 sympy 验证")
    assert "\\(\\displaystyle \\frac{d}{dw}" in box
    assert "\\(\\displaystyle \\frac{1}{1 + e^{-2}} \\approx 0.8808\\)" in box  # the "% tol" comment is gone
    assert back.count("✓ 已由 sympy 验证") == 2  # the Extra field's block too
    assert back.count("\\(") == back.count("\\)")
    cloze = notes["reg.cloze"].cards()[0]
    assert "✓ 已由 sympy 验证" in cloze.answer() and "\\frac{1}{4} = 0.25" in cloze.answer()
    # the cloze text is on the front too: there the box is hidden, since it may give the answer away
    front = cloze.question()
    assert front.index('<div class="answer front">') < front.index('<div class="check">')
    assert ".front .check { display: none; }" in col.models.by_name("DL Study · Cloze")["css"]
    assert "check-line" in col.models.by_name("DL Study · Basic")["css"]


def test_note_guids_are_genankis(project, col):
    """The GUID is how Anki finds the note to update: ours must stay genanki's guid_for, byte for byte."""
    import genanki

    from generator.emit.anki import NAMESPACE, guid

    for note_id in ["act.why", "a", "x" * 300, "中文-id", "0", "cnn.output-size", *map(str, range(2000))]:
        assert guid(note_id) == genanki.guid_for(NAMESPACE, note_id)
    _content(project)
    import_apkg(col, _build(project))
    stored = {i: note.guid for i, note in _notes(col).items()}
    assert len(stored) == 3 and all(g == genanki.guid_for(NAMESPACE, i) for i, g in stored.items())


def test_wide_display_formula_scrolls_inside_a_phone_width_card(project, col, browser):
    """A card as Anki shows it (the note type's CSS, MathJax 3 CHTML from npm mathjax-full) at 360 px:
    a display formula wider than the screen scrolls in its line; the card itself never gets wider."""
    from generator.resources import MATHJAX_DIR

    wide = " + ".join(f"\\frac{{x_{{{i}}}^2}}{{\\sigma_{{{i}}}}}" for i in range(1, 25))
    write(project / "content", "a.md", f"# 章\n\n## 很宽的公式 {{#w.q}}\n\n$$\nS = {wide}\n$$\n")
    assert run("build", "--only", "deck", "-q") == 0
    import_apkg(col, next((project / "build").glob("*.apkg")))
    card = col.get_card(col.find_cards("")[0])
    script = (MATHJAX_DIR / "es5" / "tex-chtml.js").as_uri()
    page = project / "card.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f'<script src="{script}"></script></head><body class="card mobile">{card.answer()}</body></html>',
        encoding="utf-8")
    tab = browser.new_page(viewport={"width": 360, "height": 640})
    try:
        tab.goto(page.as_uri())
        tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30000)
        tab.evaluate("MathJax.startup.promise")
        got = tab.evaluate("""() => {
            const box = document.querySelector('mjx-container[display="true"]');
            return {page: document.documentElement.scrollWidth, view: window.innerWidth,
                    inner: box ? box.scrollWidth : 0, shown: box ? box.clientWidth : 0};
        }""")
    finally:
        tab.close()
    assert got["inner"] > got["view"], got  # the formula really is wider than the phone
    assert got["page"] <= got["view"] and got["shown"] <= got["view"], got
