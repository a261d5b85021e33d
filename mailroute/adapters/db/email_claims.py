"""Sending a stored email: claim it before sending, record what happened.

`claim` is one conditional UPDATE, so of many deliveries of the same email only one sends;
`mark_sent` / `mark_failed` write the outcome and its event (to the outbox) together, in one
statement or transaction; the other marks put a claimed email back to wait or on another route.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from mailroute.adapters.db.companies import (
    SENDER_CONTEXT_COLUMNS,
    SENDER_CONTEXT_FROM,
    sender_context_from_row,
)
from mailroute.adapters.db.email_store import add_failed_event
from mailroute.adapters.db.pool import Pool
from mailroute.core.model import OutgoingEmail, Route, StoredAttachment
from mailroute.core.providers import PROVIDERS
from mailroute.core.records import Claim
from mailroute.events import EmailSent

# How long a claim protects a send in flight before another delivery may take it over.
CLAIM_LEASE = timedelta(minutes=5)
# Claims an email may take in all. Only a message that kills its worker every time gets near
# (retries stop at a handful, pacing gives its claims back): past this the email is left to the
# clock, which gives up on it (`core.abandoned`) instead of crashing workers for ever.
MAX_CLAIMS = 50
NOT_CONNECTED_CODES = [p.not_connected_code for p in PROVIDERS.values()]


# The claim (see `PostgresEmails.claim`) and the attachments come in one round trip; a Gmail
# claim brings the company and its connection too. Built from constants only.
def claim_cte(which: str) -> str:
    """The claim CTE for the rows `which` selects (a constant condition on `id`)."""
    return (
        "WITH claimed AS (UPDATE emails SET status = 'sending', attempts = attempts + 1,"  # noqa: S608
        " possible_duplicate = possible_duplicate OR status = 'sending',"
        " claim_key = %(key)s, claimed_at = now(), updated_at = now()"
        f" WHERE {which} AND route = %(route)s AND attempts < %(max_claims)s"
        " AND (status IN ('queued', 'retrying') OR (status = 'sending'"
        "  AND (claim_key = %(key)s OR claimed_at < now() - %(lease)s)))"
        " RETURNING id, company_id, event_id, subject, to_addrs, cc_addrs, bcc_addrs,"
        " text_body, html_body, reply_to, message_id, attempts, from_address,"
        " possible_duplicate, correlation_id)"
    )


_CLAIMED = claim_cte("id = %(id)s")
ATTACHMENTS = (
    " LEFT JOIN LATERAL (SELECT array_agg(filename ORDER BY position) AS filenames,"
    " array_agg(content_type ORDER BY position) AS types,"
    " array_agg(content ORDER BY position) AS contents"
    " FROM attachments WHERE email_id = claimed.id) a ON true"
)
_CLAIM = (
    f"{_CLAIMED} SELECT claimed.*, a.filenames, a.types, a.contents"  # noqa: S608
    f" FROM claimed{ATTACHMENTS}"
)
_CLAIM_WITH_SENDER = (
    f"{_CLAIMED} SELECT claimed.*, a.filenames, a.types, a.contents, ctx.*"  # noqa: S608
    " FROM claimed"
    f"{ATTACHMENTS} LEFT JOIN LATERAL (SELECT {SENDER_CONTEXT_COLUMNS}"
    f" FROM {SENDER_CONTEXT_FROM} WHERE c.id = claimed.company_id) ctx ON true"
)


def claim_of(row: DictRow, route: Route) -> Claim:
    attachments: tuple[StoredAttachment, ...] = tuple(
        StoredAttachment(name, kind, bytes(content))
        for name, kind, content in zip(
            row["filenames"] or (), row["types"] or (), row["contents"] or (), strict=True
        )
    )
    email = OutgoingEmail(
        id=str(row["id"]),
        company_id=str(row["company_id"]),
        event_id=row["event_id"],
        subject=row["subject"],
        to=tuple(row["to_addrs"]),
        cc=tuple(row["cc_addrs"]),
        bcc=tuple(row["bcc_addrs"]),
        text=row["text_body"],
        html=row["html_body"],
        reply_to=row["reply_to"],
        message_id=row["message_id"],
        attachments=attachments,
    )
    return Claim(
        email=email,
        attempts=row["attempts"],
        route=route,
        from_address=row["from_address"],
        possible_duplicate=row["possible_duplicate"],
        sender=sender_context_from_row(row) if row.get("c_id") is not None else None,
        correlation_id=row["correlation_id"],
    )


def claim_params(claim_key: str, route: Route) -> dict[str, object]:
    """The parameters every claim statement takes besides the ids."""
    return {"key": claim_key, "route": route, "lease": CLAIM_LEASE, "max_claims": MAX_CLAIMS}


def sent_event(
    claim: Claim, provider_message_id: str | None, submitted_only: bool
) -> dict[str, object]:
    """The EmailSent of a claimed email (its statement adds `sent_at` and `possible_duplicate`
    from the row it records)."""
    email = claim.email
    return EmailSent(
        email_id=email.id,
        event_id=email.event_id,
        company_id=email.company_id,
        route=claim.route,
        from_address=claim.from_address,
        message_id=email.message_id,
        provider_message_id=provider_message_id,
        sent_at=datetime.now(UTC),
        correlation_id=claim.correlation_id,
        submitted_only=submitted_only,
    ).to_wire()


class EmailClaimsSql:
    _pool: Pool

    def claim(self, email_id: str, claim_key: str, route: Route) -> Claim | None:
        """Take the email for sending, or None when it is not ours to send.

        Claimable: queued or retrying; or `sending` under the same claim key (our own message
        redelivered after a crash) or under a lease that ran out. Taking over a `sending` row
        means an earlier attempt may have reached the provider: the row is flagged. Never past
        `MAX_CLAIMS` claims.
        """
        query = _CLAIM if route == "default" else _CLAIM_WITH_SENDER
        with self._pool.connection() as conn:
            row = conn.execute(
                query,
                {"id": email_id, **claim_params(claim_key, route)},
            ).fetchone()
            if row is None:
                return None
        return claim_of(row, route)

    def mark_sent(
        self,
        claim: Claim,
        claim_key: str,
        *,
        provider_message_id: str | None = None,
        provider_thread_id: str | None = None,
        release_lease: str | None = None,
        submitted_only: bool = False,
    ) -> int | None:
        """Record the send and its EmailSent event in one statement; returns the event's outbox
        id, or None when the email was not ours to record.

        `release_lease`: the mailbox connection whose send lease (`gmail_pacing`) the same
        statement gives back. `submitted_only`: the provider named no message (Graph's 202)."""
        email = claim.email
        event = sent_event(claim, provider_message_id, submitted_only)
        with self._pool.connection() as conn:
            row = conn.execute(
                "WITH sent AS (UPDATE emails SET status = 'sent', sent_at = now(),"
                " updated_at = now(), provider_message_id = %(pid)s, provider_thread_id = %(tid)s,"
                " error_code = NULL, error_message = NULL"
                " WHERE id = %(id)s AND status = 'sending' AND claim_key = %(key)s"
                " RETURNING sent_at, possible_duplicate),"
                " released AS (UPDATE gmail_pacing SET in_flight = in_flight - %(id)s::text,"
                " updated_at = now() WHERE connection_id = %(lease)s::uuid)"
                " INSERT INTO outbox_events (routing_key, payload, correlation_id)"
                " SELECT 'email.sent', %(event)s::jsonb || jsonb_build_object("
                " 'sent_at', sent.sent_at, 'possible_duplicate', sent.possible_duplicate),"
                " %(cid)s FROM sent RETURNING id",
                {
                    "pid": provider_message_id,
                    "tid": provider_thread_id,
                    "id": email.id,
                    "key": claim_key,
                    "event": Jsonb(event),
                    "lease": release_lease,
                    "cid": claim.correlation_id,
                },
            ).fetchone()
        return int(row["id"]) if row is not None else None

    def mark_retrying(
        self,
        email_id: str,
        claim_key: str,
        *,
        code: str,
        message: str,
        due: datetime,
        parked: bool = False,
    ) -> bool:
        """Wait for another attempt at `due`: on a delayed queue message, or `parked` for the
        clock when the wait is longer than a delayed message may be held."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE emails SET status = 'retrying', parked = %s, error_code = %s,"
                " error_message = %s, next_attempt_at = %s, updated_at = now()"
                " WHERE id = %s AND status = 'sending' AND claim_key = %s",
                (parked, code, message, due, email_id, claim_key),
            )
            return cur.rowcount == 1

    def mark_failed(
        self, email_id: str, claim_key: str | None, *, code: str, message: str
    ) -> int | None:
        """Fail the email (when it is ours, or unclaimed); returns the EmailFailed outbox id."""
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE emails SET status = 'failed', error_code = %s, error_message = %s,"
                " failed_at = now(), updated_at = now()"
                " WHERE id = %s AND status NOT IN ('sent', 'failed')"
                " AND (%s::text IS NULL OR claim_key = %s)"
                " RETURNING company_id, event_id, route, from_address, failed_at, correlation_id",
                (code, message, email_id, claim_key, claim_key),
            ).fetchone()
            if row is None:
                return None
            return add_failed_event(conn, email_id, row, (code, message))

    def reroute(self, email_id: str, claim_key: str, *, route: Route, from_address: str) -> bool:
        """Hand a claimed email back as queued on another route (the caller queues it)."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE emails SET status = 'queued', route = %s, from_address = %s,"
                " claim_key = NULL, updated_at = now()"
                " WHERE id = %s AND status = 'sending' AND claim_key = %s",
                (route, from_address, email_id, claim_key),
            )
            return cur.rowcount == 1

    def note_broken_generation(self, email_id: str, generation: int | None) -> None:
        """Remember which connection generation this `<provider>_not_connected` failure was
        under."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE emails SET broken_generation = %s"
                " WHERE id = %s AND status = 'failed' AND error_code = ANY(%s)",
                (generation, email_id, NOT_CONNECTED_CODES),
            )

    def mark_paced(
        self,
        email_id: str,
        claim_key: str,
        *,
        slot: datetime | None,
        due: datetime,
        parked: bool,
        code: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Put a claimed email back to wait for its Gmail account: for `slot` (kept on the row,
        so it sends on that slot when it comes back), the concurrency cap or the daily cap.

        Queued with a due time when a delayed queue message brings it back; retrying and parked
        when the clock must (a wait longer than a queue delay may be). The claim's attempt is
        given back: waiting for the account is not a failed attempt. `code`/`message` say why
        it waits (kept as they were when None)."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE emails SET status = CASE WHEN %(parked)s THEN 'retrying' ELSE 'queued' END,"
                " parked = %(parked)s, attempts = greatest(attempts - 1, 0), claim_key = NULL,"
                " gmail_slot = %(slot)s, next_attempt_at = %(due)s,"
                " error_code = coalesce(%(code)s, error_code),"
                " error_message = coalesce(%(message)s, error_message), updated_at = now()"
                " WHERE id = %(id)s AND status = 'sending' AND claim_key = %(key)s",
                {
                    "parked": parked,
                    "slot": slot,
                    "due": due,
                    "code": code,
                    "message": message,
                    "id": email_id,
                    "key": claim_key,
                },
            )
            return cur.rowcount == 1
