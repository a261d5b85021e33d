"""Fixtures for the sandbox contract tests: one in-process sandbox per session, reset per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests
from microsoft_flows import Microsoft
from sandbox_targets import GOOGLE_ENV, Target, close_http, google_target, sandbox_target

from mailroute_sandbox.client import SandboxClient
from mailroute_sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(http_port=0, smtp_port=0) as server:
        yield server


@pytest.fixture(scope="session")
def microsoft_server() -> Iterator[SandboxServer]:
    """A sandbox with its Microsoft TLS listener on a free port."""
    with SandboxServer(http_port=0, smtp_port=0, microsoft_port=0) as server:
        yield server


@pytest.fixture
def microsoft(microsoft_server: SandboxServer) -> Iterator[Microsoft]:
    """The Microsoft side of a freshly reset sandbox: controls, and a session trusting its CA."""
    with SandboxClient(microsoft_server.base_url) as client, requests.Session() as http:
        client.reset()
        http.verify = str(microsoft_server.microsoft_ca_path)
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify` (microsoft_flows)
        yield Microsoft(microsoft_server, client, http)


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxClient]:
    """The control client, on a freshly reset sandbox."""
    with SandboxClient(sandbox_server.base_url) as client:
        client.reset()
        yield client


@pytest.fixture(autouse=True)
def _oauthlib_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sandbox is plain HTTP, and granular consent changes the granted scope (research §0.3/4).
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


@pytest.fixture(autouse=True)
def _close_http_connections() -> Iterator[None]:
    yield
    close_http()


@pytest.fixture
def target_sandbox(sandbox: SandboxClient) -> Target:
    return sandbox_target(sandbox.base_url)


@pytest.fixture(params=["sandbox", pytest.param("google", marks=pytest.mark.google)])
def target(request: pytest.FixtureRequest) -> Target:
    """Each shared check runs against the sandbox and, with credentials, against real Google."""
    if request.param == "sandbox":
        found: Target = request.getfixturevalue("target_sandbox")
        return found
    google = google_target()
    if google is None:
        pytest.skip("real Google needs " + ", ".join(GOOGLE_ENV) + " (not set here)")
    return google


@pytest.fixture
def google_account() -> str:
    return os.environ.get("GOOGLE_CONTRACT_ACCOUNT", "")
