"""The ceiling of our stack on this machine: a bare dramatiq two-hop pipeline (hop_a enqueues
hop_b, both no-ops) on the same RabbitMQ, with publisher confirms like mailroute's broker.

Run by the bench as `dramatiq bench.baseline`; hop_b appends one byte to BENCH_DONE_FILE so the
bench can count completions across processes."""

from __future__ import annotations

import os

import dramatiq

from bench.floor_io import bench_broker, done_file

broker = bench_broker()
_done = done_file()


@dramatiq.actor(queue_name="bench_a", max_retries=0)
def hop_a(n: int) -> None:
    hop_b.send(n)


@dramatiq.actor(queue_name="bench_b", max_retries=0)
def hop_b(n: int) -> None:
    os.write(_done, b".")
