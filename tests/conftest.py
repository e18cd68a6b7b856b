"""Shared helpers: throwaway content trees and CLI runs."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from generator.cli import main

FRONT = "---\ndeck: {deck}\ntags: [t1, dl::basics]\n---\n"


def write(root: Path, name: str, body: str, deck: str = "Test::Deck") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FRONT.format(deck=deck) + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working folder with content/ and build/; the CLI runs inside it."""
    (tmp_path / "content").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> int:
    return main(list(args))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every output file in ``folder`` (caches excluded: they are not outputs)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".cache" not in p.relative_to(folder).parts}
