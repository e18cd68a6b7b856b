"""The PDF guide's parts laid out by WeasyPrint, in worker processes (the only module that imports weasyprint).

:mod:`.pdf` builds each part's HTML and hands it here as a job; :func:`layout_part` lays it out,
writes its PDF with stub fonts and returns what the join and the overlays need (anchors,
bookmarks, the places of the page-number slots, the glyphs used of each font). WeasyPrint reads
files only through :class:`LocalFetcher`, which refuses the network and any file outside the
content folder, the drawn figures, the fonts and the templates.
"""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from ..context import write_atomic
from ..resources import TEMPLATES_DIR
from . import pdfmath
from .pdfmath import PLACEHOLDER_CLASS, font_id

SCALE = 0.75  # CSS px → PDF points


class LocalFetcher(URLFetcher):
    """A URL fetcher that reads ``data:`` URIs and files under an allow-list of folders.

    Everything else (http, https, ftp, files elsewhere, symlinks leading out) is refused
    with a ValueError, which WeasyPrint turns into a logged error and a missing resource.
    """

    def __init__(self, roots: list[Path]):
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False, timeout=1)
        self.roots = tuple(r.resolve() for r in roots)
        self.refused: list[str] = []

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return True
        if scheme != "file" or parts.netloc not in ("", "localhost"):
            return False
        path = Path(url2pathname(unquote(parts.path))).resolve()
        return any(path.is_relative_to(root) for root in self.roots)

    def fetch(self, url, headers=None):
        if not self.allows(url):
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url}: only files in the content folder and the build's assets")
        return super().fetch(url, headers)


class _WeasyLog(logging.Handler):
    """WeasyPrint's errors (unreachable resources) during one render."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write_pdf(html_text: str, target: Path, base: Path, fetcher: LocalFetcher,
              stylesheets: list[str]) -> tuple[int, list[str]]:
    """Lay out and write one whole document; returns the page count and WeasyPrint's error messages."""
    fonts = FontConfiguration()
    sheets = [CSS(string=s, base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=fetcher,
                  font_config=fonts) for s in stylesheets]
    handler = _WeasyLog()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        document = HTML(string=html_text, base_url=base.resolve().as_uri() + "/", url_fetcher=fetcher).render(
            font_config=fonts, stylesheets=sheets)
        document.write_pdf(target)
    finally:
        logger.removeHandler(handler)
    return len(document.pages), handler.messages


_FONT_USE: dict[str, list] = {}


def _patch_font_embedding(fonts_dir: Path) -> None:
    """Embed a stub instead of a subset per part: pdfjoin embeds one subset of each font for the
    whole guide. Records which glyphs each font of this part uses, and keeps the font file."""
    from weasyprint.pdf import fonts as wfonts

    def clean(font, to_unicode, hinting):
        digest = font_id(font.file_content, font.index)
        path = fonts_dir / digest
        if not path.exists():
            write_atomic(path, lambda tmp: tmp.write_bytes(font.file_content))
        _FONT_USE[font.hash] = [digest, font.index, sorted(int(g) for g in to_unicode)]
        # the tag of a subset (a face of a collection comes out as a single font)
        font.file_content = b"OTTO" if "CFF " in font.tables else b"\0\1\0\0"

    wfonts.Font.clean = clean


def _box_text(box):
    from weasyprint.formatting_structure import boxes
    if isinstance(box, boxes.TextBox):
        return box
    for child in getattr(box, "children", ()):
        found = _box_text(child)
        if found is not None:
            return found
    return None


def _boxes(box):
    box = getattr(box, "_box", box)  # a positioned box (the contents' numbers) sits in a placeholder
    yield box
    for child in getattr(box, "children", ()):
        yield from _boxes(child)


def _classes(box) -> list[str]:
    return (box.element.get("class") or "").split() if box.element is not None else []


