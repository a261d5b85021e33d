"""The HTTP transport of webhooks against real local servers: over TLS it connects to the
address that was checked while the certificate is verified for the URL's host name (SNI) and
`Host` names it; a redirect is answered, not followed; an answer that does not come in time is
a timeout after the total, however the server trickles; only the first KiB of a body is kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailroute.adapters.webhook_http import HttpxWebhookTransport
from mailroute.core.webhook_addresses import Target, parse_target
from tests.integration.webhooks.receiver import receiving
from tests.stack import free_port

HOST = "hooks.acme.test"


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def _tls_server(cert: Path, key: Path) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append({"host": self.headers["Host"], "body": body})
            self.send_response(200)
            answer = b"x" * 5000
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def _target(url: str) -> Target:
    target = parse_target(url)
    assert isinstance(target, Target)
    return target


def test_over_tls_the_checked_address_is_reached_under_the_urls_host_name(
    tmp_path: Path,
) -> None:
    cert, key = _certificate(tmp_path)
    trusting = ssl.create_default_context(cafile=str(cert))
    transport = HttpxWebhookTransport(connect_timeout=2, total_timeout=5, tls=trusting)
    with _tls_server(cert, key) as (port, seen):
        result = transport.post(
            _target(f"https://{HOST}:{port}/in"), "127.0.0.1", {"webhook-id": "msg_1"}, b"{}"
        )
        assert result.status_code == 200, result.error
        assert seen == [{"host": f"{HOST}:{port}", "body": b"{}"}]
        assert len(result.body) == 1024  # the first KiB of 5000 bytes

        # A name the certificate does not hold fails its verification: nothing is sent.
        other = transport.post(
            _target(f"https://other.acme.test:{port}/in"), "127.0.0.1", {}, b"{}"
        )
        assert other.status_code is None
        assert other.error is not None
        assert other.error.startswith("connect_error")
        assert len(seen) == 1


def test_a_redirect_is_answered_not_followed() -> None:
    transport = HttpxWebhookTransport(connect_timeout=2, total_timeout=5)
    with receiving() as target, receiving() as redirecting:
        redirecting.redirect_to(target.url())
        result = transport.post(_target(redirecting.url()), "127.0.0.1", {}, b"{}")
    assert result.status_code == 302
    assert target.received == []


def test_a_receiver_that_trickles_its_answer_times_out_after_the_total() -> None:
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: ":
                if stop.wait(0.3):
                    return
                connection.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    transport = HttpxWebhookTransport(connect_timeout=1, total_timeout=1.5)
    started = time.monotonic()
    try:
        result = transport.post(_target(f"http://127.0.0.1:{port}/"), "127.0.0.1", {}, b"{}")
    finally:
        stop.set()
        listener.close()
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("timeout")
    assert 1.4 < time.monotonic() - started < 3


def test_an_attempt_made_from_a_thread_that_runs_an_event_loop_is_made_all_the_same() -> None:
    transport = HttpxWebhookTransport(connect_timeout=2, total_timeout=5)

    async def from_a_running_loop(url: str) -> int | None:
        return transport.post(_target(url), "127.0.0.1", {}, b"{}").status_code

    found: list[int | None] = []
    with receiving() as target:
        # A thread of the test's own: the test runner's thread may run a loop already.
        thread = threading.Thread(
            target=lambda: found.append(asyncio.run(from_a_running_loop(target.url())))
        )
        thread.start()
        thread.join(timeout=10)
    assert found == [200]
    assert len(target.received) == 1
