"""Jinja2 templates (the only module that imports jinja2); the folder comes from :mod:`.resources`.

Templates whose name ends in ``.html``, ``.html.j2`` or ``.xml`` are autoescaped: pass
already-rendered HTML through :func:`markup`. Undefined names fail loudly
(``StrictUndefined``), and template errors keep Jinja's ``File "templates/…", line N``.
"""
from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .resources import TEMPLATES_DIR


@lru_cache(maxsize=None)
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2", "xml"), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(name: str, **values) -> str:
    """Render ``templates/<name>`` with ``values``."""
    return environment().get_template(name).render(**values)


def markup(html: str) -> Markup:
    """Mark trusted, already-rendered HTML so autoescaping leaves it alone."""
    return Markup(html)
