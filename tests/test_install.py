"""The package as someone without a checkout gets it: build the wheel, install it into a fresh
virtual environment, and build all three outputs from a folder outside the repository.

The templates and KaTeX's CSS and fonts must come from inside the installed package. The
fresh environment borrows this one's third-party packages through a ``.pth`` line instead of
downloading them again; the project itself is installed from the wheel only.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "golden" / "pdf" / "content"

PLOT = """---
deck: 激活函数
---
# 图

## 三个数 {#plot.bars}

```plot
kind: bars
categories: [a, b, c]
groups:
  - values: [1, 2, 3]
```
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                   check=True, capture_output=True, text=True, timeout=300)
    (found,) = out.glob("dl_study_generator-*.whl")
    return found


def test_wheel_carries_templates_and_katex_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("guide.html.j2", "guide.css", "cheatsheet.html.j2", "anki.css", "figures.mplstyle"):
        assert f"generator/_assets/templates/{template}" in names
    assert "generator/mathsvg.js" in names  # Node runs it for the PDF's formulas
    assert "generator/_assets/katex/katex.min.css" in names
    assert "generator/_assets/katex/fonts/KaTeX_Main-Regular.woff2" in names
    assert "generator/_assets/katex/fonts/KaTeX_Main-Regular.ttf" in names  # the PDF loads TrueType
    assert not any(n.startswith(("templates/", "node_modules/", "tests/", "content/")) for n in names)


def test_installed_wheel_builds_everything_from_any_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300,
                   capture_output=True, text=True)
    work = tmp_path / "elsewhere"
    shutil.copytree(CORPUS, work / "notes")
    (work / "notes" / "03-plot.md").write_text(PLOT, encoding="utf-8")  # the figure style is packaged too
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["DLCARDS_MATHJAX"] = str(ROOT / "node_modules" / "mathjax-full")  # npm's copy, as a user would point to it
    where = subprocess.run([venv / "bin" / "python", "-c", "import generator; print(generator.__file__)"],
                           cwd=work, env=env, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(venv)), where  # not the checkout
    proc = subprocess.run([venv / "bin" / "dlcards", "build", "--content", "notes", "--out", "out"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mathjax-full" not in proc.stderr, proc.stderr[-3000:]  # formulas went through MathJax, no fallback
    outputs = sorted(p.suffix for p in (work / "out").iterdir() if p.is_file() and not p.name.startswith("."))
    assert outputs == [".apkg", ".html", ".json", ".pdf"]  # .json: the check report
    page = next((work / "out").glob("*.html")).read_text(encoding="utf-8")
    assert "data:font/woff2;base64," in page  # KaTeX fonts inlined from the installed package
    figures = sorted(p.name.split(".", 1)[1] for p in (work / "out" / "figures").glob("fig-*"))
    assert figures == ["png", "svg", "text.svg"]  # one plot: deck, cheat sheet and PDF forms
