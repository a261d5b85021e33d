"""The outbox (`outbox_events`): everything mailroute publishes after a commit is first written
here, in the same transaction as the state it reports or asks for.

Two kinds of row: an *event* for the topic exchange (`routing_key` is the event's routing key),
and a *task*, a dramatiq message for `actor_name` on the queue named by `routing_key`, with its
arguments in `payload->'args'`. Only ids and small values go in a row: never a body or an
attachment. The relay (`adapters.rabbitmq.relay`) takes rows in batches, marking them published
in the same statement that reads them.

Every event row, whichever statement writes it (`add_event`, or the CTEs that record a send or a
failure), also gets its outcome webhooks in the same transaction: the trigger
`outbox_events_webhook_fan_out` (migration 0011) writes one `webhook_deliveries` row per enabled
endpoint of the event's company subscribed to its routing key, and one task row each for
`mailroute.deliver_webhook` on the `webhooks` queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

# Columns of a taken row, for every statement that takes a batch.
_TAKEN = "RETURNING id, routing_key, actor_name, payload, correlation_id"
_TAKE_IDS = (
    "UPDATE outbox_events SET published_at = now() WHERE id IN ("
    " SELECT id FROM outbox_events WHERE id = ANY(%s) AND published_at IS NULL"
    f" FOR UPDATE SKIP LOCKED) {_TAKEN}"
)
_TAKE_OLDER = (
    "UPDATE outbox_events SET published_at = now() WHERE id IN ("
    " SELECT id FROM outbox_events WHERE published_at IS NULL AND created_at < now() - %s"
    f" ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) {_TAKEN}"
)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    routing_key: str
    payload: dict[str, Any]
    actor_name: str | None = None
    correlation_id: str | None = None

    @property
    def is_task(self) -> bool:
        return self.actor_name is not None

    @property
    def args(self) -> list[Any]:
        args: list[Any] = self.payload.get("args", [])
        return args


def add_event(
    conn: Connection[DictRow],
    routing_key: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO outbox_events (routing_key, payload, correlation_id) VALUES (%s, %s, %s)"
        " RETURNING id",
        (routing_key, Jsonb(payload), correlation_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def add_task(
    conn: Connection[DictRow],
    queue: str,
    actor: str,
    args: list[Any],
    correlation_id: str | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO outbox_events (routing_key, actor_name, payload, correlation_id)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (queue, actor, Jsonb({"args": args}), correlation_id),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def take(
    conn: Connection[DictRow],
    *,
    ids: list[int] | None = None,
    older_than: timedelta = timedelta(0),
    limit: int = 500,
) -> list[OutboxRow]:
    """Mark a batch published and read it, oldest first: these `ids`, or unpublished rows
    written at least `older_than` ago. Rows another relay holds are skipped. The caller's
    transaction decides: a rollback puts the batch back."""
    if ids is not None:
        rows = conn.execute(_TAKE_IDS, (ids,)).fetchall()
    else:
        rows = conn.execute(_TAKE_OLDER, (older_than, limit)).fetchall()
    return sorted(
        (
            OutboxRow(
                id=int(r["id"]),
                routing_key=r["routing_key"],
                payload=r["payload"],
                actor_name=r["actor_name"],
                correlation_id=r["correlation_id"],
            )
            for r in rows
        ),
        key=lambda row: row.id,
    )


def mark_refused(conn: Connection[DictRow], row_id: int, reason: str) -> None:
    """The broker refused this row: keep it, with why, out of every later batch."""
    conn.execute(
        "UPDATE outbox_events SET refused_reason = %s WHERE id = %s", (reason[:2000], row_id)
    )
