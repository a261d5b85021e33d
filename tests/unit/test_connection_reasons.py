"""What the Email settings show for each state: the reason in words and the From options."""

from __future__ import annotations

from datetime import UTC, datetime

from mailroute.core.connection import BrokenReason, explain
from mailroute.core.records import ConnectionRecord
from mailroute.services.email_settings import email_settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _record(state: str, reason: str | None = None) -> ConnectionRecord:
    return ConnectionRecord(
        id="c1",
        company_id="co1",
        state=state,  # type: ignore[arg-type]
        address="owner@acme.example",
        google_subject="123",
        generation=2,
        scopes=("openid",),
        connected_by=None,
        connected_at=NOW,
        last_verified_at=NOW,
        broken_reason=reason,
        broken_at=NOW if reason else None,
        access_token_expires_at=None,
        daily_cap=500,
        has_refresh_token=state != "disconnected",
    )


def test_every_broken_reason_has_words_an_admin_understands() -> None:
    for reason in BrokenReason:
        words = explain(reason)
        assert words
        assert "_" not in words
    assert explain("something-new") == "Google no longer accepts the authorization"
    assert explain(None) == "Google no longer accepts the authorization"


def test_an_active_connection_offers_gmail_and_the_default_address() -> None:
    view = email_settings(_record("active"), company_name="Acme", default_from="x <no@reply.test>")

    assert view.state == "active"
    assert view.reason is None
    assert [(o.sender, o.address, o.enabled) for o in view.from_options] == [
        ("gmail", "owner@acme.example", True),
        ("default", "no@reply.test", True),
    ]
    assert view.from_options[0].label == "Acme <owner@acme.example> (Gmail)"


def test_a_broken_connection_shows_gmail_disabled_with_the_reason() -> None:
    view = email_settings(
        _record("not_connected", "revoked"), company_name="Acme", default_from="no@reply.test"
    )

    gmail, default = view.from_options
    assert view.reason == explain("revoked")
    assert view.reason_code == "revoked"
    assert (gmail.enabled, default.enabled) == (False, True)
    assert gmail.reason == f"Gmail is not connected: {explain('revoked')}"


def test_no_connection_or_a_revoked_one_offers_only_the_default_address() -> None:
    for record in (None, _record("disconnected")):
        view = email_settings(record, company_name="Acme", default_from="no@reply.test")

        assert view.state == "disconnected"
        assert view.address is None
        assert [o.sender for o in view.from_options] == ["default"]
        assert view.as_json()["from_options"][0]["enabled"] is True


def test_a_from_option_shows_a_non_ascii_company_name_as_people_read_it() -> None:
    view = email_settings(
        _record("active"), company_name="Zoë's Bäckerei", default_from="no@reply.test"
    )

    assert view.from_options[0].label == "Zoë's Bäckerei <owner@acme.example> (Gmail)"
    assert view.from_options[1].label == "Zoë's Bäckerei <no@reply.test> (default sender)"


def test_a_reason_is_explained_as_its_provider_means_it() -> None:
    assert "Google" in explain("password_changed")
    assert "Microsoft" in explain("password_changed", "microsoft")
    assert "Google" not in explain("revoked", "microsoft")
    assert explain("mfa_required", "microsoft").startswith("the organisation now requires")
    assert explain("unknown", "microsoft") == "Microsoft no longer accepts the authorization"
