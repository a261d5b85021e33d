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
from typing import Any

import dramatiq

from bench.floor_io import bench_broker, db, done_file, store

broker = bench_broker()
_done = done_file()
_local = threading.local()
FROM_ADDRESS = "billing@bench.example"
# The envelope recipient: one per run, so the bench counts what the sandbox received of it.
RCPT = os.environ.get("BENCH_SMTP_RCPT", "client@example.com")
MESSAGE = (
    b"From: Bench <billing@bench.example>\r\nTo: client@example.com\r\nSubject: Invoice\r\n"
    b"Message-ID: <floor@bench.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, please find your invoice attached.\r\n"
)


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
