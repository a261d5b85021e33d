"""In-memory fakes of the Microsoft 365 connection's ports, each subclassing the port it stands
in for: a connections store that keeps the transitions' conditions (one winner per break), the
pending sign-ins (consumed once), and Microsoft's identity platform answering what a test sets."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mailroute.core.connection_ports import (
    AuthorizationStates,
    ConnectionStore,
    MicrosoftOAuthProvider,
    RevocationReason,
)
from mailroute.core.oauth import AuthorizationStart, PendingAuthorization
from mailroute.core.records import Broken, ConnectionRecord, Renewed, TokenSet
from mailroute.events import AuthBroken
from tests.fakes import FakeOutbox


class FakeConnections(ConnectionStore):
    """One company's Microsoft connections, with the transitions' conditions."""

    def __init__(self, outbox: FakeOutbox) -> None:
        self.outbox = outbox
        self.records: dict[str, ConnectionRecord] = {}
        self.secrets: dict[str, TokenSet] = {}
        self.breaks: list[tuple[str, int, str]] = []

    def for_company(self, company_id: str) -> ConnectionRecord | None:
        return self.records.get(company_id)

    def connect(
        self,
        company_id: str,
        *,
        address: str,
        google_subject: str,
        refresh_token: str,
        access_token: str,
        access_token_expires_at: datetime | None,
        scopes: Sequence[str],
        connected_by: str | None,
    ) -> tuple[ConnectionRecord, list[int]]:
        before = self.records.get(company_id)
        now = datetime.now(UTC)
        record = ConnectionRecord(
            id=before.id if before else str(uuid.uuid4()),
            company_id=company_id,
            state="active",
            address=address,
            google_subject=google_subject,
            generation=(before.generation if before else 0) + 1,
            scopes=tuple(scopes),
            connected_by=connected_by,
            connected_at=now,
            last_verified_at=now,
            broken_reason=None,
            broken_at=None,
            access_token_expires_at=access_token_expires_at,
            daily_cap=None,
            has_refresh_token=True,
            provider="microsoft",
        )
        self.records[company_id] = record
        self.secrets[record.id] = TokenSet(refresh_token, access_token, access_token_expires_at)
        return record, [self.outbox.add_event("connection.changed", {"state": "active"}, None)]

    def revoke(
        self, company_id: str, *, reason: RevocationReason = "revoke_access"
    ) -> tuple[ConnectionRecord | None, list[int]]:
        record = self.records.get(company_id)
        if record is None:
            return None, []
        after = dataclasses.replace(record, state="disconnected", has_refresh_token=False)
        self.records[company_id] = after
        self.secrets.pop(record.id, None)
        return after, [self.outbox.add_event("connection.changed", {"state": "off"}, None)]

    def tokens(self, connection_id: str) -> TokenSet | None:
        return self.secrets.get(connection_id)

    def refresh_once(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Callable[[TokenSet], Renewed | tuple[str, datetime | None]],
    ) -> TokenSet | None:
        current = self.secrets.get(connection_id)
        if current is None:
            return None
        if still_fresh(current):
            return current
        access_token, expires_at, *rotated = refresh(current)
        credential = rotated[0] if rotated and rotated[0] else current.refresh_token
        self.secrets[connection_id] = TokenSet(credential, access_token, expires_at)
        return self.secrets[connection_id]

    def break_connection(
        self, connection_id: str, generation: int, reason: str, correlation_id: str
    ) -> Broken | None:
        record = next(r for r in self.records.values() if r.id == connection_id)
        if record.state != "active" or record.generation != generation:
            return None
        after = dataclasses.replace(
            record, state="not_connected", broken_reason=reason, broken_at=datetime.now(UTC)
        )
        self.records[record.company_id] = after
        self.breaks.append((connection_id, generation, reason))
        event = AuthBroken(
            connection_id=connection_id,
            company_id=record.company_id,
            generation=generation,
            reason=reason,
            broken_at=after.broken_at or datetime.now(UTC),
            address=record.address,
            correlation_id=correlation_id,
            provider="microsoft",
        )
        ids = [self.outbox.add_event("connection.auth_broken", {"reason": reason}, None)]
        return Broken(event=event, record=after, outbox_ids=ids)


class FakeStates(AuthorizationStates):
    def __init__(self) -> None:
        self.rows: dict[str, tuple[PendingAuthorization, bool]] = {}

    def save(
        self,
        nonce: str,
        *,
        company_id: str,
        user_id: str | None,
        session_hash: str,
        code_verifier: str,
        switch_account: bool,
        ttl: timedelta,
    ) -> None:
        pending = PendingAuthorization(
            nonce, company_id, user_id, session_hash, code_verifier, switch_account
        )
        self.rows[nonce] = (pending, False)

    def consume(self, nonce: str, company_id: str) -> PendingAuthorization | None:
        found = self.rows.get(nonce)
        if found is None or found[1] or found[0].company_id != company_id:
            return None
        self.rows[nonce] = (found[0], True)
        return found[0]


@dataclass(frozen=True)
class FakeIdentity:
    subject: str
    email: str
    personal: bool = False


@dataclass(frozen=True)
class FakeGrant:
    identity: FakeIdentity
    access_token: str = "access-1"
    expires_at: datetime | None = None
    granted_scopes: tuple[str, ...] = ("https://graph.microsoft.com/Mail.Send",)
    refresh_credential: str = '{"cache": "one"}'


@dataclass
class FakeMicrosoftOAuth(MicrosoftOAuthProvider):
    """Microsoft's identity platform: who signs in next, what a renewal answers."""

    account: FakeIdentity = field(default_factory=lambda: FakeIdentity("oid-1.tid-1", "ada@x.test"))
    exchange_error: Exception | None = None
    renew_error: Exception | None = None
    rotated: str | None = '{"cache": "two"}'
    exchanged: list[dict[str, str]] = field(default_factory=list)
    renewals: list[tuple[str, bool]] = field(default_factory=list)

    def authorization_url(self, state: str, *, login_hint: str | None = None) -> AuthorizationStart:
        flow = f'{{"state": "{state}", "nonce": "n-{len(self.exchanged)}"}}'
        return AuthorizationStart(f"https://login.test/authorize?state={state}", flow)

    def exchange_code(self, code: str, *, state: str, code_verifier: str) -> FakeGrant:
        if self.exchange_error is not None:
            raise self.exchange_error
        self.exchanged.append({"code": code, "state": state, "verifier": code_verifier})
        return FakeGrant(self.account)

    def renew(self, credential: str, *, force_refresh: bool = False) -> Renewed:
        self.renewals.append((credential, force_refresh))
        if self.renew_error is not None:
            raise self.renew_error
        return Renewed("access-2", None, self.rotated)

    def sign_out_url(self, post_logout_redirect_uri: str) -> str:
        return f"https://login.test/logout?post_logout_redirect_uri={post_logout_redirect_uri}"
