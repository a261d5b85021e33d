"""The web app's answers carry the headers a security review asks for: a Content-Security-Policy
without inline script that forbids framing, Referrer-Policy, nosniff, and no-store wherever
account data is shown; and only the configured host is honoured: another Host header is refused
before any route runs, so it can never be reflected into a redirect or a link."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mailroute.adapters.db.login_links import PostgresLoginLinks
from tests.conftest import TestCompany

TEMPLATES = Path(__file__).resolve().parents[3] / "mailroute" / "web" / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def _directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


def _login_path(database: Any, company: TestCompany) -> str:
    links = PostgresLoginLinks(database)
    admin = links.find_admin(company.id)
    assert admin is not None
    return f"/login/{links.create(admin)}"


def test_every_answer_has_a_policy_without_inline_script_that_forbids_framing(
    api: httpx.Client, company: TestCompany, database: Any
) -> None:
    answers = [
        api.get("/settings/email"),
        api.get(_login_path(database, company)),
        api.get("/v1/email-settings", headers=company.headers()),
        api.post("/v1/emails", headers=company.headers(), content=b"{}"),
        api.get("/healthz"),
        api.get("/static/settings.js"),
    ]

    for answer in answers:
        policy = _directives(answer.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"], answer.request.url
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
        assert "'unsafe-inline'" not in policy["default-src"] + policy["style-src"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"


def test_pages_and_answers_with_account_data_are_never_stored(
    api: httpx.Client, company: TestCompany, database: Any
) -> None:
    with httpx.Client(base_url=str(api.base_url), timeout=30.0) as browser:
        login = browser.get(_login_path(database, company))
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        signed_in = browser.post(str(login.url.path), data={"csrf": csrf.group(1)})
        page = browser.get("/settings/email")
    account_data = [
        login,
        signed_in,
        page,
        api.get("/v1/email-settings", headers=company.headers()),
        api.post("/v1/gmail/verify", headers=company.headers()),
    ]

    assert page.status_code == 200
    for answer in account_data:
        assert answer.headers["cache-control"] == "no-store", answer.request.url
    assert "no-store" not in api.get("/static/settings.css").headers.get("cache-control", "")


def test_no_template_has_an_inline_script_or_an_event_handler_attribute() -> None:
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text()
        assert not INLINE_SCRIPT.search(text), template.name
        assert not EVENT_HANDLER.search(text), template.name
        assert "javascript:" not in text.lower(), template.name


def test_the_api_docs_start_swagger_ui_from_a_script_file(api: httpx.Client) -> None:
    docs = api.get("/docs")

    assert docs.status_code == 200
    assert not INLINE_SCRIPT.search(docs.text)
    assert '<script src="/static/docs.js"></script>' in docs.text
    policy = _directives(docs.headers["content-security-policy"])
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert api.get("/static/docs.js").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/settings/email"),
        ("GET", "/settings/email/"),  # would be redirected to the same path on the given host
        ("GET", "/login/some-token"),
        ("POST", "/v1/emails"),
        ("GET", "/metrics"),
        ("GET", "/docs"),
    ],
)
def test_a_request_for_another_host_is_refused_naming_the_host_header(
    api: httpx.Client, method: str, path: str
) -> None:
    answer = api.request(method, path, headers={"Host": "evil.example:8000"})

    assert answer.status_code == 400
    [field] = answer.json()["error"]["fields"]
    assert field == {
        "field": "Host",
        "rule": "allowed_host",
        "message": "this server answers only for the hosts in ALLOWED_HOSTS",
    }
    assert "location" not in answer.headers
    assert "evil.example" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_configured_host_is_served_with_any_port_and_probes_answer_any_host(
    api: httpx.Client, web: str
) -> None:
    host = urlsplit(web).hostname
    assert host is not None

    upper = api.get("/settings/email", headers={"Host": host.upper() + ":1"})
    probe = api.get("/healthz", headers={"Host": "10.0.0.7:8000"})
    ready = api.get("/readyz", headers={"Host": "10.0.0.7"})

    assert upper.status_code == 401  # the page, asking for a login
    assert probe.status_code == 200
    assert ready.status_code in (200, 503)


@pytest.mark.parametrize("smuggled", ["{host}:1@evil.example", "{host}.evil.example", "{host}:x"])
def test_a_host_header_that_smuggles_another_host_is_refused(
    api: httpx.Client, web: str, smuggled: str
) -> None:
    host = urlsplit(web).hostname

    answer = api.get("/settings/email/", headers={"Host": smuggled.format(host=host)})

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"][0]["rule"] == "allowed_host"
    assert "location" not in answer.headers
