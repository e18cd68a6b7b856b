"""Card-quality warnings (generator/lint.py): they fire on give-away clozes and stay quiet on good ones."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import project, run, write  # noqa: F401  (project is a fixture)
from generator.lint import clozes, lint_document
from generator.location import Diagnostics
from generator.parse import parse_corpus

# a 1×1 transparent PNG
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082")


def lint(root: Path, body: str, images: tuple[str, ...] = ()) -> list[str]:
    write(root, "a.md", body)
    for name in images:
        (root / name).write_bytes(PNG)
    diags = Diagnostics()
    doc = parse_corpus(root, diags)
    assert not diags.items, [str(d) for d in diags.items]
    lint_document(doc, diags)
    return [str(d) for d in diags.sorted()]


def test_cloze_spans_with_math_braces_and_hints():
    text = r"a {{c1::$\frac{1}{\sqrt{2}}$}} b {{c2::x::hint}} c {{c1::y}}"
    assert [(c.number, c.answer) for c in clozes(text)] == [(1, r"$\frac{1}{\sqrt{2}}$"), (2, "x"), (1, "y")]


@pytest.mark.parametrize("body", [
    # the answer is printed right next to the blank
    """\
    # C
    ## 输入尺寸 {#a.b}

    输入是 {{c1::224×224}}，因为 7×32 = 224×224。
    """,
    # another cloze on the same note reveals it (Anki fills in the other clozes)
    """\
    # C
    ## 学习率衰减 {#a.b}

    每 30 个 epoch {{c1::把学习率乘以 0.1}}，衰减因子是 {{c2::0.1}}。
    """,
    # the title line shows it
    """\
    # C
    ## Adam 的 β₁ = 0.9 有什么作用？ {#a.b}

    一阶矩的衰减系数是 {{c1::0.9}}。
    """,
])
def test_visible_answer_warns(tmp_path, body):
    warnings = lint(tmp_path, body)
    assert len(warnings) == 1 and "can be read elsewhere on its own card" in warnings[0], warnings
    assert warnings[0].startswith(f"{tmp_path / 'a.md'}:"), warnings


def test_warning_points_at_the_cloze_line(tmp_path):
    warnings = lint(tmp_path, """\
    # C
    ## 题目 {#a.b}

    第一行。

    第二行 {{c1::42 个}}，还是 42 个。
    """)
    assert warnings == [f"{tmp_path / 'a.md'}:10: warning: cloze c1 '42 个' can be read elsewhere on its own card"]


@pytest.mark.parametrize("heading", ["GAN 的基本思想是什么？", "什么是负采样？", "What is dropout?"])
def test_what_is_heading_on_a_cloze_warns(tmp_path, heading):
    warnings = lint(tmp_path, f"""\
    # C
    ## {heading} {{#a.b}}

    让两个网络 {{{{c1::对抗}}}} 训练。
    """)
    assert len(warnings) == 1 and "asks 'what is" in warnings[0], warnings


def test_details_are_not_on_the_front(tmp_path):
    # the figure after the details block makes the answer's source span the details too
    assert lint(tmp_path, """\
    # C
    ## 动量的放大倍数 {#a.b}

    梯度恒定时，动量的稳定步长放大 {{c1::10}} 倍。

    ::: details
    因为 $1/(1-0.9)$ 等于 10。
    :::

    ![图](x.png)
    """, images=("x.png",)) == []


def test_code_blocks_are_not_clozes(tmp_path):
    assert lint(tmp_path, """\
    # C
    ## Anki 的挖空语法 {#a.b}

    挖空写作 {{c1::双花括号}}：

    ```text
    {{c1::x}} 和 x 以及 双花括号
    ```
    """) == []


def test_good_cards_are_quiet(tmp_path):
    assert lint(tmp_path, """\
    # C
    ## sigmoid 导数的最大值？ {#a.one}

    在 $x=0$ 处取最大值 {{c1::$1/4$}}；10 层连乘的上界是 {{c2::约 $10^{-6}$}}。

    ## 负采样是什么？ {#a.two}

    basic 卡片可以问"是什么"：没有挖空。

    ## L2 正则 {#a.three}

    梯度多出一项 {{c1::$\\lambda w$}}，每步先把 $w$ 乘 {{c2::$(1-\\eta\\lambda)$}}。

    ## 带代码的卡片 {#a.four}

    答案 {{c1::12}}，与 $x_{12}$ 或 `v12` 或 120 里的数字无关。
    """) == []


def test_check_reports_lint_warnings(project, capsys):
    write(project / "content", "a.md", """\
    # C
    ## 什么是 BN？ {#a.b}

    对每个 {{c1::通道}} 做归一化。
    """)
    assert run("check") == 0
    assert "a.md:6: warning: cloze note asks 'what is" in capsys.readouterr().err
    assert run("check", "--strict") == 1
