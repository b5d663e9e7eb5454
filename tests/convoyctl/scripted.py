"""A scripted HTTP(S) server on loopback that answers like the gateway, for what a real gateway will not do
on cue: fail with a given status, drop an event stream, refuse a token."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["Request", "ScriptedGateway", "serve"]

Route = Callable[["Request"], None]


@dataclass
class Request:
    handler: BaseHTTPRequestHandler
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.handler.send_header(name, value)
        self.handler.send_header("Content-Length", str(len(data)))
        self.handler.end_headers()
        self.handler.wfile.write(data)

    def error(self, status: int, code: str, message: str) -> None:
        self.reply(status, {"error": {"code": code, "message": message, "request_id": "rid-1"}})

    def stream(self, text: str) -> None:
        """An event stream that ends (the connection closes) after `text`."""
        self.handler.send_response(200)
        self.handler.send_header("Content-Type", "text/event-stream")
        self.handler.send_header("Connection", "close")
        self.handler.end_headers()
        self.handler.wfile.write(text.encode())
        self.handler.wfile.flush()
        self.handler.close_connection = True


@dataclass
class ScriptedGateway:
    server: ThreadingHTTPServer
    scheme: str
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, path: str) -> Callable[[Route], Route]:
        def register(function: Route) -> Route:
            self.routes[(method, path)] = function
            return function

        return register

    def requests(self, method: str, path: str) -> list[Request]:
        return [r for r in self.seen if (r.method, r.path) == (method, path)]


def _handler(gateway_of: Callable[[], ScriptedGateway]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            gateway = gateway_of()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            request = Request(
                self,
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            gateway.seen.append(request)
            route = gateway.routes.get((self.command, parts.path))
            if route is None:
                request.error(404, "not_found", f"no route {self.command} {parts.path}")
            else:
                route(request)

        do_GET = do_POST = _dispatch

        def log_message(self, *args: Any) -> None:
            """Quiet: the test asserts what matters."""

    return Handler


@contextlib.contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[ScriptedGateway]:
    holder: list[ScriptedGateway] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(lambda: holder[0]))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    holder.append(ScriptedGateway(server, "https" if tls else "http"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
