"""What content may put into the outputs: one HTML allow-list, TeX commands, images.

The only module that imports nh3. Every rendered fragment goes through :func:`clean`,
whatever syntax produced it (raw HTML, ``{…}`` attributes, Markdown); the ``*_problems``
functions say beforehand what :func:`clean` will drop, so the parser can warn with a
source location instead of losing content silently.
"""
from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from xml.parsers import expat

import nh3

ENGINE = f"nh3 {nh3.__version__}"
"""What cleans the HTML, for caches of cleaned fragments (the parse cache)."""

TAGS = frozenset(nh3.ALLOWED_TAGS) - {"img", "area", "map"} | {"details", "summary", "mark", "kbd", "figure",
                                                                 "figcaption"}
"""Raw ``<img>`` is not allowed: images go through ``![alt](path)``, which checks the file."""
# No "id": the pages own their ids (card anchors, toolbar); content cannot add or clash with them.
ATTRIBUTES = {"*": {"title", "lang"}, "a": {"href"}, "td": {"align", "style"},
              "th": {"align", "style"}, "ol": {"start"}}
# Classes: '.term' for authors, the rest are what the parser itself writes (code, figures, check
# boxes, clozes and card links are placeholders, filled by the emitters after cleaning). Others could
# borrow the pages' own styles (a sticky toolbar, visually hidden text, a fake cloze).
AUTHOR_CLASSES = frozenset({"term"})
CLASSES = AUTHOR_CLASSES | {"math-display", "details"}
STYLE_PROPERTIES = frozenset({"text-align"})
URL_SCHEMES = frozenset({"http", "https", "mailto"})
DROPPED_WITH_CONTENT = frozenset({"script", "style"})


_CLEANER = nh3.Cleaner(tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()}, link_rel=None,
                       allowed_classes={tag: set(CLASSES) for tag in TAGS},
                       url_schemes=set(URL_SCHEMES), filter_style_properties=set(STYLE_PROPERTIES),
                       strip_comments=True)  # built once: building the allow-list costs more than cleaning


def clean(html: str) -> str:
    """Keep ordinary formatting; drop everything else (scripts, handlers, ids, styles, foreign URLs).

    When cleaning changed nothing but markdown-it's '&quot;' in text into '"', the fragment is
    kept as written, so ordinary notes stay byte for byte as they were (their content hashes, and
    so their versions in Anki, do not move).
    """
    out = _CLEANER.clean(html)
    if ' class=""' in out:  # every class was foreign
        out = out.replace(' class=""', "")
    if "{{" in out:  # a cloze inside an attribute would be expanded into markup there (Anki, the pages)
        out = _TAG_RE.sub(lambda m: m.group(0).replace("{{", "{&#123;"), out)
    return html if out != html and html.replace("&quot;", '"') == out else out


# A start tag as the cleaner writes it: attribute values double-quoted, '"' and '>' inside escaped.
_TAG_RE = re.compile(r'<[a-z][^>"]*(?:"[^"]*"[^>"]*)*>')


def _url_allowed(url: str) -> bool:
    scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*):", url)
    return scheme is None or scheme.group(1).lower() in URL_SCHEMES


def attr_problems(tag: str, attrs: dict[str, str | None]) -> list[str]:
    """What :func:`clean` removes from one start tag's attributes, as messages."""
    allowed = ATTRIBUTES["*"] | ATTRIBUTES.get(tag, set())
    problems = []
    for name, value in attrs.items():
        name = name.lower()
        if name == "class":
            foreign = [c for c in (value or "").split() if c not in CLASSES]
            if foreign:
                problems.append(f"class {', '.join(foreign)} on <{tag}> removed (only "
                                f"{', '.join('.' + c for c in sorted(AUTHOR_CLASSES))} is for notes)")
        elif name not in allowed:
            why = ("ids are reserved for the page's own anchors" if name == "id"
                   else "event handlers never run" if name.startswith("on")
                   else "only text-align is kept" if name == "style" else "not allowed")
            problems.append(f"attribute '{name}' on <{tag}> removed ({why})")
        elif name == "href" and value is not None and not _url_allowed(value):
            problems.append(f"link '{value[:40]}' on <{tag}> removed (only http, https and mailto links)")
        elif name == "style" and value is not None:
            props = {p.split(":", 1)[0].strip().lower() for p in value.split(";") if p.strip()}
            if props - STYLE_PROPERTIES:
                problems.append(f"style {', '.join(sorted(props - STYLE_PROPERTIES))} on <{tag}> removed "
                                f"(only text-align is kept)")
    return problems


