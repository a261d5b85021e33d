"""The least any implementation of this job costs on this stack: the bare two-hop pipeline
doing the same I/O as mailroute's default-SMTP route and nothing else.

hop_a stores the request (one INSERT) and enqueues hop_b; hop_b claims the row (one UPDATE),
hands a ready-made message to the SMTP server over a kept connection, and records it sent (one
UPDATE). No validation, routing, MIME building, logging or outcome events. Run by the bench as
`dramatiq bench.floor`; hop_b appends one byte to BENCH_DONE_FILE per email."""

from __future__ import annotations

import os
import smtplib
import threading

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from psycopg_pool import ConnectionPool

broker = RabbitmqBroker(url=os.environ["BENCH_RABBITMQ_URL"], confirm_delivery=True)
dramatiq.set_broker(broker)
_done = os.open(
    os.environ.get("BENCH_DONE_FILE", "/dev/null"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
)
_pool: ConnectionPool | None = None
_lock = threading.Lock()
_local = threading.local()
MESSAGE = (
    b"From: Bench <billing@bench.example>\r\nTo: client@example.com\r\nSubject: Invoice\r\n"
    b"Message-ID: <floor@bench.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, please find your invoice attached.\r\n"
)


def _db() -> ConnectionPool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ConnectionPool(
                os.environ["BENCH_DATABASE_URL"], min_size=8, kwargs={"autocommit": True}
            )
    return _pool


def _smtp() -> smtplib.SMTP:
    client: smtplib.SMTP | None = getattr(_local, "smtp", None)
    if client is None:
        client = _local.smtp = smtplib.SMTP(
            "127.0.0.1", int(os.environ["BENCH_SMTP_PORT"]), local_hostname="bench.example"
        )
    return client


@dramatiq.actor(queue_name="floor_a", max_retries=0)
def floor_a(request: dict[str, str]) -> None:
    with _db().connection() as conn:
        row = conn.execute(
            "INSERT INTO bench_floor (event_id, subject) VALUES (%s, %s) RETURNING id",
            (request["event_id"], request["subject"]),
        ).fetchone()
    assert row is not None
    floor_b.send(row[0])


@dramatiq.actor(queue_name="floor_b", max_retries=0)
def floor_b(row_id: int) -> None:
    with _db().connection() as conn:
        conn.execute("UPDATE bench_floor SET status = 'sending' WHERE id = %s", (row_id,))
        _smtp().sendmail("billing@bench.example", ["client@example.com"], MESSAGE)
        conn.execute("UPDATE bench_floor SET status = 'sent' WHERE id = %s", (row_id,))
    os.write(_done, b".")
