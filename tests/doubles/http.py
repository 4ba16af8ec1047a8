"""A small threaded HTTP(S) server on 127.0.0.1:0 that test doubles build on.

A double answers like the real service, can be told to answer the next requests differently
(`script(429, headers={"Retry-After": "7"})`), and records what it accepted.
"""
from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value, headers: dict | None = None) -> "Reply":
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class HttpDouble:
    """Subclasses implement `handle(request) -> Reply`."""

    def __init__(self, *, tls_context: ssl.SSLContext | None = None):
        self._lock = threading.Lock()
        self._script: list[tuple[str, Reply]] = []
        self.requests: list[Request] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(self.command, unquote(parts.path), parse_qs(parts.query), dict(self.headers.items()), body)
                with double._lock:
                    double.requests.append(request)
                    scripted = None
                    for i, (suffix, reply) in enumerate(double._script):
                        if request.path.endswith(suffix):
                            scripted = double._script.pop(i)[1]
                            break
                reply = scripted or double.handle(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls_context else "http"
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> "HttpDouble":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, status: int, body: bytes = b"", headers: dict | None = None, *, path: str = "") -> None:
        """Answer the next request (whose path ends with `path`) with this reply instead of the normal one."""
        with self._lock:
            self._script.append((path, Reply(status, body, headers or {})))

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError
