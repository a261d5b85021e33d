"""Where an email goes, per the design's table: never a silent switch of sender, whichever
provider the mailbox is at."""

from __future__ import annotations

import pytest

from mailroute.core.providers import PROVIDERS
from mailroute.core.routing import MailboxView, decide_route

ACTIVE = MailboxView("active", "owner@acme.example")
BROKEN = MailboxView("not_connected", "owner@acme.example", "revoked")
REVOKED = MailboxView("disconnected", None)


def _at(provider: str, view: MailboxView) -> MailboxView:
    return MailboxView(view.state, view.address, view.broken_reason, provider=provider)


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
    sender: str, connection: MailboxView | None, route: str
) -> None:
    assert decide_route(sender, [connection] if connection else []).route == route


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("asked", ["named", "auto"])
def test_a_broken_connection_fails_the_email_with_a_message_naming_the_account(
    provider: str, asked: str
) -> None:
    sender = provider if asked == "named" else "auto"
    decision = decide_route(sender, [_at(provider, BROKEN)])
    assert decision.route is None
    assert decision.error_code == f"{provider}_not_connected"
    assert decision.error_message is not None
    assert "owner@acme.example" in decision.error_message
    assert PROVIDERS[provider].label in decision.error_message
    assert "Settings > Company > Profile > Email" in decision.error_message
    assert decision.connection_broken


def test_the_company_may_choose_the_default_sender_while_its_mailbox_is_broken() -> None:
    decision = decide_route("gmail", [BROKEN], default_while_broken=True)
    assert decision.route == "default"
    assert decision.connection_broken


def test_a_named_provider_is_routed_to_its_own_mailbox_never_to_the_other() -> None:
    both = [_at("gmail", BROKEN), _at("microsoft", ACTIVE)]
    assert decide_route("microsoft", both).route == "microsoft"
    assert decide_route("gmail", both).error_code == "gmail_not_connected"
    assert decide_route("microsoft", [_at("gmail", ACTIVE)]).route == "default"


def test_auto_takes_the_chosen_primary_mailbox_even_when_it_is_broken() -> None:
    both = [_at("gmail", ACTIVE), _at("microsoft", BROKEN)]
    assert decide_route("auto", both, primary="microsoft").error_code == "microsoft_not_connected"
    assert decide_route("auto", both, primary="gmail").route == "gmail"


def test_auto_without_a_primary_takes_the_first_connected_in_the_registry_order() -> None:
    assert decide_route("auto", [_at("microsoft", ACTIVE)]).route == "microsoft"
    both = [_at("microsoft", ACTIVE), _at("gmail", ACTIVE)]
    assert decide_route("auto", both).route == "gmail"
    revoked_primary = [_at("gmail", REVOKED), _at("microsoft", ACTIVE)]
    assert decide_route("auto", revoked_primary, primary="gmail").route == "microsoft"
