"""Formulas that used to hang or crash the build: each is bounded, and named in a warning if it must be."""
from __future__ import annotations

import os
import signal
import time

import pytest

from conftest import write
from generator import mathrender, workers
from generator.location import Diagnostics
from generator.parse import parse_corpus
from generator.verify import verify_document


def verify(tmp_path, body: str, limits: workers.Limits = workers.Limits()):
    write(tmp_path / "c", "a.md", body)
    diags = Diagnostics()
    doc = parse_corpus(tmp_path / "c", diags)
    return verify_document(doc, diags, None, limits), diags


def nested(levels: int) -> str:
    tex = "x"
    for _ in range(levels):
        tex = "\\frac{1}{1+" + tex + "}"
    return tex


def test_huge_magnitudes_are_compared_not_multiplied_out(tmp_path):
    body = ("## Q {#q}\n\nInline $10^{10^{10}} > 1$ and\n\n$$(10^{8})! > 1$$\n\n$$2^{2^{2^{2^{2^{2}}}}} > 1$$\n\n"
            "$$10^{10^{10}} < 1$$\n")
    results, diags = verify(tmp_path, body)
    assert sorted(s.status for s in results.values()) == ["failed", "verified", "verified", "verified"]
    (err,) = diags.errors
    assert err.loc.line == 13 and "claim is false" in err.message


def test_too_large_even_for_floating_point_is_a_named_warning(tmp_path):
    results, diags = verify(tmp_path, "## Q {#q}\n\n$$2^{2^{2^{2^{2^{2^{2}}}}}} > 1$$\n")
    (status,) = results.values()
    assert status.status == "not-checkable" and "too large" in status.detail
    assert not diags.errors


def test_deep_nesting_never_takes_the_process_down(tmp_path):
    """Five 30-level fractions used to abort the process inside the embedded JavaScript engine."""
    body = "## Q {#q}\n\n" + "".join(f"$$\n{nested(30)} = {i}\n$$\n\n" for i in range(5))
    body += f"$$\n{nested(60)}\n$$\n"
    results, diags = verify(tmp_path, body)
    assert not diags.errors, [str(d) for d in diags.errors]  # valid LaTeX is never "invalid"
    deep = [d for d in diags.warnings if "nested" in d.message]
    assert len(deep) == 6 and all(d.message.startswith("not checkable: nested") for d in deep)
    assert all(s.status == "not-checkable" for s in results.values())


def test_emitters_render_deep_formulas_safely():
    for _ in range(5):  # in this very process: a crash would end the test run
        with pytest.raises(ValueError, match="nested 30 levels deep"):
            mathrender.render(nested(30), True)
    html = mathrender.render(nested(18), True)  # deeper than the in-process limit, within KaTeX's: isolated
    assert "katex" in html
    assert mathrender.syntax_error(nested(60))[0].startswith("nested ")


@pytest.mark.parametrize("comment, message", [
    ("tol=1e999", "outside"), ("tol=e", "is not a number"), ("tol=-1", "outside"), ("tol=0.9", "outside")])
def test_tolerances_are_bounded(tmp_path, comment, message):
    _, diags = verify(tmp_path, f"## Q {{#q}}\n\n```check\n1 \\approx 2 % {comment}\n```\n")
    (err,) = diags.errors
    assert "check line is not verifiable" in err.message and message in err.message


def test_time_limit_is_named(tmp_path):
    body = "## Q {#big-sum}\n\n$$\n\\sum_{k=1}^{100000} \\frac{1}{k^{2}} < 2\n$$\n"
    results, diags = verify(tmp_path, body, workers.Limits(seconds=0.5))
    (w,) = diags.warnings
    assert w.message == "not checkable: time limit of 0.5 s per formula exceeded" and w.loc.line == 8
    assert [s.status for s in results.values()] == ["not-checkable"]


# --------------------------------------------------------------------------- the worker pool itself

def _square(x):
    return x * x


def _misbehave(kind):
    if kind == "stuck":  # where an alarm cannot reach: the parent must kill the worker
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)
    if kind == "crash":
        os.abort()
    if kind == "memory":
        return len(bytearray(4 * 1024 ** 3))
    if kind == "slow":
        while True:
            pass
    return kind


def test_pool_returns_results_in_order():
    assert [o.value for o in workers.run(_square, list(range(50)))] == [x * x for x in range(50)]


def test_pool_survives_every_kind_of_failure():
    limits = workers.Limits(seconds=1.0, memory_mb=1024)
    out = workers.run(_misbehave, ["a", "stuck", "b", "crash", "c", "memory", "slow", "d"], limits)
    assert [o.value for o in out if not o.limit] == ["a", "b", "c", "d"]
    stuck, crash, memory, slow = (out[i].limit for i in (1, 3, 5, 6))
    assert stuck == slow == "time limit of 1 s per formula exceeded"
    assert "crashed (SIGABRT)" in crash
    assert memory == "memory limit of 1024 MB per formula exceeded"


def test_random_formulas_never_crash_the_driver():
    """Seeded random token soup through the real claim checker in workers: a verdict or a named limit."""
    import random

    from generator.claims import run_claim
    from generator.relations import ClaimTask
    tokens = ["x", "y", "n", "i", "2", "10", "0.5", "+", "-", "^", "_", "{", "}", "(", ")", "\\frac{", "}{",
              "\\sqrt{", "\\sum_{k=1}^{n}", "\\int_0^1", "\\lim_{x \\to 0}", "!", "\\binom{", "\\left|", "\\right|",
              "\\begin{pmatrix}", "\\end{pmatrix}", "&", "\\\\", "\\det", "^{\\top}", "\\|", "\\ln", "e^{", "\\pi"]
    relations = ["=", "<", "\\le", "\\approx"]
    rng = random.Random(14)
    tasks = []
    for _ in range(60):
        side = lambda: "".join(rng.choice(tokens) for _ in range(rng.randint(1, 9)))  # noqa: E731
        tasks.append(ClaimTask(" ".join((side(), rng.choice(relations), side())), "", ()))
    out = workers.run(run_claim, tasks, workers.Limits(seconds=5))
    for o in out:
        assert o.limit or o.value[0] in ("verified", "failed", "not-checkable"), o
