"""What the Email settings show with two providers: every mailbox (Gmail's also as the top-level
fields, as before), the From options of every connected mailbox, and a Microsoft card that says
it is not available when the server has no Microsoft app registration (whose routes then answer
503 `microsoft_not_configured`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mailroute.config.settings import Settings
from mailroute.core.connection import explain
from mailroute.core.records import ConnectionRecord, Principal
from mailroute.services.email_settings import email_settings
from mailroute.web.app import create_app

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PUBLIC = "http://127.0.0.1:8000"


def _record(provider: str, state: str, address: str, reason: str | None = None) -> Any:
    return ConnectionRecord(
        id=f"{provider}-1",
        company_id="co1",
        state=state,  # type: ignore[arg-type]
        address=address,
        google_subject="sub",
        generation=1,
        scopes=(),
        connected_by=None,
        connected_at=NOW,
        last_verified_at=NOW,
        broken_reason=reason,
        broken_at=NOW if reason else None,
        access_token_expires_at=None,
        daily_cap=None,
        has_refresh_token=state != "disconnected",
        provider=provider,
    )


def test_both_mailboxes_are_listed_and_each_connected_one_is_a_from_option() -> None:
    view = email_settings(
        _record("gmail", "active", "owner@acme.example"),
        company_name="Acme",
        default_from="no@reply.test",
        others={"microsoft": _record("microsoft", "active", "ada@contoso.example")},
    )

    assert [(m.provider, m.label, m.state) for m in view.mailboxes] == [
        ("gmail", "Gmail", "active"),
        ("microsoft", "Microsoft 365", "active"),
    ]
    assert [(o.sender, o.label, o.enabled) for o in view.from_options] == [
        ("gmail", "Acme <owner@acme.example> (Gmail)", True),
        ("microsoft", "Acme <ada@contoso.example> (Microsoft 365)", True),
        ("default", "Acme <no@reply.test> (default sender)", True),
    ]


def test_the_top_level_fields_stay_the_gmail_mailboxes() -> None:
    view = email_settings(
        None,
        company_name="Acme",
        default_from="no@reply.test",
        others={"microsoft": _record("microsoft", "active", "ada@contoso.example")},
    ).as_json()

    assert (view["state"], view["address"]) == ("disconnected", None)
    assert view["mailboxes"][1]["address"] == "ada@contoso.example"
    assert set(view["mailboxes"][0]) == {
        "provider",
        "label",
        "state",
        "address",
        "reason_code",
        "reason",
        "connected_at",
        "last_verified_at",
        "broken_at",
        "available",
        "expires_at",
        "expires_soon",
    }


def test_a_broken_microsoft_mailbox_is_offered_disabled_with_its_reason_in_microsoft_words() -> (
    None
):
    view = email_settings(
        None,
        company_name="Acme",
        default_from="no@reply.test",
        others={"microsoft": _record("microsoft", "not_connected", "ada@c.example", "inactive")},
    )

    box = view.of("microsoft")
    option = view.from_options[0]
    assert (box.reason_code, box.reason) == ("inactive", explain("inactive", "microsoft"))
    assert (option.sender, option.enabled) == ("microsoft", False)
    assert option.reason == f"Microsoft 365 is not connected: {explain('inactive', 'microsoft')}"


def test_a_provider_the_server_cannot_sign_in_with_is_not_available() -> None:
    view = email_settings(
        None, company_name="Acme", default_from="no@reply.test", unavailable=("microsoft",)
    )

    assert [(m.provider, m.available) for m in view.mailboxes] == [
        ("gmail", True),
        ("microsoft", False),
    ]


Ask = Callable[..., httpx.Response]


@pytest.fixture
def unconfigured() -> Ask:
    """Requests to the app of a server without a Microsoft app registration, its services
    stubbed (the lifespan does not run): the API key is an admin's, nothing else is reached."""
    settings = Settings()
    settings = dataclasses.replace(
        settings, microsoft=dataclasses.replace(settings.microsoft, client_id="")
    )
    app = create_app(settings)
    admin = Principal(company_id="co1", role="admin", key_id="k1")
    app.state.ctx = SimpleNamespace(
        settings=settings, microsoft=None, companies=SimpleNamespace(authenticate=lambda _: admin)
    )

    async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            return await client.request(method, url, **kwargs)

    def ask(method: str, url: str, **kwargs: Any) -> httpx.Response:
        # A loop of its own in a thread of its own: the thread running the tests may hold a
        # running loop already (Playwright's sync API leaves one behind in the same session).
        with ThreadPoolExecutor(max_workers=1) as runner:
            return runner.submit(asyncio.run, call(method, url, **kwargs)).result()

    return ask


@pytest.mark.parametrize("path", ["/v1/microsoft/authorize", "/v1/microsoft/revoke"])
def test_without_a_microsoft_app_registration_the_routes_answer_503_not_configured(
    unconfigured: Ask, path: str
) -> None:
    answer = unconfigured("POST", path, headers={"Authorization": "Bearer key"})

    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "microsoft_not_configured"
    assert "MICROSOFT_CLIENT_ID" in answer.json()["error"]["message"]


def test_without_a_microsoft_app_registration_the_callback_page_says_so(
    unconfigured: Ask,
) -> None:
    page = unconfigured("GET", "/oauth/microsoft/callback?state=s&code=c")

    assert page.status_code == 503
    assert "Microsoft 365 was not connected" in page.text
    assert 'data-code="microsoft_not_configured"' in page.text
