"""Where an email goes, per the design's table: never a silent switch of sender."""

from __future__ import annotations

import pytest

from mailroute.core.routing import GmailConnectionView, decide_route

ACTIVE = GmailConnectionView("active", "owner@acme.example")
BROKEN = GmailConnectionView("not_connected", "owner@acme.example", "revoked")
REVOKED = GmailConnectionView("disconnected", None)


@pytest.mark.parametrize(
    ("sender", "connection", "route"),
    [
        ("gmail", ACTIVE, "gmail"),
        ("auto", ACTIVE, "gmail"),
        ("default", ACTIVE, "default"),
        ("gmail", None, "default"),
        ("auto", None, "default"),
        ("gmail", REVOKED, "default"),
        ("auto", REVOKED, "default"),
        ("default", BROKEN, "default"),
    ],
)
def test_routes_by_sender_and_connection_state(
    sender: str, connection: GmailConnectionView | None, route: str
) -> None:
    assert decide_route(sender, connection).route == route  # type: ignore[arg-type]


@pytest.mark.parametrize("sender", ["gmail", "auto"])
def test_a_broken_connection_fails_the_email_with_a_message_naming_the_account(sender: str) -> None:
    decision = decide_route(sender, BROKEN)  # type: ignore[arg-type]
    assert decision.route is None
    assert decision.error_code == "gmail_not_connected"
    assert decision.error_message is not None
    assert "owner@acme.example" in decision.error_message
    assert "Settings > Company > Profile > Email" in decision.error_message
    assert decision.connection_broken


def test_the_company_may_choose_the_default_sender_while_gmail_is_broken() -> None:
    decision = decide_route("gmail", BROKEN, default_while_broken=True)
    assert decision.route == "default"
    assert decision.connection_broken
