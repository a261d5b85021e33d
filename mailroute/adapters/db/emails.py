"""The emails record: store once per (company, event), claim before sending, record the outcome.

Idempotency lives here. `store` inserts on (company_id, event_id) or finds the row that is
already there; `claim` is one conditional UPDATE, so of many deliveries of the same email only
one sends; `mark_sent` / `mark_failed` write the outcome and its event together, atomically.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from mailroute.adapters.db.companies import (
    SENDER_CONTEXT_COLUMNS,
    SENDER_CONTEXT_FROM,
    sender_context_from_row,
)
from mailroute.adapters.db.pool import Pool
from mailroute.core.mime import email_id_for
from mailroute.core.model import OutgoingEmail, Route, StoredAttachment
from mailroute.core.ports import StoredEvent
from mailroute.core.records import Claim, EmailView, StoreResult
from mailroute.events import EmailFailed, EmailRequested, EmailSent

# How long a claim protects a send in flight before another delivery may take it over.
CLAIM_LEASE = timedelta(minutes=5)

# The claim (see `PostgresEmails.claim`) and the attachments come in one round trip; a Gmail
# claim brings the company and its connection too. Built from constants only.
_CLAIMED = (
    "WITH claimed AS (UPDATE emails SET status = 'sending', attempts = attempts + 1,"
    " possible_duplicate = possible_duplicate OR status = 'sending',"
    " claim_key = %(key)s, claimed_at = now(), updated_at = now()"
    " WHERE id = %(id)s AND route = %(route)s"
    " AND (status IN ('queued', 'retrying') OR (status = 'sending'"
    "  AND (claim_key = %(key)s OR claimed_at < now() - %(lease)s)))"
    " RETURNING id, company_id, event_id, subject, to_addrs, cc_addrs, bcc_addrs,"
    " text_body, html_body, reply_to, message_id, attempts, from_address,"
    " possible_duplicate)"
)
_ATTACHMENTS = (
    " LEFT JOIN LATERAL (SELECT array_agg(filename ORDER BY position) AS filenames,"
    " array_agg(content_type ORDER BY position) AS types,"
    " array_agg(content ORDER BY position) AS contents"
    " FROM attachments WHERE email_id = claimed.id) a ON true"
)
_CLAIM = (
    f"{_CLAIMED} SELECT claimed.*, a.filenames, a.types, a.contents"  # noqa: S608
    f" FROM claimed{_ATTACHMENTS}"
)
_CLAIM_WITH_SENDER = (
    f"{_CLAIMED} SELECT claimed.*, a.filenames, a.types, a.contents, ctx.*"  # noqa: S608
    " FROM claimed"
    f"{_ATTACHMENTS} LEFT JOIN LATERAL (SELECT {SENDER_CONTEXT_COLUMNS}"
    f" FROM {SENDER_CONTEXT_FROM} WHERE c.id = claimed.company_id) ctx ON true"
)


def _now() -> datetime:
    return datetime.now(UTC)


def insert_outbox(conn: Connection[DictRow], routing_key: str, payload: dict[str, Any]) -> int:
    row = conn.execute(
        "INSERT INTO outbox_events (routing_key, payload) VALUES (%s, %s) RETURNING id",
        (routing_key, Jsonb(payload)),
    ).fetchone()
    assert row is not None
    return int(row["id"])


class PostgresEmails:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def store(
        self,
        event: EmailRequested,
        *,
        route: Route | None,
        from_address: str | None,
        reply_to: str | None,
        message_id: str,
        failure: tuple[str, str] | None = None,
    ) -> tuple[StoreResult, int | None]:
        """Store the email (queued, or failed with `failure`) unless it is already stored.

        Returns the result and, when a failure was recorded now, the outbox id of its event.
        """
        email_id = email_id_for(event.company_id, event.event_id)
        status = "failed" if failure else "queued"
        contents = [a.content for a in event.attachments]
        failed_event = None
        if failure:
            failed_event = EmailFailed(
                email_id=email_id,
                event_id=event.event_id,
                company_id=event.company_id,
                route=route,
                from_address=from_address,
                error_code=failure[0],
                error_message=failure[1],
                failed_at=_now(),
            ).to_wire()
        # One statement, one round trip: the email, its attachments and (when it fails right
        # away) its EmailFailed event; nothing at all when the event is already stored.
        with self._pool.connection() as conn:
            row = conn.execute(
                "WITH new AS ("
                " INSERT INTO emails (id, company_id, event_id, kind, sender_choice, status, route,"
                " from_address, reply_to, to_addrs, cc_addrs, bcc_addrs, subject, text_body,"
                " html_body, message_id, error_code, error_message, failed_at)"
                " VALUES (%(id)s, %(company)s, %(event)s, %(kind)s, %(sender)s, %(status)s,"
                " %(route)s, %(from)s, %(reply_to)s, %(to)s, %(cc)s, %(bcc)s, %(subject)s,"
                " %(text)s, %(html)s, %(message_id)s, %(code)s, %(message)s,"
                " CASE WHEN %(failed)s THEN now() END)"
                " ON CONFLICT (company_id, event_id) DO NOTHING RETURNING id),"
                " att AS (INSERT INTO attachments (email_id, position, filename, content_type,"
                " size, sha256, content)"
                " SELECT new.id, a.ord - 1, a.filename, a.content_type, length(a.content),"
                " encode(sha256(a.content), 'hex'), a.content FROM new,"
                " unnest(%(filenames)s::text[], %(types)s::text[], %(contents)s::bytea[])"
                " WITH ORDINALITY AS a(filename, content_type, content, ord)),"
                " outbox AS (INSERT INTO outbox_events (routing_key, payload)"
                " SELECT 'email.failed', %(failed_event)s FROM new WHERE %(failed)s RETURNING id)"
                " SELECT (SELECT id FROM new) AS new_id, (SELECT id FROM outbox) AS outbox_id",
                {
                    "id": email_id,
                    "company": event.company_id,
                    "event": event.event_id,
                    "kind": event.kind,
                    "sender": event.sender,
                    "status": status,
                    "route": route,
                    "from": from_address,
                    "reply_to": reply_to,
                    "to": event.to,
                    "cc": event.cc,
                    "bcc": event.bcc,
                    "subject": event.subject,
                    "text": event.text,
                    "html": event.html,
                    "message_id": message_id,
                    "code": failure[0] if failure else None,
                    "message": failure[1] if failure else None,
                    "failed": failure is not None,
                    "filenames": [a.filename for a in event.attachments],
                    "types": [a.content_type for a in event.attachments],
                    "contents": contents,
                    "failed_event": Jsonb(failed_event),
                },
            ).fetchone()
            assert row is not None
            if row["new_id"] is None:
                existing = conn.execute(
                    "SELECT status, route FROM emails WHERE company_id = %s AND event_id = %s",
                    (event.company_id, event.event_id),
                ).fetchone()
                assert existing is not None
                result = StoreResult(email_id, False, existing["status"], existing["route"])
                return result, None
        outbox_id = int(row["outbox_id"]) if row["outbox_id"] is not None else None
        return StoreResult(email_id, True, status, route), outbox_id

    def claim(self, email_id: str, claim_key: str, route: Route) -> Claim | None:
        """Take the email for sending, or None when it is not ours to send.

        Claimable: queued or retrying; or `sending` under the same claim key (our own message
        redelivered after a crash) or under a lease that ran out. Taking over a `sending` row
        means an earlier attempt may have reached the provider: the row is flagged.
        """
        query = _CLAIM_WITH_SENDER if route == "gmail" else _CLAIM
        with self._pool.connection() as conn:
            row = conn.execute(
                query, {"id": email_id, "key": claim_key, "route": route, "lease": CLAIM_LEASE}
            ).fetchone()
            if row is None:
                return None
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
        )

    def mark_sent(
        self,
        claim: Claim,
        claim_key: str,
        *,
        provider_message_id: str | None = None,
        provider_thread_id: str | None = None,
        release_lease: str | None = None,
    ) -> StoredEvent | None:
        """Record the send and its EmailSent event in one statement; None when not ours.

        `release_lease`: the Gmail connection whose send lease (`gmail_pacing`) the same
        statement gives back."""
        email = claim.email
        event = EmailSent(
            email_id=email.id,
            event_id=email.event_id,
            company_id=email.company_id,
            route=claim.route,
            from_address=claim.from_address,
            message_id=email.message_id,
            provider_message_id=provider_message_id,
            sent_at=_now(),
        ).to_wire()
        with self._pool.connection() as conn:
            row = conn.execute(
                "WITH sent AS (UPDATE emails SET status = 'sent', sent_at = now(),"
                " updated_at = now(), provider_message_id = %(pid)s, provider_thread_id = %(tid)s,"
                " error_code = NULL, error_message = NULL"
                " WHERE id = %(id)s AND status = 'sending' AND claim_key = %(key)s"
                " RETURNING sent_at, possible_duplicate),"
                " released AS (UPDATE gmail_pacing SET in_flight = in_flight - %(id)s::text,"
                " updated_at = now() WHERE connection_id = %(lease)s::uuid)"
                " INSERT INTO outbox_events (routing_key, payload)"
                " SELECT 'email.sent', %(event)s::jsonb || jsonb_build_object("
                " 'sent_at', sent.sent_at, 'possible_duplicate', sent.possible_duplicate)"
                " FROM sent RETURNING id, payload",
                {
                    "pid": provider_message_id,
                    "tid": provider_thread_id,
                    "id": email.id,
                    "key": claim_key,
                    "event": Jsonb(event),
                    "lease": release_lease,
                },
            ).fetchone()
        if row is None:
            return None
        return StoredEvent(int(row["id"]), "email.sent", row["payload"])

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
                " RETURNING company_id, event_id, route, from_address, failed_at",
                (code, message, email_id, claim_key, claim_key),
            ).fetchone()
            if row is None:
                return None
            return insert_outbox(
                conn,
                "email.failed",
                EmailFailed(
                    email_id=email_id,
                    event_id=row["event_id"],
                    company_id=str(row["company_id"]),
                    route=row["route"],
                    from_address=row["from_address"],
                    error_code=code,
                    error_message=message,
                    failed_at=row["failed_at"],
                ).to_wire(),
            )

    def get(self, email_id: str, company_id: str) -> EmailView | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM emails WHERE id = %s AND company_id = %s", (email_id, company_id)
            ).fetchone()
        return _view(row) if row else None

    def recent(self, company_id: str, limit: int = 20) -> list[EmailView]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM emails WHERE company_id = %s ORDER BY created_at DESC LIMIT %s",
                (company_id, limit),
            ).fetchall()
        return [_view(r) for r in rows]

    def record_rejected(
        self, *, queue: str, actor: str, message_id: str, reason: str, payload: Any
    ) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO rejected_messages (queue, actor, message_id, reason, payload)"
                " VALUES (%s, %s, %s, %s, %s)",
                (queue, actor, message_id, reason[:2000], text[:100_000]),
            )

    # -- Gmail sending: parked retries, re-routing and manual retries --------------------------

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
        """Remember which connection generation this gmail_not_connected failure was under."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE emails SET broken_generation = %s"
                " WHERE id = %s AND status = 'failed' AND error_code = 'gmail_not_connected'",
                (generation, email_id),
            )

    def retry_target(self, email_id: str, company_id: str) -> tuple[str, str] | None:
        """(status, sender_choice) of the company's email, or None when unknown."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT status, sender_choice FROM emails WHERE id = %s AND company_id = %s",
                (email_id, company_id),
            ).fetchone()
        return (row["status"], row["sender_choice"]) if row else None

    def redispatch(
        self, email_id: str, company_id: str, *, route: Route, from_address: str
    ) -> bool:
        """failed -> queued on `route`, a fresh attempt count, the same Message-ID. True for the
        one caller that moved it."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE emails SET status = 'queued', route = %s, from_address = %s,"
                " attempts = 0, error_code = NULL, error_message = NULL, failed_at = NULL,"
                " claim_key = NULL, next_attempt_at = NULL, parked = false,"
                " broken_generation = NULL, updated_at = now()"
                " WHERE id = %s AND company_id = %s AND status = 'failed'",
                (route, from_address, email_id, company_id),
            )
            return cur.rowcount == 1

    def failed_while_not_connected(self, company_id: str, generation: int) -> list[str]:
        """Ids of the company's emails that failed gmail_not_connected under `generation`."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM emails WHERE company_id = %s AND status = 'failed'"
                " AND error_code = 'gmail_not_connected' AND broken_generation = %s"
                " ORDER BY created_at",
                (company_id, generation),
            ).fetchall()
        return [str(r["id"]) for r in rows]

    # -- per Gmail account pacing -------------------------------------------------------------

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


def _view(row: dict[str, Any]) -> EmailView:
    return EmailView(
        id=str(row["id"]),
        company_id=str(row["company_id"]),
        event_id=row["event_id"],
        kind=row["kind"],
        status=row["status"],
        route=row["route"],
        from_address=row["from_address"],
        to=list(row["to_addrs"]),
        subject=row["subject"],
        attempts=row["attempts"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        provider_message_id=row["provider_message_id"],
        message_id=row["message_id"],
        possible_duplicate=row["possible_duplicate"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
    )


def find_stalled(pool: Pool, *, older_than: timedelta, limit: int = 500) -> list[tuple[str, Route]]:
    """Emails whose queue message may be gone (dead-lettered, or lost with a broker's disk):
    queued or retrying long past due, or sending with an expired claim. The clock re-queues them;
    the claim makes that harmless if the original message is still on its way."""
    with pool.connection() as conn:
        rows = conn.execute(
            "UPDATE emails SET updated_at = now() WHERE id IN ("
            " SELECT id FROM emails WHERE route IS NOT NULL AND ("
            "  (status = 'queued' AND updated_at < now() - %(age)s)"
            "  OR (status = 'retrying' AND next_attempt_at < now() - %(age)s"
            "      AND updated_at < now() - %(age)s)"
            "  OR (status = 'sending' AND claimed_at < now() - %(lease)s"
            "      AND updated_at < now() - %(age)s))"
            " ORDER BY updated_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " RETURNING id, route",
            {"age": older_than, "lease": CLAIM_LEASE, "limit": limit},
        ).fetchall()
    return [(str(r["id"]), r["route"]) for r in rows]


def due_retries(pool: Pool, limit: int = 500) -> list[tuple[str, Route]]:
    """Parked emails whose retry time has come, un-parked so each is re-published once; the
    clock queues them on their route (the claim makes a late duplicate harmless)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "UPDATE emails SET parked = false, updated_at = now() WHERE id IN ("
            " SELECT id FROM emails WHERE status = 'retrying' AND parked"
            " AND next_attempt_at <= now() AND route IS NOT NULL"
            " ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING id, route",
            (limit,),
        ).fetchall()
    return [(str(r["id"]), r["route"]) for r in rows]
