"""How the sandbox starts its Microsoft TLS listener, in-process and as `mailroute sandbox`."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailroute_sandbox import server as sandbox_server
from mailroute_sandbox.server import SandboxServer


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_without_microsoft_port_the_sandbox_starts_as_before_with_no_tls_listener() -> None:
    with SandboxServer(http_port=0, smtp_port=0) as plain:
        ca = httpx.get(plain.base_url + "/_sandbox/microsoft/ca.pem")

        with pytest.raises(RuntimeError, match="microsoft_port"):
            _ = plain.microsoft_base_url
    assert ca.status_code == 404


def test_the_ca_is_written_where_asked_and_verifies_the_listener(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca" / "microsoft.pem"

    with SandboxServer(
        http_port=0, smtp_port=0, microsoft_port=0, microsoft_ca_file=ca_file
    ) as server:
        answer = httpx.get(
            server.microsoft_base_url + "/common/v2.0/.well-known/openid-configuration",
            verify=ssl.create_default_context(cafile=str(ca_file)),
            trust_env=False,
        )

    assert server.microsoft_ca_path == ca_file
    assert answer.status_code == 200
    assert ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_the_command_falls_back_to_a_free_port_when_the_default_one_is_taken(
    monkeypatch: pytest.MonkeyPatch, taken_port: int, tmp_path: Path
) -> None:
    monkeypatch.delenv("SANDBOX_MICROSOFT_PORT", raising=False)
    monkeypatch.setenv("SANDBOX_MICROSOFT_CA_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setattr(sandbox_server, "DEFAULT_MICROSOFT_PORT", taken_port)

    started = sandbox_server.start_from_env("127.0.0.1", 0, 0)
    try:
        assert started.microsoft_port not in (0, taken_port)
        assert started.microsoft_ca_path == tmp_path / "ca.pem"
    finally:
        started.stop()


def test_the_command_fails_when_the_port_it_was_asked_for_is_taken(
    monkeypatch: pytest.MonkeyPatch, taken_port: int, tmp_path: Path
) -> None:
    monkeypatch.setenv("SANDBOX_MICROSOFT_PORT", str(taken_port))
    monkeypatch.setenv("SANDBOX_MICROSOFT_CA_FILE", str(tmp_path / "ca.pem"))

    with pytest.raises(OSError, match="in use"):
        sandbox_server.start_from_env("127.0.0.1", 0, 0)


def test_the_command_runs_without_the_listener_when_told_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SANDBOX_MICROSOFT_PORT", "off")

    started = sandbox_server.start_from_env("127.0.0.1", 0, 0)
    try:
        with pytest.raises(RuntimeError):
            _ = started.microsoft_base_url
    finally:
        started.stop()
