"""The verify stage's per-file results: an unchanged file is one cache lookup, with the same statuses and
the same problems, in the same order, as when its formulas were checked."""
from __future__ import annotations

import json

import pytest

from conftest import write
from generator import verify, workers
from generator.location import Diagnostics
from generator.parse import parse_corpus

A = r"""
# 甲

## 定义与结论 {#a.q}

$$
f(x) = x^2 + 1
$$

$$
f(2) = 5 \quad f(3) = 11
$$

内联 $2 + 2 = 5$ 和 $\frac{1}{$，以及 $x$。

```check
2 + 2 = 4
\sin(0) = 1
x \propto y
```
"""

B = r"""
# 乙

## 另一个文件 {#b.q}

$$
g(t) = 3t
$$

$$
g(1) = 3 \qquad 1 + 1 = 3
$$

$$
\left( x
$$
"""


def run(root, cache):
    diags = Diagnostics()
    results = verify.verify_document(parse_corpus(root, diags), diags, cache_dir=cache)
    return [(str(f.loc), f.tex, s.status, s.detail) for f, s in results.items()], [str(d) for d in diags.items]


@pytest.fixture
def tasks(monkeypatch) -> list:
    """Every formula sent to a worker (KaTeX syntax or sympy claim)."""
    sent = []
    real = workers.run

    def spy(fn, items, *args, **kw):
        sent.extend(items)
        return real(fn, items, *args, **kw)
    monkeypatch.setattr(workers, "run", spy)
    return sent


def test_unchanged_files_are_not_classified_again_and_say_the_same(tmp_path, monkeypatch, tasks):
    root, cache = tmp_path / "c", tmp_path / "out" / ".cache"
    write(root, "a.md", A)
    write(root, "b.md", B)
    first = run(root, cache)
    results, said = first
    # both passes report, in two files: every syntax problem first, then the claims (not in file order)
    assert ["invalid LaTeX" in d for d in said] == [True, True, False, False, False, False]
    assert [d.split(":")[0][-4:] for d in said] == ["a.md", "b.md", "a.md", "a.md", "a.md", "b.md"]
    assert {s for _, _, s, _ in results} >= {"definition", "verified", "failed", "inline", "not-checkable"}
    assert run(root, None) == first  # the same as without any cache
    tasks.clear()

    def no(*args):
        raise AssertionError("classified again")
    monkeypatch.setattr(verify, "classify_definition", no)
    assert run(root, cache) == first
    assert tasks == []


def test_an_edit_checks_that_file_again_and_keeps_the_others_checks(tmp_path, monkeypatch, tasks):
    root, cache = tmp_path / "c", tmp_path / "out" / ".cache"
    write(root, "a.md", A)
    write(root, "b.md", B)
    run(root, cache)
    run(root, cache)  # every file from its cached results: their checks must stay in the cache
    entries = json.loads((cache / "verify.json").read_text(encoding="utf-8"))["entries"]
    assert sum(1 for v in entries.values() if isinstance(v, list) and len(v) == 3 and isinstance(v[2], str)) == 2
    tasks.clear()
    write(root, "a.md", A.replace("2 + 2 = 4", "3 + 3 = 6"))
    results, said = run(root, cache)
    assert [getattr(t, "tex", None) for t in tasks] == ["3 + 3 = 6", "3 + 3 = 6"]  # its syntax, then the claim
    fresh = run(root, None)
    assert (results, said) == fresh
