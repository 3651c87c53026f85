"""The HTTP endpoints of `kmirror run`: /metrics, /health and /ready.

``/health`` answers whether the supervisor loop still turns and every stream reported
recently (liveness). ``/ready`` answers whether the mirror is doing its job: partitions
assigned, the target reachable, the filter selecting something, and progress while there is
lag. Both return JSON with the reasons, and 200 or 503.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass(frozen=True)
class Check:
    """The outcome of a health or readiness check."""

    ok: bool
    reasons: list[str] = field(default_factory=list)

    def body(self) -> bytes:
        """The JSON body."""
        status = "ok" if self.ok else "failing"
        return json.dumps({"status": status, "reasons": self.reasons}).encode()


class StatusServer:
    """A small threaded HTTP server; start and stop are idempotent."""

    def __init__(
        self, port: int, registry: CollectorRegistry,
        health: Callable[[], Check], ready: Callable[[], Check], host: str = "0.0.0.0",
    ) -> None:
        self._registry, self._health, self._ready = registry, health, ready
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.host, self.port = host, port

    def start(self) -> int:
        """Listen (port 0 picks a free one); returns the port."""
        if self._server is not None:
            return self.port
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(owner._registry), CONTENT_TYPE_LATEST)
                elif path in ("/health", "/ready"):
                    check = owner._health() if path == "/health" else owner._ready()
                    self._send(200 if check.ok else 503, check.body(), "application/json")
                else:
                    self._send(404, b'{"endpoints": ["/metrics", "/health", "/ready"]}',
                               "application/json")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # no access log on the terminal

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kmirror-http", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
