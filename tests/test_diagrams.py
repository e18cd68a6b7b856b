"""Figures from ``plot`` blocks: every kind draws, golden images, update rules, errors at the right line."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from generator import diagrams
from generator.diagrams import compute, kinds
from generator.diagrams.expr import ExprError, gradient, parse
from generator.latex import LatexError, to_sympy
from generator.location import Diagnostics, SourceLocation
from generator.model import PlotBlock
from generator.parse import parse_corpus

from conftest import golden, write

GOLDEN = Path(__file__).parent / "golden" / "figures"

# One small spec per kind; each is also a golden image.
KINDS = {
    "function": r"""
kind: function
title: Sigmoid 与其导数
x: [-6, 6]
curves:
  - expr: '\frac{1}{1+e^{-x}}'
    label: '$\sigma(x)$'
    derivative: true
  - expr: '\max(0, x) / a'
    label: 'ReLU / a'
    style: dashed
params: {a: 6}
points:
  - {x: 0, label: '$\sigma(0)=1/2$'}
asymptotes:
  - {y: 1}
caption: 两端饱和区梯度趋近于 0
""",
    "optimizers": r"""
kind: optimizers
title: 病态二次函数
loss: '\frac{1}{2}x^{2} + 10y^{2}'
x: [-9, 3]
y: [-3, 3]
start: [-8, 2]
steps: 40
methods:
  - {name: sgd, lr: 0.09, label: SGD}
  - {name: momentum, lr: 0.02, momentum: 0.9}
  - {name: nesterov, lr: 0.02}
  - {name: adagrad, lr: 1.0}
  - {name: rmsprop, lr: 0.1, beta2: 0.9}
  - {name: adam, lr: 0.3}
""",
    "norm-balls": r"""
kind: norm-balls
title: L1 与 L2 约束
p: [1, 2]
loss: {center: [1.6, 0.6], axes: [0.5, 1.0]}
""",
    "receptive-field": r"""
kind: receptive-field
title: 小网络
input: 32
layers:
  - {name: conv1, kernel: 3, stride: 1, padding: 1}
  - {name: pool1, kernel: 2, stride: 2}
  - {name: conv2, kernel: 3, stride: 1, padding: 1}
""",
    "series": r"""
kind: series
title: 训练与验证损失
xlabel: epoch
logy: true
series:
  - {label: 训练, y: [1.0, 0.6, 0.4, 0.3, 0.25, 0.22]}
  - {label: 验证, x: [1, 2, 3, 4, 5, 6], y: [1.1, 0.7, 0.55, 0.5, 0.52, 0.6]}
  - {label: '$1/\sqrt{x}$', expr: '\frac{1}{\sqrt{x}}', x: [1, 6], style: dotted}
mark:
  - {x: 4, label: 提前终止}
""",
    "bars": r"""
kind: bars
title: softmax 温度
categories: ['$z_1$', '$z_2$', '$z_3$']
groups:
  - {label: T = 1, values: [0.665, 0.245, 0.09]}
  - {label: T = 2, values: [0.507, 0.307, 0.186]}
annotate: true
""",
    "blocks": r"""
kind: blocks
title: 残差块
nodes:
  - {id: x, text: '$x$', at: [0, 0], shape: plain}
  - {id: f, text: '$\mathcal{F}(x)$：两层卷积', at: [2, 1], color: 1}
  - {id: add, text: '$+$', at: [4, 0], shape: circle}
  - {id: y, text: '$y$', at: [6, 0], shape: plain}
edges:
  - {from: x, to: f}
  - {from: f, to: add}
  - {from: x, to: add, text: 恒等捷径, strong: true}
  - {from: add, to: y}
""",
    "heatmap": r"""
kind: heatmap
title: 因果掩码
matrix:
  - [1, 0, 0]
  - [1, 1, 0]
  - [1, 1, 1]
