"""One access-token refresh per connection across threads and processes, with no database
connection or row lock held while the provider answers.

    1. read the tokens (one short statement); a token another caller stored that is still
       fresh is returned as it is;
    2. take the lease: one conditional UPDATE, committed at once, that succeeds only if no live
       lease is held and the access token is still the one read (nobody refreshed meanwhile);
    3. call Google with no pooled connection checked out;
    4. store the token (and the refresh credential, when the provider rotated it) and clear
       the lease with one conditional UPDATE (ours, same generation, still active).

Callers that find the lease held poll briefly (a few short reads) until the holder's token is
stored, or take over once the lease is free again (the holder failed) or expired (it died).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import ProviderUnavailableError
from mailroute.core.records import Renewed, RenewedUntil, TokenSet

Refresh = Callable[[TokenSet], Renewed | RenewedUntil | tuple[str, datetime | None]]

# Longer than a refresh can take (google-auth's HTTP timeout is 15 s), so only a dead holder's
# lease expires; waiters give up a little after it would have.
LEASE = timedelta(seconds=30)
WAIT_SECONDS = LEASE.total_seconds() + 5
_FIRST_PAUSE, _MAX_PAUSE = 0.02, 0.25

_READ = (
    "SELECT refresh_token_enc, access_token_enc, access_token_expires_at,"
    " coalesce(refresh_lease_until > now(), false) AS leased"
    " FROM mailbox_connections WHERE id = %s AND generation = %s AND state = 'active'"
)
_TAKE = (
    "UPDATE mailbox_connections SET refresh_lease_owner = %(owner)s,"
    " refresh_lease_until = now() + %(lease)s"
    " WHERE id = %(id)s AND generation = %(generation)s AND state = 'active'"
    " AND (refresh_lease_until IS NULL OR refresh_lease_until <= now())"
    " AND access_token_enc IS NOT DISTINCT FROM %(seen)s"
)
_STORE = (
    "UPDATE mailbox_connections SET access_token_enc = %s, access_token_expires_at = %s,"
    " refresh_expires_at = coalesce(%s, refresh_expires_at),"
    " last_verified_at = now(), updated_at = now(),"
    " refresh_lease_owner = NULL, refresh_lease_until = NULL"
    " WHERE id = %s AND generation = %s AND state = 'active' AND refresh_lease_owner = %s"
)
# The same, with the rotated refresh credential (Microsoft's msal cache): the newest is always
# the one stored, since only the lease holder refreshes.
_STORE_ROTATED = (
    "UPDATE mailbox_connections SET access_token_enc = %s, access_token_expires_at = %s,"
    " refresh_expires_at = coalesce(%s, refresh_expires_at),"
    " refresh_token_enc = %s, last_verified_at = now(), updated_at = now(),"
    " refresh_lease_owner = NULL, refresh_lease_until = NULL"
    " WHERE id = %s AND generation = %s AND state = 'active' AND refresh_lease_owner = %s"
)
_RELEASE = (
    "UPDATE mailbox_connections SET refresh_lease_owner = NULL, refresh_lease_until = NULL"
    " WHERE id = %s AND refresh_lease_owner = %s"
)
_STILL_ACTIVE = (
    "SELECT 1 FROM mailbox_connections WHERE id = %s AND generation = %s AND state = 'active'"
)


class RefreshLease:
    """Mixed into `PostgresConnections`: `refresh_once` (the `ConnectionStore` port's)."""

    _pool: Pool
    _cipher: TokenCipher

    def _token_set(self, row: dict[str, Any] | None) -> TokenSet | None:
        raise NotImplementedError  # PostgresConnections' decrypting read

    def refresh_once(
        self,
        connection_id: str,
        generation: int,
        still_fresh: Callable[[TokenSet], bool],
        refresh: Refresh,
    ) -> TokenSet | None:
        """Refresh the access token at most once across threads and processes.

        Returns the token another caller stored meanwhile when `still_fresh` accepts it,
        without calling Google; otherwise takes the lease and calls `refresh` (which may raise:
        the lease is released) with no database connection held, then stores the new token.
        None when the connection is not active (for this generation) any more. Raises
        `ProviderUnavailableError` when another holder's refresh outlasts the wait.
        """
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + WAIT_SECONDS
        pause = _FIRST_PAUSE
        while True:
            with self._pool.connection() as conn:
                row = conn.execute(_READ, (connection_id, generation)).fetchone()
                current = self._token_set(row)
                if row is None or current is None:
                    return None
                if still_fresh(current):
                    return current
                taken = not row["leased"] and (
                    conn.execute(
                        _TAKE,
                        {
                            "owner": owner,
                            "lease": LEASE,
                            "id": connection_id,
                            "generation": generation,
                            "seen": row["access_token_enc"],
                        },
                    ).rowcount
                    == 1
                )
            if taken:
                break
            if time.monotonic() > deadline:
                raise ProviderUnavailableError(
                    "another refresh of this connection's token did not finish in time",
                    code="token_refresh_busy",
                )
            time.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)
        return self._refresh_leased(connection_id, generation, owner, current, refresh)

    def _refresh_leased(
        self,
        connection_id: str,
        generation: int,
        owner: str,
        current: TokenSet,
        refresh: Refresh,
    ) -> TokenSet | None:
        try:
            answer = refresh(current)  # the provider's HTTP call: nothing held
        except BaseException:
            with self._pool.connection() as conn:
                conn.execute(_RELEASE, (connection_id, owner))
            raise
        access_token, expires_at, rotated = Renewed(*answer[:3])
        refresh_ends = answer.refresh_expires_at if isinstance(answer, RenewedUntil) else None
        ciphertext = self._cipher.encrypt(access_token)
        # An answer that announces no end keeps the stored one (a send's refresh may not
        # carry the hint; the end of a grant does not move).
        params: tuple[object, ...] = (ciphertext, expires_at, refresh_ends)
        statement = _STORE
        if rotated is not None:
            statement = _STORE_ROTATED
            params = (*params, self._cipher.encrypt(rotated))
        with self._pool.connection() as conn:
            stored = conn.execute(statement, (*params, connection_id, generation, owner)).rowcount
            if not stored and conn.execute(_STILL_ACTIVE, (connection_id, generation)).fetchone():
                # Our lease expired and another caller took it: our token is good all the same.
                stored = 1
        if not stored:
            return None  # broken, revoked or re-authorized while the provider answered
        return TokenSet(rotated or current.refresh_token, access_token, expires_at)
