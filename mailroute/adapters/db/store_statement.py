"""The one statement that stores a requested email (`STORE`): the row, its attachments and the
task or event written with it, once per (company, event id); its parameters for one request,
and what its row says. Used for one request (`email_store`) and for many (`batch_store`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from mailroute.core.mime import email_id_for
from mailroute.core.model import Route
from mailroute.core.records import StoreRequest, StoreResult
from mailroute.events import EmailFailed, queues

STORE = (
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


def store_params(request: StoreRequest) -> dict[str, Any]:
    """The parameters of `_STORE` for one request."""
    event, correlation_id, route = request.event, request.correlation_id, request.route
    from_address, failure, routed = request.from_address, request.failure, request.routed
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
        "reply_to": request.reply_to if routed else event.reply_to,
        "to": event.to,
        "cc": event.cc,
        "bcc": event.bcc,
        "subject": event.subject,
        "text": event.text,
        "html": event.html,
        "message_id": request.message_id,
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
    return params


def stored_result(
    conn: Any, request: StoreRequest, params: Mapping[str, Any], row: Mapping[str, Any]
) -> tuple[StoreResult, int | None]:
    """What `_STORE`'s row says: stored now (with its outbox id), or stored before (read back,
    with whether it was the same request)."""
    event = request.event
    email_id = str(params["id"])
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
    created = StoreResult(email_id, True, params["status"], request.route, request.correlation_id)
    return created, outbox_id