class _TagScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in DROPPED_WITH_CONTENT:
            self.problems.append(f"raw HTML <{tag}> removed with its content")
        elif tag == "img":
            self.problems.append("raw HTML <img> removed (write images as ![alt](path) so the file is checked)")
        elif tag not in TAGS:
            self.problems.append(f"raw HTML <{tag}> tag removed (its text is kept)")
        else:
            self.problems.extend(attr_problems(tag, dict(attrs)))

    handle_startendtag = handle_starttag


def html_problems(raw: str) -> list[str]:
    """What :func:`clean` drops from a piece of raw HTML written in the content."""
    scanner = _TagScanner()
    scanner.feed(raw)
    scanner.close()
    return scanner.problems


# ---------------------------------------------------------------- TeX


_URL_COMMANDS = ("href", "url")
_NEVER_COMMANDS = ("includegraphics", "style", "class", "cssId", "data", "htmlStyle", "htmlClass", "htmlId",
                   "htmlData", "require", "bbox", "mmlToken")
_MACRO_COMMANDS = ("def", "gdef", "edef", "xdef", "let", "futurelet", "newcommand", "renewcommand",
                   "providecommand", "DeclareMathOperator", "csname")
_CONTROL_WORD_RE = re.compile(r"\\([A-Za-z]+)")
_QUICK_RE = re.compile(r"\\(?:" + "|".join(_URL_COMMANDS + _NEVER_COMMANDS) + r")(?![A-Za-z])")


def _group(tex: str, pos: int) -> str | None:
    """The text of the brace group starting at ``pos`` (after spaces), or None."""
    while pos < len(tex) and tex[pos].isspace():
        pos += 1
    if pos >= len(tex) or tex[pos] != "{":
        return None
    depth, start = 0, pos + 1
    for i in range(pos, len(tex)):
        escaped = i > 0 and tex[i - 1] == "\\"
        if tex[i] == "{" and not escaped:
            depth += 1
        elif tex[i] == "}" and not escaped:
            depth -= 1
            if depth == 0:
                return tex[start:i]
    return None


def tex_problem(tex: str) -> tuple[str, int] | None:
    """A command that would make a link, load a resource or add markup in a reviewer's MathJax.

    Returns (message, 0-based offset in ``tex``) for the first one. ``\\href``/``\\url`` need a
    literal http(s) URL; the HTML commands and ``\\includegraphics`` are never allowed; none of
    them may be combined with a macro definition, which could hide the argument.
    """
    if not _QUICK_RE.search(tex):
        return None
    words = [(m.group(1), m.start(), m.end()) for m in _CONTROL_WORD_RE.finditer(tex)]
    names = {w for w, _, _ in words}
    macro = next((w for w in _MACRO_COMMANDS if w in names), None)
    for word, start, end in words:
        if word in _NEVER_COMMANDS:
            return f"'\\{word}' is not allowed in math (it adds HTML or loads files in the reviewer)", start
        if word in _URL_COMMANDS:
            if macro:
                return f"'\\{word}' cannot be combined with '\\{macro}' in one formula", start
            url = _group(tex, end)
            if url is None or not re.fullmatch(r"https?://[^\s{}\\]+", url.strip()):
                shown = "no literal URL" if url is None else f"'{url.strip()[:40]}'"
                return f"'\\{word}' needs an http(s) URL, found {shown}", start
    return None


# ---------------------------------------------------------------- text


def is_reserved_char(ch: str) -> bool:
    """Private-use code points: the build uses them for its own placeholders."""
    return "\ue000" <= ch <= "\uf8ff"


RESERVED_RE = re.compile("[\ue000-\uf8ff]")


# ---------------------------------------------------------------- images

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_KINDS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WebP", ".svg": "SVG"}
_SVG_NS = "http://www.w3.org/2000/svg"
_SVG_ELEMENTS = frozenset("""svg g defs symbol use path rect circle ellipse line polyline polygon text tspan
    textPath title desc metadata linearGradient radialGradient stop clipPath mask pattern marker style image
    filter feBlend feColorMatrix feComponentTransfer feComposite feFlood feGaussianBlur feMerge feMergeNode
    feMorphology feOffset feFuncR feFuncG feFuncB feFuncA switch""".split())
