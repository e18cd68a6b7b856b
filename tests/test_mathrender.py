"""Figure captions: plain text with $…$ math typeset by KaTeX, never printed raw."""
from __future__ import annotations

from generator.mathrender import Katex


def test_caption_math_is_typeset_and_text_escaped():
    out = Katex().label("曲线 $\\frac{1}{2} x^2$ <b>")
    assert 'class="katex"' in out and "$" not in out
    assert out.startswith("曲线 ") and out.endswith(" &lt;b&gt;")
    assert "<math" in Katex().label("$x$", mathml=True)


def test_caption_math_katex_cannot_render_is_shown_as_written():
    assert Katex().label("bad $\\nope{x}$") == "bad $\\nope{x}$"
