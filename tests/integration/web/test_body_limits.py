"""Request bodies are bounded while they are read, on every route, before the API key is
looked at: a 60 MB upload, chunked or declared, is answered 413 at once and never held in the
web process's memory."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import TestCompany, email_request
from tests.integration.web.conftest import WebProcess

MB = 1024 * 1024
CHUNK = b"x" * (256 * 1024)
SMALL_LIMIT = 64 * 1024


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield CHUNK
        sent += len(CHUNK)


def _post_chunked(url: str, path: str, total: int, **headers: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=30.0) as client:
        response = client.post(path, content=_chunks(total), headers=headers)
    return response, time.monotonic() - started


def _raw_request(url: str, head: str) -> bytes:
    """Send only a request's head (no body) and read what comes back."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def _assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "body"
    assert field["rule"] == "max_size"
    assert str(limit) in field["message"]


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/gmail/authorize", "application/json"),
        ("/settings/email/check", FORM),
        ("/settings/email/send", FORM),
        ("/logout", FORM),
        ("/login/some-token", FORM),
    ],
)
def test_a_chunked_60_mb_body_without_a_key_is_refused_413_and_never_held_in_memory(
    own_web: WebProcess, path: str, content_type: str
) -> None:
    limit = MB if path == "/settings/email/send" else SMALL_LIMIT
    before = own_web.rss()

    response, seconds = _post_chunked(own_web.url, path, 60 * MB, **{"Content-Type": content_type})

    _assert_too_large(response, limit)
    assert seconds < 5
    grown = own_web.rss() - before
    assert grown < 8 * MB, f"the web process grew by {grown / MB:.1f} MB"


@pytest.mark.parametrize("path", ["/v1/emails/x/retry", "/v1/gmail/verify", "/v1/gmail/revoke"])
def test_a_chunked_60_mb_body_to_a_route_that_reads_none_is_never_read(
    own_web: WebProcess, path: str
) -> None:
    before = own_web.rss()

    response, seconds = _post_chunked(own_web.url, path, 60 * MB)

    assert response.status_code == 401
    assert response.json()["error"]["fields"][0]["field"] == "Authorization"
    assert seconds < 5
    grown = own_web.rss() - before
    assert grown < 8 * MB, f"the web process grew by {grown / MB:.1f} MB"


def test_a_chunked_60_mb_email_request_without_a_key_is_refused_without_reading_it(
    own_web: WebProcess,
) -> None:
    before = own_web.rss()

    response, seconds = _post_chunked(
        own_web.url, "/v1/emails", 60 * MB, **{"Content-Type": "application/json"}
    )

    assert response.status_code == 401
    assert response.json()["error"]["fields"][0]["field"] == "Authorization"
    assert seconds < 5
    grown = own_web.rss() - before
    assert grown < 8 * MB, f"the web process grew by {grown / MB:.1f} MB"


def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_sent(
    own_web: WebProcess,
) -> None:
    host = urlsplit(own_web.url).netloc
    for path, limit in (("/v1/emails", 25 * MB * 4 // 3 + 1_000_000), ("/logout", SMALL_LIMIT)):
        answer = _raw_request(
            own_web.url,
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {60 * MB}\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"field":"body","rule":"max_size"' in answer
        assert str(limit).encode() in answer


def test_an_email_request_past_its_limit_is_refused_while_it_is_read_and_nothing_is_stored(
    own_web: WebProcess, company: TestCompany, database: Any
) -> None:
    limit = 25 * MB * 4 // 3 + 1_000_000

    response, seconds = _post_chunked(
        own_web.url,
        "/v1/emails",
        60 * MB,
        **{"Content-Type": "application/json", **company.headers()},
    )

    _assert_too_large(response, limit)
    assert seconds < 15
    with database.connection() as conn:
        stored = conn.execute(
            "SELECT count(*) AS n FROM emails WHERE company_id = %s", (company.id,)
        ).fetchone()
    assert stored["n"] == 0


def test_a_body_within_the_limit_still_reaches_the_route(
    own_web: WebProcess, company: TestCompany
) -> None:
    with httpx.Client(base_url=own_web.url, timeout=30.0) as client:
        accepted = client.post("/v1/emails", json=email_request(company), headers=company.headers())
        form = client.post("/logout", data={"csrf": "x" * 1000})

    assert accepted.status_code == 202, accepted.text
    assert form.status_code == 200