# metadata blocks (matplotlib writes RDF) are inert: anything in these namespaces is allowed
# and so are an editor's own elements (Inkscape's guides and layers)
_INERT_NS = ("http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://purl.org/dc/", "http://creativecommons.org/ns#",
             "http://www.inkscape.org/namespaces/inkscape", "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd")
_DATA_IMAGE_RE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*")


def sniff(head: bytes) -> str | None:
    """The image type of a file from its first bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in head:
        return "SVG"
    return None


def _svg_problem(data: bytes) -> tuple[str, int] | None:
    """The first thing that is not plain drawing in an SVG, with its line, or None."""
    found: list[tuple[str, int]] = []
    parser = expat.ParserCreate(namespace_separator=" ")
    in_style = [False]

    def fail(message: str) -> None:
        if not found:
            found.append((message, parser.CurrentLineNumber))

    def start(name: str, attrs: dict[str, str]) -> None:
        ns, _, local = name.rpartition(" ")
        if ns.startswith(_INERT_NS):
            return
        if ns != _SVG_NS or local not in _SVG_ELEMENTS:
            fail(f"element <{local}> is not allowed")
        in_style[0] = local == "style"
        for key, value in attrs.items():
            key_local = key.rpartition(" ")[2]
            low = value.strip().lower()
            if key_local.lower().startswith("on"):
                fail(f"event handler '{key_local}' on <{local}>")
            elif key_local == "href" and not (low.startswith("#") or (
                    local == "image" and _DATA_IMAGE_RE.fullmatch(value.strip()))):
                fail(f"<{local}> refers to '{value[:40]}' (only #ids inside the file)")
            elif _bad_css(value):
                fail(f"attribute '{key_local}' on <{local}> loads '{value[:40]}'")

    def text(data: str) -> None:
        if in_style[0] and _bad_css(data):
            fail("<style> loads a URL or imports a style sheet")

    def doctype(name, system_id, public_id, has_internal_subset) -> None:
        if has_internal_subset:  # matplotlib's plain <!DOCTYPE svg PUBLIC …> is fine; entities are not
            fail("a DOCTYPE with its own declarations (entities) is not allowed")

    def entity(*_args) -> None:
        fail("entity declarations are not allowed")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: in_style.__setitem__(0, False)
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.ProcessingInstructionHandler = lambda target, data: fail(f"processing instruction <?{target}?>")
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        return f"not well-formed XML ({expat.ErrorString(e.code)})", e.lineno
    return found[0] if found else None


def _bad_css(value: str) -> bool:
    low = value.lower()
    if "@import" in low or "javascript:" in low or "expression(" in low:
        return True
    return any(not u.strip(" '\"").startswith("#") for u in re.findall(r"url\(([^)]*)\)", low))


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be shipped as an image (size, type by content, unsafe SVG), or None."""
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return (f"image is {size / 1024 / 1024:.1f} MB; the limit is {MAX_IMAGE_BYTES // (1024 * 1024)} MB "
                    f"per image (MAX_IMAGE_BYTES)")
        with path.open("rb") as f:
            head = f.read(512)
    except OSError as e:
        return f"cannot read the image ({e.strerror})"
    kind = sniff(head)
    expected = IMAGE_KINDS.get(path.suffix.lower())
    if kind is None:
        return "is not a PNG, JPEG, GIF, WebP or SVG image (checked by its content)"
    if expected != kind:
        return f"contains a {kind} image but its name ends in '{path.suffix}'; rename it"
    if kind == "SVG":
        problem = _svg_problem(path.read_bytes())
        if problem:
            return f"SVG line {problem[1]}: {problem[0]}; only plain drawings are accepted"
    return None


# ---------------------------------------------------------------- output names

MAX_NAME_BYTES = 120
"""UTF-8 bytes of an output file's stem: room for the extension and temp-file affixes in 255."""
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}


def file_name(name: str) -> str:
    """A deck name as a file name that is safe on every OS: readable (CJK kept), never a path.

    Separators, reserved and control characters become '-', whitespace one space; leading
    and trailing dots, spaces and dashes go; the length is bounded; never empty.
    """
    out = []
    for ch in unicodedata.normalize("NFC", name):
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        out.append("-" if ch in '/\\:*?"<>|' or cat[0] == "C" and not ch.isspace() else ch)
    text = re.sub(r"-{2,}", "-", re.sub(r"\s+", " ", "".join(out))).strip(" .-")
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text.encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip(" .-")
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text += "_"
    return text or "deck"
