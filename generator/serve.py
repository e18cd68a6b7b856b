"""The live preview server of ``dlcards watch`` (standard library only).

It serves the last good cheat sheet at ``/`` with a small script injected (the built file
stays the self-contained page), the files of the outputs folder and nothing else, and a
server-sent-events stream at ``/__live__/events`` that tells the page about every rebuild:
reload after a good one, show the problems of a failed one.

It binds to the loopback interface unless asked otherwise, and answers only requests whose
``Host`` is a loopback name (a web page elsewhere cannot reach it through DNS rebinding).
"""
from __future__ import annotations

import base64
import hashlib
import html
import ipaddress
import json
import re
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .location import GeneratorError
from .templating import template_path

EVENTS = "/__live__/events"
LIVE_SCRIPT = "live.js"
KEEPALIVE = 15.0
"""Seconds between comment lines on an idle event stream (proxies and browsers drop silent ones)."""
TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf", ".svg": "image/svg+xml",
         ".png": "image/png", ".json": "application/json", ".apkg": "application/octet-stream"}
PLACEHOLDER = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem">
<p>还没有成功的构建：修正下面列出的问题后，页面会自动刷新。<br>No good build yet: fix the problems listed and the page
reloads by itself.</p>
</body></html>
"""


@dataclass
class LiveState:
    """What the server shows; the watcher updates it after every rebuild (thread-safe)."""

    page: Path | None = None
    """The last good cheat sheet."""
    page_version: int = 0
    """Grows whenever the page's bytes change; a page older than this reloads."""
    status: dict = field(default_factory=lambda: {"build": 0, "ok": True, "errors": [], "warnings": 0,
                                                   "changed": [], "removed": [], "page": 0, "base": 0})
    """The last build: ok, errors [{loc, message}], warnings, changed/removed card ids, ``page`` (version
    of the page now served), ``base`` and ``swap`` ({card id: markup} that turn page ``base`` into ``page``,
    or None when the page must reload)."""
    closed: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, page: Path | None = None, page_changed: bool = False, **status) -> None:
        with self._cond:
            if page is not None:
                self.page = page
            if page_changed:
                self.page_version += 1
            self.status = {**status, "build": self.status["build"] + 1, "page": self.page_version,
                           "base": self.page_version - 1 if page_changed else self.page_version}
            self._cond.notify_all()

    def snapshot(self) -> tuple[Path | None, int, dict]:
        with self._cond:
            return self.page, self.page_version, dict(self.status)

    def wait(self, seen: int, timeout: float) -> dict | None:
        """The status once its build number passes ``seen``; None after ``timeout`` or when closing."""
        with self._cond:
            self._cond.wait_for(lambda: self.closed or self.status["build"] > seen, timeout)
            if self.closed or self.status["build"] <= seen:
                return None
            return dict(self.status)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


# ---------------------------------------------------------------- what may be served

def resolve(root: Path, raw_path: str) -> Path | None:
    """The file under ``root`` that a request path names, or None.

    The path is percent-decoded once; empty, ``.``, ``..`` and hidden segments, backslashes
    and NUL are refused, and the real path (symlinks followed) must stay inside ``root``.
    """
    try:
        path = unquote(urlsplit(raw_path).path, errors="strict")
    except UnicodeDecodeError:
        return None
    if "\x00" in path or "\\" in path:
        return None
    parts = path.split("/")[1:]
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    try:
        base = root.resolve()
        target = base.joinpath(*parts).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            return None
    except (OSError, ValueError, RuntimeError):  # a name too long, a loop of links: not a file we serve
        return None
    return target


