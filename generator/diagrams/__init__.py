"""The draw stage: ``plot`` blocks → numbered figures (SVG for print and HTML, PNG for Anki).

``validate_document`` reads and checks every block (YAML, keys, ranges, LaTeX) without
importing matplotlib, so ``make check`` stays fast. ``draw_document`` validates, then draws
the blocks whose files do not exist yet. A file name is the hash of the checked spec, the
style file and the drawing code, so an unchanged figure is never redrawn and a changed
one never reuses a stale file. More than a few figures to draw are spread over processes.

The catalog of kinds and their keys is documented in docs/format.md and checked in
:mod:`.kinds`; the numbers (optimiser paths, receptive fields, norm balls) are computed in
:mod:`.compute`; :mod:`.draw` is the only module that imports matplotlib.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from ..context import Figure, write_atomic
from ..location import Diagnostics, SourceLocation
from ..model import Document, PlotBlock
from . import kinds
from .spec import SpecError, load

PACKAGE_DIR = Path(__file__).resolve().parent
STYLE = PACKAGE_DIR.parents[1] / "templates" / "figures.mplstyle"
PARALLEL_MIN = 4
"""Draw in worker processes when more than this many figures changed."""
MAX_WORKERS = 4


def plot_blocks(doc: Document) -> Iterator[PlotBlock]:
    """Every plot block, in document order (chapter introductions before their notes)."""
    for chapter in doc.chapters:
        yield from chapter.intro.plots
        for note in chapter.notes:
            yield from note.question.plots
            yield from note.answer.plots
            if note.details is not None:
                yield from note.details.plots


def check_block(block: PlotBlock, diags: Diagnostics) -> dict | None:
    """The block's checked, normalised spec, or ``None`` after reporting its errors."""
    try:
        node = load(block)
    except SpecError as e:
        diags.error(SourceLocation(block.loc.path, e.line), f"plot: {e}")
        return None
    return kinds.check(node, diags, block.loc.path)


def validate_document(doc: Document, diags: Diagnostics) -> None:
    for block in plot_blocks(doc):
        check_block(block, diags)


DRAWING_CODE = ("draw.py", "compute.py", "expr.py", "text.py")
"""The modules that turn a checked spec into bytes (checking code only changes the spec, which is hashed)."""


def code_version() -> str:
    """Hash of everything besides the spec that shapes a figure's bytes."""
    h = hashlib.sha256(version("matplotlib").encode())
    for p in [PACKAGE_DIR / n for n in DRAWING_CODE] + [PACKAGE_DIR.parent / "latex.py", STYLE]:
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def figure_name(spec: dict, code: str) -> str:
    blob = json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "fig-" + hashlib.sha256((code + "\0" + blob).encode()).hexdigest()[:16]


CHECKING_CODE = ("spec.py", "kinds.py", "expr.py", "text.py", "compute.py")
CHECKED_CACHE = ".checked.json"


def check_cached(doc: Document, diags: Diagnostics, cache: Path) -> list[tuple[PlotBlock, dict]]:
    """Check every block, reusing the specs of blocks that checked clean last time.

    Only blocks without any diagnostic are cached (keyed by their YAML and the checking code), so
    every error and warning is reported again on every run.
    """
    h = hashlib.sha256()
    for p in [PACKAGE_DIR / n for n in CHECKING_CODE] + [PACKAGE_DIR.parent / "latex.py"]:
        h.update(p.read_bytes())
    code = h.hexdigest()
    try:
        old = json.loads(cache.read_text(encoding="utf-8"))
        old = old["specs"] if old.get("code") == code else {}
    except (OSError, ValueError, AttributeError, KeyError):
        old = {}
    new: dict[str, dict] = {}
    checked = []
    for block in plot_blocks(doc):
        key = hashlib.sha256(block.source.encode()).hexdigest()
        spec = old.get(key)
        if spec is None:
            local = Diagnostics()
            spec = check_block(block, local)
            diags.extend(local)
            if spec is None or local.items:
                if spec is not None:
                    checked.append((block, spec))
                continue
        new[key] = spec
        checked.append((block, spec))
    if new != old:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, lambda tmp: tmp.write_text(json.dumps({"code": code, "specs": new}, ensure_ascii=False),
                                                       encoding="utf-8"))
    return checked


def draw_document(doc: Document, diags: Diagnostics, out_dir: Path) -> dict[PlotBlock, Figure]:
    checked = check_cached(doc, diags, out_dir / CHECKED_CACHE)
    if not checked:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    code = code_version()
    names = [figure_name(spec, code) for _, spec in checked]
    jobs: dict[str, dict] = {}
    for (_, spec), name in zip(checked, names):
        if not ((out_dir / f"{name}.svg").is_file() and (out_dir / f"{name}.png").is_file()):
            jobs[name] = spec
    failures = draw_many(jobs, out_dir)
    _prune(out_dir, set(names) - set(failures))
    figures: dict[PlotBlock, Figure] = {}
    number = 0
    for (block, spec), name in zip(checked, names):
        if name in failures:
            message, label = failures[name]
            line = _line_of(block, label) if label else block.loc.line
            diags.error(SourceLocation(block.loc.path, line),
                        f"plot: {message}" if label else f"plot: drawing failed: {message}")
            continue
        number += 1
        figures[block] = Figure(number=number, caption=spec["caption"] or spec["title"], alt=alt_text(spec),
                                svg=out_dir / f"{name}.svg", png=out_dir / f"{name}.png")
    return figures


