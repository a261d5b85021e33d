"""django-post_office, the maintained Django app that queues email in the database and sends it
with `send_queued_mail`, measured as a peer of mailroute on the same machine, PostgreSQL and
SMTP sink, with the same emails.

A run queues `items` emails (`bench/peer_enqueue.py`, one `mail.send` each), then times
`python -m django send_queued_mail --processes P` (P processes, THREADS_PER_PROCESS threads
each; `bench/peer_settings.py`) from its start until all `items` are sent. The send phase's CPU
is that of its whole process tree: the rusage `wait4` returns for it, which includes the worker
processes it forks and reaps for each batch. post_office has no "ready" moment to start timing
at, as mailroute's drain does, so a run with the queue empty is measured too (`startup`) and the
send figures are also given without it (`send_after_startup`).

    with bench_env() as bench, peer_database(bench) as url:
        post_office_run(bench, 2000, 1, database_url=url)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.harness import ROOT, THREADS, BenchEnv, percentiles
from tests.stack import Process, wait_for

SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
TO = "client@example.com"  # as mailroute's `_request`
TEXT = "Hello, please find your invoice attached."
SENT = 0  # post_office's STATUS.sent
BATCH_SIZE = 100  # as bench/peer_settings.py
LOG_LEVEL = 2


def _peer_env(bench: BenchEnv, database_url: str, threads: int) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), bench.env.get("PYTHONPATH", "")) if p)
    return {
        **bench.env,
        "PYTHONPATH": path,
        "DJANGO_SETTINGS_MODULE": "bench.peer_settings",
        "BENCH_PEER_DATABASE_URL": database_url,
        "BENCH_PEER_SMTP_PORT": bench.env["SANDBOX_SMTP_PORT"],
        "BENCH_PEER_THREADS": str(threads),
        "BENCH_PEER_LOG_LEVEL": str(LOG_LEVEL),
    }


def _django(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


@contextmanager
def peer_database(bench: BenchEnv) -> Iterator[str]:
    """`<bench database>_peer` on the same server, with post_office's tables; dropped at the end.
    Yields its URL."""
    name = f"{bench.database}_peer"
    url = f"{SERVER_URL}/{name}"
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _django(_peer_env(bench, url, THREADS), "-m", "django", "migrate", "--noinput", "-v", "0")
        yield url
    finally:
        with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class TreeRun:
    """One `send_queued_mail` run: wall time until `items` were sent, and its process tree's
    CPU and peak RSS (the largest of its processes) once it exited."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float


def _send_queued_mail(
    env: dict[str, str], name: str, processes: int, items: int, sent: Any, timeout: float = 600
) -> TreeRun:
    lockfile = Path(tempfile.gettempdir()) / f"mailroute-bench-{name}"
    args = ["-m", "django", "send_queued_mail", "--processes", str(processes)]
    process = Process(name, [*args, "--lockfile", str(lockfile)], env, sys.executable)
    started = time.monotonic()
    popen = process.start().popen
    assert popen is not None
    try:
        if items:
            wait_for(
                lambda: sent() >= items or popen.poll() is not None,
                timeout=timeout,
                interval=0.05,
                what=f"{items} sent by post_office",
            )
        seconds = time.monotonic() - started
        # Reaped here rather than by Popen, for the rusage of the tree: this process, and the
        # batch workers it forked and waited for.
        _, status, usage = os.wait4(process.pid, 0)
        popen.returncode = os.waitstatus_to_exitcode(status)
        if not items:
            seconds = time.monotonic() - started
    finally:
        process.stop()
    if popen.returncode != 0 or (items and sent() < items):
        raise RuntimeError(
            f"send_queued_mail exited {popen.returncode} with {sent()} of {items} sent:\n"
            + process.log_tail()
        )
    return TreeRun(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
    )


def _sink_count(bench: BenchEnv) -> int:
    response = httpx.get(bench.settings.sandbox_base_url + "/_sandbox/counters", timeout=30)
    response.raise_for_status()
    return int(response.json()["smtp_messages"])


