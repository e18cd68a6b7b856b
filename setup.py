"""Build hook: the wheel carries the templates and KaTeX's CSS and fonts.

Both are copied into ``generator/_assets`` at build time: the templates from ``templates/``,
KaTeX from npm's ``node_modules/katex`` (``npm ci`` is run when it is missing, e.g. when
building from an sdist). Nothing of KaTeX is committed. An editable install (``make setup``)
reads both in place; see ``generator/resources.py``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def katex_dist() -> Path:
    dist = ROOT / "node_modules" / "katex" / "dist"
    if not (dist / "katex.min.css").is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("building the wheel needs KaTeX's CSS and fonts: install npm, or run `npm ci` first")
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    wanted = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["dependencies"]["katex"]
    found = json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))["version"]
    if found != wanted:
        raise SystemExit(f"node_modules has katex {found}, package.json wants {wanted}: run `npm ci`")
    return dist


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "generator" / "_assets"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "templates", target / "templates")
        dist = katex_dist()
        (target / "katex").mkdir(parents=True)
        shutil.copy2(dist / "katex.min.css", target / "katex" / "katex.min.css")
        shutil.copytree(dist / "fonts", target / "katex" / "fonts")


setup(cmdclass={"build_py": BuildWithAssets})
