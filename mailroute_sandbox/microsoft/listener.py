"""The Microsoft part's own TLS listener: a CA and certificate issued at start (`tls`), then
uvicorn serving `app.create_microsoft_app` with them, beside the plain listener."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from pathlib import Path

import uvicorn

from mailroute_sandbox.serving import bind, start_uvicorn, stop_uvicorn, url_host
from mailroute_sandbox.state import SandboxState

DEFAULT_CA_NAME = "mailroute-sandbox-microsoft-ca.pem"


class MicrosoftListener:
    """HTTPS for the identity platform and Graph routes; `ca_path` is the CA clients trust."""

    def __init__(self, state: SandboxState, host: str, port: int, ca_file: Path | None) -> None:
        self.state = state
        self.host = host
        self.port = port
        self._ca_file = ca_file
        self._folder: Path | None = None
        self.ca_path: Path | None = None
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"https://{url_host(self.host)}:{self.port}"

    def bind(self) -> None:
        """Take the port now (so a busy port fails before anything starts)."""
        self._sock = bind(self.host, self.port)
        self.port = self._sock.getsockname()[1]

    def start(self) -> None:
        from mailroute_sandbox.microsoft import tls
        from mailroute_sandbox.microsoft.app import create_microsoft_app

        self._folder = Path(tempfile.mkdtemp(prefix="mailroute-sandbox-microsoft-"))
        ca_path = self._ca_file or self._folder / DEFAULT_CA_NAME
        files = tls.issue(ca_path, self._folder)
        self.ca_path = files.ca_path
        self.state.microsoft.ca_pem = files.ca_path.read_bytes()
        assert self._sock is not None, "bind() first"
        self._server, self._thread = start_uvicorn(
            create_microsoft_app(self.state),
            self._sock,
            "sandbox-microsoft",
            ssl_certfile=str(files.cert_path),
            ssl_keyfile=str(files.key_path),
        )

    def stop(self) -> None:
        stop_uvicorn(self._server, self._thread)
        self._server = self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
