"""The least any implementation of this job costs on this stack: the bare two-hop pipeline
doing the same I/O as mailroute's default-SMTP route and nothing else.

hop_a takes the producer's EmailRequested as it comes inline on the queue (what
`Intake.publish` puts there, `floor_message`), stores it already routed (one INSERT) and
enqueues hop_b; hop_b claims the row (one UPDATE), hands a ready-made message to the SMTP
server over a kept connection, and records it sent (one UPDATE). No validation, routing, MIME
building, logging or outcome events. Run by the bench as `dramatiq bench.floor`; hop_b appends
one byte to BENCH_DONE_FILE per email."""

from __future__ import annotations

import os
import smtplib
import threading
import uuid
from typing import Any

import dramatiq
from psycopg_pool import ConnectionPool

from mailroute.adapters.rabbitmq.broker import DEFAULT_QUEUE_TYPE, MailrouteBroker

# Queues of the type mailroute's own are (quorum by default), with confirms as mailroute's.
broker = MailrouteBroker(
    url=os.environ["BENCH_RABBITMQ_URL"],
    confirm_delivery=True,
    queue_type=os.environ.get("RABBITMQ_QUEUE_TYPE", DEFAULT_QUEUE_TYPE),  # type: ignore[arg-type]
)
dramatiq.set_broker(broker)
_done = os.open(
    os.environ.get("BENCH_DONE_FILE", "/dev/null"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
)
_pool: ConnectionPool | None = None
_lock = threading.Lock()
_local = threading.local()
FROM_ADDRESS = "billing@bench.example"
# The envelope recipient: one per run, so the bench counts what the sandbox received of it.
RCPT = os.environ.get("BENCH_SMTP_RCPT", "client@example.com")
MESSAGE = (
    b"From: Bench <billing@bench.example>\r\nTo: client@example.com\r\nSubject: Invoice\r\n"
    b"Message-ID: <floor@bench.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, please find your invoice attached.\r\n"
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


def _smtp() -> smtplib.SMTP:
    client: smtplib.SMTP | None = getattr(_local, "smtp", None)
    if client is None:
        client = _local.smtp = smtplib.SMTP(
            "127.0.0.1", int(os.environ["BENCH_SMTP_PORT"]), local_hostname="bench.example"
        )
    return client


@dramatiq.actor(queue_name="floor_a", max_retries=0)
def floor_a(request: dict[str, Any]) -> None:
    floor_b.send(store(request, "default", FROM_ADDRESS))


@dramatiq.actor(queue_name="floor_b", max_retries=0)
def floor_b(row_id: int) -> None:
    with db().connection() as conn:
        conn.execute(
            "UPDATE bench_floor SET status = 'sending' WHERE id = %s AND status = 'queued'",
            (row_id,),
        )
        _smtp().sendmail(FROM_ADDRESS, [RCPT], MESSAGE)
        conn.execute(
            "UPDATE bench_floor SET status = 'sent', sent_at = now() WHERE id = %s", (row_id,)
        )
    os.write(_done, b".")
