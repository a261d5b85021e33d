"""A webhook receiver for tests: a small threaded HTTP server on a loopback address that
records every request (headers and body) and answers what the test says: 200 by default, a
scripted series of statuses, or a redirect. Stopped, its port refuses connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from tests.stack import free_port, wait_for


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def verified(self, secret: str) -> Any:
        """The body, once the standardwebhooks library verified the signature with `secret`."""
        return Webhook(secret).verify(self.body, self.headers)


class Receiver:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self.received: list[Received] = []
        self._answers: list[int] = []
        self.status = 200
        self.location: str | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, then with `status`."""
        with self._lock:
            self._answers.extend(statuses)

    def redirect_to(self, location: str) -> None:
        self.status, self.location = 302, location

    def _next(self) -> int:
        with self._lock:
            return self._answers.pop(0) if self._answers else self.status

    def _record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._record(Received(self.path, headers, body))
                status = receiver._next()
                self.send_response(status)
                if 300 <= status < 400 and receiver.location:
                    self.send_header("Location", receiver.location)
                answer = f"answered {status}".encode()
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        def enough() -> list[Received] | None:
            with self._lock:
                return list(self.received) if len(self.received) >= count else None

        found: list[Received] = wait_for(enough, timeout=timeout, what=f"{count} webhook(s)")
        return found


@contextmanager
def receiving(host: str = "127.0.0.1", port: int | None = None) -> Iterator[Receiver]:
    receiver = Receiver(host, port).start()
    try:
        yield receiver
    finally:
        receiver.stop()
