"""Running the sandbox: uvicorn (HTTP) and aiosmtpd (SMTP) in background threads, or in the
foreground until SIGINT/SIGTERM with `main`.

    with SandboxServer(http_port=0, smtp_port=0) as sandbox:
        sandbox.base_url, sandbox.smtp_port   # the real ports
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from types import FrameType, TracebackType

import structlog
import uvicorn

from mailroute.config.settings import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from mailroute_sandbox.app import create_app
from mailroute_sandbox.smtp_sink import SinkController, SinkHandler
from mailroute_sandbox.state import SandboxState

log = structlog.get_logger(__name__)

DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1:8000/oauth/google/callback",
    "http://localhost:8000/oauth/google/callback",
)
_START_TIMEOUT_SECONDS = 15.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every response pays a 40 ms delayed-ACK stall.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class SandboxServer:
    """The fake Google (HTTP) and the SMTP sink, started together in background threads."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        http_port: int = 8090,
        smtp_port: int = 2525,
        *,
        redirect_uris: Sequence[str] = DEFAULT_REDIRECT_URIS,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        smtp_keep: int | None = None,
    ) -> None:
        self.host = host
        self._requested_http_port = http_port
        self._requested_smtp_port = smtp_port
        self.state = SandboxState(client_id, client_secret, redirect_uris, smtp_keep)
        self.http_port = http_port
        self.smtp_port = smtp_port
        self._uvicorn: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._smtp: SinkController | None = None

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.http_port}"

    def start(self) -> None:
        """Start both servers; return once each accepts connections."""
        http_sock = _bind(self.host, self._requested_http_port)
        try:
            smtp_sock = _bind(self.host, self._requested_smtp_port)
        except OSError:
            http_sock.close()
            raise
        self.http_port = http_sock.getsockname()[1]
        self.smtp_port = smtp_sock.getsockname()[1]
        self._smtp = SinkController(SinkHandler(self.state.smtp), smtp_sock)
        self._smtp.start()
        config = uvicorn.Config(
            create_app(self.state),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
            backlog=2048,
        )
        server = uvicorn.Server(config)
        self._uvicorn = server
        self._http_thread = threading.Thread(
            target=server.run, kwargs={"sockets": [http_sock]}, name="sandbox-http", daemon=True
        )
        self._http_thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox HTTP server did not start")
            time.sleep(0.01)
        log.info(
            "sandbox.started", base_url=self.base_url, smtp_port=self.smtp_port, host=self.host
        )

    def stop(self) -> None:
        """Stop both servers and wait for their threads."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._http_thread is not None:
            self._http_thread.join(timeout=10)
            self._http_thread = None
        self._uvicorn = None
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        log.info("sandbox.stopped")

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def redirect_uris_from_env() -> tuple[str, ...]:
    """The defaults plus any in SANDBOX_REDIRECT_URIS (comma-separated)."""
    extra = [u.strip() for u in os.environ.get("SANDBOX_REDIRECT_URIS", "").split(",")]
    return DEFAULT_REDIRECT_URIS + tuple(u for u in extra if u)


def smtp_keep_from_env() -> int | None:
    """SANDBOX_SMTP_KEEP: how many of the newest SMTP messages the sink holds (all when unset)."""
    value = os.environ.get("SANDBOX_SMTP_KEEP", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise SystemExit("SANDBOX_SMTP_KEEP: must be a whole number of messages, at least 1")
    return int(value)


def main(host: str, http_port: int, smtp_port: int) -> None:
    """Run the sandbox in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("sandbox.signal", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with SandboxServer(
            host,
            http_port,
            smtp_port,
            redirect_uris=redirect_uris_from_env(),
            smtp_keep=smtp_keep_from_env(),
        ):
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