def _leader(box, page_index: int, page_height: float) -> list | None:
    """A contents entry's leader: ``[page, from x, to x, y, grid origin x]`` in PDF points, from the end of
    the title's last line to the page number's room, on the entry's last line (None on a page that
    does not hold the entry's end)."""
    from weasyprint.formatting_structure import boxes
    end = None
    has_number = False
    for child in _boxes(box):
        if child is box or child.element is None:
            continue
        classes = _classes(child)
        if "toc-text" in classes and isinstance(child, boxes.InlineBox):
            end = child  # the title's last fragment: its line is the last one
        elif "pno" in classes:
            has_number = True
    if end is None or not has_number:
        return None
    em = box.style["font_size"]
    x0 = end.position_x + end.margin_width()
    x1 = box.content_box_x() + box.width
    y = box.content_box_y() + box.height - LEADER_RAISE * em - 2  # 2 px: half the dots' 3 pt row
    return [page_index, x0 * SCALE, x1 * SCALE, (page_height - y) * SCALE, box.content_box_x() * SCALE]


LEADER_RAISE = 0.28  # em from the entry's bottom to the row of dots (over the descenders, near the baseline)


def _geometry(page_index: int, page_box, page_height: float, out: dict, formulas: list, leaders: list) -> None:
    """The places of the page-number slots (relative to the page's content box, CSS px), of the
    formula boxes (``[page, x, top, width, height, key]`` in PDF points) and of the contents' leaders."""
    from weasyprint.formatting_structure import boxes
    origin_x, origin_y = page_box.content_box_x(), page_box.content_box_y()
    for box in _boxes(page_box):
        if box.element_tag == "a" and isinstance(box, boxes.BlockBox) and "toc-entry" in _classes(box):
            leader = _leader(box, page_index, page_height)
            if leader is not None:
                leaders.append(leader)
            continue
        if box.element_tag != "span":
            continue
        if isinstance(box, boxes.InlineBlockBox):
            key = box.element.get("data-f")
            if key and box.element.get("class") == PLACEHOLDER_CLASS:
                formulas.append([page_index, box.content_box_x() * SCALE, (page_height - box.content_box_y()) * SCALE,
                                 box.width * SCALE, box.height * SCALE, key])
            continue
        if not isinstance(box, (boxes.InlineBox, boxes.BlockBox)):
            continue
        sid = box.element.get("id", "")
        if not sid.startswith("pno-") or sid in out:
            continue
        text = _box_text(box)
        if text is None:
            continue
        style = text.style
        r, g, b, a = style["color"]
        out[sid] = {"page": page_index, "left": text.position_x - origin_x, "top": text.position_y - origin_y,
                    "width": text.width, "height": text.height, "family": list(style["font_family"]), "size": style["font_size"],
                    "weight": style["font_weight"],
                    "color": f"rgba({round(r * 255)}, {round(g * 255)}, {round(b * 255)}, {a:g})"}


_STYLES: dict[tuple, tuple] = {}


def _styles(roots: tuple[str, ...], sheets: tuple[str, ...]) -> tuple[LocalFetcher, FontConfiguration, list[CSS]]:
    """The parsed stylesheets and their fonts, once per worker process for every part that uses them
    (parsing them and loading the fonts again cost about 0.1 s a part)."""
    key = (roots, sheets)
    if key not in _STYLES:
        fetcher = LocalFetcher([Path(r) for r in roots])
        config = FontConfiguration()
        parsed = [CSS(string=s, base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=fetcher, font_config=config)
                  for s in sheets]
        if len(_STYLES) >= 4:  # parts and overlays use two sets; a worker lives for one build
            _STYLES.clear()
        _STYLES[key] = (fetcher, config, parsed)
    return _STYLES[key]


