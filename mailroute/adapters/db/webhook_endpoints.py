"""A company's webhook endpoints and their deliveries, as its admins manage them. Every query
is scoped to the company; signing secrets are written encrypted (`TokenCipher`, the token keys)
and never read here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.crypto import TokenCipher, TokenDecryptionError
from mailroute.adapters.db import outbox, webhook_rows
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.db.webhook_rows import ATTEMPT_COLUMNS, DELIVERY_COLUMNS, ENDPOINT_COLUMNS
from mailroute.core.webhook_ports import Delivery, DeliveryStatus, Endpoint, ReplayOutcome
from mailroute.core.webhook_rules import MAX_ENDPOINTS_PER_COMPANY
from mailroute.events import queues

# Serialises endpoint creation per company (with the company's hash), for the count limit.
_CREATE_LOCK = 0x77686B73  # "whks"
_SELECT = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e"  # noqa: S608 - constants
_REPLAY = (
    "UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(),"
    " queued_at = now(), final_attempt = d.final_attempt OR d.status IN ('delivered', 'failed'),"
    " updated_at = now() FROM webhook_endpoints e"
    " WHERE d.id = %(delivery)s AND d.endpoint_id = %(endpoint)s AND e.id = d.endpoint_id"
    " AND e.company_id = %(company)s AND e.enabled"
    " AND d.status IN ('pending', 'delivered', 'failed') RETURNING d.id, d.correlation_id"
)


class PostgresWebhookEndpoints:
    def __init__(self, pool: Pool, cipher: TokenCipher) -> None:
        self._pool = pool
        self._cipher = cipher

    def add(
        self,
        company_id: str,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        secret: str,
    ) -> Endpoint | None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_CREATE_LOCK, company_id)
            )
            row = conn.execute(
                "INSERT INTO webhook_endpoints (id, company_id, url, description, event_types,"
                " secret_enc) SELECT %s, %s, %s, %s, %s, %s"
                " WHERE (SELECT count(*) FROM webhook_endpoints WHERE company_id = %s) < %s"
                " RETURNING id",
                (
                    str(uuid.uuid4()),
                    company_id,
                    url,
                    description,
                    list(event_types),
                    self._cipher.encrypt(secret),
                    company_id,
                    MAX_ENDPOINTS_PER_COMPANY,
                ),
            ).fetchone()
            if row is None:
                return None
            found = conn.execute(f"{_SELECT} WHERE e.id = %s", (row["id"],)).fetchone()
        assert found is not None
        return webhook_rows.endpoint(found)

    def endpoints(self, company_id: str, endpoint_id: str | None = None) -> list[Endpoint]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE e.company_id = %s AND (%s::uuid IS NULL OR e.id = %s::uuid)"
                " ORDER BY e.created_at, e.id",
                (company_id, endpoint_id, endpoint_id),
            ).fetchall()
        return [webhook_rows.endpoint(row) for row in rows]

    def remove(self, company_id: str, endpoint_id: str) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM webhook_endpoints WHERE id = %s AND company_id = %s",
                (endpoint_id, company_id),
            )
            return cur.rowcount == 1

    def rotate_secret(
        self, company_id: str, endpoint_id: str, *, secret: str, overlap: timedelta
    ) -> Endpoint | None:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE webhook_endpoints SET previous_secret_enc = secret_enc,"
                " previous_secret_expires_at = now() + %s, secret_enc = %s, updated_at = now()"
                " WHERE id = %s AND company_id = %s",
                (overlap, self._cipher.encrypt(secret), endpoint_id, company_id),
            )
        if cur.rowcount != 1:
            return None
        return self.endpoints(company_id, endpoint_id)[0]

    def enable(self, company_id: str, endpoint_id: str) -> Endpoint | None:
        """Enabled, with a fresh failure window; the deliveries held while it was disabled are
        due now (the clock sends them)."""
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "UPDATE webhook_endpoints SET failing_since = NULL, updated_at = now(),"
                " disabled_at = NULL, disabled_reason = NULL, enabled = true"
                " WHERE id = %s AND company_id = %s RETURNING id",
                (endpoint_id, company_id),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(),"
                " updated_at = now() WHERE endpoint_id = %s AND status = 'held'",
                (endpoint_id,),
            )
        return self.endpoints(company_id, endpoint_id)[0]

    def deliveries(
        self,
        company_id: str,
        endpoint_id: str,
        *,
        limit: int,
        delivery_id: str | None = None,
        status: DeliveryStatus | None = None,
    ) -> list[Delivery]:
        """Newest first, each with its attempts."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d"  # noqa: S608 - constants
                " WHERE d.endpoint_id = %s AND d.company_id = %s"
                " AND (%s::uuid IS NULL OR d.id = %s::uuid) AND (%s::text IS NULL OR d.status = %s)"
                " ORDER BY d.created_at DESC, d.id LIMIT %s",
                (endpoint_id, company_id, delivery_id, delivery_id, status, status, limit),
            ).fetchall()
            attempts = conn.execute(
                f"SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts"  # noqa: S608 - constants
                " WHERE delivery_id = ANY(%s) ORDER BY id",
                ([row["id"] for row in rows],),
            ).fetchall()
        return webhook_rows.deliveries(rows, attempts)

    def replay(
        self, company_id: str, endpoint_id: str, delivery_id: str
    ) -> tuple[ReplayOutcome, int | None]:
        params = {"delivery": delivery_id, "endpoint": endpoint_id, "company": company_id}
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(_REPLAY, params).fetchone()
            if row is not None:
                outbox_id = outbox.add_task(
                    conn,
                    queues.WEBHOOKS,
                    queues.DELIVER_WEBHOOK,
                    [delivery_id],
                    row["correlation_id"],
                )
                return "queued", outbox_id
            found = conn.execute(
                "SELECT d.status, e.enabled FROM webhook_deliveries d"
                " JOIN webhook_endpoints e ON e.id = d.endpoint_id"
                " WHERE d.id = %s AND d.endpoint_id = %s AND e.company_id = %s",
                (delivery_id, endpoint_id, company_id),
            ).fetchone()
        if found is None:
            return "not_found", None
        if not found["enabled"] or found["status"] == "held":
            return "endpoint_disabled", None
        return "in_flight", None


def reencrypt_webhook_secrets(
    conn: Connection[DictRow], cipher: TokenCipher
) -> tuple[int, list[str]]:
    """Inside `reencrypt_all`'s transaction: every endpoint's signing secrets (and the one a
    rotation replaced, while it still signs) under the newest key. Endpoints no configured key
    reads are left as they are and named."""
    done, unreadable = 0, []
    rows = conn.execute(
        "SELECT id, company_id, secret_enc, previous_secret_enc FROM webhook_endpoints FOR UPDATE"
    ).fetchall()
    for row in rows:
        try:
            secret = cipher.rotate(row["secret_enc"])
            previous = row["previous_secret_enc"] and cipher.rotate(row["previous_secret_enc"])
        except TokenDecryptionError:
            unreadable.append(f"webhook endpoint {row['id']} (company {row['company_id']})")
            continue
        conn.execute(
            "UPDATE webhook_endpoints SET secret_enc = %s, previous_secret_enc = %s WHERE id = %s",
            (secret, previous, row["id"]),
        )
        done += 1
    return done, unreadable
