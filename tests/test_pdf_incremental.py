"""An incremental PDF build (parts laid out again only when they changed) gives the same file as a build
from scratch, after edits that keep a chapter's page count, add a page, add a question and add a chapter."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import run, write

EPOCH = "1780000000"
FILLER = "这一段是为了占据版面而写的说明文字，讲的是训练中的一个常见做法和它背后的原因。" * 6


def chapter(n: int, questions: int, xref: str) -> str:
    body = [f"# 第{n}组问题\n\n本章引言，提到[梯度]{{.term}}。\n"]
    for q in range(1, questions + 1):
        body.append(f"## 问题 {n}.{q} 是什么？ {{#c{n}.q{q}}}\n\n{FILLER}\n\n$$\ny_{{{n}{q}}} = x^{{{q}}} + {n}\n$$\n\n"
                    f"{FILLER}参见[另一题](#{xref})，以及[梯度]{{.term}}。\n")
    return "\n".join(body)


def pages_text(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


def outline(pdf: Path) -> list[tuple[str, int]]:
    reader = PdfReader(pdf)
    items: list[tuple[str, int]] = []

    def walk(nodes):
        for node in nodes:
            if isinstance(node, list):
                walk(node)
            else:
                items.append((node.title, reader.get_destination_page_number(node) + 1))
    walk(reader.outline)
    return items


def toc_numbers(texts: list[str]) -> list[str]:
    return re.findall(r"(\d+\.\d+)\s.*?(\d+)\s*$", texts[1], re.M)


def build(project: Path, out: str) -> Path:
    assert run("build", "--only", "pdf", "-q", "--out", out) == 0
    (pdf,) = (project / out).glob("*.pdf")
    return pdf


@pytest.fixture
def corpus(project, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    write(project / "content", "a.md", chapter(1, 4, "c2.q1"))
    write(project / "content", "b.md", chapter(2, 3, "c1.q4"))
    write(project / "content", "c.md", chapter(3, 3, "c1.q1"))
    return project


def same_as_scratch(project: Path) -> Path:
    """Build incrementally into build/ and from scratch into a fresh folder; the PDFs must be identical."""
    incremental = build(project, "build")
    shutil.rmtree(project / "scratch", ignore_errors=True)
    scratch = build(project, "scratch")
    a, b = pages_text(incremental), pages_text(scratch)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b), 1):
        assert x == y, f"page {i} differs"
    assert outline(incremental) == outline(scratch)
    assert toc_numbers(a) == toc_numbers(b) and toc_numbers(a)
    assert incremental.read_bytes() == scratch.read_bytes()
    return incremental


def test_incremental_builds_equal_scratch_builds(corpus):
    first = build(corpus, "build")
    pages = len(PdfReader(first).pages)
    parts = corpus / "build" / ".cache" / "pdf" / "parts"
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.pdf")}

    # (a) one answer edited, same page count: only that chapter (and its overlay) is laid out again
    path = corpus / "content" / "b.md"
    path.write_text(path.read_text(encoding="utf-8").replace("常见做法", "常用做法", 1), encoding="utf-8")
    pdf = same_as_scratch(corpus)
    assert len(PdfReader(pdf).pages) == pages
    after = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.pdf")}
    assert len(set(after) - set(before)) <= 2 and len(set(before) & set(after)) >= len(before) - 2

    # (b) a page more in chapter 1: every later page number moves
    path = corpus / "content" / "a.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "## 问题 1.2", f"{FILLER}\n\n{FILLER}\n\n{FILLER}\n\n## 问题 1.2"), encoding="utf-8")
    pdf = same_as_scratch(corpus)
    assert len(PdfReader(pdf).pages) > pages

    # (c) a question added to chapter 2
    with path.with_name("b.md").open("a", encoding="utf-8") as f:
        f.write(f"\n## 新加的问题？ {{#c2.new}}\n\n{FILLER}参见[第一章](#c1.q1)。\n")
    pdf = same_as_scratch(corpus)
    assert any(t.startswith("2.4 新加的问题") for t, _ in outline(pdf))

    # (d) a chapter added between two others
    write(corpus / "content", "b2.md", chapter(9, 2, "c3.q1"))
    pdf = same_as_scratch(corpus)
    assert [t for t, _ in outline(pdf) if t.startswith("第")][2] == "第 3 章\u3000第9组问题"
