"""Shared helpers: throwaway content trees, CLI runs, golden files, the shipped corpus."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from generator.cli import main
from generator.location import Diagnostics
from generator.parse import parse_corpus

SHIPPED = Path(__file__).resolve().parent.parent / "content"
FRONT = "---\ndeck: {deck}\ntags: [t1, dl::basics]\n---\n"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (make sysdeps-test); Playwright drives it
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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


@pytest.fixture
def col(tmp_path):
    """An empty Anki collection from the ``anki`` package, for importing built decks into."""
    from anki.collection import Collection
    (tmp_path / "anki").mkdir()
    c = Collection(str(tmp_path / "anki" / "collection.anki2"))
    yield c
    c.close()


def import_apkg(col, apkg: Path):
    """Import as Anki's import dialog does by default; returns the import log."""
    from anki.collection import ImportAnkiPackageRequest
    from anki.import_export_pb2 import ImportAnkiPackageOptions
    req = ImportAnkiPackageRequest(package_path=str(apkg), options=ImportAnkiPackageOptions(
        merge_notetypes=False, update_notes=0, update_notetypes=0, with_scheduling=False,
        with_deck_configs=False))  # 0 = "if newer": the import dialog's default
    return col.import_anki_package(req).log


def run(*args: str) -> int:
    return main(list(args))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every output file in ``folder`` (caches excluded: they are not outputs)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".cache" not in p.relative_to(folder).parts}


def golden(expected: Path, got: str | bytes) -> Path:
    """The golden file to compare ``got`` with. `make golden` (GOLDEN_UPDATE=1) writes ``got``
    there first; otherwise a missing golden file fails the test."""
    if os.environ.get("GOLDEN_UPDATE") == "1":
        expected.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(got, bytes):
            expected.write_bytes(got)
        else:
            expected.write_text(got, encoding="utf-8")
    elif not expected.exists():
        pytest.fail(f"missing golden file {expected}; run `make golden`")
    return expected


@pytest.fixture(scope="session")
def shipped():
    """The shipped content, parsed once per test session: (document, diagnostics)."""
    if not SHIPPED.is_dir():
        pytest.skip("no content folder")
    diags = Diagnostics()
    return parse_corpus(SHIPPED, diags), diags


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium for the page tests (cheat sheet, watch mode, hostile notes)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make sysdeps)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
