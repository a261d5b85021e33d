"""Nothing lost, nothing silently doubled: 1,000 emails through a worker killed with SIGKILL,
a RabbitMQ node stopped and restarted, and a PostgreSQL server restarted, each mid-run.

Each test runs on a PostgreSQL cluster and a RabbitMQ node of its own (tests/chaos/services.py),
with two worker processes and the clock, and a producer that retries what was not accepted.
"""

from __future__ import annotations

import collections
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.migrations import apply_migrations, ensure_database
from mailroute.adapters.db.pool import make_pool
from mailroute.config.settings import Settings
from mailroute.core.errors import BrokerUnavailableError
from tests.chaos.services import PrivatePostgres, PrivateRabbit, private_postgres, private_rabbit
from tests.conftest import SandboxClient
from tests.stack import Process, wait_for

pytestmark = pytest.mark.chaos

EMAILS = 1000
FAULT_AFTER_SENT = 150
FIGURES = Path(__file__).resolve().parents[2] / ".run" / "chaos-figures.json"
PUBLISH_RATE = 60.0  # per second: the producer is still publishing when the fault hits


@dataclass
class Chaos:
    env: dict[str, str]
    pg: PrivatePostgres
    rabbit: PrivateRabbit
    company_id: str
    rcpt: str
    workers: Process
    accepted: set[str] = field(default_factory=set)
    producer_retries: int = 0

    def start_workers(self) -> Process:
        self.workers = Process(
            f"chaos-worker-{time.monotonic_ns()}",
            ["worker", "--processes", "2", "--threads", "8"],
            self.env,
        ).start()
        return self.workers

    def statuses(self) -> dict[str, int]:
        """Counts by status, read on a fresh connection (the server may be restarting)."""
        try:
            with psycopg.connect(self.pg.url, connect_timeout=2) as conn:
                rows = conn.execute(
                    "SELECT status, count(*) FROM emails WHERE company_id = %s GROUP BY status",
                    (self.company_id,),
                ).fetchall()
        except psycopg.OperationalError:
            return {}
        return dict(rows)


@pytest.fixture
def chaos(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[Chaos]:
    with private_postgres() as pg, private_rabbit() as rabbit:
        env = {**stack_env, "DATABASE_URL": pg.url, "RABBITMQ_URL": rabbit.url}
        ensure_database(pg.url)
        apply_migrations(pg.url)
        settings = Settings.from_env({"DATABASE_URL": pg.url})
        pool = make_pool(settings, max_size=1)
        pool.open(wait=True)
        company = PostgresCompanies(pool).create("Chaos Ltd", "billing@chaos.example")
        pool.close()
        clock = Process("chaos-clock", ["clock"], env).start()
        run = Chaos(env, pg, rabbit, company.id, f"chaos+{company.id[:8]}@example.com", None)  # type: ignore[arg-type]
        run.start_workers()
        try:
            yield run
        finally:
            run.workers.stop()
            clock.stop()


def _produce(run: Chaos, stop: threading.Event) -> None:
    """Publish EMAILS requests; retry whatever was not accepted (same event id: no doubles)."""
    settings = Settings.from_env({"DATABASE_URL": run.pg.url, "RABBITMQ_URL": run.rabbit.url})
    from mailroute.bootstrap import build_producer

    producer = build_producer(settings)
    intake = producer.intake
    try:
        started = time.monotonic()
        for i in range(EMAILS):
            pause = started + i / PUBLISH_RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            request = {
                "event_id": f"chaos-{i}",
                "company_id": run.company_id,
                "sender": "default",
                "to": [run.rcpt],
                "subject": f"Invoice {i}",
                "text": "Hello",
            }
            while not stop.is_set():
                try:
                    run.accepted.add(intake.publish(request).email_id)
                    break
                except (
                    BrokerUnavailableError,
                    psycopg.OperationalError,
                    psycopg.errors.AdminShutdown,
                ):
                    run.producer_retries += 1
                    time.sleep(0.5)
    finally:
        producer.close()


def _run_with_fault(
    run: Chaos, sandbox: SandboxClient, fault: Callable[[Chaos], None]
) -> dict[str, Any]:
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(run, stop), daemon=True)
    started = time.monotonic()
    producer.start()
    try:
        wait_for(
            lambda: run.statuses().get("sent", 0) >= FAULT_AFTER_SENT,
            timeout=120,
            what="sends before the fault",
        )
        at_fault = run.statuses().get("sent", 0)
        fault(run)
        producer.join(timeout=300)
        assert not producer.is_alive(), "the producer could not publish everything"
        wait_for(
            lambda: sum(n for s, n in run.statuses().items() if s in ("sent", "failed")) >= EMAILS,
            timeout=300,
            interval=0.5,
            what=f"all {EMAILS} emails to end sent or failed",
        )
    finally:
        stop.set()
    seconds = time.monotonic() - started

    with psycopg.connect(run.pg.url) as conn:
        rows = conn.execute(
            "SELECT id::text, status, error_code, message_id, possible_duplicate FROM emails"
            " WHERE company_id = %s",
            (run.company_id,),
        ).fetchall()
    copies = collections.Counter(m["message_id"] for m in sandbox.smtp_messages(rcpt=run.rcpt))
    flagged = {message_id for _, _, _, message_id, dup in rows if dup}
    doubled = {message_id for message_id, n in copies.items() if n > 1}

    assert len(run.accepted) == EMAILS
    assert {email_id for email_id, *_ in rows} == run.accepted, "every accepted email has its row"
    assert all(status == "sent" or code for _, status, code, _, _ in rows), "a failure has a reason"
    sent_ids = {message_id for _, status, _, message_id, _ in rows if status == "sent"}
    assert sent_ids <= set(copies), "every email recorded as sent reached the SMTP server"
    assert doubled <= flagged, "every email that went twice is flagged possible_duplicate"
    return {
        "emails": EMAILS,
        "sent_before_fault": at_fault,
        "sent": sum(1 for r in rows if r[1] == "sent"),
        "failed": sum(1 for r in rows if r[1] == "failed"),
        "lost": EMAILS - len(rows),
        "sent_twice": len(doubled),
        "flagged_possible_duplicate": len(flagged),
        "producer_retries": run.producer_retries,
        "seconds": round(seconds, 1),
    }


def _report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures (run with -s to see them) and keep them in .run/chaos-figures.json."""
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))  # noqa: T201
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    recorded[name] = figures
    FIGURES.write_text(json.dumps(recorded, indent=2) + "\n")


def test_a_worker_killed_with_sigkill_mid_run_loses_nothing(
    chaos: Chaos, sandbox: SandboxClient
) -> None:
    def kill_and_restart(run: Chaos) -> None:
        run.workers.kill(signal.SIGKILL)
        assert run.workers.popen is not None
        run.workers.popen.wait(10)
        run.workers.stop()
        run.start_workers()

    _report("worker SIGKILL", _run_with_fault(chaos, sandbox, kill_and_restart))


def test_rabbitmq_stopped_and_restarted_mid_run_loses_nothing(
    chaos: Chaos, sandbox: SandboxClient
) -> None:
    _report(
        "RabbitMQ restart",
        _run_with_fault(chaos, sandbox, lambda run: run.rabbit.restart(down_seconds=3)),
    )


def test_postgresql_restarted_mid_run_loses_nothing(chaos: Chaos, sandbox: SandboxClient) -> None:
    _report(
        "PostgreSQL restart",
        _run_with_fault(chaos, sandbox, lambda run: run.pg.restart(down_seconds=3)),
    )
