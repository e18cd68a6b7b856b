"""Stitch the separately laid-out parts of the PDF guide into one file (the only module that imports pypdf).

Each part comes as a body PDF and an overlay PDF of the same page count (page numbers and footers,
generator/emit/pdf.py). The join draws every overlay page over its body page as a form XObject,
turns the parts' "xref:" link URIs into named destinations of the whole guide, rebuilds the
outline from the parts' bookmarks, and points every font at one subset per font file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, Fit, NameObject, NumberObject,
                           TextStringObject)

OVERLAY = NameObject("/DLOverlay")


@dataclass
class Piece:
    body: Path
    overlay: Path
    anchors: dict[str, list]
    """anchor → [page in the part, x, y] in PDF points."""
    bookmarks: list[list]
    """[level, label, page in the part, x, y]."""


def _stream(writer: PdfWriter, data: bytes, **entries) -> object:
    stream = DecodedStreamObject()
    stream.set_data(data)
    for key, value in entries.items():
        stream[NameObject(f"/{key}")] = value
    return writer._add_object(stream)


def _form(writer: PdfWriter, page) -> object:
    """An overlay page as a form XObject (its own resources: no name clashes with the body page)."""
    data = page.get_contents().get_data() if page.get_contents() is not None else b""
    resources = page["/Resources"].get_object().clone(writer)
    return _stream(writer, data, Type=NameObject("/XObject"), Subtype=NameObject("/Form"),
                   BBox=ArrayObject(page.mediabox), Resources=resources)


def join(pieces: list[Piece], target: Path, font_of: dict[str, str], subsets: dict[str, bytes]) -> None:
    writer = PdfWriter()
    open_q = _stream(writer, b"q\n")
    close_q = _stream(writer, b"\nQ q /DLOverlay Do Q\n")
    starts, dests = [], {}
    first = None
    for piece in pieces:
        body, overlay = PdfReader(piece.body), PdfReader(piece.overlay)
        if len(body.pages) != len(overlay.pages):
            raise ValueError(f"{piece.overlay}: {len(overlay.pages)} pages for {len(body.pages)} body pages")
        first = first or body
        starts.append(len(writer.pages))
        for page, over in zip(body.pages, overlay.pages):
            added = writer.add_page(page)
            resources = DictionaryObject(added["/Resources"].get_object())
            xobjects = DictionaryObject(resources.get("/XObject", DictionaryObject()).get_object())
            xobjects[OVERLAY] = _form(writer, over)
            resources[NameObject("/XObject")] = xobjects
            added[NameObject("/Resources")] = resources
            contents = added.get("/Contents")
            parts = list(contents.get_object()) if isinstance(contents.get_object(), ArrayObject) else [contents]
            added[NameObject("/Contents")] = ArrayObject([open_q, *parts, close_q])
        for name, (page, x, y) in piece.anchors.items():
            dests.setdefault(name, (starts[-1] + page, x, y))

    # links between parts, and the named destinations they point to
    for page in writer.pages:
        for annot in page.get("/Annots", []):
            annot = annot.get_object()
            action = annot.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action is not None else ""
            if uri.startswith("xref:"):
                del annot[NameObject("/A")]
                annot[NameObject("/Dest")] = TextStringObject(uri[5:])
    for name in sorted(dests):
        index, x, y = dests[name]
        _named(writer, name, index, x, y)

    # outline: chapters and their questions, as WeasyPrint made it in each part
    parents: dict[int, object] = {}
    for piece, start in zip(pieces, starts):
        for level, label, page, x, y in piece.bookmarks:
            parent = parents.get(level - 1) if level > 1 else None
            item = writer.add_outline_item(label, start + page, parent=parent, fit=Fit.xyz(x, y, 0))
            parents[level] = item
            for deeper in [k for k in parents if k > level]:
                del parents[deeper]

    _share_fonts(writer, font_of, subsets)
    if first is not None:
        writer.add_metadata({k: v for k, v in (first.metadata or {}).items() if k != "/Producer"})
        lang = first.trailer["/Root"].get("/Lang")
        if lang is not None:
            writer._root_object[NameObject("/Lang")] = TextStringObject(str(lang))
    writer._root_object[NameObject("/PageMode")] = NameObject("/UseOutlines")
    writer._ID = None
    with open(target, "wb") as f:
        writer.write(f)


def _named(writer: PdfWriter, name: str, index: int, x: float, y: float) -> None:
    from pypdf.generic import Destination
    dest = Destination(TextStringObject(name), writer.pages[index].indirect_reference, Fit.xyz(x, y, 0))
    writer.add_named_destination_object(dest)


def _share_fonts(writer: PdfWriter, font_of: dict[str, str], subsets: dict[str, bytes]) -> None:
    """Every part embedded a stub; point each font at the one subset of its file."""
    streams: dict[tuple[str, str], object] = {}
    seen: set[int] = set()

    def fonts_of(resources):
        fonts = resources.get_object().get("/Font") if resources is not None else None
        return fonts.get_object().values() if fonts is not None else []

    todo = []
    for page in writer.pages:
        resources = page.get("/Resources")
        todo.extend(fonts_of(resources))
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is not None and OVERLAY in xobjects.get_object():
            todo.extend(fonts_of(xobjects.get_object()[OVERLAY].get_object().get("/Resources")))
    for ref in todo:
        font = ref.get_object()
        if id(font) in seen or font.get("/Subtype") != "/Type0":
            continue
        seen.add(id(font))
        fhash = str(font["/BaseFont"]).lstrip("/").split("+", 1)[0]
        digest = font_of.get(fhash)
        if digest is None or digest not in subsets:
            continue
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        for key in ("/FontFile3", "/FontFile2"):
            if key in descriptor:
                if (digest, key) not in streams:
                    old = descriptor[key].get_object()
                    extra = {k.lstrip("/"): v for k, v in old.items()
                             if k in ("/Subtype",)}
                    if key == "/FontFile2":
                        extra["Length1"] = NumberObject(len(subsets[digest]))
                    stream = DecodedStreamObject()
                    stream.set_data(subsets[digest])
                    for k, v in extra.items():
                        stream[NameObject(f"/{k}")] = v
                    streams[(digest, key)] = writer._add_object(stream.flate_encode())
                descriptor[NameObject(key)] = streams[(digest, key)]
