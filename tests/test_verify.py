"""Formula verification: a table of true and false claims, syntax errors, definitions, the unverifiable path."""
from __future__ import annotations

import json

import pytest

from conftest import run, write
from generator.location import Diagnostics
from generator.parse import parse_corpus
from generator.claims import Scope, check_relation
from generator.relations import classify_definition
from generator.verify import verify_document

SIGMA = "$$\n\\sigma(x) = \\frac{1}{1 + e^{-x}}\n$$\n\n"


def verify(tmp_path, body: str, cache=None):
    write(tmp_path / "c", "a.md", body)
    diags = Diagnostics()
    doc = parse_corpus(tmp_path / "c", diags)
    results = verify_document(doc, diags, cache)
    return results, diags


def check_block(*lines: str) -> str:
    return "## Q {#q}\n\n" + SIGMA + "```check\n" + "\n".join(lines) + "\n```\n"


TRUE = [
    "\\sigma'(x) = \\sigma(x)\\left(1 - \\sigma(x)\\right)",
    "\\frac{d}{dx}\\sigma(x) = \\sigma(x)(1 - \\sigma(x))",
    "\\tanh(x) = 2\\sigma(2x) - 1",
    "\\tanh x = \\frac{e^{x}-e^{-x}}{e^{x}+e^{-x}}",
    "\\frac{d}{dx}\\tanh x = 1-\\tanh^{2}x",
    "\\tanh'(0) = 1",
    "1 - \\sigma(x) = \\sigma(-x)",
    "\\sigma'(0) = \\frac{1}{4}",
    "\\frac{e^{1}}{e^{1}+e^{2}+e^{3}} + \\frac{e^{2}}{e^{1}+e^{2}+e^{3}} + \\frac{e^{3}}{e^{1}+e^{2}+e^{3}} = 1",
    "\\left\\lfloor \\frac{227 + 2 \\cdot 0 - 11}{4} \\right\\rfloor + 1 = 55",
    "\\left\\lfloor \\frac{224 - 11}{4} \\right\\rfloor + 1 = 54",
    "\\frac{2 \\cdot 3 \\cdot 3}{5 \\cdot 5} = 0.72",
    "7 \\times 2^{5} = 224",
    "1 + 2 \\cdot (3 - 1) + 2 \\cdot 2 \\cdot (3 - 1) = 13",
    "\\left(\\tfrac{1}{4}\\right)^{10} = \\frac{1}{1\\,048\\,576} \\approx 9.54 \\times 10^{-7}",
    "\\sum_{i=1}^{3} i = 6",
    "\\sigma'(x) \\le \\frac{1}{4}",
    "\\ln(1 + e^{x}) > x",
    "\\max(0, -3) = 0",
]
FALSE = [
    ("7 \\times 2^{6} = 228", "left = 448, right = 228"),
    ("\\sigma'(x) = \\sigma(x)\\left(1 + \\sigma(x)\\right)", "claim is false"),
    ("\\frac{d}{dx}\\tanh x = 1 + \\tanh^{2}x", "claim is false"),
    ("\\frac{d}{dx} e^{-x} = e^{-x}", "claim is false"),
    ("2^{10} = 1000", "left = 1024, right = 1000"),
    ("\\left\\lfloor \\frac{224 - 11}{4} \\right\\rfloor + 1 = 55", "left = 54, right = 55"),
    ("\\frac{1}{3} \\approx 0.3", "claim is false"),
]


@pytest.mark.parametrize("line", TRUE)
def test_true_claims_verify(tmp_path, line):
    results, diags = verify(tmp_path, check_block(line))
    assert not diags.errors, [str(d) for d in diags.errors]
    statuses = [s.status for f, s in results.items() if f.tex == line]
    assert statuses == ["verified"]


@pytest.mark.parametrize("line, shown", FALSE)
def test_false_claims_fail_with_both_sides(tmp_path, line, shown):
    _, diags = verify(tmp_path, check_block(line))
    (err,) = diags.errors
    assert err.loc.line == 12 and err.loc.col == 1
    assert "claim is false" in err.message and shown in err.message


