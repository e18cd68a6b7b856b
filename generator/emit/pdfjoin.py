"""Stitch the separately laid-out parts of the PDF guide into one file (the only module that imports pikepdf).

Each part comes as a body PDF and an overlay PDF of the same page count (page numbers and footers,
generator/emit/pdf.py). The join draws every overlay page over its body page as a form XObject,
turns the parts' "xref:" link URIs into named destinations of the whole guide, rebuilds the
outline from the parts' bookmarks, and points every font at one subset per font file. qpdf
(through pikepdf) writes compressed object streams, as WeasyPrint does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from pikepdf import Array, Dictionary, Name, String

OVERLAY = Name("/DLOverlay")


@dataclass
class Piece:
    body: Path
    overlay: Path
    anchors: dict[str, list]
    """anchor → [page in the part, x, y] in PDF points."""
    bookmarks: list[list]
    """[level, label, page in the part, x, y]."""
    math: list[bytes | None] = field(default_factory=list)
    """Per page, the operators that draw its formulas (generator/emit/pdfmath.py), or None."""


def join(pieces: list[Piece], target: Path, font_of: dict[str, str], subsets: dict[str, bytes],
         math_fonts: list = ()) -> None:
    """math_fonts: (font digest, pdfmath.MathFont) of every font the formulas use."""
    pdf = pikepdf.new()
    open_q = pdf.make_stream(b"q\n")
    close_q = pdf.make_stream(b"\nQ\n")
    overlay_do = pdf.make_stream(b"q /DLOverlay Do Q\n")
    streams: dict[tuple[str, str], pikepdf.Stream] = {}
    math_dicts = {font.resource: _math_font(pdf, digest, font, subsets, streams) for digest, font in math_fonts}
    starts: list[int] = []
    dests: dict[str, tuple[int, float, float]] = {}
    sources = []
    for piece in pieces:
        body, overlay = pikepdf.open(piece.body), pikepdf.open(piece.overlay)
        sources += [body, overlay]
        if len(body.pages) != len(overlay.pages):
            raise ValueError(f"{piece.overlay}: {len(overlay.pages)} pages for {len(body.pages)} body pages")
        if not starts:
            _copy_document_info(body, pdf)
        starts.append(len(pdf.pages))
        math = piece.math or [None] * len(body.pages)
        for page, over, drawn in zip(body.pages, overlay.pages, math):
            form = pdf.copy_foreign(over.as_form_xobject())
            pdf.pages.append(page)
            added = pdf.pages[-1]
            resources = Dictionary(added.obj.Resources)  # shallow copy: WeasyPrint shares one per part
            xobjects = Dictionary(resources.get("/XObject", Dictionary()))
            xobjects[OVERLAY] = form
            resources.XObject = xobjects
            formulas = []
            if drawn is not None:
                fonts = Dictionary(resources.get("/Font", Dictionary()))
                for name, font in math_dicts.items():
                    fonts[Name(name)] = font
                resources.Font = fonts
                formulas = [pdf.make_stream(drawn)]
            added.obj.Resources = resources
            contents = added.obj.Contents
            parts = list(contents) if isinstance(contents, Array) else [contents]
            added.obj.Contents = Array([open_q, *parts, close_q, *formulas, overlay_do])
        for name, (page, x, y) in piece.anchors.items():
            dests.setdefault(name, (starts[-1] + page, x, y))

    # links between parts become named destinations of the whole guide
    for page in pdf.pages:
        for annot in page.obj.get("/Annots", []):
            action = annot.get("/A")
            uri = str(action.get("/URI", "")) if action is not None else ""
            if uri.startswith("xref:"):
                del annot.A
                annot.Dest = String(uri[5:])
    names = Array()
    for name in sorted(dests):
        index, x, y = dests[name]
        names.append(String(name))
        names.append(pdf.make_indirect(Array([pdf.pages[index].obj, Name.XYZ, x, y, 0])))
    pdf.Root.Names = Dictionary(Dests=pdf.make_indirect(Dictionary(Names=names)))

    # outline: chapters and their questions, as WeasyPrint made them in each part
    with pdf.open_outline() as outline:
        parents: dict[int, pikepdf.OutlineItem] = {}
        for piece, start in zip(pieces, starts):
            for level, label, page, x, y in piece.bookmarks:
                item = pikepdf.OutlineItem(label, start + page, "XYZ", left=x, top=y, zoom=0)
                parent = parents.get(level - 1)
                (parent.children if level > 1 and parent is not None else outline.root).append(item)
                parents[level] = item
                for deeper in [k for k in parents if k > level]:
                    del parents[deeper]
    pdf.Root.PageMode = Name.UseOutlines

    _share_fonts(pdf, font_of, subsets, streams)
    # each part's pages share one resource dictionary, written once; trimming it per page
    # (remove_unreferenced_resources) parses every content stream and makes the file larger
    # streams pass through as the parts compressed them; new ones (font subsets) are compressed
    pdf.save(target, object_stream_mode=pikepdf.ObjectStreamMode.generate, compress_streams=True,
             stream_decode_level=pikepdf.StreamDecodeLevel.none, static_id=True, deterministic_id=False)
    for src in sources:
        src.close()


def _copy_document_info(src: pikepdf.Pdf, pdf: pikepdf.Pdf) -> None:
    """Title, dates and language, as WeasyPrint wrote them for the first part."""
    if "/Info" in src.trailer:
        info = pdf.make_indirect(Dictionary({k: v for k, v in src.trailer.Info.items() if k != "/Producer"}))
        pdf.trailer.Info = info
    if "/Lang" in src.Root:
        pdf.Root.Lang = src.Root.Lang


def _fonts(resources) -> list:
    fonts = resources.get("/Font") if resources is not None else None
    return list(fonts.values()) if fonts is not None else []


def _font_file(pdf: pikepdf.Pdf, streams: dict, digest: str, key: str, data: bytes, subtype=None) -> pikepdf.Stream:
    """The one embedded subset of a font file, shared by every font dictionary that uses it."""
    if (digest, key) not in streams:
        stream = pdf.make_stream(data)
        if key == "/FontFile3":
            stream.Subtype = subtype or Name.OpenType
        else:
            stream.Length1 = len(data)
        streams[(digest, key)] = stream
    return streams[(digest, key)]


def _math_font(pdf: pikepdf.Pdf, digest: str, font, subsets: dict[str, bytes], streams: dict) -> pikepdf.Object:
    """A Type0 font (Identity-H: glyph ids) for the formulas' glyphs of one KaTeX TrueType font."""
    info = font.info
    tag = "".join(chr(ord("A") + int(c, 16)) for c in digest[:6])
    base = Name(f"/{tag}+{info.name}")
    descriptor = Dictionary(Type=Name.FontDescriptor, FontName=base, Flags=4, FontBBox=Array(list(info.bbox)),
                            ItalicAngle=info.italic_angle, Ascent=info.ascent, Descent=info.descent,
                            CapHeight=info.cap_height, StemV=80,
                            FontFile2=_font_file(pdf, streams, digest, "/FontFile2", subsets[digest]))
    cid = Dictionary(Type=Name.Font, Subtype=Name.CIDFontType2, BaseFont=base,
                     CIDSystemInfo=Dictionary(Registry=String("Adobe"), Ordering=String("Identity"), Supplement=0),
                     FontDescriptor=pdf.make_indirect(descriptor), W=Array(font.widths()), CIDToGIDMap=Name.Identity)
    return pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type0, BaseFont=base, Encoding=Name("/Identity-H"),
                                        DescendantFonts=Array([pdf.make_indirect(cid)]),
                                        ToUnicode=pdf.make_stream(font.to_unicode())))


def _share_fonts(pdf: pikepdf.Pdf, font_of: dict[str, str], subsets: dict[str, bytes], streams: dict) -> None:
    """Every part embedded a stub; point each font at the one subset of its file."""
    seen: set[tuple[int, int]] = set()
    todo = []
    for page in pdf.pages:
        resources = page.obj.get("/Resources")
        todo += _fonts(resources)
        xobjects = resources.get("/XObject") if resources is not None else None
        if xobjects is not None and OVERLAY in xobjects:
            todo += _fonts(xobjects[OVERLAY].get("/Resources"))
    for font in todo:
        if font.objgen in seen or font.get("/Subtype") != "/Type0":
            continue
        seen.add(font.objgen)
        digest = font_of.get(str(font.BaseFont).lstrip("/").split("+", 1)[0])
        if digest is None or digest not in subsets:
            continue
        descriptor = font.DescendantFonts[0].FontDescriptor
        for key in ("/FontFile3", "/FontFile2"):
            if key in descriptor:
                descriptor[key] = _font_file(pdf, streams, digest, key, subsets[digest],
                                             descriptor[key].get("/Subtype"))
