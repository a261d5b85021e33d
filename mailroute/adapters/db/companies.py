"""Companies, their people and their API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from mailroute.adapters.db.pool import Pool
from mailroute.core.providers import provider as registered
from mailroute.core.records import Company, Mailbox, Principal, Role, SenderContext
from mailroute.core.routing import MailboxView
from mailroute.events.ids import is_canonical_uuid

KEY_PREFIX = "mr"


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _company(row: dict[str, Any]) -> Company:
    return Company(
        id=str(row["id"]),
        name=row["name"],
        reply_to=row["reply_to"],
        default_while_gmail_broken=row["default_while_gmail_broken"],
        primary_provider=row.get("primary_provider"),
    )


class PostgresCompanies:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def create(self, name: str, reply_to: str, *, company_id: str | None = None) -> Company:
        company_id = company_id or str(uuid.uuid4())
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO companies (id, name, reply_to) VALUES (%s, %s, %s) RETURNING *",
                (company_id, name, reply_to),
            ).fetchone()
        assert row is not None
        return _company(row)

    def get(self, company_id: str) -> Company | None:
        if not is_canonical_uuid(company_id):
            return None  # `urn:uuid:…`, braces, upper case: no company's id
        with self._pool.connection() as conn:
            row = conn.execute("SELECT * FROM companies WHERE id = %s", (company_id,)).fetchone()
        return _company(row) if row else None

    def set_default_while_gmail_broken(self, company_id: str, enabled: bool) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE companies SET default_while_gmail_broken = %s WHERE id = %s",
                (enabled, company_id),
            )

    def set_primary_provider(self, company_id: str, provider: str | None) -> None:
        """The mailbox `auto` sends from (a registered provider's name), or None for the
        first connected one. Raises KeyError for a name no provider is registered under."""
        if provider is not None:
            provider = registered(provider).name
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE companies SET primary_provider = %s WHERE id = %s",
                (provider, company_id),
            )

    def add_user(self, company_id: str, email: str, role: Role, name: str = "") -> str:
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO users (id, company_id, email, name, role) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (company_id, email) DO UPDATE SET role = EXCLUDED.role"
                " RETURNING id",
                (str(uuid.uuid4()), company_id, email, name, role),
            ).fetchone()
        assert row is not None
        return str(row["id"])

    def admin_emails(self, company_id: str) -> list[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT email FROM users WHERE company_id = %s AND role = 'admin' ORDER BY email",
                (company_id,),
            ).fetchall()
        return [r["email"] for r in rows]

    def create_api_key(
        self, company_id: str, role: Role, *, label: str = "", user_id: str | None = None
    ) -> str:
        """Create a key and return it in full; only its hash is stored."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        key = f"{KEY_PREFIX}_{prefix}_{secret}"
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, company_id, user_id, prefix, key_hash, role, label)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (str(uuid.uuid4()), company_id, user_id, prefix, _hash(key), role, label),
            )
        return key

    def authenticate(self, key: str) -> Principal | None:
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT id, company_id, role, user_id, key_hash FROM api_keys"
                " WHERE prefix = %s AND revoked_at IS NULL",
                (parts[1],),
            ).fetchone()
        if row is None or not hmac.compare_digest(bytes(row["key_hash"]), _hash(key)):
            return None
        return Principal(
            company_id=str(row["company_id"]),
            role=row["role"],
            key_id=str(row["id"]),
            user_id=str(row["user_id"]) if row["user_id"] else None,
        )


# A sender context's columns, for any query joining `companies c` (SENDER_CONTEXT_FROM): the
# company, and each of its mailbox connections as one JSON array.
SENDER_CONTEXT_COLUMNS = (
    "c.id AS c_id, c.name AS c_name, c.reply_to AS c_reply_to,"
    " c.default_while_gmail_broken AS c_default_while_gmail_broken,"
    " c.primary_provider AS c_primary_provider,"
    " (SELECT coalesce(jsonb_agg(jsonb_build_array(g.id, g.generation, g.provider, g.state,"
    " g.address, g.broken_reason) ORDER BY g.provider), '[]'::jsonb)"
    " FROM mailbox_connections g WHERE g.company_id = c.id) AS c_mailboxes"
)
SENDER_CONTEXT_FROM = "companies c"
_SENDER_CONTEXT_QUERY = (
    f"SELECT {SENDER_CONTEXT_COLUMNS} FROM {SENDER_CONTEXT_FROM} WHERE c.id = %s"  # noqa: S608 - constants
)


def sender_context_from_row(row: dict[str, Any]) -> SenderContext:
    """The context from a row holding `SENDER_CONTEXT_COLUMNS`."""
    mailboxes = tuple(
        Mailbox(
            id=str(connection_id),
            generation=int(generation),
            view=MailboxView(state=state, address=address, broken_reason=reason, provider=provider),
        )
        for connection_id, generation, provider, state, address, reason in row["c_mailboxes"]
    )
    return SenderContext(
        company=Company(
            id=str(row["c_id"]),
            name=row["c_name"],
            reply_to=row["c_reply_to"],
            default_while_gmail_broken=row["c_default_while_gmail_broken"],
            primary_provider=row["c_primary_provider"],
        ),
        mailboxes=mailboxes,
    )


def sender_context(pool: Pool, company_id: str) -> SenderContext | None:
    if not is_canonical_uuid(company_id):
        return None
    with pool.connection() as conn:
        row = conn.execute(
            _SENDER_CONTEXT_QUERY,
            (company_id,),
        ).fetchone()
    return None if row is None else sender_context_from_row(row)


class RecentSenderContexts:
    """Sender contexts of this process, each read at most `max_age` seconds ago.

    For routing new emails only: the dispatcher takes a route from here only when it is one to
    send on, and decides anything else (an unknown company, a failure, a broken connection) on a
    fresh read; the sender re-reads the connection with its claim. A change that opens a route
    (Gmail connected, a new name or reply-to) reaches emails dispatched from `max_age` seconds
    after it; one that closes a route is seen at once (by the fresh read or the claim)."""

    def __init__(
        self,
        read: Callable[[str], SenderContext | None],
        *,
        max_age: float = 1.0,
        max_entries: int = 10_000,
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, SenderContext]] = {}

    def __call__(self, company_id: str) -> SenderContext | None:
        now = time.monotonic()
        entry = self._entries.get(company_id)
        if entry is not None and now - entry[0] < self._max_age:
            return entry[1]
        context = self._read(company_id)
        if context is not None:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[company_id] = (now, context)
        return context
