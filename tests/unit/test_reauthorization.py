"""The mailbox owner's re-authorization link, with in-memory ports: opening it spends nothing,
its confirm starts a sign-in for its own account in that browser, only that account's sign-in
re-authorizes (once), and a link that expired, was spent, was confirmed again elsewhere or
whose break was re-authorized meanwhile connects nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroute.core.notice_text import (
    BrokenConnection,
    ReconnectedConnection,
    active_again_notice,
    auth_broken_notice,
)
from mailroute.core.oauth import AuthorizationStart
from mailroute.core.reauthorization import LINK_TTL, reauthorization_url
from mailroute.services.grant_checks import AuthorizationRefusedError
from mailroute.services.microsoft_connections import MicrosoftConnections
from mailroute.services.oauth_callback import BrowserSession
from mailroute.services.reauthorization import ProviderSignIn, Reauthorization
from mailroute.services.signed_oauth_state import MICROSOFT_STATE_SALT, StateSigner
from tests.fakes import FakeOutbox
from tests.unit.microsoft_connection_fakes import (
    FakeConnections,
    FakeIdentity,
    FakeMicrosoftOAuth,
    FakeStates,
)
from tests.unit.reauthorization_fakes import FakeReauthorizationLinks, broken

SECRET = "unit-test-secret"
COMPANY = "7d2c4f0e-1b3a-4c5d-8e9f-0a1b2c3d4e5f"
ADMIN = BrowserSession("admin-browser")
OWNER = BrowserSession("owner-browser")  # no admin session: nobody is signed in to mailroute
ADA = FakeIdentity("oid-1.tid-1", "ada@x.test")


@dataclass
class World:
    connections: FakeConnections
    states: FakeStates
    oauth: FakeMicrosoftOAuth
    links: FakeReauthorizationLinks
    service: MicrosoftConnections
    reauthorization: Reauthorization
    hints: list[str | None]

    def admin_connects(self) -> None:
        url = self.service.start_authorization(
            company_id=COMPANY, user_id="u-1", session_id="admin-browser", switch_account=False
        )
        state = url.split("state=", 1)[1]
        self.service.complete_authorization({"state": state, "code": "c"}, ADMIN)

    def breaks(self) -> str:
        """The connection breaks; its notice's link."""
        record = self.connections.for_company(COMPANY)
        assert record is not None
        self.connections.records[COMPANY] = broken(record)
        return self.links.issue(self.connections.records[COMPANY])

    def confirm(self, token: str, session: BrowserSession = OWNER) -> str:
        """The confirm button in `session`: the state of the sign-in it started."""
        assert session.session_id is not None
        url = self.reauthorization.start(token, session_id=session.session_id)
        assert url is not None
        return url.split("state=", 1)[1]

    def signs_in(self, state: str, who: FakeIdentity, session: BrowserSession = OWNER) -> Any:
        self.oauth.account = who
        return self.service.complete_authorization({"state": state, "code": "c"}, session)

    def refused(self, state: str, who: FakeIdentity) -> AuthorizationRefusedError:
        with pytest.raises(AuthorizationRefusedError) as refused:
            self.signs_in(state, who)
        return refused.value

    @property
    def record(self) -> Any:
        return self.connections.for_company(COMPANY)


@pytest.fixture
def world() -> World:
    outbox = FakeOutbox()
    connections = FakeConnections(outbox)
    states = FakeStates()
    oauth = FakeMicrosoftOAuth(account=ADA)
    links = FakeReauthorizationLinks(connections)
    signer = StateSigner(SECRET, salt=MICROSOFT_STATE_SALT)
    service = MicrosoftConnections(
        connections=connections,
        states=states,
        oauth=oauth,
        signer=signer,
        outbox=outbox,
        secret_key=SECRET,
        signed_out_uri="https://app.test/settings/email",
        links=links,
    )
    hints: list[str | None] = []

    def authorization_url(state: str, *, login_hint: str | None = None) -> AuthorizationStart:
        hints.append(login_hint)
        return oauth.authorization_url(state, login_hint=login_hint)

    reauthorization = Reauthorization(
        links=links,
        sign_ins={"microsoft": ProviderSignIn(signer, states, authorization_url)},
        secret_key=SECRET,
    )
    world = World(connections, states, oauth, links, service, reauthorization, hints)
    world.admin_connects()
    return world