def test_error_message_format(tmp_path):
    _, diags = verify(tmp_path, "## Q {#q}\n\nSo $$7 \\times 2^{6} = 228$$ here.\n")
    assert [str(d).split("a.md:")[1] for d in diags.errors] == [
        "7:6: error: claim is false: 7 \\times 2^{6} = 228 (left = 448, right = 228)"]


@pytest.mark.parametrize("tex, col, message", [
    ("\\frac{1}{2", 0, "expected '}'"),
    ("a + \\foo x", 5, "Undefined control sequence"),
    ("\\left( x", 0, "right"),
])
def test_syntax_errors_point_into_the_formula(tmp_path, tex, col, message):
    _, diags = verify(tmp_path, f"## Q {{#q}}\n\nText ${tex}$ more.\n")
    (err,) = diags.errors
    assert message in err.message
    assert err.loc.line == 7
    if col:
        assert err.loc.col == len("Text $") + col


def test_syntax_error_in_display_block_line(tmp_path):
    _, diags = verify(tmp_path, "## Q {#q}\n\n$$\nx = 1 +\n  y \\nope z\n$$\n")
    (err,) = diags.errors
    assert (err.loc.line, err.loc.col) == (9, 5)


def test_definitions_are_used_later_and_are_not_claims(tmp_path):
    body = ("## A {#a}\n\n$$\nf(x, y) = x^{2} y\n$$\n\n"
            "$$\no = \\left\\lfloor \\frac{n + 2p - k}{s} \\right\\rfloor + 1\n$$\n\n"
            "$$\ny = Wx + b\n$$\n\n"
            "## B {#b}\n\n$$\n\\frac{\\partial}{\\partial x} f(x, y) = 2 x y\n$$\n")
    results, diags = verify(tmp_path, body)
    assert not diags.errors
    by_tex = {f.tex: s.status for f, s in results.items()}
    assert by_tex["f(x, y) = x^{2} y"] == "definition"
    assert by_tex["o = \\left\\lfloor \\frac{n + 2p - k}{s} \\right\\rfloor + 1"] == "definition"
    assert by_tex["y = Wx + b"] == "definition"
    assert by_tex["\\frac{\\partial}{\\partial x} f(x, y) = 2 x y"] == "verified"


def test_definitions_do_not_leak_across_files(tmp_path):
    write(tmp_path / "c", "b.md", "## B {#b}\n\n```check\n\\sigma(0) = \\frac{1}{2}\n```\n")
    _, diags = verify(tmp_path, "## A {#a}\n\n" + SIGMA + "```check\n\\sigma(0) = \\frac{1}{2}\n```\n")
    (err,) = diags.errors
    assert err.loc.path.name == "b.md" and "not verifiable" in err.message and "sigma" in err.message


def test_not_checkable_is_reported_never_verified(tmp_path):
    results, diags = verify(tmp_path, "## Q {#q}\n\n$$\nJ(\\theta) = -\\frac{1}{m}\\sum_{i} \\log p_\\theta(x_i) \\ne \\mathbb{E}[x]\n$$\n")
    assert not diags.errors
    (status,) = results.values()
    assert status.status == "not-checkable" and status.detail


def test_check_line_must_be_verifiable(tmp_path):
    _, diags = verify(tmp_path, check_block("\\mathbb{E}[x] = \\mu"))
    (err,) = diags.errors
    assert "check line is not verifiable" in err.message


def test_tolerance_comment_on_check_line(tmp_path):
    _, diags = verify(tmp_path, check_block("\\pi \\approx 3.14 % tol=1e-3"))
    assert not diags.errors
    _, diags = verify(tmp_path, check_block("\\pi \\approx 3.14 % tol=1e-5"))
    assert len(diags.errors) == 1


