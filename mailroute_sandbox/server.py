"""Running the sandbox: uvicorn (HTTP) and aiosmtpd (SMTP) in background threads, or in the
foreground until SIGINT/SIGTERM with `main`.

    with SandboxServer(http_port=0, smtp_port=0) as sandbox:
        sandbox.base_url, sandbox.smtp_port   # the real ports
"""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType

import structlog
import uvicorn

from mailroute.config.settings import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from mailroute_sandbox.app import create_app
from mailroute_sandbox.microsoft.listener import DEFAULT_CA_NAME, MicrosoftListener
from mailroute_sandbox.serving import bind, start_uvicorn, stop_uvicorn, url_host
from mailroute_sandbox.smtp_sink import SinkController, SinkHandler
from mailroute_sandbox.state import SandboxState

log = structlog.get_logger(__name__)

DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1:8000/oauth/google/callback",
    "http://localhost:8000/oauth/google/callback",
)
DEFAULT_MICROSOFT_PORT = 8443


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
        microsoft_port: int | None = None,
        microsoft_ca_file: str | os.PathLike[str] | None = None,
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
        # None: no Microsoft listener (in-process default); 0: a free port.
        self._microsoft: MicrosoftListener | None = None
        if microsoft_port is not None:
            ca_file = Path(microsoft_ca_file) if microsoft_ca_file is not None else None
            self._microsoft = MicrosoftListener(self.state, host, microsoft_port, ca_file)

    @property
    def base_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.http_port}"

    @property
    def microsoft_port(self) -> int:
        return self._listener().port

    @property
    def microsoft_base_url(self) -> str:
        """`https://127.0.0.1:<port>`: the authority host (`/common`) and Graph (`/graph/v1.0`)."""
        return self._listener().base_url

    @property
    def microsoft_ca_path(self) -> Path:
        """The PEM of the CA that issued the Microsoft listener's certificate."""
        path = self._listener().ca_path
        if path is None:
            raise RuntimeError("the sandbox's Microsoft listener has not started")
        return path

    def _listener(self) -> MicrosoftListener:
        if self._microsoft is None:
            raise RuntimeError("the sandbox was started without microsoft_port")
        return self._microsoft

    def start(self) -> None:
        """Start the servers; return once each accepts connections."""
        http_sock = bind(self.host, self._requested_http_port)
        smtp_sock = None
        try:
            smtp_sock = bind(self.host, self._requested_smtp_port)
            if self._microsoft is not None:
                self._microsoft.bind()
        except OSError:
            http_sock.close()
            if smtp_sock is not None:
                smtp_sock.close()
            raise
        self.http_port = http_sock.getsockname()[1]
        self.smtp_port = smtp_sock.getsockname()[1]
        self._smtp = SinkController(SinkHandler(self.state.smtp), smtp_sock)
        self._smtp.start()
        try:
            self._uvicorn, self._http_thread = start_uvicorn(
                create_app(self.state), http_sock, "sandbox-http"
            )
            if self._microsoft is not None:
                self._microsoft.start()
        except Exception:
            self.stop()
            raise
        log.info(
            "sandbox.started", base_url=self.base_url, smtp_port=self.smtp_port, host=self.host
        )
        if self._microsoft is not None:
            log.info("sandbox.microsoft_started", base_url=self._microsoft.base_url)

    def stop(self) -> None:
        """Stop the servers and wait for their threads."""
        if self._microsoft is not None:
            self._microsoft.stop()
        stop_uvicorn(self._uvicorn, self._http_thread)
        self._uvicorn = None
        self._http_thread = None
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


def microsoft_port_from_env() -> tuple[int | None, bool]:
    """SANDBOX_MICROSOFT_PORT: (port, whether it was asked for); `off` turns the listener off."""
    value = os.environ.get("SANDBOX_MICROSOFT_PORT", "").strip()
    if not value:
        return DEFAULT_MICROSOFT_PORT, False
    if value.lower() == "off":
        return None, True
    if not value.isdigit() or int(value) > 65535:
        raise SystemExit("SANDBOX_MICROSOFT_PORT: must be a port number (0: any free port) or off")
    return int(value), True


def microsoft_ca_file_from_env() -> Path:
    """SANDBOX_MICROSOFT_CA_FILE: where the Microsoft listener's CA PEM is written."""
    value = os.environ.get("SANDBOX_MICROSOFT_CA_FILE", "").strip()
    return Path(value) if value else Path(tempfile.gettempdir()) / DEFAULT_CA_NAME


def _server_from_env(
    host: str, http_port: int, smtp_port: int, microsoft_port: int | None
) -> SandboxServer:
    return SandboxServer(
        host,
        http_port,
        smtp_port,
        redirect_uris=redirect_uris_from_env(),
        smtp_keep=smtp_keep_from_env(),
        microsoft_port=microsoft_port,
        microsoft_ca_file=microsoft_ca_file_from_env(),
    )


def start_from_env(host: str, http_port: int, smtp_port: int) -> SandboxServer:
    """Start as configured; an unasked default Microsoft port that is taken falls back to a free
    one, so a machine where 8443 is busy runs the sandbox as before."""
    port, asked = microsoft_port_from_env()
    server = _server_from_env(host, http_port, smtp_port, port)
    try:
        server.start()
    except OSError as exc:
        if asked or port is None or exc.errno != errno.EADDRINUSE:
            raise
        log.warning("sandbox.microsoft_port_taken", port=port)
        server = _server_from_env(host, http_port, smtp_port, 0)
        server.start()
    return server


def main(host: str, http_port: int, smtp_port: int) -> None:
    """Run the sandbox in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("sandbox.signal", signal=signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server = start_from_env(host, http_port, smtp_port)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
