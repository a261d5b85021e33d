"""Storing emails once per (company, event), and routing them.

`store` is the one idempotent store every door uses: one statement inserts the email, its
attachments and, in the same transaction, what comes next — for an email accepted by the HTTP
intake, `mailroute send` or a large `publish()`, the `route_email` task (only its id goes on the
queue); for a raw `EmailRequested` routed at once, its `EmailFailed` event when it fails. On a
conflict nothing at all is written and the stored email is reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from mailroute.adapters.db import outbox
from mailroute.adapters.db.companies import (
    SENDER_CONTEXT_COLUMNS,
    SENDER_CONTEXT_FROM,
    sender_context_from_row,
)
from mailroute.adapters.db.pool import Pool
from mailroute.core.mime import email_id_for
from mailroute.core.model import Route
from mailroute.core.records import RouteTarget, StoreResult
from mailroute.events import EmailFailed, EmailRequested, queues

_STORE = (
    "WITH new AS ("
    " INSERT INTO emails (id, company_id, event_id, kind, sender_choice, status, route,"
    " from_address, reply_to, to_addrs, cc_addrs, bcc_addrs, subject, text_body,"
    " html_body, message_id, error_code, error_message, failed_at, correlation_id,"
    " request_sha256)"
    " VALUES (%(id)s, %(company)s, %(event)s, %(kind)s, %(sender)s, %(status)s,"
    " %(route)s, %(from)s, %(reply_to)s, %(to)s, %(cc)s, %(bcc)s, %(subject)s,"
    " %(text)s, %(html)s, %(message_id)s, %(code)s, %(message)s,"
    " CASE WHEN %(failed)s THEN now() END, %(cid)s, %(fingerprint)s)"
    " ON CONFLICT (company_id, event_id) DO NOTHING RETURNING id),"
    " att AS (INSERT INTO attachments (email_id, position, filename, content_type,"
    " size, sha256, content)"
    " SELECT new.id, a.ord - 1, a.filename, a.content_type, length(a.content),"
    " encode(sha256(a.content), 'hex'), a.content FROM new,"
    " unnest(%(filenames)s::text[], %(types)s::text[], %(contents)s::bytea[])"
    " WITH ORDINALITY AS a(filename, content_type, content, ord)),"
    " outbox AS (INSERT INTO outbox_events (routing_key, actor_name, payload, correlation_id)"
    " SELECT %(next_key)s, %(next_actor)s, %(next_payload)s, %(cid)s FROM new"
    " WHERE %(next_key)s::text IS NOT NULL RETURNING id)"
    " SELECT (SELECT id FROM new) AS new_id, (SELECT id FROM outbox) AS outbox_id"
)
_TARGET = (
    f"SELECT e.event_id, e.status, e.route, e.sender_choice, e.reply_to, e.correlation_id,"  # noqa: S608
    f" {SENDER_CONTEXT_COLUMNS} FROM emails e JOIN {SENDER_CONTEXT_FROM} ON c.id = e.company_id"
    " WHERE e.id = %s"
)
_ROUTE = (
    "WITH routed AS (UPDATE emails SET status = %(status)s, route = %(route)s,"
    " from_address = %(from)s, reply_to = %(reply_to)s, message_id = %(message_id)s,"
    " error_code = %(code)s, error_message = %(message)s,"
    " failed_at = CASE WHEN %(failed)s THEN now() END, updated_at = now()"
    " WHERE id = %(id)s AND status = 'accepted' RETURNING id, failed_at),"
    " outbox AS (INSERT INTO outbox_events (routing_key, payload, correlation_id)"
    " SELECT 'email.failed', %(failed_event)s::jsonb"
    " || jsonb_build_object('failed_at', routed.failed_at), %(cid)s FROM routed"
    " WHERE %(failed)s RETURNING id)"
    " SELECT (SELECT id FROM routed) AS routed_id, (SELECT id FROM outbox) AS outbox_id"
)


def failed_event(
    email_id: str,
    event_id: str,
    company_id: str,
    *,
    route: Route | None,
    from_address: str | None,
    failure: tuple[str, str],
    correlation_id: str | None,
    failed_at: datetime | None = None,
) -> dict[str, Any]:
    """The one way an `EmailFailed` event is written (by routing, and by a failed send)."""
    return EmailFailed(
        email_id=email_id,
        event_id=event_id,
        company_id=company_id,
        route=route,
        from_address=from_address,
        error_code=failure[0],
        error_message=failure[1],
        failed_at=failed_at or datetime.now(UTC),
        correlation_id=correlation_id,
    ).to_wire()


def add_failed_event(
    conn: Any, email_id: str, row: Mapping[str, Any], failure: tuple[str, str]
) -> int:
    """Write the `EmailFailed` of a row just failed (its RETURNING columns) to the outbox."""
    event = failed_event(
        email_id,
        row["event_id"],
        str(row["company_id"]),
        route=row["route"],
        from_address=row["from_address"],
        failure=failure,
        correlation_id=row["correlation_id"],
        failed_at=row["failed_at"],
    )
    return outbox.add_event(conn, "email.failed", event, row["correlation_id"])


class EmailStoreSql:
    _pool: Pool

    def store(
        self,
        event: EmailRequested,
        *,
        correlation_id: str | None,
        route: Route | None = None,
        from_address: str | None = None,
        reply_to: str | None = None,
        message_id: str = "",
        failure: tuple[str, str] | None = None,
        routed: bool = False,
    ) -> tuple[StoreResult, int | None]:
        """Store the email unless it is already stored; returns the result and the outbox id
        of what was written with it.

        `routed=False`: accepted, not routed yet (the `route_email` task is written with it).
        `routed=True`: queued on `route`, or failed with `failure` (and its event written)."""
        email_id = email_id_for(event.company_id, event.event_id)
        status = "accepted" if not routed else ("failed" if failure else "queued")
        next_key = next_actor = next_payload = None
        if not routed:
            next_key, next_actor = queues.DISPATCH, queues.ROUTE_EMAIL
            next_payload = Jsonb({"args": [email_id]})
        elif failure:
            next_key = "email.failed"
            next_payload = Jsonb(
                failed_event(
                    email_id,
                    event.event_id,
                    event.company_id,
                    route=route,
                    from_address=from_address,
                    failure=failure,
                    correlation_id=correlation_id,
                )
            )
        params = {
            "id": email_id,
            "company": event.company_id,
            "event": event.event_id,
            "kind": event.kind,
            "sender": event.sender,
            "status": status,
            "route": route,
            "from": from_address,
            "reply_to": reply_to if routed else event.reply_to,
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
            "cid": correlation_id,
            "filenames": [a.filename for a in event.attachments],
            "types": [a.content_type for a in event.attachments],
            "contents": [a.content for a in event.attachments],
            "next_key": next_key,
            "next_actor": next_actor,
            "next_payload": next_payload,
            "fingerprint": event.fingerprint,
        }
        with self._pool.connection() as conn:
            row = conn.execute(_STORE, params).fetchone()
            assert row is not None
            if row["new_id"] is None:
                existing = conn.execute(
                    "SELECT status, route, correlation_id, request_sha256 FROM emails"
                    " WHERE company_id = %s AND event_id = %s",
                    (event.company_id, event.event_id),
                ).fetchone()
                assert existing is not None
                result = StoreResult(
                    email_id,
                    False,
                    existing["status"],
                    existing["route"],
                    existing["correlation_id"],
                    same_request=existing["request_sha256"] in (None, params["fingerprint"]),
                )
                return result, None
        outbox_id = int(row["outbox_id"]) if row["outbox_id"] is not None else None
        return StoreResult(email_id, True, status, route, correlation_id), outbox_id

    def route_target(self, email_id: str) -> RouteTarget | None:
        """What routing a stored email needs: its state and choice, its company and connection."""
        with self._pool.connection() as conn:
            row = conn.execute(_TARGET, (email_id,)).fetchone()
        if row is None:
            return None
        return RouteTarget(
            email_id=email_id,
            event_id=row["event_id"],
            status=row["status"],
            route=row["route"],
            sender_choice=row["sender_choice"],
            reply_to=row["reply_to"],
            correlation_id=row["correlation_id"],
            context=sender_context_from_row(row),
        )

    def set_route(
        self,
        target: RouteTarget,
        *,
        route: Route | None,
        from_address: str,
        reply_to: str,
        message_id: str,
        failure: tuple[str, str] | None,
    ) -> tuple[bool, int | None]:
        """accepted -> queued on `route`, or failed with `failure` and its event. True for the
        one caller that moved it; the outbox id of the EmailFailed event."""
        company_id = target.context.company.id
        event = None
        if failure is not None:
            event = failed_event(
                target.email_id,
                target.event_id,
                company_id,
                route=route,
                from_address=from_address,
                failure=failure,
                correlation_id=target.correlation_id,
            )
        with self._pool.connection() as conn:
            row = conn.execute(
                _ROUTE,
                {
                    "status": "failed" if failure else "queued",
                    "route": route,
                    "from": from_address,
                    "reply_to": reply_to,
                    "message_id": message_id,
                    "code": failure[0] if failure else None,
                    "message": failure[1] if failure else None,
                    "failed": failure is not None,
                    "id": target.email_id,
                    "failed_event": Jsonb(event),
                    "cid": target.correlation_id,
                },
            ).fetchone()
        assert row is not None
        outbox_id = int(row["outbox_id"]) if row["outbox_id"] is not None else None
        return row["routed_id"] is not None, outbox_id

    def record_rejected(
        self, *, queue: str, actor: str, message_id: str, reason: str, payload: Any
    ) -> None:
        """A queue message that cannot be read: kept with the reason, never retried. Whatever
        it holds is stored: NUL and lone surrogates (which PostgreSQL text cannot hold) are
        written as escapes, and a payload that is not JSON-writable as its type's name."""
        if isinstance(payload, str):
            text = payload
        else:
            try:
                text = json.dumps(payload, default=str)
            except (ValueError, TypeError, RecursionError):
                text = f"<a {type(payload).__name__} that cannot be written as JSON>"
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO rejected_messages (queue, actor, message_id, reason, payload)"
                " VALUES (%s, %s, %s, %s, %s)",
                (
                    _storable(queue),
                    _storable(actor),
                    _storable(message_id),
                    _storable(reason[:2000]),
                    _storable(text[:100_000]),
                ),
            )


def _storable(text: str) -> str:
    """`text` as PostgreSQL can store it: NUL written `\\x00`, lone surrogates `\\udXXX`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
