"""Every ```python run``` block in the shipped content runs and its asserts hold.

The build never executes content; this test does, on purpose, so a code sample that
illustrates a claim (BN backward, IoU, receptive fields) is known to be correct. All
blocks run in one child process (each in a fresh namespace) so numpy is imported once.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator.location import Diagnostics
from generator.model import fragments
from generator.parse import parse_corpus

CONTENT = Path(__file__).resolve().parent.parent / "content"
RUNNER = r"""
import json, sys, traceback, io, contextlib
blocks = json.load(sys.stdin)
results = {}
for key, code in blocks.items():
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, key, "exec"), {"__name__": "__main__"})
        results[key] = ""
    except BaseException:
        results[key] = traceback.format_exc()[-2000:]
json.dump(results, sys.stdout)
"""


def runnable_blocks() -> dict[str, object]:
    doc = parse_corpus(CONTENT, Diagnostics())
    return {f"{note.id}:{block.loc.line}": block for note in doc.notes for frag in fragments(note)
            for block in frag.code if block.runnable}


BLOCKS = runnable_blocks()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps({k: b.code for k, b in BLOCKS.items()}),
                          capture_output=True, text=True, timeout=600, cwd=tmp_path_factory.mktemp("run"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("key", list(BLOCKS))
def test_runnable_block(key, results):
    assert results[key] == "", f"{BLOCKS[key].loc}: code block failed\n{results[key]}"


def test_content_has_runnable_blocks():
    assert len(BLOCKS) >= 5
