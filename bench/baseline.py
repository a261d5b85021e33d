"""The ceiling of our stack on this machine: a bare dramatiq two-hop pipeline (hop_a enqueues
hop_b, both no-ops) on the same RabbitMQ, with publisher confirms like mailroute's broker.

Run by the bench as `dramatiq bench.baseline`; hop_b appends one byte to BENCH_DONE_FILE so the
bench can count completions across processes."""

from __future__ import annotations

import os

import dramatiq

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


@dramatiq.actor(queue_name="bench_a", max_retries=0)
def hop_a(n: int) -> None:
    hop_b.send(n)


@dramatiq.actor(queue_name="bench_b", max_retries=0)
def hop_b(n: int) -> None:
    os.write(_done, b".")
