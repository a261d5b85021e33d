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
from typing import Any

from psycopg.types.json import Jsonb

from mailroute.adapters.db import outbox
from mailroute.adapters.db.companies import (
    SENDER_CONTEXT_COLUMNS,
    SENDER_CONTEXT_FROM,
    sender_context_from_row,
)
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.store_statement import STORE, failed_event, store_params, stored_result
from mailroute.core.model import Route
from mailroute.core.records import RouteTarget, StoreRequest, StoreResult
from mailroute.events import EmailRequested

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
        request = StoreRequest(
            event, correlation_id, route, from_address, reply_to, message_id, failure, routed
        )
        params = store_params(request)
        with self._pool.connection() as conn:
            row = conn.execute(STORE, params).fetchone()
            assert row is not None
            return stored_result(conn, request, params, row)

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
