"""Sending as a stored Microsoft 365 connection: tokens from PostgreSQL (refreshed under the
lease, the rotated refresh token stored with each one), Graph in the sandbox over HTTPS with the
real msal and httpx. A refused token is renewed once; what cannot be renewed breaks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from mailroute.adapters.access_tokens import AccessTokens, ConnectionGoneError
from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.microsoft.credential import unpack_credential
from mailroute.adapters.microsoft.errors import GraphTokenRejectedError
from mailroute.adapters.microsoft.graph import GraphSender
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.adapters.microsoft.transport import MicrosoftSender, MicrosoftTransport
from mailroute.config.settings import Settings
from mailroute.core.connection import BrokenReason
from mailroute.core.errors import MailboxAuthBrokenError, MicrosoftAuthBrokenError
from mailroute.core.ports import Envelope, ProviderReceipt
from mailroute.core.records import Renewed
from mailroute_sandbox.client import SandboxClient
from tests.conftest import TestCompany
from tests.integration.microsoft.conftest import mime, sign_in

THREADS, ROUNDS = 4, 5
RECIPIENT = "bo@fabrikam.example"


@dataclass(frozen=True)
class Connected:
    address: str
    connection_id: str
    store: PostgresConnections
    transport: MicrosoftTransport

    def send(self) -> tuple[ProviderReceipt, str]:
        raw, message_id = mime(self.address, RECIPIENT)
        return self.transport.send(raw, Envelope(self.address, (RECIPIENT,))), message_id


@pytest.fixture
def connect(
    sandbox: SandboxClient,
    oauth: MicrosoftOAuth,
    graph: GraphSender,
    database: Pool,
    settings: Settings,
    company: TestCompany,
) -> Callable[..., Connected]:
    """Sign in, store the connection as the callback does, and build the transport over it;
    `after_forced` runs after each forced refresh (to have Graph refuse that token too)."""

    def make(after_forced: Callable[[str], None] | None = None) -> Connected:
        signed = sign_in(sandbox, oauth)
        store = PostgresConnections(
            database, TokenCipher(settings.token_encryption_keys), "microsoft"
        )
        record, _ = store.connect(
            company.id,
            address=signed.address,
            google_subject=signed.grant.identity.subject,
            refresh_token=signed.grant.refresh_credential,
            access_token=signed.grant.access_token,
            access_token_expires_at=signed.grant.expires_at,
            scopes=signed.grant.granted_scopes,
            connected_by=None,
        )

        def forced(credential: str) -> Renewed:
            renewed = oauth.renew(credential, force_refresh=True)
            if after_forced is not None:
                after_forced(signed.address)
            return renewed

        tokens = AccessTokens(store, oauth.renew, forced=forced, provider="microsoft")
        sender = MicrosoftSender(tokens, graph)
        transport = sender.for_connection(record.id, record.generation)
        return Connected(signed.address, record.id, store, transport)

    return make


def _refreshes(sandbox: SandboxClient, address: str) -> int:
    return int(sandbox.ms_counters()["token_refreshes"].get(address, 0))


def _live_refresh_tokens(sandbox: SandboxClient, address: str) -> set[str]:
    return {
        t["token"]
        for t in sandbox.ms_account(address)["refresh_tokens"]
        if not t["replaced"] and not t["dead"]
    }


def _stored_refresh_tokens(connected: Connected) -> set[str]:
    stored = connected.store.tokens(connected.connection_id)
    assert stored is not None
    cache, _ = unpack_credential(stored.refresh_token)
    return {entry["secret"] for entry in json.loads(cache).get("RefreshToken", {}).values()}


def test_a_message_sent_through_a_stored_connection_arrives_and_is_only_submitted(
    sandbox: SandboxClient, connect: Callable[..., Connected]
) -> None:
    connected = connect()

    receipt, message_id = connected.send()

    assert receipt == ProviderReceipt(message_id=None, thread_id=None, submitted_only=True)
    (sent,) = sandbox.ms_sent(connected.address)
    assert sent["message_id"] == message_id
    assert sent["rcpt_tos"] == [RECIPIENT]
    assert _refreshes(sandbox, connected.address) == 0  # the sign-in's token was still good


def test_20_sends_from_4_threads_on_1s_tokens_never_break_and_keep_the_newest_refresh_token(
    sandbox: SandboxClient, oauth: MicrosoftOAuth, connect: Callable[..., Connected]
) -> None:
    # Every rotated refresh token is refused from then on: one refresh from an old one breaks.
    sandbox.ms_settings(
        access_token_lifetime_seconds=1,
        invalidate_rotated_refresh_tokens=True,
        graph_latency_ms=400,  # each send holds 0.4 s: the run outlives three tokens
    )
    connected = connect()
    failures: list[BaseException] = []
    receipts: list[ProviderReceipt] = []

    def sender() -> None:
        for _ in range(ROUNDS):
            try:
                receipts.append(connected.send()[0])
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                failures.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(receipts) == THREADS * ROUNDS
    assert all(receipt.submitted_only for receipt in receipts)
    assert len(sandbox.ms_sent(connected.address, content=False)) == THREADS * ROUNDS
    assert _refreshes(sandbox, connected.address) >= 3  # renewed before expiry, not after
    assert _stored_refresh_tokens(connected) == _live_refresh_tokens(sandbox, connected.address)
    stored = connected.store.tokens(connected.connection_id)
    assert stored is not None
    assert oauth.renew(stored.refresh_token, force_refresh=True).refresh_token is not None


def test_a_token_graph_refuses_is_renewed_once_and_the_message_sent_again(
    sandbox: SandboxClient, connect: Callable[..., Connected]
) -> None:
    connected = connect()
    # Graph refuses the stored token while msal's cache (and the store) still trust it.
    assert sandbox.ms_expire_access_tokens(connected.address) >= 1

    receipt, message_id = connected.send()

    assert receipt.submitted_only
    (sent,) = sandbox.ms_sent(connected.address)
    assert sent["message_id"] == message_id
    counters = sandbox.ms_counters()
    assert counters["token_refreshes"][connected.address] == 1
    assert counters["auth_failures"][connected.address] == 1
    assert _stored_refresh_tokens(connected) == _live_refresh_tokens(sandbox, connected.address)


def test_graph_refusing_even_a_freshly_renewed_token_breaks_the_connection_as_unauthorized(
    sandbox: SandboxClient, connect: Callable[..., Connected]
) -> None:
    connected = connect(after_forced=sandbox.ms_expire_access_tokens)
    sandbox.ms_expire_access_tokens(connected.address)

    with pytest.raises(MicrosoftAuthBrokenError) as broken:
        connected.send()

    assert not isinstance(broken.value, GraphTokenRejectedError)  # no third try
    assert broken.value.reason == BrokenReason.UNAUTHORIZED
    assert sandbox.ms_sent(connected.address) == []
    assert sandbox.ms_counters()["token_refreshes"][connected.address] == 1


def test_a_revoked_grant_breaks_the_connection_with_the_revoked_reason(
    sandbox: SandboxClient, connect: Callable[..., Connected]
) -> None:
    connected = connect()
    sandbox.ms_invalidate(connected.address, "revoked")

    with pytest.raises(MicrosoftAuthBrokenError) as broken:
        connected.send()

    assert broken.value.reason == BrokenReason.REVOKED
    assert sandbox.ms_sent(connected.address) == []


def test_a_connection_revoked_in_mailroute_meanwhile_is_gone(
    sandbox: SandboxClient, connect: Callable[..., Connected], company: TestCompany
) -> None:
    connected = connect()
    connected.store.revoke(company.id)

    with pytest.raises(ConnectionGoneError) as gone:
        connected.send()

    assert isinstance(gone.value, MailboxAuthBrokenError)
    assert gone.value.reason == BrokenReason.UNAUTHORIZED
    assert sandbox.ms_sent(connected.address) == []
