"""Where the package's own files are: the templates and KaTeX's CSS and fonts.

An installed wheel carries both inside the package (``generator/_assets``, copied in at
build time by ``setup.py``: the templates from ``templates/``, KaTeX from npm). A checkout
(the editable install of ``make setup``) reads ``templates/`` and ``node_modules/katex``
beside the package. Every other module asks here.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from .location import GeneratorError

KATEX_VERSION = "0.16.22"
PACKAGE_DIR = Path(str(files(__package__)))
_BUNDLED = PACKAGE_DIR / "_assets"
_CHECKOUT = PACKAGE_DIR.parent

TEMPLATES_DIR = _BUNDLED / "templates" if (_BUNDLED / "templates").is_dir() else _CHECKOUT / "templates"
KATEX_DIR = _BUNDLED / "katex" if (_BUNDLED / "katex").is_dir() else _CHECKOUT / "node_modules" / "katex" / "dist"
"""Holds ``katex.min.css`` and ``fonts/``."""

# MathJax (npm mathjax-full) is run by Node for the PDF's formulas; it is too large for the wheel,
# so an installed tool finds it through DLCARDS_MATHJAX, and a checkout in node_modules.
MATHJAX_DIR = Path(os.environ.get("DLCARDS_MATHJAX") or _CHECKOUT / "node_modules" / "mathjax-full")


def matplotlib_fonts() -> Path | None:
    """matplotlib's own TrueType fonts (DejaVu), which print figures name; found without importing it."""
    from importlib.util import find_spec
    spec = find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"
    return folder if (folder / "DejaVuSans.ttf").is_file() else None


def template(name: str) -> Path:
    return TEMPLATES_DIR / name


def katex_dir() -> Path:
    """The KaTeX assets, or a GeneratorError that says how to get them."""
    if not (KATEX_DIR / "katex.min.css").is_file():
        raise GeneratorError(f"KaTeX assets missing in {KATEX_DIR}: run `make setup` "
                             f"(npm ci installs katex@{KATEX_VERSION})")
    return KATEX_DIR
