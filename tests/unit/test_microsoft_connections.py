"""The Microsoft 365 connection's use cases with in-memory ports: a sign-in's state is bound to
one browser session and used once, is refused at Google's callback (and Google's at this one),
the msal flow travels as the pending code verifier, the grant's refresh credential is stored,
Check now renews with a forced refresh (a rotation is stored, a refused grant breaks the
connection once), and Revoke Access deletes the tokens and says what Microsoft does not do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from mailroute.core.errors import (
    MicrosoftAuthBrokenError,
    PermanentError,
    ProviderUnavailableError,
)
from mailroute.core.records import ConnectionRecord, TokenSet
from mailroute.services.grant_checks import AuthorizationRefusedError
from mailroute.services.microsoft_connections import (
    REMOVE_APP_PERSONAL,
    REMOVE_APP_WORK_OR_SCHOOL,
    MicrosoftConnections,
)
from mailroute.services.oauth_callback import BrowserSession
from mailroute.services.signed_oauth_state import (
    GOOGLE_STATE_SALT,
    MICROSOFT_STATE_SALT,
    StatePayload,
    StateRefusedError,
    StateSigner,
    session_binding,
)
from tests.fakes import FakeOutbox
from tests.unit.microsoft_connection_fakes import (
    FakeConnections,
    FakeIdentity,
    FakeMicrosoftOAuth,
    FakeStates,
)

SECRET = "unit-test-secret"
COMPANY = "7d2c4f0e-1b3a-4c5d-8e9f-0a1b2c3d4e5f"
SESSION = BrowserSession("browser-session-1")


@dataclass
class World:
    outbox: FakeOutbox
    connections: FakeConnections
    states: FakeStates
    oauth: FakeMicrosoftOAuth
    service: MicrosoftConnections

    def start(self, session: BrowserSession = SESSION, *, switch: bool = False) -> str:
        """A sign-in started in `session`: its state."""
        assert session.session_id is not None
        url = self.service.start_authorization(
            company_id=COMPANY, user_id="u-1", session_id=session.session_id, switch_account=switch
        )
        return url.split("state=", 1)[1]

    def sign_in(self, session: BrowserSession = SESSION, **params: str) -> ConnectionRecord:
        state = self.start(session)
        answer = {"state": state, "code": "code-1", **params}
        return self.service.complete_authorization(answer, session)


@pytest.fixture
def world() -> World:
    outbox = FakeOutbox()
    connections = FakeConnections(outbox)
    states = FakeStates()
    oauth = FakeMicrosoftOAuth()
    service = MicrosoftConnections(
        connections=connections,
        states=states,
        oauth=oauth,
        signer=StateSigner(SECRET, salt=MICROSOFT_STATE_SALT),
        outbox=outbox,
        secret_key=SECRET,
        signed_out_uri="https://app.test/settings/email",
    )
    return World(outbox, connections, states, oauth, service)


def _refusal(world: World, params: dict[str, str], session: BrowserSession = SESSION) -> Any:
    with pytest.raises(AuthorizationRefusedError) as refused:
        world.service.complete_authorization(params, session)
    return refused.value


def test_signing_in_connects_the_account_with_its_refresh_credential(world: World) -> None:
    record = world.sign_in()

    assert (record.state, record.address, record.google_subject) == (
        "active",
        "ada@x.test",
        "oid-1.tid-1",
    )
    assert world.connections.tokens(record.id) == TokenSet('{"cache": "one"}', "access-1", None)
    assert world.outbox.published == [1]


def test_the_msal_flow_is_kept_as_the_pending_code_verifier_and_redeemed_with_the_code(
    world: World,
) -> None:
    state = world.start()
    [(pending, _used)] = world.states.rows.values()

    world.service.complete_authorization({"state": state, "code": "code-9"}, SESSION)

    assert pending.code_verifier == f'{{"state": "{state}", "nonce": "n-0"}}'
    assert world.oauth.exchanged == [
        {"code": "code-9", "state": state, "verifier": pending.code_verifier}
    ]


def test_a_replayed_state_is_refused(world: World) -> None:
    state = world.start()
    world.service.complete_authorization({"state": state, "code": "c"}, SESSION)

    refused = _refusal(world, {"state": state, "code": "c"})

    assert refused.code == "state_replayed"
    assert len(world.oauth.exchanged) == 1


def test_a_state_from_another_browser_session_is_refused_and_stays_unused(world: World) -> None:
    state = world.start()

    refused = _refusal(world, {"state": state, "code": "c"}, BrowserSession("someone-else"))
    no_cookie = _refusal(world, {"state": state, "code": "c"}, BrowserSession(None))
    after = world.service.complete_authorization({"state": state, "code": "c"}, SESSION)

    assert (refused.code, refused.status, no_cookie.code) == (
        "session_mismatch",
        403,
        "session_mismatch",
    )
    assert after.state == "active"


def test_a_state_signed_for_google_is_refused_here_and_ours_at_google() -> None:
    payload = StatePayload("n", COMPANY, "b")
    google = StateSigner(SECRET, salt=GOOGLE_STATE_SALT)
    microsoft = StateSigner(SECRET, salt=MICROSOFT_STATE_SALT)

    for signer, state in ((microsoft, google.sign(payload)), (google, microsoft.sign(payload))):
        with pytest.raises(StateRefusedError) as refused:
            signer.read(state)
        assert refused.value.code == "state_invalid"
    assert StateSigner(SECRET).read(google.sign(payload)) == payload  # Google's is the default


def test_the_callback_refuses_a_google_state_before_using_any_pending_sign_in(
    world: World,
) -> None:
    world.start()
    nonce = next(iter(world.states.rows))
    binding = session_binding(SECRET, "browser-session-1")
    google_state = StateSigner(SECRET).sign(StatePayload(nonce, COMPANY, binding))

    refused = _refusal(world, {"state": google_state, "code": "c"})

    assert refused.code == "state_invalid"
    assert world.states.rows[nonce][1] is False  # not consumed


def test_a_cancelled_sign_in_or_a_missing_code_is_refused_in_microsoft_words(
    world: World,
) -> None:
    cancelled = _refusal(world, {"state": world.start(), "error": "access_denied"})
    failed = _refusal(world, {"state": world.start(), "error": "server_error"})
    no_code = _refusal(world, {"state": world.start()})

    assert cancelled.code == "access_denied"
    assert cancelled.message == (
        "Microsoft sign-in was cancelled, so Microsoft 365 was not connected."
    )
    assert (failed.code, no_code.code) == ("microsoft_error", "code_missing")
    assert world.oauth.exchanged == []


def test_a_refused_code_or_grant_is_refused_with_its_own_code_and_words(world: World) -> None:
    world.oauth.exchange_error = PermanentError("Mail.Send was not granted", code="scope_missing")
    refused = _refusal(world, {"state": world.start(), "code": "c"})
    world.oauth.exchange_error = ProviderUnavailableError("Microsoft is down.")
    down = _refusal(world, {"state": world.start(), "code": "c"})

    assert (refused.code, refused.message, refused.status) == (
        "scope_missing",
        "Mail.Send was not granted",
        400,
    )
    assert (down.code, down.status) == ("microsoft_unavailable", 503)
    assert world.connections.records == {}


def test_another_account_is_refused_unless_switching_was_chosen(world: World) -> None:
    world.sign_in()
    world.oauth.account = FakeIdentity("oid-2.tid-1", "bo@x.test")

    refused = _refusal(world, {"state": world.start(), "code": "c"})
    switched = world.service.complete_authorization(
        {"state": world.start(switch=True), "code": "c"}, SESSION
    )

    assert (refused.code, refused.status) == ("account_mismatch", 409)
    assert (switched.address, switched.generation) == ("bo@x.test", 2)


def test_check_now_forces_a_renewal_and_stores_the_rotated_credential(world: World) -> None:
    record = world.sign_in()

    checked = world.service.verify(COMPANY)

    assert checked.checked
    assert world.oauth.renewals == [('{"cache": "one"}', True)]
    assert world.connections.tokens(record.id) == TokenSet('{"cache": "two"}', "access-2", None)


def test_a_refused_renewal_breaks_the_connection_once(world: World) -> None:
    world.sign_in()
    world.oauth.renew_error = MicrosoftAuthBrokenError("revoked", reason="revoked")

    first = world.service.verify(COMPANY)
    second = world.service.verify(COMPANY)

    assert first.record is not None
    assert (first.checked, first.record.state, first.record.broken_reason) == (
        True,
        "not_connected",
        "revoked",
    )
    assert not second.checked
    assert len(world.connections.breaks) == 1


def test_a_renewal_microsoft_could_not_answer_leaves_the_connection_as_it_was(
    world: World,
) -> None:
    world.sign_in()
    world.oauth.renew_error = ProviderUnavailableError("Microsoft did not answer in time")

    checked = world.service.verify(COMPANY)

    assert (checked.checked, checked.problem) == (False, "Microsoft did not answer in time")
    assert world.connections.records[COMPANY].state == "active"


def test_revoking_deletes_the_tokens_and_says_what_microsoft_does_not_do(world: World) -> None:
    record = world.sign_in()

    revoked = world.service.revoke(COMPANY)
    again = world.service.revoke(COMPANY)

    assert revoked.record is not None
    assert revoked.record.state == "disconnected"
    assert revoked.address == "ada@x.test"
    assert world.connections.tokens(record.id) is None
    assert revoked.sign_out_url == (
        "https://login.test/logout?post_logout_redirect_uri=https://app.test/settings/email"
    )
    assert "no way to withdraw their own permission" in revoked.explanation
    assert REMOVE_APP_WORK_OR_SCHOOL in revoked.explanation
    assert REMOVE_APP_PERSONAL in revoked.explanation
    assert (revoked.remove_app_work_or_school, revoked.remove_app_personal) == (
        "https://myapps.microsoft.com",
        "https://account.live.com/consent/Manage",
    )
    assert again.address is None
