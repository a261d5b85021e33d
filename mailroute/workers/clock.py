"""The clock process: publishes outcome events the fast path could not, and re-queues emails
whose queue message was lost. Each job runs on its own interval; one failing job never stops
the others."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import Any

import structlog

from mailroute.adapters.db.emails import due_retries, find_stalled
from mailroute.adapters.db.intake_outbox import PostgresIntakeOutbox
from mailroute.adapters.db.pool import make_pool
from mailroute.adapters.rabbitmq import DramatiqQueues, OutboxRelay, PikaEventPublisher
from mailroute.bootstrap import build_gmail_connections
from mailroute.config.settings import Settings
from mailroute.events.queues import DISPATCH, DISPATCH_EMAIL
from mailroute.workers.broker import build_broker
from mailroute.workers.connection_checks import check_due_connections

log = structlog.get_logger(__name__)


@dataclass
class Job:
    name: str
    every_seconds: float
    run: Callable[[], object]
    due: float = 0.0


def run_clock(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("clock.stopping", signal=signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    pool = make_pool(settings, max_size=2)
    pool.open(wait=False)
    broker = build_broker(settings)
    relay = OutboxRelay(pool, PikaEventPublisher(settings.rabbitmq_url, settings.events_exchange))
    queues = DramatiqQueues(broker)

    def requeue_stalled() -> int:
        stalled = find_stalled(pool, older_than=timedelta(minutes=10))
        for email_id, route in stalled:
            queues.schedule_send(route, email_id)
        if stalled:
            log.warning("clock.requeued_stalled", count=len(stalled))
        return len(stalled)

    def requeue_parked() -> int:
        due = due_retries(pool)
        for email_id, route in due:
            queues.schedule_send(route, email_id)
        return len(due)

    intake_outbox = PostgresIntakeOutbox(pool)

    def relay_intake() -> int:
        published = 0
        while (batch := intake_outbox.publish(_publish_request)) > 0:
            published += batch
        if published:
            log.info("clock.relayed_requests", count=published)
        return published

    def _publish_request(payload: dict[str, Any]) -> None:
        queues.enqueue(DISPATCH, DISPATCH_EMAIL, (payload,))

    gmail, _ = build_gmail_connections(settings, pool, broker)
    check_interval = timedelta(seconds=settings.connection_check_interval_seconds)

    def check_connections() -> int:
        return check_due_connections(
            pool,
            gmail.verify,
            interval=check_interval,
            per_tick=settings.connection_checks_per_tick,
        )

    jobs = [
        Job("relay_intake_outbox", 1.0, relay_intake),
        Job("relay_outcome_events", 2.0, relay.relay_pending),
        Job("requeue_parked", 15.0, requeue_parked),
        Job("requeue_stalled", 60.0, requeue_stalled),
        Job("forget_published_requests", 3600.0, intake_outbox.forget_published),
        Job("check_connections", min(15.0, check_interval.total_seconds() / 2), check_connections),
    ]
    log.info("clock.started", jobs=[j.name for j in jobs])
    try:
        while not stop.is_set():
            now = time.monotonic()
            for job in jobs:
                if now < job.due:
                    continue
                job.due = now + job.every_seconds
                try:
                    job.run()
                except Exception:
                    log.exception("clock.job_failed", job=job.name)
            stop.wait(0.5)
    finally:
        broker.close()
        pool.close()
        log.info("clock.stopped")
