"""Webhook deliveries as the worker and the clock handle them: one attempt at a time under a
claim (a conditional UPDATE, so of many messages for one delivery only one sends, and only when
it is due), the attempt recorded with the delivery's next state in one transaction, an endpoint
disabled by one conditional UPDATE that also opens its one notice, and the clock's re-drive of
what is due, what a dead worker held, and notices still pending."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db import outbox
from mailroute.adapters.db.pool import Pool
from mailroute.core.errors import MailrouteError, TokenDecryptionError
from mailroute.core.webhook_ports import (
    AttemptResult,
    ClaimedDelivery,
    DisabledNotice,
    Recorded,
)
from mailroute.events import queues

_CLAIM = (
    "UPDATE webhook_deliveries d SET status = 'sending', claim_token = %(token)s,"
    " claimed_at = now(), attempts = d.attempts + 1, updated_at = now()"
    " FROM webhook_endpoints e WHERE d.id = %(id)s AND e.id = d.endpoint_id AND e.enabled"
    " AND ((d.status = 'pending' AND d.next_attempt_at <= now())"
    "  OR (d.status = 'sending' AND d.claimed_at < now() - %(lease)s))"
    " RETURNING d.id, d.endpoint_id, d.company_id, d.event_type, d.payload, d.created_at,"
    " d.attempts, d.final_attempt, d.correlation_id, e.url, e.secret_enc, e.previous_secret_enc,"
    " e.previous_secret_expires_at > now() AS previous_signs"
)
_RECORD = (
    "UPDATE webhook_deliveries d SET status = CASE WHEN %(status)s = 'pending'"
    " AND NOT (SELECT enabled FROM webhook_endpoints WHERE id = d.endpoint_id)"
    " THEN 'held' ELSE %(status)s END, next_attempt_at = %(next)s,"
    " delivered_at = CASE WHEN %(ok)s THEN now() ELSE d.delivered_at END,"
    " claim_token = NULL, claimed_at = NULL, final_attempt = false, updated_at = now()"
    " WHERE d.id = %(id)s AND d.status = 'sending' AND d.claim_token = %(token)s"
)
_HOLD_DUE_OF_DISABLED = (
    "UPDATE webhook_deliveries d SET status = 'held', updated_at = now() FROM webhook_endpoints e"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.id = d.endpoint_id"
    " AND NOT e.enabled"
)
_DUE = (
    "UPDATE webhook_deliveries SET queued_at = now() WHERE id IN (SELECT id"
    " FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()"
    " AND (queued_at IS NULL OR queued_at < next_attempt_at OR queued_at < now() - %(requeue)s)"
    " ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    " RETURNING id, correlation_id"
)
_ABANDONED = (
    "UPDATE webhook_deliveries SET queued_at = now() WHERE id IN (SELECT id"
    " FROM webhook_deliveries WHERE status = 'sending' AND claimed_at < now() - %(lease)s"
    " AND (queued_at IS NULL OR queued_at < now() - %(requeue)s)"
    " ORDER BY claimed_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING id, correlation_id"
)
_NOTICES = (
    "UPDATE webhook_endpoints SET notice_requested_at = now() WHERE id IN (SELECT id"
    " FROM webhook_endpoints WHERE notice_status = 'pending'"
    " AND notice_requested_at < now() - %(notice)s LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    " RETURNING id, disabled_count"
)


def _storable(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\\x00")


class PostgresWebhookDeliveries:
    def __init__(
        self,
        pool: Pool,
        cipher: TokenCipher,
        *,
        claim_lease: timedelta = timedelta(minutes=2),
        requeue_after: timedelta = timedelta(minutes=1),
        notice_after: timedelta = timedelta(minutes=10),
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._lease, self._requeue, self._notice = claim_lease, requeue_after, notice_after

    def claim(self, delivery_id: str) -> ClaimedDelivery | None:
        token = str(uuid.uuid4())
        with self._pool.connection() as conn:
            row = conn.execute(
                _CLAIM, {"token": token, "id": delivery_id, "lease": self._lease}
            ).fetchone()
        if row is None:
            return None
        return ClaimedDelivery(
            id=str(row["id"]),
            endpoint_id=str(row["endpoint_id"]),
            company_id=str(row["company_id"]),
            url=row["url"],
            event_type=row["event_type"],
            data=row["payload"],
            occurred_at=row["created_at"],
            attempt=row["attempts"],
            claim_token=token,
            final_attempt=row["final_attempt"],
            signing_secrets=self._secrets(row),
            correlation_id=row["correlation_id"],
        )

    def _secrets(self, row: dict[str, Any]) -> tuple[str, ...]:
        """The secrets that sign, newest first; none when the current one cannot be read."""
        stored = [row["secret_enc"]] + (
            [row["previous_secret_enc"]] if row["previous_signs"] else []
        )
        found: list[str] = []
        for ciphertext in stored:
            try:
                found.append(self._cipher.decrypt(ciphertext))
            except TokenDecryptionError:
                if not found:
                    return ()
        return tuple(found)

    def record(
        self, claimed: ClaimedDelivery, result: AttemptResult, *, next_attempt_at: datetime | None
    ) -> Recorded:
        ok = result.status_code is not None and 200 <= result.status_code < 300
        status = "delivered" if ok else ("pending" if next_attempt_at else "failed")
        with self._pool.connection() as conn, conn.transaction():
            # The endpoint's row first, then the delivery's, as `disable` and `enable` do.
            conn.execute(
                "SELECT 1 FROM webhook_endpoints WHERE id = %s FOR NO KEY UPDATE",
                (claimed.endpoint_id,),
            )
            conn.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code,"
                " response_body, duration_ms, error) SELECT id, now() - %s, %s, %s, %s, %s"
                " FROM webhook_deliveries WHERE id = %s",  # unless deleted meanwhile
                (
                    timedelta(milliseconds=result.duration_ms),
                    result.status_code,
                    _storable(result.body),
                    result.duration_ms,
                    _storable(result.error),
                    claimed.id,
                ),
            )
            params = {
                "status": status,
                "next": next_attempt_at,
                "ok": ok,
                "id": claimed.id,
                "token": claimed.claim_token,
            }
            if conn.execute(_RECORD, params).rowcount != 1:
                return Recorded(ours=False)
            row = conn.execute(
                "UPDATE webhook_endpoints SET updated_at = now(), failing_since = CASE"
                " WHEN %(ok)s THEN NULL ELSE coalesce(failing_since, now()) END,"
                " last_success_at = CASE WHEN %(ok)s THEN now() ELSE last_success_at END"
                " WHERE id = %(id)s RETURNING failing_since",
                {"ok": ok, "id": claimed.endpoint_id},
            ).fetchone()
        return Recorded(ours=True, failing_since=row["failing_since"] if row else None)

    def disable(self, endpoint_id: str, reason: str) -> int | None:
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE webhook_endpoints SET enabled = false, disabled_at = now(),"
                " disabled_reason = %s, disabled_count = disabled_count + 1,"
                " notice_status = 'pending', notice_requested_at = now(), notice_attempts = 0,"
                " notice_error = NULL, updated_at = now() WHERE id = %s AND enabled"
                " RETURNING disabled_count",
                (reason, endpoint_id),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'held', updated_at = now()"
                " WHERE endpoint_id = %s AND status = 'pending'",
                (endpoint_id,),
            )
            return _notice_task(conn, endpoint_id, row["disabled_count"])

    def redrive(self, *, limit: int = 500) -> list[int]:
        params = {
            "requeue": self._requeue,
            "lease": self._lease,
            "notice": self._notice,
            "limit": limit,
        }
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(_HOLD_DUE_OF_DISABLED)
            rows = [
                *conn.execute(_DUE, params).fetchall(),
                *conn.execute(_ABANDONED, params).fetchall(),
            ]
            outbox_ids = [
                outbox.add_task(
                    conn,
                    queues.WEBHOOKS,
                    queues.DELIVER_WEBHOOK,
                    [str(row["id"])],
                    row["correlation_id"],
                )
                for row in rows
            ]
            for notice in conn.execute(_NOTICES, params).fetchall():
                outbox_ids.append(_notice_task(conn, str(notice["id"]), notice["disabled_count"]))
        return outbox_ids

    def deliver_once(
        self, endpoint_id: str, generation: int, send: Callable[[DisabledNotice], None]
    ) -> str:
        """Send the pending notice of this disabling, at most one caller at a time; a
        `MailrouteError` from `send` is recorded (the notice stays pending) and re-raised."""
        failure: MailrouteError | None = None
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT e.company_id, e.url, e.disabled_reason, e.disabled_at, e.enabled, c.name"
                " FROM webhook_endpoints e JOIN companies c ON c.id = e.company_id"
                " WHERE e.id = %s AND e.disabled_count = %s AND e.notice_status = 'pending'"
                " FOR UPDATE OF e SKIP LOCKED",
                (endpoint_id, generation),
            ).fetchone()
            if row is None:
                return _why_not(conn, endpoint_id, generation)
            if row["enabled"]:  # enabled again before the notice went out: nothing to say
                _set_notice(conn, endpoint_id, "skipped", None)
                return "skipped"
            recipients = conn.execute(
                "SELECT email FROM users WHERE company_id = %s AND role = 'admin' ORDER BY email",
                (row["company_id"],),
            ).fetchall()
            notice = DisabledNotice(
                endpoint_id=endpoint_id,
                generation=generation,
                company_id=str(row["company_id"]),
                company_name=row["name"],
                url=row["url"],
                reason=row["disabled_reason"] or "",
                disabled_at=row["disabled_at"],
                recipients=tuple(r["email"] for r in recipients),
            )
            try:
                send(notice)
            except MailrouteError as exc:
                failure = exc
                _set_notice(conn, endpoint_id, "pending", f"{exc.code}: {exc.message}")
            else:
                _set_notice(conn, endpoint_id, "sent", None)
        if failure is not None:
            raise failure
        return "sent"


def _notice_task(conn: Connection[DictRow], endpoint_id: str, generation: int) -> int:
    return outbox.add_task(
        conn, queues.WEBHOOKS, queues.NOTIFY_WEBHOOK_DISABLED, [endpoint_id, generation]
    )


def _set_notice(
    conn: Connection[DictRow], endpoint_id: str, status: str, error: str | None
) -> None:
    conn.execute(
        "UPDATE webhook_endpoints SET notice_status = %s, notice_error = %s,"
        " notice_attempts = notice_attempts + 1 WHERE id = %s",
        (status, None if error is None else error[:2000], endpoint_id),
    )


def _why_not(conn: Connection[DictRow], endpoint_id: str, generation: int) -> str:
    found = conn.execute(
        "SELECT notice_status, disabled_count FROM webhook_endpoints WHERE id = %s",
        (endpoint_id,),
    ).fetchone()
    if found is None or found["disabled_count"] != generation or found["notice_status"] is None:
        return "no_notice"
    return (
        "in_flight" if found["notice_status"] == "pending" else f"already_{found['notice_status']}"
    )
