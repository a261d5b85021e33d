"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, one browser per
session and a fresh context (cookies, popups) per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
# Screenshots land in .run/screenshots; MAILROUTE_UPDATE_SCREENSHOTS=1 writes the README's copies.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("MAILROUTE_UPDATE_SCREENSHOTS") == "1"
    else ROOT / ".run" / "screenshots"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail(
            "Debian's chromium is missing; `make test` installs it (apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_context(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def connections(database: Any, settings: Any) -> Any:
    from mailroute.adapters.crypto import TokenCipher
    from mailroute.adapters.db.connections import PostgresConnections

    return PostgresConnections(database, TokenCipher(settings.token_encryption_keys))


@pytest.fixture(scope="module")
def ms_stack(
    stack_env: dict[str, str], database: Any, broker_vhost: str, tmp_path_factory: Any
) -> Iterator[Any]:
    """A sandbox with its Microsoft TLS listener and a web app pointed at it (processes of
    their own: the session's sandbox keeps the machine's default Microsoft port)."""
    from tests.microsoft_stack import microsoft_stack

    with microsoft_stack(stack_env, tmp_path_factory.mktemp("e2e-microsoft"), "e2e") as stack:
        yield stack


@pytest.fixture
def tls_page_context(chromium: Any) -> Iterator[Any]:
    """As `page_context`, accepting the certificate of the sandbox's Microsoft listener (issued
    by the sandbox's own CA, which Chromium does not know)."""
    context = chromium.new_context(
        viewport={"width": 1100, "height": 900}, locale="en-GB", ignore_https_errors=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()
