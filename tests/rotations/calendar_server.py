"""A real HTTP server on loopback that serves calendars the way calendar hosts do (ETag, Last-Modified,
304, redirects, errors), records what it was asked, and can stall a request until the test is done."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    location: str | None = None
    chunked: bool = False
    stall: bool = False
    headers: dict = field(default_factory=dict)


class CalendarServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict]] = []
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer((host, 0), partial(_Handler, self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, body: str | bytes = b"", **route) -> str:
        self.routes[path] = Route(body=body.encode() if isinstance(body, str) else body, **route)
        return self.url(path)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, server: CalendarServer, *args, **kwargs):
        self.calendars = server
        super().__init__(*args, **kwargs)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.calendars.requests.append((self.path, dict(self.headers)))
        route = self.calendars.routes.get(self.path)
        if route is None:
            return self._send(404, b"not found")
        if route.stall:
            self.calendars.release.wait(10)
            return None
        if route.location:
            return self._send(302, b"", {"Location": route.location})
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            return self._send(304, b"", {"ETag": route.etag})
        if route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified:
            return self._send(304, b"")
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        headers.setdefault("Content-Type", "text/calendar; charset=utf-8")
        self._send(route.status, route.body, headers, chunked=route.chunked)

    def _send(self, status: int, body: bytes, headers: dict | None = None, chunked: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 65536):
                piece = body[start:start + 65536]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)