def loopback(host: str) -> bool:
    """True if every address ``host`` names is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def inject(page: str, script: str, config: dict) -> str:
    """The page with the live script before ``</body>`` (and allowed by its CSP, if it has one)."""
    data = json.dumps(config).replace("</", "<\\/")
    tag = f'<script id="live-config" type="application/json">{data}</script>\n<script>{script}</script>\n'
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()

    def allow(m: re.Match[str]) -> str:
        directives = {}
        for part in html.unescape(m.group(2)).split(";"):
            words = part.split()
            if words:
                directives.setdefault(words[0].lower(), words[1:])
        default = directives.get("default-src")
        for name, source in (("script-src", f"'sha256-{digest}'"), ("connect-src", "'self'")):
            if name in directives or default is not None:
                kept = [w for w in directives.get(name, default) if w != "'none'"]
                directives[name] = kept + [source]
        policy = "; ".join(" ".join([name, *values]) for name, values in directives.items())
        return m.group(1) + html.escape(policy) + m.group(3)

    page = re.sub(r'(<meta\s+http-equiv="Content-Security-Policy"\s+content=")([^"]*)(")', allow, page, flags=re.I)
    at = page.rfind("</body>")
    return page + tag if at < 0 else page[:at] + tag + page[at:]


# ---------------------------------------------------------------- the server

class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args) -> None:  # the watcher's terminal shows rebuilds, not requests
        pass

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        if not self.server.host_allowed(self.headers.get("Host", "")):
            return self._send(HTTPStatus.FORBIDDEN, b"forbidden host\n", "text/plain; charset=utf-8", head)
        path = urlsplit(self.path).path
        if path == EVENTS:
            return self._events(head)
        if path in ("/", "/index.html"):
            return self._page(head)
        if path == "/favicon.ico":  # browsers ask; the page has none
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", head)
        target = resolve(self.server.root, self.path)
        if target is None:
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)
        try:
            body = target.read_bytes()
        except OSError:
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", head)
        self._send(HTTPStatus.OK, body, TYPES.get(target.suffix.lower(), "application/octet-stream"), head)

    def _page(self, head: bool) -> None:
        state = self.server.state
        page, version, _ = state.snapshot()
        text = None
        if page is not None:
            try:
                text = page.read_text(encoding="utf-8")
            except OSError:
                text = None
        if text is None:
            text, version = PLACEHOLDER.format(title="dlcards watch"), 0
        body = inject(text, self.server.script(), {"events": EVENTS, "page": version}).encode("utf-8")
        self._send(HTTPStatus.OK, body, TYPES[".html"], head)

    def _events(self, head: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self._common_headers()
        self.end_headers()
        if head:
            return
        state = self.server.state
        _, _, status = state.snapshot()
        try:
            while True:
                if status is not None:
                    self.wfile.write(f"event: build\ndata: {json.dumps(status)}\n\n".encode())
                    seen = status["build"]
                else:
                    self.wfile.write(b": idle\n\n")
                self.wfile.flush()
                if state.closed:
                    return
                status = state.wait(seen, KEEPALIVE)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")

    def _send(self, code: HTTPStatus, body: bytes, ctype: str, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.end_headers()
        if not head:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-answer is not worth a traceback in the watcher's terminal."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def __init__(self, address, family: int, root: Path, state: LiveState, public: bool,
                 script: Callable[[], str]):
        self.address_family = family
        self.root, self.state, self.public, self.script = root, state, public, script
        super().__init__(address, _Handler)

    def host_allowed(self, host: str) -> bool:
        if self.public:
            return True
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False


@dataclass
class Server:
    """A running preview server (serves in a daemon thread)."""

    httpd: _Server
    thread: threading.Thread
    url: str

    def stop(self) -> None:
        self.httpd.state.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start(root: Path, state: LiveState, host: str = "127.0.0.1", port: int = 0, public: bool = False) -> Server:
    """Serve ``root`` (the outputs folder) on ``host:port`` (port 0: a free one).

    A host that is not a loopback address is refused unless ``public`` is set.
    """
    if not public and not loopback(host):
        raise GeneratorError(f"refusing to serve on '{host}': other machines could reach it; the preview binds to "
                             f"127.0.0.1 unless you pass --public")
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise GeneratorError(f"cannot serve on '{host}': {e.strerror}") from None
    family, address = info[0], info[4][:2]
    script_file = template_path(LIVE_SCRIPT)

    def script() -> str:  # read per request, so editing templates/live.js needs no restart
        return script_file.read_text(encoding="utf-8")

    try:
        httpd = _Server(address, family, root, state, public, script)
    except OSError as e:
        raise GeneratorError(f"cannot serve on {host}:{port}: {e.strerror}"
                             + ("; choose another --port or leave it out for a free one" if port else "")) from None
    bound_host, bound_port = httpd.server_address[:2]
    shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="preview-server",
                              daemon=True)
    thread.start()
    return Server(httpd, thread, f"http://{shown}:{bound_port}/")
