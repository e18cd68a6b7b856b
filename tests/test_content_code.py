"""Every ```python run``` block in the shipped content runs and its asserts hold.

The build never executes content; this test does, on purpose, so a code sample that
illustrates a claim (BN backward, IoU, receptive fields) is known to be correct. All
blocks run in one child process (each in a fresh namespace) so numpy is imported once.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from generator.model import fragments

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


pytestmark = pytest.mark.slow


def test_runnable_blocks(shipped, tmp_path):
    blocks = {f"{note.id}:{block.loc.line}": block for note in shipped[0].notes for frag in fragments(note)
              for block in frag.code if block.runnable}
    assert len(blocks) >= 5
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps({k: b.code for k, b in blocks.items()}),
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    failed = {k: v for k, v in json.loads(proc.stdout).items() if v}
    assert not failed, "\n".join(f"{blocks[k].loc}: code block failed\n{v}" for k, v in failed.items())
