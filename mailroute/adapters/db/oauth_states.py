"""Pending Google authorizations: one row per "Sign in with Google", consumed once.

The row binds the flow to a company, the admin who started it and a hash of their browser
session, and keeps the PKCE code verifier (encrypted) until the callback redeems the code. A
verifier no configured key decrypts (its key was removed meanwhile) makes the flow unknown:
the admin starts again.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import TokenDecryptionError
from mailroute.core.oauth import PendingAuthorization
from mailroute.events.ids import is_canonical_uuid

log = structlog.get_logger(__name__)

# Rows this long past their expiry are deleted when a new flow starts.
_KEEP_EXPIRED = timedelta(days=1)


class PostgresOAuthStates:
    def __init__(self, pool: Pool, cipher: TokenCipher) -> None:
        self._pool = pool
        self._cipher = cipher

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
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM oauth_states WHERE expires_at < now() - %s", (_KEEP_EXPIRED,))
            conn.execute(
                "INSERT INTO oauth_states (nonce, company_id, user_id, session_hash,"
                " code_verifier_enc, switch_account, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, now() + %s)",
                (
                    nonce,
                    company_id,
                    user_id,
                    session_hash,
                    self._cipher.encrypt(code_verifier),
                    switch_account,
                    ttl,
                ),
            )

    def consume(self, nonce: str, company_id: str) -> PendingAuthorization | None:
        """Take the pending authorization once: None when unknown, used, expired or another
        company's."""
        if not is_canonical_uuid(company_id):
            return None
        with self._pool.connection() as conn:
            row = conn.execute(
                "UPDATE oauth_states SET consumed_at = now()"
                " WHERE nonce = %s AND company_id = %s AND consumed_at IS NULL"
                " AND expires_at > now()"
                " RETURNING nonce, company_id, user_id, session_hash, code_verifier_enc,"
                " switch_account",
                (nonce, company_id),
            ).fetchone()
        if row is None:
            return None
        try:
            verifier = self._cipher.decrypt(row["code_verifier_enc"])
        except TokenDecryptionError:
            log.error("oauth.verifier_undecryptable", company_id=company_id)
            return None
        return PendingAuthorization(
            nonce=row["nonce"],
            company_id=str(row["company_id"]),
            user_id=str(row["user_id"]) if row["user_id"] else None,
            session_hash=row["session_hash"],
            code_verifier=verifier,
            switch_account=row["switch_account"],
        )


def reencrypt_pending_sign_ins(conn: Connection[DictRow], cipher: TokenCipher) -> int:
    """Inside `reencrypt_all`'s transaction: finished sign-ins (consumed or expired) are
    deleted, nothing reads their verifier again; pending ones are rotated under the newest key,
    and one whose verifier no configured key reads is deleted (its callback could not finish:
    the admin starts again). Returns the verifiers rotated."""
    conn.execute("DELETE FROM oauth_states WHERE consumed_at IS NOT NULL OR expires_at <= now()")
    rows = conn.execute("SELECT nonce, code_verifier_enc FROM oauth_states FOR UPDATE").fetchall()
    rotated = 0
    for row in rows:
        try:
            fresh = cipher.rotate(row["code_verifier_enc"])
        except TokenDecryptionError:
            conn.execute("DELETE FROM oauth_states WHERE nonce = %s", (row["nonce"],))
            continue
        conn.execute(
            "UPDATE oauth_states SET code_verifier_enc = %s WHERE nonce = %s",
            (fresh, row["nonce"]),
        )
        rotated += 1
    return rotated
