"""The clock process: relays outbox rows no other process could publish, re-queues parked
retries and emails whose queue message was lost (and fails, `stalled`, those re-queued in vain
a few times), asks again for notices still pending, checks Gmail connections, and prunes what is
kept past its retention (`core.retention`). Each job runs on its own interval; one failing job
never stops the others."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

import structlog

from mailroute.bootstrap import ClockServices, build_clock
from mailroute.bootstrap.expiry import expiry_notices
from mailroute.config.settings import Settings
from mailroute.core.abandoned import StallPolicy
from mailroute.core.errors import BrokerUnavailableError
from mailroute.services.sweeps import check_connections, requeue, sweep_stalled
from mailroute.services.webhook_delivery import redrive

log = structlog.get_logger(__name__)
# An email, or a notice, waiting this long for work that should have come is asked for again.
STALLED_AFTER = timedelta(minutes=10)
# An email put back this many times without progress, and waiting this long, is given up on.
GIVE_UP = StallPolicy(max_requeues=3, give_up_after=timedelta(hours=1))


@dataclass
class Job:
    name: str
    every_seconds: float
    run: Callable[[], object]
    due: float = 0.0


def clock_jobs(built: ClockServices) -> list[Job]:
    settings = built.settings
    check_interval = timedelta(seconds=settings.connection_check_interval_seconds)
    return [
        Job("relay_outbox", 2.0, built.relay.relay_pending),
        Job(
            "accept_requests_of_the_earlier_release",
            5.0,
            lambda: built.legacy_intake.drain(lambda payload: built.intake.accept(payload)),
        ),
        Job("requeue_parked", 15.0, lambda: requeue(built.sweeps.due_retries(), built.queue)),
        Job(
            "requeue_stalled",
            60.0,
            lambda: sweep_stalled(
                built.sweeps,
                built.abandoned,
                built.queue,
                built.relay,
                older_than=STALLED_AFTER,
                policy=GIVE_UP,
            ),
        ),
        Job(
            "ask_again_for_notices", 60.0, lambda: built.notices.ask_again(older_than=STALLED_AFTER)
        ),
        Job(
            "check_connections",
            min(15.0, check_interval.total_seconds() / 2),
            lambda: check_connections(
                built.connections.due_for_check(
                    interval=check_interval, limit=settings.connection_checks_per_tick
                ),
                built.gmail.verify,
            ),
        ),
        Job(
            "check_microsoft_connections",
            min(15.0, check_interval.total_seconds() / 2),
            lambda: check_microsoft(built, check_interval),
        ),
        # Revocations Google did not confirm, asked again (each has its own backoff).
        Job("retry_revocations", 2.0, built.gmail.retry_revocations),
        # Webhook deliveries due for their next attempt (or held by a worker that died), and
        # notices of disabled endpoints still pending.
        Job("redrive_webhooks", 1.0, lambda: redrive(built.webhooks, built.relay)),
        # Content past RETENTION_DAYS and rows nothing reads any more, in small batches.
        Job("prune_retained", built.retention.every_seconds, built.retention.prune_once),
        # The advance notice of a connection whose authorization ends soon, once per generation.
        Job("send_expiry_notices", 60.0, expiry_notices(settings, built.pool).send_due),
        Job(
            "prune_security_events",
            3600.0,
            lambda: built.security_events.purge(timedelta(days=built.security_events_kept_days)),
        ),
    ]


def check_microsoft(built: ClockServices, interval: timedelta) -> None:
    """Microsoft 365 connections not verified within `interval`: a forced renewal each (it
    finds a break before a send does, and keeps the refresh token from expiring idle: Microsoft
    ends one unused for 90 days)."""
    if built.microsoft is None:
        return
    due = built.microsoft_connections.due_for_check(
        interval=interval, limit=built.settings.connection_checks_per_tick
    )
    check_connections(due, built.microsoft.verify)


def run_clock(settings: Settings, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("clock.stopping", signal=signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    built = build_clock(settings)
    jobs = clock_jobs(built)
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
                except BrokerUnavailableError as exc:  # expected while RabbitMQ is away
                    log.warning("clock.broker_unavailable", job=job.name, error=str(exc)[:200])
                except Exception:
                    log.exception("clock.job_failed", job=job.name)
            stop.wait(0.5)
    finally:
        built.close()
        log.info("clock.stopped")
