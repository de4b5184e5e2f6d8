"""A real HTTP server on loopback serving a test signer's JWKS, for services run as processes:
their token verifier fetches it like it fetches the auth service's."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from parley.testing.tokens import Signer


class JwksServer:
    def __init__(self, signer: Signer, host: str = "127.0.0.1") -> None:
        body = json.dumps(signer.jwks()).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="jwks", daemon=True)
        host_, port = self._server.server_address[:2]
        self.url = f"http://{host_!s}:{port}/.well-known/jwks.json"

    def __enter__(self) -> JwksServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
