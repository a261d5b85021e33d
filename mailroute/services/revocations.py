"""Google forgets every grant mailroute lets go of, or mailroute keeps asking until it does.

Revoke Access, an account switch (the old account's grant) and a grant refused for holding
more scopes than mailroute asked for each leave a pending revocation, its token encrypted,
written by the same transaction that let the grant go. The requester asks Google at once
(`revoke_new`); what Google did not confirm (down, 5xx, a refusal, or a token no configured key
decrypts yet) the clock asks again with backoff (`retry_due`), for as long as it takes.

A pending revocation whose Google account is connected to mailroute again is dropped unasked:
Google revokes per account and app, so asking would end that connection too (research §3.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from mailroute.core.connection_ports import (
    OAuthProvider,
    PendingRevocations,
    RevocationAttempt,
)
from mailroute.core.errors import TransientError
from mailroute.core.oauth import GrantedTokens
from mailroute.core.retry import RetryPolicy

log = structlog.get_logger(__name__)
KEEPS_ASKING = "mailroute keeps asking Google until it confirms."
STILL_CONNECTED = (
    "This Google account is connected to mailroute again, so its grant was kept for that"
    " connection."
)


@dataclass(frozen=True)
class RevocationResult:
    asked: bool  # a grant was let go of, so Google had to be asked
    confirmed: bool  # Google confirmed it forgot every one of them
    problem: str | None = None  # why not, in an admin's words


class GoogleRevocations:
    def __init__(
        self, pending: PendingRevocations, oauth: OAuthProvider, *, retry: RetryPolicy
    ) -> None:
        self._pending = pending
        self._oauth = oauth
        self._retry = retry

    def queue_refused(self, granted: GrantedTokens, company_id: str) -> None:
        """A grant refused at the callback (never stored as a connection) is to be revoked."""
        self._pending.queue(
            granted.refresh_token or granted.access_token,
            company_id=company_id,
            google_subject=granted.identity.subject,
            address=granted.identity.email,
            reason="refused_grant",
        )

    def revoke_new(self, company_id: str) -> RevocationResult:
        """Ask Google now about the company's revocations never attempted yet."""
        attempts = self._pending.claim_new(company_id)
        problems = [problem for a in attempts if (problem := self._attempt(a)) is not None]
        return RevocationResult(
            asked=bool(attempts),
            confirmed=bool(attempts) and not problems,
            problem=problems[0] if problems else None,
        )

    def retry_due(self, limit: int = 20) -> int:
        """The clock's job: ask Google again about the revocations due; how many it confirmed."""
        return sum(self._attempt(a) is None for a in self._pending.claim_due(limit))

    def _attempt(self, attempt: RevocationAttempt) -> str | None:
        """None when Google confirmed; else why not (and the next attempt is scheduled)."""
        if attempt.cancelled:
            log.info("connection.revocation_dropped", revocation_id=attempt.id)
            return STILL_CONNECTED
        error, problem = self._ask(attempt.token)
        if error is None:
            self._pending.confirmed(attempt.id)
            log.info(
                "connection.revocation_confirmed",
                revocation_id=attempt.id,
                reason=attempt.reason,
                attempts=attempt.attempts,
            )
            return None
        delay = self._retry.delay_after(attempt.attempts)
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        self._pending.failed(attempt.id, error=error, retry_at=retry_at)
        log.warning(
            "connection.revocation_unconfirmed",
            revocation_id=attempt.id,
            reason=attempt.reason,
            attempts=attempt.attempts,
            error=error,
            retry_in_seconds=round(delay, 1),
        )
        return f"{problem}; {KEEPS_ASKING}"

    def _ask(self, token: str | None) -> tuple[str | None, str]:
        """(None, "") when Google confirmed; else (error code, why in words)."""
        if token is None:
            return "token_unreadable", (
                "The stored token cannot be read with the configured TOKEN_ENCRYPTION_KEYS, so"
                " Google could not be asked yet"
            )
        try:
            if self._oauth.revoke(token):
                return None, ""
        except TransientError as exc:
            return exc.code, f"Google did not confirm the revocation ({exc.message})"
        return "google_refused", "Google did not confirm the revocation"