rows: [q1, q2, q3]
cols: [k1, k2, k3]
annotate: true
""",
}


def block(source: str, line: int = 10) -> PlotBlock:
    return PlotBlock(source.lstrip("\n"), SourceLocation(Path("t.md"), line))


def errors(source: str) -> list[str]:
    d = Diagnostics()
    diagrams.check_block(block(source), d)
    return [str(x) for x in d.items]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Every kind drawn once through draw_document, as one document."""
    root = tmp_path_factory.mktemp("fig")
    body = "# 图\n\n" + "".join(f"## {k} {{#t.{k}}}\n\n```plot\n{s.lstrip()}```\n\n" for k, s in KINDS.items())
    write(root / "content", "01.md", body)
    diags = Diagnostics()
    doc = parse_corpus(root / "content", diags)
    figures = diagrams.draw_document(doc, diags, root / "figures")
    assert not diags.items, [str(d) for d in diags.items]
    return {b.source.split("\n")[0].split(": ")[1]: f for b, f in figures.items()}, root / "figures", doc


# ---------------------------------------------------------------- every kind draws


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_every_kind_draws_valid_svg_and_png(drawn):
    figures, _, _ = drawn
    assert set(figures) == set(KINDS)
    assert [f.number for f in figures.values()] == list(range(1, len(KINDS) + 1))  # document order
    for kind, fig in figures.items():
        root = ET.parse(fig.svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        text = fig.svg.read_text()
        assert "<dc:date>" not in text
        ids = re.findall(r'\bid="([^"]+)"', text)
        assert ids and all(i.startswith(fig.svg.stem + "-") for i in ids), kind  # prefixed per figure
        assert all(r.startswith(fig.svg.stem + "-") for r in re.findall(r"url\(#([^)]+)\)", text))
        w, h = _png_size(fig.png)
        svg_w = float(root.get("width").removesuffix("pt"))
        assert abs(w - svg_w * 200 / 72) < 3, kind  # PNG at 2× the 100-dpi figure
        assert fig.alt and fig.caption


def test_caption_from_caption_or_title(drawn):
    figures, _, _ = drawn
    assert figures["function"].caption == "两端饱和区梯度趋近于 0"
    assert figures["heatmap"].caption == "因果掩码"
    assert "σ(x)" in figures["function"].alt
    assert all("\n" not in f.alt and len(f.alt) <= kinds.ALT_MAX for f in figures.values())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_golden_figures(drawn, kind, tmp_path):
    from matplotlib.testing.compare import compare_images

    figures, _, _ = drawn
    expected = golden(GOLDEN / f"{kind}.png", figures[kind].png.read_bytes())
    actual = tmp_path / f"{kind}.png"
    shutil.copy(figures[kind].png, actual)
    assert compare_images(str(expected), str(actual), tol=3) is None


def test_unchanged_figures_are_not_redrawn_and_stale_ones_go(drawn):
    figures, folder, doc = drawn
    (folder / "fig-0000000000000000.svg").write_text("<svg/>")
    diagrams.draw_document(doc, Diagnostics(), folder)
    assert not (folder / "fig-0000000000000000.svg").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = diagrams.draw_document(doc, Diagnostics(), folder)
    assert {f.png.name for f in again.values()} == {f.png.name for f in figures.values()}
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_checked_specs_are_cached_but_problems_reported_every_time(tmp_path):
    write(tmp_path / "content", "01.md", "# c\n\n## q {#q.a}\n\n```plot\n" + KINDS["heatmap"].lstrip() + "```\n\n"
          "```plot\nkind: bars\ntitle: 'λ^t'\ncategories: [a]\ngroups:\n  - values: [1]\n```\n")
    doc = parse_corpus(tmp_path / "content", Diagnostics())
    for _ in range(2):
        diags = Diagnostics()
        assert len(diagrams.draw_document(doc, diags, tmp_path / "fig")) == 2
        assert [d.severity for d in diags.items] == ["warning"]
    import json
    cached = json.loads((tmp_path / "fig" / diagrams.CHECKED_CACHE).read_text())["entries"]
    assert [s["spec"]["kind"] for s in cached.values()] == ["heatmap"]  # the block with a warning is checked each time


def test_cached_blocks_draw_without_importing_sympy(tmp_path):
    """An edit elsewhere (the PDF or watch rebuild) must not pay for the kinds' numpy/sympy imports."""
    write(tmp_path / "content", "01.md", "# c\n\n## q {#q.a}\n\n```plot\n" + KINDS["function"].lstrip() + "```\n")
    code = ("import sys; from pathlib import Path; from generator import diagrams; "
            "from generator.parse import parse_corpus; from generator.location import Diagnostics; "
            f"d = Diagnostics(); doc = parse_corpus(Path({str(tmp_path / 'content')!r}), d); "
            f"figs = diagrams.draw_document(doc, d, Path({str(tmp_path / 'fig')!r})); "
            "assert not d.items, d.items; assert [f.alt for f in figs.values()] and all(f.alt for f in figs.values()); "
            "print('sympy' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1],
                           capture_output=True, text=True).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]  # the first run checks the block; the second reuses spec and alt text


