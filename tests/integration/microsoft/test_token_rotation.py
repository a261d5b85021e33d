"""A Microsoft refresh token replaces itself on every use: the connection's stored msal cache is
written back with each access token, under the one refresh lease, so the stored cache always
holds the newest refresh token. The sandbox here refuses every refresh token once rotated (real
Microsoft keeps old ones alive, which would hide a lost rotation for 90 days)."""

from __future__ import annotations

import json
import threading

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.microsoft.oauth import MicrosoftOAuth
from mailroute.config.settings import Settings
from mailroute.core.records import Renewed, TokenSet
from mailroute_sandbox.client import SandboxClient
from tests.conftest import TestCompany
from tests.integration.microsoft.conftest import sign_in

THREADS, ROUNDS = 6, 5


def _refresh_tokens(cache: str) -> set[str]:
    return {entry["secret"] for entry in json.loads(cache).get("RefreshToken", {}).values()}


def test_concurrent_refreshes_store_every_rotation_and_the_newest_refresh_token_is_kept(
    sandbox: SandboxClient,
    oauth: MicrosoftOAuth,
    database: Pool,
    settings: Settings,
    company: TestCompany,
) -> None:
    sandbox.ms_settings(access_token_lifetime_seconds=60, invalidate_rotated_refresh_tokens=True)
    signed = sign_in(sandbox, oauth)
    store = PostgresConnections(database, TokenCipher(settings.token_encryption_keys), "microsoft")
    record, _ = store.connect(
        company.id,
        address=signed.address,
        google_subject=signed.grant.identity.subject,
        refresh_token=signed.grant.cache,
        access_token=signed.grant.access_token,
        access_token_expires_at=signed.grant.expires_at,
        scopes=signed.grant.granted_scopes,
        connected_by=None,
    )

    def refresh(tokens: TokenSet) -> Renewed:
        token = oauth.access_token(tokens.refresh_token, signed.grant.account_id)
        assert token.new_cache is not None  # a 60 s token is always renewed: msal rotates
        return Renewed(token.access_token, token.expires_at, token.new_cache)

    failures: list[BaseException] = []

    def sender() -> None:
        for _ in range(ROUNDS):
            try:
                assert store.refresh_once(record.id, record.generation, lambda _t: False, refresh)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                failures.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sandbox.ms_counters()["token_refreshes"][signed.address] == THREADS * ROUNDS
    stored = store.tokens(record.id)
    assert stored is not None
    live = {
        t["token"]
        for t in sandbox.ms_account(signed.address)["refresh_tokens"]
        if not t["replaced"] and not t["dead"]
    }
    assert _refresh_tokens(stored.refresh_token) == live
    after = store.for_company(company.id)
    assert after is not None
    assert after.state == "active"
