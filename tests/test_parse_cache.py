"""The parse stage's cache and workers: the same model and the same diagnostics, whichever way a file
was parsed (here, in worker processes, or read back from OUT/.cache/parse.json)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import write
from generator import parse, workers
from generator.location import Diagnostics
from generator.parse import parse_corpus

GOLDEN = Path(__file__).resolve().parent / "golden" / "html" / "content"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082")

# one file with a problem of every kind the parser reports, and then some that are fine
TROUBLE = r"""
# 有问题的一章

引言 $a^2 + b^2 = c^2$，私用字符 \ue000 在这里。

## 没有 id 的问题

答案 $1 + 1 = 2$，**没有关闭的强调，<script>alert(1)</script> 和 <span onclick="x">s</span>。

## 填空 {{#t{k}.cloze}}

{{{{c1::答案}}}} 是答案。链接 [别处](#nowhere)，图片 ![缺](missing.png)，![有](pic.png)，![外](../../x.png)

## 坏 id {{#bad id}}

$$
f(x) = x^2 {{{{c1::x}}}}
$$

## 未闭合 {{#t{k}.fence}}

```python
print(1)

## 被吞掉的问题 {{#t{k}.swallowed}}
"""


def corpus(root: Path, copies: int = 6) -> Path:
    shutil.copytree(GOLDEN, root)
    (root / "pic.png").write_bytes(PNG)
    for k in range(copies):
        write(root, f"t{k:02d}.md", TROUBLE.replace("\\ue000", "\ue000").format(k=k), deck=f"Trouble::T{k}")
    return root


def parsed(root: Path, cache: Path | None = None):
    parse._PARSED.clear()  # no help from the in-process cache (the watcher's): every call reads or parses
    diags = Diagnostics()
    doc = parse_corpus(root, diags, cache_dir=cache)
    return doc, [str(d) for d in diags.items]


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(parse, "_PARSED", {})  # leave the real one as it was


def parallel(monkeypatch) -> list[int]:
    """Make parse_corpus use two worker processes whatever the machine; returns the batch sizes."""
    monkeypatch.setattr(parse, "PARALLEL_MIN_CHARS", 0)
    monkeypatch.setattr(workers, "cpu_count", lambda: 2)
    sizes = []
    real = workers.map_in_processes

    def spy(fn, items, n, meanwhile=None):
        items = list(items)
        sizes.extend(len(b) for b in items)
        return real(fn, items, n, meanwhile=meanwhile)
    monkeypatch.setattr(workers, "map_in_processes", spy)
    return sizes


def count_parses(monkeypatch) -> list[str]:
    seen = []
    real = parse.parse_text

    def spy(md, path, *args, **kw):
        seen.append(path.name)
        return real(md, path, *args, **kw)
    monkeypatch.setattr(parse, "parse_text", spy)
    return seen


def test_worker_processes_give_the_serial_model_and_diagnostics(tmp_path, monkeypatch):
    """This process parses its share while a worker parses the rest."""
    root = corpus(tmp_path / "c")
    serial_doc, serial_diags = parsed(root)
    for said in ("private-use character", "has no {#id}", "'**' left as literal", "link to unknown card",
                 "image 'missing.png' not found", "leaves the content folder", "invalid id 'bad id'",
                 "cloze '{{c1::' inside math", "code fence is never closed", "duplicate id"):
        assert any(said in d for d in serial_diags), said
    batches = parallel(monkeypatch)
    doc, diags = parsed(root)
    assert 0 < sum(batches) < len(list(root.glob("*.md"))) and len(batches) == 1
    assert doc == serial_doc
    assert diags == serial_diags


@pytest.mark.parametrize("before", [True, False])
def test_a_worker_that_cannot_start_or_dies_leaves_the_parse_to_this_process(tmp_path, monkeypatch, before):
    root = corpus(tmp_path / "c")
    expected = parsed(root)
    parallel(monkeypatch)

    def broken(fn, items, n, meanwhile=None):
        if not before:
            meanwhile()  # this process's share is done, the workers' is lost
        raise OSError("no processes")
    monkeypatch.setattr(workers, "map_in_processes", broken)
    assert parsed(root) == expected


def test_the_cache_replays_the_model_and_every_diagnostic(tmp_path, monkeypatch):
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    expected = parsed(root)
    assert parsed(root, cache) == expected  # parsed, and written to the cache
    assert (cache / "parse.json").is_file()
    seen = count_parses(monkeypatch)
    assert parsed(root, cache) == expected  # read back: warnings and errors included
    assert seen == []


def test_the_cache_from_worker_processes_is_the_same(tmp_path, monkeypatch):
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    expected = parsed(root)
    parallel(monkeypatch)
    assert parsed(root, cache) == expected
    seen = count_parses(monkeypatch)
    assert parsed(root, cache) == expected
    assert seen == []


def test_an_edit_reparses_that_file_only(tmp_path, monkeypatch):
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    parsed(root, cache)
    target = root / "t03.md"
    target.write_text(target.read_text(encoding="utf-8").replace("答案 $1 + 1 = 2$", "新的答案 $1 + 2 = 3$"),
                      encoding="utf-8")
    seen = count_parses(monkeypatch)
    doc, diags = parsed(root, cache)
    assert seen == ["t03.md"]
    fresh = parsed(root)
    assert (doc, diags) == fresh
    assert any("新的答案" in n.answer.text for n in doc.notes)


def test_an_image_that_appears_or_changes_invalidates_the_files_that_use_it(tmp_path, monkeypatch):
    root, cache = tmp_path / "c", tmp_path / "out" / ".cache"
    write(root, "a.md", "# A\n\n## Q {#a.q}\n\n![图](fig.png)\n")
    write(root, "b.md", "# B\n\n## R {#b.r}\n\n没有图。\n")
    _, diags = parsed(root, cache)
    assert any("image 'fig.png' not found" in d for d in diags)
    seen = count_parses(monkeypatch)
    (root / "fig.png").write_bytes(PNG)
    doc, diags = parsed(root, cache)
    assert seen == ["a.md"] and diags == []
    assert next(doc.notes).answer.images[0].path == (root / "fig.png").resolve()
    (root / "fig.png").write_bytes(b"GIF89a" + bytes(20))  # now a GIF named .png
    _, diags = parsed(root, cache)
    assert seen == ["a.md", "a.md"]
    assert any("contains a GIF image but its name ends in '.png'" in d for d in diags)


def test_the_cache_holds_only_the_files_of_the_last_parse(tmp_path):
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    parsed(root, cache)
    before = len(json.loads((cache / "parse.json").read_text(encoding="utf-8"))["entries"])
    assert before == len(list(root.glob("*.md")))
    for p in list(root.glob("t0*.md"))[:3]:
        p.unlink()
    parsed(root, cache)
    assert len(json.loads((cache / "parse.json").read_text(encoding="utf-8"))["entries"]) == before - 3


def test_the_same_file_under_another_path_is_not_taken_from_the_cache(tmp_path, monkeypatch):
    """Locations carry the path as given: a cache entry is for that path only."""
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    parsed(root, cache)
    monkeypatch.chdir(tmp_path)
    doc, diags = parsed(Path("c"), cache)
    assert (doc, diags) == parsed(Path("c"))
    assert all(str(f.path).startswith("c/") for f in doc.files)


def test_a_damaged_cache_is_ignored(tmp_path):
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    expected = parsed(root)
    parsed(root, cache)
    data = json.loads((cache / "parse.json").read_text(encoding="utf-8"))
    for key in list(data["entries"])[:2]:
        data["entries"][key] = [[None, []], {}]  # not what this code writes
    (cache / "parse.json").write_text(json.dumps(data), encoding="utf-8")
    assert parsed(root, cache) == expected
    (cache / "parse.json").write_text("{not json", encoding="utf-8")
    assert parsed(root, cache) == expected


def test_a_long_running_process_keeps_the_entries_of_files_it_did_not_read_again(tmp_path, monkeypatch):
    """The watcher re-reads only changed files (the in-process cache knows the rest): the parse cache must
    keep the others' entries, or the next `make deck` parses everything again."""
    root, cache = corpus(tmp_path / "c"), tmp_path / "out" / ".cache"
    parse_corpus(root, Diagnostics(), cache_dir=cache)  # fills the in-process cache too
    target = root / "t01.md"
    target.write_text(target.read_text(encoding="utf-8") + "\n额外的一行。\n", encoding="utf-8")
    seen = count_parses(monkeypatch)
    parse_corpus(root, Diagnostics(), cache_dir=cache)
    assert seen == ["t01.md"]
    from_cache = parsed(root, cache)  # as a fresh process: everything from parse.json
    assert seen == ["t01.md"]
    assert from_cache == parsed(root)
