"""The outbox relay: publishes `outbox_events` rows right after the commit that wrote them
(`publish_stored`), from a worker process's relay thread (`RelayInBackground`), and later for
whatever neither could publish (the clock's `relay_pending`).

A batch is marked and read in one statement, published (each row confirmed by the broker, or
one broker transaction on classic queues), then committed: a broker that cannot be reached rolls
the marking back and the rows wait for the next run (rows it had confirmed are published again
then: consumers know them by their ids). A row the broker refuses on a working connection (over
its size limit, say) is found by publishing the rest of the batch one row at a time; it is marked
refused with the reason, handed to `on_refused` (which fails its email) and never blocks the rows
behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import structlog
from psycopg import Connection
from psycopg.rows import DictRow

from mailroute.adapters.db import outbox
from mailroute.adapters.db.outbox import OutboxRow
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.publisher import PikaPublisher, RowRefusedError
from mailroute.core.errors import BrokerUnavailableError, MessageRefusedError

log = structlog.get_logger(__name__)
# The clock relays rows older than this; younger ones are the fast path's and the workers'.
RELAY_AFTER = timedelta(seconds=10)
# After the broker could not be reached, the fast path leaves rows to the relays this long
# rather than make every caller wait on a broker that just refused.
BROKER_BACKOFF_SECONDS = 5.0

OnRefused = Callable[[OutboxRow, str], None]


class OutboxRelay:
    def __init__(self, pool: Pool, publisher: PikaPublisher, on_refused: OnRefused) -> None:
        self._pool = pool
        self._publisher = publisher
        self._on_refused = on_refused
        self._down_until = 0.0

    def publish_stored(self, outbox_ids: list[int]) -> None:
        """Publish these rows now (the fast path); what the broker cannot take now waits."""
        if not outbox_ids or time.monotonic() < self._down_until:
            return
        try:
            self._relay(ids=outbox_ids)
        except BrokerUnavailableError:
            self._down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
            log.warning("outbox.publish_deferred", count=len(outbox_ids))

    def close(self) -> None:
        """Close this thread's broker connection."""
        self._publisher.close()

    def relay_pending(self, limit: int = 500) -> int:
        """Rows older than `RELAY_AFTER`: the ones no fast path or process relay published."""
        return self._relay(older_than=RELAY_AFTER, limit=limit)

    def relay_waiting(self, limit: int = 500) -> int:
        """Every unpublished row, oldest first."""
        return self._relay(limit=limit)

    def _relay(
        self,
        *,
        ids: list[int] | None = None,
        older_than: timedelta = timedelta(0),
        limit: int = 500,
    ) -> int:
        refused: list[tuple[OutboxRow, str]] = []
        with self._pool.connection() as conn, conn.transaction():
            rows = outbox.take(conn, ids=ids, older_than=older_than, limit=limit)
            try:
                self._publisher.publish(rows)
            except RowRefusedError as exc:  # the rows before it are published
                refused = self._one_at_a_time(conn, rows[exc.confirmed :])
        for row, reason in refused:
            log.error(
                "outbox.refused", outbox_id=row.id, routing_key=row.routing_key, reason=reason
            )
            self._on_refused(row, reason)
        return len(rows)

    def _one_at_a_time(
        self, conn: Connection[DictRow], rows: list[OutboxRow]
    ) -> list[tuple[OutboxRow, str]]:
        refused = []
        for row in rows:
            try:
                self._publisher.publish([row])
            except MessageRefusedError as exc:
                outbox.mark_refused(conn, row.id, str(exc))
                refused.append((row, str(exc)))
        return refused


class RelayInBackground:
    """Outbox publication off the sending threads, for worker processes.

    The statement that records an email's outcome also writes its event to the outbox; here a
    sender only nudges this process's relay thread, which waits `gather_seconds` for more to
    arrive and publishes whatever waits, in batches: per batch one broker transaction and one
    database transaction, however many emails it carries. If the broker is down the rows stay;
    the thread tries again after `retry_seconds`, and the clock relays them too."""

    def __init__(
        self,
        relay: OutboxRelay,
        *,
        gather_seconds: float = 0.1,
        retry_seconds: float = 5.0,
        batch: int = 500,
    ) -> None:
        self._relay = relay
        self._gather = gather_seconds
        self._retry = retry_seconds
        self._batch = batch
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def publish_stored(self, outbox_ids: list[int]) -> None:
        if outbox_ids:
            self._nudge()

    def _nudge(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="outbox-relay", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        failed = False
        while True:
            woken = self._wake.wait(self._retry if failed else None)
            if woken:
                time.sleep(self._gather)
            self._wake.clear()
            try:
                while self._relay.relay_waiting(self._batch) == self._batch:
                    pass
                failed = False
            except (BrokerUnavailableError, psycopg.Error) as exc:  # away: try again later
                log.warning("outbox.relay_deferred", error=repr(exc)[:300])
                failed = True
