"""An in-memory `ReauthorizationLinks` with the adapter's conditions: a link is usable while it
is unspent, unexpired and its connection is still the broken generation it names; only the
latest sign-in a link started spends it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from mailroute.core.reauthorization import LINK_TTL, ReauthorizationLink, ReauthorizationLinks
from mailroute.core.records import ConnectionRecord
from tests.unit.microsoft_connection_fakes import FakeConnections


@dataclass
class _Row:
    link: ReauthorizationLink
    latest_nonce: str | None = None
    used: bool = False


class FakeReauthorizationLinks(ReauthorizationLinks):
    def __init__(self, connections: FakeConnections) -> None:
        self.connections = connections
        self.rows: dict[str, _Row] = {}  # by token (the adapter keeps only its hash)
        self.sign_ins: dict[str, str] = {}  # nonce -> token
        self.now = datetime.now(UTC)

    def issue(self, record: ConnectionRecord, ttl: timedelta = LINK_TTL) -> str:
        assert record.google_subject
        assert record.address
        token = secrets.token_urlsafe(16)
        link = ReauthorizationLink(
            company_id=record.company_id,
            connection_id=record.id,
            generation=record.generation,
            provider=record.provider,
            account_subject=record.google_subject,
            address=record.address,
            expires_at=self.now + ttl,
        )
        self.rows[token] = _Row(link)
        return token

    def _usable(self, row: _Row | None) -> ReauthorizationLink | None:
        if row is None or row.used or row.link.expires_at <= self.now:
            return None
        record = self.connections.for_company(row.link.company_id)
        if (
            record is None
            or record.id != row.link.connection_id
            or record.generation != row.link.generation
            or record.state != "not_connected"
        ):
            return None
        return row.link

    def peek(self, token: str) -> ReauthorizationLink | None:
        return self._usable(self.rows.get(token))

    def bind_sign_in(self, token: str, nonce: str) -> ReauthorizationLink | None:
        row = self.rows.get(token)
        link = self._usable(row)
        if row is not None and link is not None:
            row.latest_nonce = nonce
            self.sign_ins[nonce] = token
        return link

    def for_sign_in(self, nonce: str) -> ReauthorizationLink | None:
        token = self.sign_ins.get(nonce)
        return self.rows[token].link if token else None

    def spend(self, nonce: str) -> ReauthorizationLink | None:
        token = self.sign_ins.get(nonce)
        row = self.rows.get(token) if token else None
        link = self._usable(row)
        if row is None or link is None or row.latest_nonce != nonce:
            return None
        row.used = True
        return link


def broken(record: ConnectionRecord) -> ConnectionRecord:
    return replace(record, state="not_connected", broken_reason="revoked")