def _delivered(bench: BenchEnv, subjects: set[str]) -> int:
    """How many of `subjects` the sandbox's SMTP sink holds at least one message of."""
    response = httpx.get(
        bench.settings.sandbox_base_url + "/_sandbox/smtp/messages",
        params={"rcpt": TO, "content": "false"},
        timeout=600,
    )
    response.raise_for_status()
    return len(subjects & {m["subject"] for m in response.json()["messages"]})


def _rates(items: int, seconds: float, cpu: float) -> dict[str, float]:
    return {
        "seconds": round(seconds, 2),
        "per_second": round(items / seconds, 1) if seconds > 0 else 0.0,
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_email": round(cpu * 1000 / items, 3),
    }


def post_office_run(
    bench: BenchEnv,
    items: int,
    processes: int,
    threads: int = THREADS,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Queue `items` emails in post_office, then send them with `processes` processes of
    `threads` threads; in `database_url` (from `peer_database`), else in a database of its own."""
    if database_url is None:
        with peer_database(bench) as url:
            return post_office_run(bench, items, processes, threads, url)
    env = _peer_env(bench, database_url, threads)
    tag = f"peer-{processes}p-{uuid.uuid4().hex[:6]}"
    sender = formataddr(("Bench Ltd", parseaddr(bench.settings.default_from)[1]))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE post_office_email RESTART IDENTITY CASCADE")

        def sent() -> int:
            row = conn.execute(
                "SELECT count(*) FROM post_office_email WHERE status = %s", (SENT,)
            ).fetchone()
            return int(row[0]) if row else 0

        startup = _send_queued_mail(env, f"{tag}-startup", processes, 0, sent)
        sink_before = _sink_count(bench)
        out = _django(
            env,
            *("-m", "bench.peer_enqueue", "--items", str(items), "--prefix", tag),
            *("--sender", sender, "--to", TO, "--text", TEXT),
        )
        enqueue = json.loads(out.strip().splitlines()[-1])
        send = _send_queued_mail(env, f"{tag}-send", processes, items, sent)
        rows = conn.execute(
            "SELECT status, count(*) FROM post_office_email GROUP BY status"
        ).fetchall()
        latencies = [
            float(r[0])
            for r in conn.execute(
                "SELECT extract(epoch FROM last_updated - created) * 1000"
                " FROM post_office_email WHERE status = %s",
                (SENT,),
            ).fetchall()
        ]
    by_status = {int(status): int(n) for status, n in rows}
    sink_accepted = _sink_count(bench) - sink_before
    delivered = _delivered(bench, {f"Invoice {tag}-{i}" for i in range(items)})
    total_seconds = enqueue["seconds"] + send.seconds
    total_cpu = enqueue["cpu_seconds"] + send.cpu_seconds
    net_seconds = max(send.seconds - startup.seconds, 1e-9)
    net_cpu = max(send.cpu_seconds - startup.cpu_seconds, 0.0)
    return {
        "emails": items,
        "processes": processes,
        "threads_per_process": threads,
        "batch_size": BATCH_SIZE,
        "log_level": LOG_LEVEL,
        "enqueue": _rates(items, enqueue["seconds"], enqueue["cpu_seconds"]),
        "send": {
            **_rates(items, send.seconds, send.cpu_seconds),
            "peak_rss_mb": round(send.peak_rss_mb, 1),
        },
        "startup": {
            "seconds": round(startup.seconds, 2),
            "cpu_seconds": round(startup.cpu_seconds, 2),
            "peak_rss_mb": round(startup.peak_rss_mb, 1),
        },
        "send_after_startup": _rates(items, net_seconds, net_cpu),
        "end_to_end": _rates(items, total_seconds, total_cpu),
        # As mailroute's end to end is measured: enqueueing, then sending once the sender is
        # up (mailroute's workers are ready before its drain is timed).
        "end_to_end_after_startup": _rates(
            items, enqueue["seconds"] + net_seconds, enqueue["cpu_seconds"] + net_cpu
        ),
        "latency_ms": {
            **percentiles(latencies),
            "measured": "Email.created to Email.last_updated of the sent emails (the update that"
            " marks each batch sent)",
        },
        "sent": by_status.get(SENT, 0),
        "failed": by_status.get(1, 0),
        "delivered": delivered,
        "sink_accepted": sink_accepted,
    }
