"""The preview server: only the outputs folder, only loopback, the page with the live script injected."""
from __future__ import annotations

import base64
import hashlib
import html
import http.client
import json
import socket
import threading
import time

import pytest

from generator import serve
from generator.location import GeneratorError

PAGE = '<!DOCTYPE html>\n<html><head><title>t</title></head><body><article class="card" id="a.q">答案</article></body></html>\n'


@pytest.fixture
def outputs(tmp_path):
    """An outputs folder with a page, a figure, hidden caches, and a secret next to it."""
    out = tmp_path / "build"
    (out / "figures").mkdir(parents=True)
    (out / ".cache").mkdir()
    (out / "Deck.html").write_text(PAGE, encoding="utf-8")
    (out / "figures" / "fig-1.svg").write_text("<svg/>", encoding="utf-8")
    (out / ".cache" / "verify.json").write_text("{}", encoding="utf-8")
    (out / ".manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (out / "inside.svg").symlink_to(out / "figures" / "fig-1.svg")
    (out / "outside.txt").symlink_to(tmp_path / "secret.txt")
    (out / "figures" / "up").symlink_to(tmp_path)
    (out / "loop").symlink_to(out / "loop")
    return out


TRAVERSALS = [
    "/../secret.txt", "/figures/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
    "/..%2fsecret.txt", "/..%2Fsecret.txt", "/figures%2f..%2f..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
    "/%252e%252e/secret.txt", "/..%5csecret.txt", "/..\\secret.txt", "/%c0%ae%c0%ae/secret.txt",
    "/outside.txt", "/figures/up/secret.txt", "/.cache/verify.json", "/.manifest.json", "/%2ecache/verify.json",
    "/Deck.html%00.png", "/figures/", "/figures", "//etc/passwd", "/./Deck.html", "/figures/./fig-1.svg",
    "/" + "a/" * 200 + "x", "/" + "a" * 300, "/loop",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_resolve_refuses_anything_outside_or_hidden(outputs, path):
    assert serve.resolve(outputs, path) is None


def test_resolve_serves_files_of_the_outputs_folder(outputs):
    assert serve.resolve(outputs, "/Deck.html") == (outputs / "Deck.html").resolve()
    assert serve.resolve(outputs, "/figures/fig-1.svg?x=1#y") == (outputs / "figures" / "fig-1.svg").resolve()
    assert serve.resolve(outputs, "/%44eck.html") == (outputs / "Deck.html").resolve()
    assert serve.resolve(outputs, "/inside.svg") == (outputs / "figures" / "fig-1.svg").resolve()  # link stays inside


@pytest.fixture
def server(outputs):
    state = serve.LiveState()
    state.publish(page=outputs / "Deck.html", page_changed=True, ok=True, errors=[], warnings=0, changed=[],
                  removed=[])
    srv = serve.start(outputs, state)
    yield srv, state
    srv.stop()


def request(srv, path: str, host: str | None = None, method: str = "GET") -> tuple[int, bytes, dict]:
    """A raw request: http.client sends the path exactly as written (no normalisation)."""
    port = srv.httpd.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body, dict(resp.getheaders())


def test_binds_loopback_on_a_free_port(server):
    srv, _ = server
    host, port = srv.httpd.server_address[:2]
    assert host == "127.0.0.1" and port > 0 and srv.url == f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize("path", [p for p in TRAVERSALS if "\\" not in p and "%00" not in p] + ["/nothing.html"])
def test_http_traversal_is_refused(server, path):
    status, body, _ = request(server[0], path)
    assert status == 404 and b"secret" not in body


def test_http_serves_page_with_live_script_and_output_files(server, outputs):
    srv, _ = server
    status, body, headers = request(srv, "/")
    page = body.decode()
    assert status == 200 and "答案" in page and 'id="live-config"' in page and "EventSource" in page
    assert json.loads(page.split('id="live-config" type="application/json">')[1].split("</script>")[0]) == {
        "events": serve.EVENTS, "page": 1}
    assert page.index("EventSource") < page.index("</body>")
    assert headers["Cache-Control"] == "no-store"
    assert "live-config" not in (outputs / "Deck.html").read_text(encoding="utf-8")  # the built file stays clean
    assert request(srv, "/figures/fig-1.svg")[:2] == (200, b"<svg/>")
    assert request(srv, "/Deck.html")[1].decode() == PAGE
    assert request(srv, "/", method="HEAD")[:2] == (200, b"")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "192.168.1.5", "127.0.0.1.evil.example"])
def test_foreign_host_header_is_refused(server, host):
    """A page elsewhere that rebinds its name to 127.0.0.1 still sends its own Host."""
    assert request(server[0], "/", host=host)[0] == 403


def test_loopback_host_names_are_accepted(server):
    port = server[0].httpd.server_address[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
        assert request(server[0], "/", host=host)[0] == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "8.8.8.8", socket.gethostname()])
def test_non_loopback_bind_needs_public(outputs, host):
    if host == socket.gethostname() and serve.loopback(host):
        pytest.skip("this machine's name resolves to loopback")
    with pytest.raises(GeneratorError, match="--public"):
        serve.start(outputs, serve.LiveState(), host=host)


def test_busy_port_is_a_clear_error(server, outputs):
    port = server[0].httpd.server_address[1]
    with pytest.raises(GeneratorError, match=f"cannot serve on 127.0.0.1:{port}.*--port"):
        serve.start(outputs, serve.LiveState(), port=port)


def test_event_stream_sends_current_status_then_each_build(server):
    srv, state = server
    port = srv.httpd.server_address[1]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {serve.EVENTS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    received = b""

    def read_until(marker: bytes) -> None:
        nonlocal received
        deadline = time.monotonic() + 5
        while marker not in received and time.monotonic() < deadline:
            received += sock.recv(65536)

    read_until(b'"build": 1')
    assert b"text/event-stream" in received and b"event: build" in received
    threading.Timer(0.2, lambda: state.publish(ok=False, errors=[{"loc": "a.md:3:1", "message": "bad"}],
                                               warnings=0, changed=[], removed=[])).start()
    read_until(b'"build": 2')
    event = received.split(b"event: build\ndata: ")[-1].split(b"\n\n")[0]
    assert json.loads(event) == {"ok": False, "errors": [{"loc": "a.md:3:1", "message": "bad"}], "warnings": 0,
                                 "changed": [], "removed": [], "build": 2, "page": 1, "base": 1}
    sock.close()


def test_placeholder_page_before_the_first_good_build(outputs):
    state = serve.LiveState()
    srv = serve.start(outputs, state)
    try:
        status, body, _ = request(srv, "/")
        assert status == 200 and "还没有成功的构建" in body.decode() and '"page": 0' in body.decode()
    finally:
        srv.stop()


def test_csp_of_the_page_allows_the_injected_script():
    page = ('<html><head><meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;; '
            'script-src &#x27;sha256-abc&#x27;"></head><body></body></html>')
    out = serve.inject(page, "console.log(1)", {"events": "/e", "page": 1})
    csp = html.unescape(out.split('content="')[1].split('"')[0])
    digest = base64.b64encode(hashlib.sha256(b"console.log(1)").digest()).decode()
    assert csp == f"default-src 'none'; script-src 'sha256-abc' 'sha256-{digest}'; connect-src 'self'"
    assert serve.inject("<p>no body", "x()", {}).endswith("<script>x()</script>\n")
    assert "<\\/script>" in serve.inject("<body></body>", "", {"loc": "</script>"})
    assert serve.inject(PAGE, "x()", {}).replace(
        '<script id="live-config" type="application/json">{}</script>\n<script>x()</script>\n', "") == PAGE