def _prune(out_dir: Path, keep: set[str]) -> None:
    """Remove figure files no block produces any more (edited or deleted plots)."""
    for p in out_dir.glob("fig-*.*"):
        if p.suffix in (".svg", ".png") and p.stem not in keep:
            p.unlink(missing_ok=True)


def _line_of(block: PlotBlock, text: str) -> int:
    """The file line of the block that holds ``text`` (as written, or with YAML-escaped backslashes)."""
    for i, line in enumerate(block.source.splitlines()):
        if text in line or text.replace("\\", "\\\\") in line:
            return block.loc.line + 1 + i
    return block.loc.line


def draw_many(jobs: dict[str, dict], out_dir: Path) -> dict[str, tuple[str, str]]:
    """Draw every spec to ``out_dir/<name>.svg|png``; return {name: (error, label)} for failures."""
    if not jobs:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    items = [(name, spec, str(out_dir)) for name, spec in sorted(jobs.items())]
    if len(items) <= PARALLEL_MIN or (os.cpu_count() or 1) < 2:
        return {r[0]: r[1:] for r in _draw_batch(items) if r[1]}
    from ..workers import map_in_processes

    workers = min(os.cpu_count() or 1, MAX_WORKERS, (len(items) + 2) // 3)
    batches = [items[i::workers] for i in range(workers)]
    try:
        results = [r for batch in map_in_processes(_draw_batch, batches, workers) for r in batch]
    except OSError:  # no processes to be had: draw here
        results = _draw_batch(items)
    return {r[0]: r[1:] for r in results if r[1]}


def _draw_batch(items: list[tuple[str, dict, str]]) -> list[tuple[str, str, str]]:
    from ..workers import caused_by_interrupt
    from .draw import LabelError, render

    out = []
    for name, spec, folder in items:
        svg, png = Path(folder) / f"{name}.svg", Path(folder) / f"{name}.png"
        tmp_svg, tmp_png = (p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in (svg, png))
        try:
            render(spec, name, tmp_svg, tmp_png)
            os.replace(tmp_svg, svg)
            os.replace(tmp_png, png)
            out.append((name, "", ""))
        except LabelError as e:
            out.append((name, str(e), e.label))
        except Exception as e:  # a bug in drawing must not hide the other figures
            if caused_by_interrupt(e):  # Ctrl-C while matplotlib loads its extensions: an ImportError
                raise KeyboardInterrupt from None
            out.append((name, f"{type(e).__name__}: {e}", ""))
        finally:
            for p in (tmp_svg, tmp_png):
                p.unlink(missing_ok=True)
    return out


# ---------------------------------------------------------------- alt text

ALT_MAX = 300
_TEX = {r"\sigma": "σ", r"\eta": "η", r"\gamma": "γ", r"\beta": "β", r"\lambda": "λ", r"\alpha": "α",
        r"\theta": "θ", r"\rho": "ρ", r"\epsilon": "ε", r"\infty": "∞", r"\max": "max", r"\min": "min",
        r"\zeta": "ζ", r"\tanh": "tanh", r"\ln": "ln", r"\sqrt": "√", r"\cdot": "·", r"\times": "×"}


def plain(label: str) -> str:
    """A label without TeX markup, for alt text."""
    def math(m: re.Match[str]) -> str:
        t = m.group(1)
        for k, v in _TEX.items():
            t = t.replace(k, v)
        t = re.sub(r"\\(?:frac|hat|tilde|mathrm|left|right)", "", t)
        return re.sub(r"[{}\\]", "", t)
    return re.sub(r"\$([^$]*)\$", math, label).strip()


def alt_text(spec: dict) -> str:
    kind = spec["kind"]
    head = plain(spec["title"]) or plain(spec["caption"])
    if kind == "function":
        names = [plain(c["label"]) or c["expr"] for c in spec["curves"]]
        body = f"函数曲线：{'、'.join(names)}，x 从 {spec['x'][0]:g} 到 {spec['x'][1]:g}"
    elif kind == "optimizers":
        body = (f"优化轨迹：{'、'.join(plain(m['label']) for m in spec['methods'])}，"
                f"损失 {spec['loss']}，起点 ({spec['start'][0]:g}, {spec['start'][1]:g})，{spec['steps']} 步")
    elif kind == "norm-balls":
        ps = "、".join("L∞" if p == "inf" else f"L{p:g}" for p in spec["p"])
        body = f"单位球：{ps}" + ("，以及与椭圆损失等高线相切的约束最优点" if spec["loss"] else "")
    elif kind == "receptive-field":
        from .compute import receptive_field
        res = receptive_field(spec["input"], spec["layers"])
        body = f"输入 {spec['input']}；" + "；".join(f"{r.name} 输出 {r.size:g} 感受野 {r.rf}" for r in res)
    elif kind == "series":
        body = "曲线：" + "、".join(plain(s["label"]) for s in spec["series"] if s["label"])
    elif kind == "bars":
        body = "柱状图：" + "；".join(
            (plain(g["label"]) + " " if g["label"] else "")
            + "，".join(f"{plain(c)} {v:g}" for c, v in zip(spec["categories"], g["values"]))
            for g in spec["groups"])
    elif kind == "blocks":
        body = "示意图：" + "、".join(plain(n["text"]) for n in spec["nodes"])
    else:
        m = spec["matrix"]
        body = f"热力图，{len(m)} 行 × {len(m[0])} 列"
    text = " ".join((f"{head}（{body}）" if head else body).split())  # one line: a newline breaks genanki's check
    return text if len(text) <= ALT_MAX else text[:ALT_MAX - 1] + "…"