def layout_part(job: dict) -> dict:
    """Lay out one part and write its PDF; returns what the join and the overlay need."""
    fonts_dir = Path(job["fonts"])
    _patch_font_embedding(fonts_dir)
    _FONT_USE.clear()
    fetcher, config, sheets = _styles(tuple(job["roots"]), tuple(job["sheets"]))
    refused_before = len(fetcher.refused)
    handler = _WeasyLog()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        document = HTML(string=job["html"], base_url=job["base"], url_fetcher=fetcher).render(
            font_config=config, stylesheets=sheets)
        anchors, bookmarks, slots, covers, formulas, leaders = {}, [], {}, [], [], []
        for i, page in enumerate(document.pages):
            height = page.height
            for name, (x, y, _, _) in page.anchors.items():
                if not name.startswith("pno-"):
                    anchors.setdefault(name, [i, x * SCALE, (height - y) * SCALE])
            for level, label, (x, y), state in page.bookmarks:
                bookmarks.append([level, label, i, x * SCALE, (height - y) * SCALE])
            # links leave the part as "xref:" URIs; pdfjoin turns them into named destinations
            page.links[:] = [("external", "xref:" + target, rect, box) if kind == "internal"
                             else (kind, target, rect, box) for kind, target, rect, box in page.links]
            _geometry(i, page._page_box, height, slots, formulas, leaders)
            covers.append(page._page_box.margin_top == 0 and page._page_box.margin_left == 0)
        write_atomic(Path(job["pdf"]), lambda tmp: document.write_pdf(tmp))
    finally:
        logger.removeHandler(handler)
    expected = job["html"].count(f'<span class="{PLACEHOLDER_CLASS}" data-f=')
    if len(formulas) != expected:  # a box WeasyPrint did not lay out would lose its formula silently
        handler.messages.append(f"{expected - len(formulas)} of {expected} formulas of this part were not placed")
    drawn, glyphs = _drawn(len(document.pages), formulas, leaders, job.get("drawings", {}))
    return {"pages": len(document.pages), "anchors": anchors, "bookmarks": bookmarks, "slots": slots,
            "drawn": drawn, "glyphs": glyphs,
            "cover": covers, "fonts": dict(_FONT_USE), "errors": handler.messages,
            "refused": fetcher.refused[refused_before:]}


def _drawn(pages: int, formulas: list, leaders: list, drawings: dict) -> tuple[list, dict]:
    """What the join draws on each page (formulas, contents leaders) as PDF operators, and the glyphs
    used of each KaTeX font."""
    drawing = pdfmath.Drawing(drawings)
    by_page: dict[int, list] = {}
    for page, *placed in formulas:
        by_page.setdefault(page, []).append(placed)
    dots: dict[int, list] = {}
    for page, *leader in leaders:
        dots.setdefault(page, []).append(leader)
    out = []
    for i in range(pages):
        ops = [b for b in (drawing.page(by_page[i]) if i in by_page else None,
                           pdfmath.leaders(dots[i]) if i in dots else None) if b]
        out.append(b"".join(ops).decode("ascii") or None)
    if drawing.missing:  # the parent hands every placed formula's drawing: a bug, never an empty formula
        raise RuntimeError(f"{len(drawing.missing)} formulas were placed but have no drawing")
    return out, {file: {str(gid): ch for gid, ch in sorted(font.glyphs.items())}
                 for file, font in sorted(drawing.fonts.items())}


def font_subset(font_file: Path, index: int, gids: set[int], target: Path) -> bytes:
    """One subset of a font file for the whole guide, glyph ids kept (the parts' text refers to
    them), written to ``target``."""
    from types import SimpleNamespace

    from weasyprint.pdf.fonts import Font
    from weasyprint.text.ffi import ffi, harfbuzz
    global _HB_DECLARED
    if not _HB_DECLARED:
        ffi.cdef("hb_blob_t * hb_blob_create (const char *data, unsigned int length, int mode, "
                 "void *user_data, void *destroy); hb_face_t * hb_face_create (hb_blob_t *blob, unsigned int index);")
        _HB_DECLARED = True
    data = font_file.read_bytes()
    buffer = ffi.from_buffer(data)
    blob = ffi.gc(harfbuzz.hb_blob_create(buffer, len(data), 1, ffi.NULL, ffi.NULL), harfbuzz.hb_blob_destroy)
    face = ffi.gc(harfbuzz.hb_face_create(blob, index), harfbuzz.hb_face_destroy)
    shim = SimpleNamespace(hb_face=face, missing={}, file_content=data, family=font_file.name)
    Font._harfbuzz_subset(shim, dict.fromkeys(sorted(gids | {0})), False)
    result = shim.file_content
    write_atomic(target, lambda tmp: tmp.write_bytes(result))
    return result


_HB_DECLARED = False


def warm_up() -> None:
    """Run in each worker as it starts, while the parent still parses and checks: WeasyPrint's
    first layout loads fontconfig and the fonts, which every later part then finds ready."""
    HTML(string="<p>预热 warm-up</p>").render()