def test_inline_numeric_relations_are_checked_and_prose_is_not(tmp_path):
    results, diags = verify(tmp_path, "## Q {#q}\n\nWe have $2^5 = 32$, $2^5 = 33$ and $a = b$.\n")
    assert [d.message for d in diags.errors] == ["claim is false: 2^5 = 33 (left = 32, right = 33)"]
    assert sorted(s.status for s in results.values()) == ["failed", "inline", "verified"]


def test_classify_definition():
    scope = set()
    assert classify_definition("\\theta_t = \\theta_{t-1} - \\eta g_t", scope) == "quantity"
    assert classify_definition("x = x + 1", scope) is None
    assert classify_definition("\\tanh x = 2\\sigma(2x) - 1", scope) is None
    d = classify_definition("\\operatorname{softplus}(x) = \\ln(1 + e^{x})", scope)
    assert d.name == "softplus" and d.params == ("x",)


def test_cache_skips_sympy_on_rebuild(tmp_path):
    body = check_block("\\sigma'(0) = \\frac{1}{4}", "7 \\times 2^{6} = 448")
    cache = tmp_path / "cache"
    verify(tmp_path, body, cache)
    data = json.loads((cache / "verify.json").read_text())
    assert len(data["entries"]) >= 4
    import generator.workers as w
    calls = []
    original = w.run
    w.run = lambda fn, tasks, *a, **k: calls.extend(tasks) or original(fn, tasks, *a, **k)
    try:
        results, diags = verify(tmp_path, body, cache)
    finally:
        w.run = original
    assert calls == [] and not diags.errors
    assert {s.status for s in results.values()} >= {"verified", "definition"}


def test_check_command_writes_report_and_summary(project, capsys):
    source = write(project / "content", "a.md", check_block("2^{5} = 32"))
    before = source.read_bytes()
    assert run("check") == 0
    assert source.read_bytes() == before  # the report goes to build/, never over a note
    err = capsys.readouterr().err
    assert "verified" in err and "content/a.md" in err
    report = json.loads((project / "build" / "check-report.json").read_text())
    assert report["totals"]["verified"] == 1 and report["totals"]["definition"] == 1
    assert {"file", "line", "col", "tex", "status", "detail"} <= set(report["formulas"][0])


def test_definitions_with_greek_parameters():
    d = classify_definition("L(x, \\lambda, \\alpha) = x + \\lambda", set())
    assert (d.name, d.params) == ("L", ("x", "lambda", "alpha"))
    scope = Scope((classify_definition("g(\\theta) = \\theta^{2}", set()),))
    assert check_relation("g(3) = 9", scope).how == "exactly"


@pytest.mark.parametrize("tex, kind", [
    ("\\hat{m}_t = \\frac{m_t}{1-\\beta_1^{t}}", "quantity"),
    ("\\tilde w_i = \\frac{\\lambda_i}{\\lambda_i + \\alpha}\\, w_i^{*}", "quantity"),
    ("D^{*}(x) = \\frac{p(x)}{p(x) + q(x)}", "quantity"),
    ("\\sigma_B^{2} := \\frac{1}{m}\\sum_{i=1}^{m} x_i", "quantity"),
    ("\\hat x = \\hat x + 1", None),
    ("\\hat{a} + 1 = 2", None),
])
def test_decorated_names_are_definitions(tex, kind):
    assert classify_definition(tex, set()) == kind


def test_warm_verify_imports_no_sympy(tmp_path):
    """With every result cached, the driver (text only) never imports sympy, nor starts a worker."""
    import subprocess
    import sys
    body = check_block("\\sigma'(0) = \\frac{1}{4}", "\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}")
    cache = tmp_path / "cache"
    verify(tmp_path, body, cache)
    code = ("import sys; from pathlib import Path; from generator.parse import parse_corpus; "
            "from generator.location import Diagnostics; from generator.verify import verify_document; "
            f"d = Diagnostics(); r = verify_document(parse_corpus(Path({str(tmp_path / 'c')!r}), d), d, "
            f"Path({str(cache)!r})); assert not d.errors; assert 'verified' in {{s.status for s in r.values()}}; "
            "assert 'sympy' not in sys.modules, 'sympy imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
