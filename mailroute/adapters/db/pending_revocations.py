"""Revocations Google has not confirmed yet (`pending_revocations`), their tokens encrypted.

A row is written by the transition that drops the grant (`connect` to another account,
`revoke`, in their own transaction, the ciphertext moved as it is) or by `queue` (a refused
grant, never stored as a connection). Claiming leases a row (its `next_attempt_at` moves past
the attempt) with a short transaction, so Google's HTTP call holds no database connection. A
row whose Google account is connected again is dropped unasked: Google revokes per account and
app, so asking would end that connection too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.pool import Pool
from mailroute.core.connection_ports import RevocationAttempt, RevocationReason
from mailroute.core.errors import TokenDecryptionError

# The requester attempts a new row at once; the clock takes it only after this (the requester
# died), and an attempt in flight keeps its row this long.
FIRST_ATTEMPT_GRACE = timedelta(seconds=60)
ATTEMPT_LEASE = timedelta(seconds=60)
CONNECTED_AGAIN = "the Google account is connected to mailroute again"

_INSERT = (
    "INSERT INTO pending_revocations (company_id, google_subject, address, reason, token_enc,"
    " next_attempt_at) VALUES (%s, %s, %s, %s, %s, now() + %s)"
)
# The refresh token a transition replaces, moved still encrypted (the caller locked the row).
_MOVE = (
    "INSERT INTO pending_revocations (company_id, google_subject, address, reason, token_enc,"
    " next_attempt_at)"
    " SELECT company_id, coalesce(google_subject, ''), address, %(reason)s, refresh_token_enc,"
    " now() + %(grace)s FROM mailbox_connections"
    " WHERE company_id = %(company)s AND provider = %(provider)s"
    " AND refresh_token_enc IS NOT NULL AND state <> 'disconnected'"
)
_CONNECTED_AGAIN = (
    "EXISTS (SELECT 1 FROM mailbox_connections c WHERE c.provider = 'gmail'"
    " AND c.google_subject = p.google_subject AND c.state <> 'disconnected'"
    " AND c.refresh_token_enc IS NOT NULL)"
)
_RETURNING = "RETURNING p.id, p.company_id, p.address, p.reason, p.attempts, p.token_enc"


def _claim_statements(where: str) -> tuple[str, str]:
    """(drop, claim) for the pending rows `where` picks (a constant of this module): drop
    those whose Google account is connected again, lease the others for one attempt."""
    chosen = (
        "p.id IN (SELECT p.id FROM pending_revocations p WHERE p.status = 'pending'"  # noqa: S608
        f" AND {where} ORDER BY p.next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    )
    drop = (
        "UPDATE pending_revocations p SET status = 'cancelled', token_enc = NULL,"  # noqa: S608
        f" settled_at = now(), last_error = %(why)s WHERE {chosen}"
        f" AND {_CONNECTED_AGAIN} {_RETURNING}"
    )
    claim = (
        "UPDATE pending_revocations p SET attempts = p.attempts + 1,"  # noqa: S608
        f" next_attempt_at = now() + %(lease)s WHERE {chosen} {_RETURNING}"
    )
    return drop, claim


_NEW = _claim_statements("p.company_id = %(company)s AND p.attempts = 0")
_DUE = _claim_statements("p.next_attempt_at <= now()")


def move_refresh_token(
    conn: Connection[DictRow],
    company_id: str,
    provider: str,
    *,
    reason: RevocationReason,
    unless_subject: str | None = None,
) -> None:
    """Inside a transition's transaction (the connection's row locked): queue the company's
    stored refresh token for revocation, unless it is of `unless_subject` (the account being
    connected again: revoking it would end the new grant too)."""
    if provider != "gmail":  # only Google has a revocation endpoint for these grants
        return
    params = {
        "reason": reason,
        "grace": FIRST_ATTEMPT_GRACE,
        "company": company_id,
        "provider": provider,
    }
    if unless_subject is None:
        conn.execute(_MOVE, params)
    else:
        keep = " AND coalesce(google_subject, '') <> %(keep)s"
        conn.execute(_MOVE + keep, {**params, "keep": unless_subject})


class PostgresPendingRevocations:
    def __init__(self, pool: Pool, cipher: TokenCipher) -> None:
        self._pool = pool
        self._cipher = cipher

    def queue(
        self,
        token: str,
        *,
        company_id: str,
        google_subject: str,
        address: str,
        reason: RevocationReason,
    ) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                _INSERT,
                (
                    company_id,
                    google_subject,
                    address,
                    reason,
                    self._cipher.encrypt(token),
                    FIRST_ATTEMPT_GRACE,
                ),
            )

    def claim_new(self, company_id: str) -> list[RevocationAttempt]:
        return self._claim(_NEW, {"company": company_id, "limit": 10}, report_cancelled=True)

    def claim_due(self, limit: int) -> list[RevocationAttempt]:
        return self._claim(_DUE, {"limit": limit}, report_cancelled=False)

    def _claim(
        self, statements: tuple[str, str], params: dict[str, Any], *, report_cancelled: bool
    ) -> list[RevocationAttempt]:
        drop, claim = statements
        with self._pool.connection() as conn, conn.transaction():
            dropped = conn.execute(drop, {**params, "why": CONNECTED_AGAIN}).fetchall()
            claimed = conn.execute(claim, {**params, "lease": ATTEMPT_LEASE}).fetchall()
        found = [self._attempt(row) for row in claimed]
        if report_cancelled:
            found += [self._attempt(row, cancelled=True) for row in dropped]
        return found

    def confirmed(self, revocation_id: int) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE pending_revocations SET status = 'confirmed', token_enc = NULL,"
                " last_error = NULL, settled_at = now() WHERE id = %s AND status = 'pending'",
                (revocation_id,),
            )

    def failed(self, revocation_id: int, *, error: str, retry_at: datetime) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE pending_revocations SET last_error = %s, next_attempt_at = %s"
                " WHERE id = %s AND status = 'pending'",
                (error, retry_at, revocation_id),
            )

    def _attempt(self, row: dict[str, Any], *, cancelled: bool = False) -> RevocationAttempt:
        token: str | None = None
        if row["token_enc"] is not None:
            try:
                token = self._cipher.decrypt(row["token_enc"])
            except TokenDecryptionError:
                token = None
        return RevocationAttempt(
            id=int(row["id"]),
            company_id=str(row["company_id"]) if row["company_id"] else None,
            address=row["address"],
            reason=row["reason"],
            attempts=int(row["attempts"]),
            token=token,
            cancelled=cancelled,
        )


def reencrypt_pending(conn: Connection[DictRow], cipher: TokenCipher) -> int:
    """Inside `reencrypt_all`'s transaction: pending tokens under the newest key. A token no
    configured key decrypts stays as it is (a removed key may come back)."""
    count = 0
    rows = conn.execute(
        "SELECT id, token_enc FROM pending_revocations WHERE status = 'pending' FOR UPDATE"
    ).fetchall()
    for row in rows:
        try:
            rotated = cipher.rotate(row["token_enc"])
        except TokenDecryptionError:
            continue
        conn.execute(
            "UPDATE pending_revocations SET token_enc = %s WHERE id = %s", (rotated, row["id"])
        )
        count += 1
    return count
