"""Golden file for the Anki emitter: the notes as Anki sees them after import.

Regenerate with `make golden` after an intended change, and review the diff.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import golden, import_apkg, run

GOLDEN = Path(__file__).parent / "golden" / "anki"


def test_golden_deck(tmp_path, monkeypatch, col):
    shutil.copytree(GOLDEN / "content", tmp_path / "content")
    monkeypatch.chdir(tmp_path)
    assert run("build", "--only", "deck", "-q") == 0
    (apkg,) = (tmp_path / "build").glob("*.apkg")
    import_apkg(col, apkg)
    notes = []
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        cards = note.cards()
        notes.append({"guid": note.guid, "notetype": note.note_type()["name"],
                      "deck": col.decks.name(cards[0].did), "tags": sorted(note.tags),
                      "fields": dict(note.items()), "cards": len(cards)})
    media = sorted(os.listdir(col.media.dir()))
    got = json.dumps({"notes": sorted(notes, key=lambda n: n["fields"]["Id"]), "media": media},
                     ensure_ascii=False, indent=1) + "\n"
    assert got == golden(GOLDEN / "expected.json", got).read_text(encoding="utf-8")