def test_opening_a_link_spends_nothing_and_its_confirm_starts_a_sign_in_hinting_its_account(
    world: World,
) -> None:
    token = world.breaks()

    for _scanner in range(3):
        link = world.reauthorization.peek(token)
        assert link is not None
        assert link.address == "ada@x.test"
    world.confirm(token)

    assert world.hints == ["ada@x.test"]
    [pending] = [p for p, _used in world.states.rows.values() if p.user_id is None]
    assert (pending.company_id, pending.switch_account) == (COMPANY, False)
    assert world.reauthorization.peek(token) is not None  # confirming spends nothing either


def test_the_links_own_account_reauthorizes_once_and_keeps_who_connected_the_mailbox(
    world: World,
) -> None:
    generation = world.record.generation
    token = world.breaks()

    record = world.signs_in(world.confirm(token), ADA)

    assert (record.state, record.generation, record.connected_by) == (
        "active",
        generation + 1,
        "u-1",
    )
    assert world.reauthorization.peek(token) is None
    assert world.reauthorization.start(token, session_id="owner-browser") is None


def test_another_account_is_refused_connects_nothing_and_the_owner_can_try_again(
    world: World,
) -> None:
    token = world.breaks()

    refusal = world.refused(world.confirm(token), FakeIdentity("oid-2.tid-1", "eve@x.test"))

    assert (refusal.code, refusal.status) == ("reauthorization_wrong_account", 403)
    assert "ada@x.test" in refusal.message
    assert "Nothing was connected" in refusal.message
    assert world.record.state == "not_connected"
    assert world.signs_in(world.confirm(token), ADA).state == "active"


def test_an_expired_link_cannot_be_opened_nor_complete_a_sign_in_it_started(world: World) -> None:
    token = world.breaks()
    state = world.confirm(token)

    world.links.now += LINK_TTL + timedelta(seconds=1)

    assert world.reauthorization.peek(token) is None
    assert world.refused(state, ADA).code == "reauthorization_link_unusable"
    assert world.record.state == "not_connected"


def test_a_link_dies_when_an_admin_reauthorizes_the_break_first(world: World) -> None:
    token = world.breaks()
    state = world.confirm(token)

    world.admin_connects()
    world.connections.records[COMPANY] = broken(world.record)  # and it breaks again

    assert world.reauthorization.peek(token) is None
    assert world.refused(state, ADA).code == "reauthorization_link_unusable"


def test_only_the_latest_sign_in_a_link_started_completes_it(world: World) -> None:
    token = world.breaks()
    earlier = world.confirm(token, BrowserSession("other-browser"))
    latest = world.confirm(token)

    with pytest.raises(AuthorizationRefusedError) as refused:
        world.signs_in(earlier, ADA, BrowserSession("other-browser"))

    assert refused.value.code == "reauthorization_link_unusable"
    assert world.signs_in(latest, ADA).state == "active"


def test_a_sign_in_no_link_started_is_an_admins_own(world: World) -> None:
    world.breaks()

    world.admin_connects()

    assert (world.record.state, world.record.connected_by) == ("active", "u-1")


def test_the_notice_carries_the_owners_link_and_keeps_the_admins_way() -> None:
    url = reauthorization_url("https://app.test/", "tok-1")
    text = auth_broken_notice(
        BrokenConnection(
            company_name="Acme",
            address="ada@x.test",
            reason="revoked",
            broken_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
            reauthorization_url=url,
        ),
        "https://app.test",
    )

    assert url == "https://app.test/reauthorize/tok-1"
    assert url in text.text
    assert f'<a href="{url}">' in text.html
    assert "works once, for 7 days, and only for that Google account" in text.text
    assert "https://app.test/settings/email" in text.text
    assert "no further email will come" in text.text
    without = auth_broken_notice(replace_link(None), "https://app.test")
    assert "/reauthorize/" not in without.text


def replace_link(url: str | None) -> BrokenConnection:
    base = BrokenConnection("Acme", "ada@x.test", "revoked", datetime(2026, 12, 1, tzinfo=UTC))
    return replace(base, reauthorization_url=url)


def test_the_active_again_notice_names_the_mailbox_and_when() -> None:
    text = active_again_notice(
        ReconnectedConnection(
            "Acme", "ada@x.test", datetime(2026, 12, 2, 8, 0, tzinfo=UTC), "microsoft"
        ),
        "https://app.test",
    )

    assert text.subject == "Active again: Microsoft 365 ada@x.test (Acme)"
    assert "Active again since 2026-12-02 08:00 UTC" in text.text
    assert "https://app.test/settings/email" in text.html
