"""`ids`: write derived ids into headings that lack one, changing nothing else."""
from __future__ import annotations

import re
from pathlib import Path

from .location import Diagnostics
from .parse import content_files, make_parser, parse_file

_EOL_RE = re.compile(r"(\r\n|\n|\r)?$")
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def write_ids(root: Path, diags: Diagnostics) -> list[tuple[Path, int, str]]:
    """Returns (file, line, id) for every id written."""
    md = make_parser()
    written = []
    for path in content_files(root):
        sf = parse_file(md, path, root.resolve(), diags)
        if sf is None:
            continue
        missing = [n for c in sf.chapters for n in c.notes if not n.id_explicit]
        if not missing:
            continue
        data = path.read_bytes().decode("utf-8")
        # Split exactly where the parser does (\r\n, \r, \n), not at U+2028, form feeds and the
        # other breaks str.splitlines knows: else the id lands in the wrong line (issue 16).
        lines = _LINE_RE.findall(data)
        taken = {n.id for c in sf.chapters for n in c.notes if n.id_explicit}
        for note in missing:
            new_id, k = note.id, 2
            while new_id in taken:
                new_id, k = f"{note.id}-{k}", k + 1
            taken.add(new_id)
            idx = note.loc.line - 1
            line = lines[idx]
            eol = _EOL_RE.search(line).group(0)
            body = line[: len(line) - len(eol)]
            lines[idx] = body.rstrip(" \t") + f" {{#{new_id}}}" + eol
            written.append((path, note.loc.line, new_id))
        path.write_bytes("".join(lines).encode("utf-8"))
    # the warnings about missing ids are what this command fixes
    diags.items[:] = [d for d in diags.items if "has no {#id}" not in d.message]
    return written
