"""What the bench's floors and baseline share, and nothing they consume: their broker (queues of
mailroute's type, with confirms), the file their last hop counts done items in, and the floors'
email table, its one INSERT and the inline request it stores. Importing this declares no actor.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import dramatiq
from psycopg_pool import ConnectionPool

from mailroute.adapters.rabbitmq.broker import DEFAULT_QUEUE_TYPE, MailrouteBroker

_pool: ConnectionPool | None = None
_lock = threading.Lock()


def bench_broker() -> MailrouteBroker:
    """The broker of a bench actor module, set as dramatiq's: queues of the type mailroute's own
    are (quorum by default), with publisher confirms as mailroute's."""
    broker = MailrouteBroker(
        url=os.environ["BENCH_RABBITMQ_URL"],
        confirm_delivery=True,
        queue_type=os.environ.get("RABBITMQ_QUEUE_TYPE", DEFAULT_QUEUE_TYPE),  # type: ignore[arg-type]
    )
    dramatiq.set_broker(broker)
    return broker


def done_file() -> int:
    """The file the last hop appends one byte to per item done (BENCH_DONE_FILE)."""
    return os.open(
        os.environ.get("BENCH_DONE_FILE", "/dev/null"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )


# The email rows of both floors (SMTP and Gmail): the columns a stored email needs, and the one
# uniqueness every implementation keeps (a company's event is stored once).
TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY,"
    " company_id uuid NOT NULL, event_id text NOT NULL, correlation_id text, kind text NOT NULL,"
    " route text NOT NULL, status text NOT NULL, from_address text NOT NULL,"
    " to_addrs text[] NOT NULL, cc_addrs text[] NOT NULL, bcc_addrs text[] NOT NULL,"
    " subject text NOT NULL, text_body text, html_body text, provider_message_id text,"
    " sent_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (company_id, event_id))"
)
INSERT = (
    "INSERT INTO bench_floor (company_id, event_id, correlation_id, kind, route, status,"
    " from_address, to_addrs, cc_addrs, bcc_addrs, subject, text_body, html_body)"
    " VALUES (%s, %s, %s, %s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


def floor_message(i: int, company_id: str, *, sender: str = "default") -> dict[str, Any]:
    """The `i`th request as `Intake.publish` puts it on the dispatch queue: the EmailRequested's
    wire form with its correlation id (the bench's request, on `sender`). Imported here, so the
    workers' memory is that of the floor's own code."""
    from mailroute.events import EmailRequested

    wire = EmailRequested.parse(
        {
            "event_id": f"floor-{i}",
            "company_id": company_id,
            "kind": "invoice",
            "sender": sender,
            "to": ["client@example.com"],
            "subject": f"Invoice floor-{i}",
            "text": "Hello, please find your invoice attached.",
        }
    ).to_wire()
    wire["correlation_id"] = uuid.uuid4().hex
    return wire


def db() -> ConnectionPool:
    """This process's pool of autocommit connections, one per worker thread."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ConnectionPool(
                os.environ["BENCH_DATABASE_URL"], min_size=8, kwargs={"autocommit": True}
            )
    return _pool


def store(request: dict[str, Any], route: str, from_address: str) -> int:
    """hop_a's one statement: the request stored as a routed email; its row id."""
    with db().connection() as conn:
        row = conn.execute(
            INSERT,
            (
                request["company_id"],
                request["event_id"],
                request["correlation_id"],
                request["kind"],
                route,
                from_address,
                request["to"],
                request["cc"],
                request["bcc"],
                request["subject"],
                request["text"],
                request["html"],
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])