def _legend_lines(svg: str) -> list[list[float]]:
    """The legend's handle lines as coordinates relative to the view box's corner."""
    x0, y0 = (float(v) for v in re.search(r'viewBox="(\S+) (\S+) ', svg).groups())
    legend = re.search(r'<g id="legend_1">(.*?)\n  </g>\n', svg, re.S).group(1)
    lines = re.findall(r'<g id="line2d_\d+">\s*<path d="([^"]*)"', legend)
    return [[float(v) - (x0 if i % 2 == 0 else y0) for i, v in enumerate(re.findall(r"-?[\d.]+", d))] for d in lines]


@pytest.mark.parametrize("kind", ["optimizers", "norm-balls", "heatmap", "series"])
def test_svg_is_cropped_as_a_tight_save_would_crop_it(kind):
    """One drawing on a larger canvas, measured while drawing and cropped by the view box, gives the box
    and the picture of matplotlib's own two-pass ``bbox_inches="tight"``; lines outside the figure (the
    legend under the optimizers' axes) are not cut off by the canvas."""
    import io

    from generator.diagrams import draw

    spec = draw.prepare_labels(diagrams.check_block(block(KINDS[kind]), Diagnostics()))
    with draw.plt.style.context(str(diagrams.STYLE)):
        fig = draw.KINDS[kind].draw(spec, draw.Pen())
        ours = draw._svg_text(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
        draw.plt.close(fig)
    size = re.compile(r'width="([^"]*)pt" height="([^"]*)pt"')
    assert size.search(ours).groups() == size.search(buf.getvalue()).groups()
    assert re.search(r'viewBox="0 0 ', buf.getvalue()) and not re.search(r'viewBox="0 0 ', ours)
    if "legend_1" in ours:
        mine, theirs = _legend_lines(ours), _legend_lines(buf.getvalue())
        assert mine and all(len(line) >= 4 for line in mine)  # every handle line has both ends
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            assert a == pytest.approx(b, abs=0.01)


def test_typeset_math_is_shared_by_every_renderer_of_the_process():
    """Each saved file has a renderer, each renderer a math parser: the typesetting is remembered once
    for the process, per string, size, resolution and output type."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    from generator.diagrams import draw  # noqa: F401  (installs the shared memo)

    prop = FontProperties(size=11)
    first = MathTextParser("path").parse(r"$x_{12}^2$", 72, prop)
    assert MathTextParser("path").parse(r"$x_{12}^2$", 72, prop.copy()) is first
    assert MathTextParser("path").parse(r"$x_{12}^2$", 100, prop) is not first
    assert MathTextParser("agg").parse(r"$x_{12}^2$", 72, prop) is not first
    assert MathTextParser("path").parse(r"$x_{12}^2$", 72, FontProperties(size=9)).width < first.width


def test_same_block_same_bytes(tmp_path):
    spec = diagrams.check_block(block(KINDS["heatmap"]), Diagnostics())
    name = diagrams.figure_name(spec, diagrams.code_version())
    assert not diagrams.draw_many({name: (spec, ("svg", "png"))}, tmp_path / "a")
    assert not diagrams.draw_many({name: (spec, ("svg", "png"))}, tmp_path / "b")
    for ext in ("svg", "png"):
        assert (tmp_path / "a" / f"{name}.{ext}").read_bytes() == (tmp_path / "b" / f"{name}.{ext}").read_bytes()


def test_parallel_drawing_matches_serial(tmp_path, monkeypatch):
    specs = {}
    for i, n in enumerate((2, 3)):
        src = KINDS["heatmap"].replace("title: 因果掩码", f"title: m{n}")
        specs[f"f{i}"] = (diagrams.check_block(block(src), Diagnostics()), ("png",))
    monkeypatch.setattr(diagrams, "PARALLEL_MIN", 1)
    assert not diagrams.draw_many(specs, tmp_path / "par")
    monkeypatch.setattr(diagrams, "PARALLEL_MIN", 99)
    assert not diagrams.draw_many(specs, tmp_path / "ser")
    for name in specs:
        assert (tmp_path / "par" / f"{name}.png").read_bytes() == (tmp_path / "ser" / f"{name}.png").read_bytes()
        assert not (tmp_path / "par" / f"{name}.svg").exists()


def test_checking_in_workers_reports_what_one_process_would(tmp_path, monkeypatch):
    """Blocks are checked and drawn in worker processes: the problems, their order, the figures and
    their bytes are those of checking and drawing one block after the other in this process."""
    from generator import workers

    bad_label = "kind: function\nx: [0, 1]\ncurves:\n  - expr: 'x'\n    label: '$\\foo{x}$'\n"
    warned = "kind: bars\ntitle: 'λ^t'\ncategories: [a]\ngroups:\n  - values: [1]\n"
    blocks = [KINDS["function"], "kind: function\nx: [2, 1]\ncurves:\n  - expr: 'q'\n    style: wavy\n", warned,
              bad_label, KINDS["heatmap"], KINDS["function"], "kind: nope\n", KINDS["bars"], warned]
    write(tmp_path / "content", "01.md", "# c\n\n## q {#q.a}\n\n" + "".join(
        f"```plot\n{b.lstrip()}```\n\n" for b in blocks))
    doc = parse_corpus(tmp_path / "content", Diagnostics())
    pools = []
    real = workers.map_in_processes
    monkeypatch.setattr(workers, "map_in_processes", lambda fn, items, n: pools.append(n) or real(fn, items, n))
    runs = {}
    for how, least in (("serial", 99), ("parallel", 1), ("cached", 1)):
        monkeypatch.setattr(diagrams, "PARALLEL_MIN", least)
        diags = Diagnostics()
        figures = diagrams.draw_document(doc, diags, tmp_path / ("serial" if how == "serial" else "parallel"), ("svg",))
        runs[how] = ([str(d) for d in diags.items],
                     [(b.loc.line, f.number, f.svg.name, f.svg.read_bytes()) for b, f in figures.items()])
    assert pools == [2, 2]  # the parallel run, and the cached one: three blocks with problems are checked again
    assert runs["parallel"] == runs["serial"] == runs["cached"]
    found, figures = runs["serial"]
    # the checks' problems in document order, then the drawing's (a label mathtext cannot typeset)
    assert [d.split(": ")[1] for d in found] == ["error", "error", "error", "warning", "error", "warning", "error"], found
    assert "cannot typeset label" in found[-1]
    assert [line for line, *_ in figures] == sorted(line for line, *_ in figures) and len(figures) == 6
    assert figures[0][2] == figures[3][2]  # the same block twice: one figure


def test_draws_only_the_formats_asked_and_hands_on_the_others(tmp_path):
    """A PDF build draws SVG alone; a later deck build adds the PNG and keeps the SVG it finds."""
    write(tmp_path / "content", "01.md", "# c\n\n## q {#q.a}\n\n```plot\n" + KINDS["heatmap"].lstrip() + "```\n")
    doc = parse_corpus(tmp_path / "content", Diagnostics())
    folder = tmp_path / "fig"
    (fig,) = diagrams.draw_document(doc, Diagnostics(), folder, ("svg",)).values()
    assert fig.svg.is_file() and fig.png is None
    assert not list(folder.glob("*.png"))
    svg_bytes = fig.svg.read_bytes()
    (fig,) = diagrams.draw_document(doc, Diagnostics(), folder, ("png",)).values()
    assert fig.png.is_file() and fig.svg.read_bytes() == svg_bytes


def test_validation_does_not_import_matplotlib(tmp_path):
    write(tmp_path / "content", "01.md", "# c\n\n## q {#q.a}\n\n```plot\n" + KINDS["function"].lstrip() + "```\n")
    code = ("import sys; from pathlib import Path; from generator import diagrams; "
            "from generator.parse import parse_corpus; from generator.location import Diagnostics; "
            f"d = Diagnostics(); diagrams.validate_document(parse_corpus(Path({str(tmp_path / 'content')!r}), d), d); "
            "assert not d.items, d.items; assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


# ---------------------------------------------------------------- update rules by hand

QUAD = r"\frac{1}{2}x^{2} + 10y^{2}"  # ∇ = (x, 20y); at the start (-8, 2): g = (-8, 40)


def _path(name: str, lr: float, steps: int = 2, **kw) -> np.ndarray:
    return compute.trajectory(gradient(parse(QUAD, ("x", "y")), ("x", "y")), (-8.0, 2.0), steps, name, lr, **kw)


def test_sgd_first_step():
    assert np.allclose(_path("sgd", 0.09, 1)[1], [-8 + 0.72, 2 - 3.6])


def test_momentum_first_steps():
    p = _path("momentum", 0.02, momentum=0.9)
    assert np.allclose(p[1], [-7.84, 1.2])  # v1 = η g = (-0.16, 0.8)
    assert np.allclose(p[2], [-7.5392, 0.0])  # v2 = 0.9 v1 + η g(θ1) = (-0.3008, 1.2)


def test_nesterov_first_steps():
    p = _path("nesterov", 0.02, momentum=0.9)
    assert np.allclose(p[1], [-7.84, 1.2])  # v0 = 0: the look-ahead point is θ0
    # look-ahead θ1 − 0.9 v1 = (-7.696, 0.48), g = (-7.696, 9.6), v2 = (-0.29792, 0.912)
    assert np.allclose(p[2], [-7.54208, 0.288])


def test_adagrad_first_step():
    p = _path("adagrad", 1.0, 1, eps=1e-8)
    assert np.allclose(p[1], [-8 + 8 / np.sqrt(64 + 1e-8), 2 - 40 / np.sqrt(1600 + 1e-8)])


def test_rmsprop_first_step():
    p = _path("rmsprop", 0.1, 1, beta2=0.9, eps=1e-8)
    assert np.allclose(p[1], [-8 + 0.1 * 8 / np.sqrt(6.4 + 1e-8), 2 - 0.1 * 40 / np.sqrt(160 + 1e-8)])


def test_adam_first_steps():
    p = _path("adam", 0.3, beta1=0.9, beta2=0.999, eps=1e-8)
    assert np.allclose(p[1], [-7.7, 1.7])  # bias-corrected first step is η·sign(g)
    g2 = np.array([-7.7, 34.0])
    m = 0.9 * 0.1 * np.array([-8, 40]) + 0.1 * g2
    v = 0.999 * 0.001 * np.array([64, 1600]) + 0.001 * g2 ** 2
    step = 0.3 * (m / (1 - 0.9 ** 2)) / (np.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    assert np.allclose(p[2], p[1] - step)


def test_divergence_stops_the_path():
    p = _path("sgd", 0.2, 100)  # 0.2 > 2/20: the y direction blows up
    assert len(p) < 101 and np.all(np.isfinite(p))


def test_receptive_field_alexnet():
    layers = [dict(name=n, kernel=k, stride=s, padding=p) for n, k, s, p in
              [("conv1", 11, 4, 0), ("pool1", 3, 2, 0), ("conv2", 5, 1, 2), ("pool2", 3, 2, 0),
               ("conv3", 3, 1, 1), ("conv4", 3, 1, 1), ("conv5", 3, 1, 1), ("pool5", 3, 2, 0)]]
    res = compute.receptive_field(227, layers)
    assert [r.size for r in res] == [55, 27, 27, 13, 13, 13, 13, 6]
    assert [r.rf for r in res] == [11, 19, 51, 67, 99, 131, 163, 195]


def test_constrained_optimum_l1_is_on_an_axis():
    point, _ = compute.constrained_optimum(1, (1.6, 0.6), (0.5, 1.0))
    assert np.allclose(point, [1, 0], atol=1e-3)


# ---------------------------------------------------------------- errors at the right line


@pytest.mark.parametrize("source, expected", [
    ("kind: pie\n", "t.md:11: error: plot: 'kind': expected one of function, optimizers"),
    ("title: x\n", "t.md:11: error: plot: missing key 'kind'"),
    ("kind: function\ncurves:\n  - expr: 'x'\n", "t.md:11: error: plot: missing key 'x'"),
    ("kind: function\nx: [1, -1]\ncurves:\n  - expr: 'x'\n",
     "t.md:12: error: plot: 'x': bad range [1, -1]: lo must be less than hi"),
    ("kind: function\nx: [0, 1]\ncurves:\n  - expr: 'x'\n    colour: red\n",
     "t.md:15: error: plot: curves[1]: unknown key 'colour'; expected one of: expr, label, derivative, style"),
    ("kind: function\nx: [0, 1]\ncurves:\n  - expr: 'x'\n    lable: a\n",
     "t.md:15: error: plot: curves[1]: unknown key 'lable' (did you mean 'label'?)"),
    ("kind: function\nx: [0, 1]\ncurves:\n  - label: a\n  - expr: '\\frac{x}{'\n",
     "t.md:14: error: plot: curves[1]: missing key 'expr'"),
    ("kind: function\nx: [0, 1]\ncurves:\n  - expr: '\\frac{1}{1+e^{-x}} +* 2'\n",
     "t.md:14: error: plot: curves[1]: 'expr': cannot parse LaTeX"),
    ("kind: function\nx: [0, 1]\ncurves:\n  - expr: 'a x'\n",
     "t.md:14: error: plot: curves[1]: 'expr': unknown symbol a (allowed: x; give constants under 'params')"),
    ("kind: function\nx: [0, 1]\ntitle: [1, 2]\ncurves:\n  - expr: 'x'\n",
     "t.md:13: error: plot: 'title': expected text, found a list"),
    ("kind: function\nx: [0, 1]\nlogy: yes please\ncurves:\n  - expr: 'x'\n",
     "t.md:13: error: plot: 'logy': expected true or false, found str 'yes please'"),
    ("kind: optimizers\nloss: 'x^2+y^2'\nx: [-1, 1]\ny: [-1, 1]\nstart: [1, 1]\nsteps: 0\nmethods:\n  - {name: sgd, lr: 0.1}\n",
     "t.md:16: error: plot: 'steps': must be ≥ 1, found 0"),
    ("kind: optimizers\nloss: 'x^2+y^2'\nx: [-1, 1]\ny: [-1, 1]\nstart: [1, 1]\nsteps: 5\nmethods:\n"
     "  - {name: sgd, lr: 0.1}\n  - {name: adam, lr: 0.1, momentum: 0.9}\n",
     "t.md:19: error: plot: methods[2]: 'momentum' is not a parameter of adam"),
    ("kind: receptive-field\ninput: 224\nlayers:\n  - {name: c1, kernel: 3, stride: 1, padding: 1}\n"
     "  - {name: p1, kernel: 3, stride: 2}\n",
     "t.md:15: error: plot: layers: p1: output size (224 + 2·0 − 3)/2 + 1 = 111.5 is not a positive integer"),
    ("kind: series\nseries:\n  - {label: a, x: [1, 2, 3], y: [1, 2]}\n",
     "t.md:13: error: plot: series[1]: 'x' has 3 values but 'y' has 2"),
    ("kind: bars\ncategories: [a, b]\ngroups:\n  - label: g\n    values: [1, 2, 3]\n",
     "t.md:15: error: plot: groups[1]: 'values' has 3 numbers for 2 categories"),
    ("kind: heatmap\nmatrix:\n  - [1, 2]\n  - [3]\n", "t.md:12: error: plot: 'matrix': rows have different lengths"),
    ("kind: blocks\nnodes:\n  - {id: a, at: [0, 0]}\n  - {id: a, at: [1, 0]}\nedges:\n  - {from: a, to: b}\n",
     "t.md:14: error: plot: nodes[2]: duplicate node id 'a'"),
    ("kind: blocks\nnodes:\n  - {id: a, at: [0, 0]}\nedges:\n  - {from: a, to: b}\n",
     "t.md:15: error: plot: edges[1]: 'to': no node has id 'b'"),
    ("kind: norm-balls\np: [1, 2]\nloss: {center: [0.2, 0.1], axes: [1, 1]}\n",
     "t.md:13: error: plot: loss: 'center': [0.2, 0.1] lies inside the unit L1 ball"),
    ("kind: function\nx: [0, 1\n", "t.md:13: error: plot: invalid YAML"),
    # every kind's work is bounded, and the message names the limit
    ("kind: optimizers\nloss: 'x^2+y^2'\nx: [-1, 1]\ny: [-1, 1]\nstart: [1, 1]\nsteps: 20000\nmethods:\n"
     + "  - {name: adam, lr: 0.1}\n" * 200, "t.md:17: error: plot: 'methods': at most 8 items, found 200"),
    ("kind: optimizers\nloss: 'x^2+y^2'\nx: [-1, 1]\ny: [-1, 1]\nstart: [1, 1]\nsteps: 20000\nmethods:\n"
     + "  - {name: sgd, lr: 0.1}\n" * 3, "t.md:16: error: plot: 'steps': 20000 steps × 3 methods = 60000 gradient steps; "
     "at most 40000"),
    ("kind: series\nseries:\n  - {label: a, y: [" + ", ".join(["1"] * 5001) + "]}\n",
     "t.md:13: error: plot: series[1]: 'y': at most 5000 values, found 5001"),
    ("kind: heatmap\nmatrix:\n" + "  - [1, 2]\n" * 61, "t.md:12: error: plot: 'matrix': at most 60 items, found 61"),
    ("kind: blocks\nnodes:\n" + "".join(f"  - {{id: n{i}, at: [{i}, 0]}}\n" for i in range(61)),
     "t.md:12: error: plot: 'nodes': at most 60 items, found 61"),
])
def test_bad_specs_point_at_the_line(source, expected):
    found = errors(source)
    assert any(e.startswith(expected) for e in found), found


def test_markup_outside_math_is_a_warning():
    found = errors("kind: bars\ntitle: 'λ^t 与 $\\lambda^t$'\ncategories: [a, 'σ_k']\ngroups:\n  - values: [1, 2]\n")
    assert [e.split(": ")[0] + ": " + e.split(": ")[1] for e in found] == ["t.md:12: warning", "t.md:13: warning"], found
    assert "label 'λ^t 与 $\\lambda^t$' has '^' outside $…$" in found[0]


def test_every_problem_of_a_block_is_reported():
    found = errors("kind: function\nx: [2, 1]\ncurves:\n  - expr: 'q'\n    style: wavy\n")
    assert [e.split(":")[1] for e in found] == ["12", "14", "15"], found


def test_label_mathtext_error_points_at_the_label(tmp_path):
    write(tmp_path / "content", "01.md", "# c\n\n## q {#q.a}\n\n```plot\nkind: function\nx: [0, 1]\ncurves:\n"
          "  - expr: 'x'\n    label: '$\\foo{x}$'\n```\n")
    diags = Diagnostics()
    doc = parse_corpus(tmp_path / "content", diags)
    assert diagrams.draw_document(doc, diags, tmp_path / "fig") == {}
    [err] = [str(d) for d in diags.items]
    assert re.search(r"01\.md:14: error: plot: cannot typeset label '\$\\foo\{x\}\$'", err), err


# ---------------------------------------------------------------- LaTeX → sympy


def test_latex_constants_and_functions():
    import sympy
    x = sympy.Symbol("x")
    assert to_sympy(r"e^{x}").doit() == sympy.exp(x)  # the parser's tree is unevaluated until asked
    assert sympy.simplify(to_sympy(r"\frac{1}{\sqrt{2 \pi}}") - 1 / sympy.sqrt(2 * sympy.pi)) == 0
    assert to_sympy(r"\max(0, x)").doit() == sympy.Max(0, x)
    assert to_sympy(r"\ln\left(1+e^{x}\right)").subs(x, 0) == sympy.log(2)
    assert to_sympy(r"\left|x\right|").doit() == sympy.Abs(x)
    assert parse(r"0.5 x \left(1 + x\right)", ("x",)).expand() == (0.5 * x + 0.5 * x ** 2)


@pytest.mark.parametrize("tex, col", [(r"x +* 2", 3), (r"\frac{(", 7), ("2x+", 3)])
def test_latex_errors_have_columns(tex, col):
    with pytest.raises(LatexError) as e:
        to_sympy(tex)
    assert e.value.col == col


def test_latex_is_never_evaluated_as_python():
    for tex in ["__import__('os').system('true')", "().__class__", "lambda: 1"]:
        try:
            expr = to_sympy(tex)
        except LatexError:
            continue
        assert all(s.name.isalnum() for s in expr.free_symbols)  # letters multiplied, nothing run


# ---------------------------------------------------------------- end to end: the figure in a real Anki import


def test_figure_is_embedded_in_the_imported_card(project, col, recwarn):
    from conftest import import_apkg, run

    write(project / "content", "01.md", "# 激活\n\n## sigmoid 长什么样？ {#act.shape}\n\n两端饱和。\n\n```plot\n"
          + KINDS["function"].lstrip() + "```\n\n## 残差块 {#arch.res}\n\n```plot\n"
          + KINDS["blocks"].lstrip().replace("'$\\mathcal{F}(x)$：两层卷积'", '"$\\\\mathcal{F}(x)$：两层\\n卷积"') + "```\n")
    assert run("build", "--only", "deck", "-q") == 0
    assert not [str(w.message) for w in recwarn if "invalid HTML" in str(w.message)]  # alt text is one line
    [apkg] = (project / "build").glob("*.apkg")
    import_apkg(col, apkg)
    notes = {col.get_note(n)["Id"]: col.get_note(n) for n in col.find_notes("")}
    assert set(notes) == {"act.shape", "arch.res"}
    back = notes["act.shape"]["Back"]
    [src] = re.findall(r'<img src="([^"]+\.png)" alt="([^"]+)"', back)[0][:1]
    assert 'class="caption">两端饱和区梯度趋近于 0<' in back
    media = Path(col.media.dir()) / src
    assert media.is_file() and media.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(src in col.get_card(c).answer() for c in col.find_cards(""))


def test_bent_edge_label_sits_on_its_arc_inside_the_drawing():
    import matplotlib
    matplotlib.use("Agg")
    from generator.diagrams import draw

    spec = diagrams.check_block(block("""
kind: blocks
title: bend
nodes:
  - {id: A, at: [0, 0]}
  - {id: B, at: [4, 0]}
edges:
  - {from: A, to: B, text: "lower", bend: 0.4}
"""), Diagnostics())
    fig = draw.KINDS["blocks"].draw(draw.prepare_labels(spec), draw.Pen())
    ax = fig.axes[0]
    (label,) = [t for t in ax.texts if t.get_text() == "lower"]
    # arc3 with rad > 0 from left to right bulges below the chord: control point = mid + rad·(dy, −dx)
    assert label.get_position() == pytest.approx((2.0, -0.8))
    assert ax.get_ylim()[0] < -0.8


@pytest.mark.parametrize("tex, message", [
    (r"x + 10^{10^{10}}", "too large to plot"),
    (r"x + (10^{8})!", "too large to plot"),
    (r"x + 2^{2^{2^{2^{2^{2}}}}}", "too large to plot"),
    (r"\sum_{k=1}^{10^{9}} \frac{x}{k}", "more than 10000 terms"),
])
def test_huge_plot_expressions_are_refused_at_once(tex, message):
    """Nothing is multiplied out while the expression is read (it used to hang for minutes)."""
    with pytest.raises(ExprError) as e:
        parse(tex, ("x",))
    assert message in str(e.value)


def test_polynomials_of_the_variable_are_not_large_numbers():
    """Only constants are bounded: the variable is computed in floating point, whatever the degree."""
    import sympy
    assert parse(r"1 - (1 - x^{5})^{20}", ("x",)).subs(sympy.Symbol("x"), 0) == 0


def test_print_svg_keeps_text_in_fonts_the_pdf_has(tmp_path):
    """The PDF's figures keep their text as text (DejaVu Sans, Noto Sans CJK SC); a label that needs
    another font (the prime of σ′ comes from mathtext's cmsy10) keeps that figure's text as paths."""
    primed = KINDS["function"].replace("label: '$\\sigma(x)$'", "label: '$\\sigma''(x)$'")
    assert primed != KINDS["function"]
    specs = {"bars": diagrams.check_block(block(KINDS["bars"]), Diagnostics()),
             "function": diagrams.check_block(block(primed), Diagnostics())}
    jobs = {kind: (spec, ("text.svg",)) for kind, spec in specs.items()}
    assert not diagrams.draw_many(jobs, tmp_path)
    bars = (tmp_path / "bars.text.svg").read_text(encoding="utf-8")
    assert "softmax 温度</text>" in bars and ">T = 1</text>" in bars
    assert ">z</tspan>" in bars and "font-style: oblique" in bars  # mathtext $z_1$ as DejaVu Sans Oblique
    families = set(re.findall(r"font-family: ([^;\"]+)", bars))
    assert families and {f.strip(" '") for fam in families for f in fam.split(",")} <= {"DejaVu Sans", "Noto Sans CJK SC"}
    function = (tmp_path / "function.text.svg").read_text(encoding="utf-8")
    assert "<text" not in function and "cmsy10" not in function  # drawn as paths: no font to miss
