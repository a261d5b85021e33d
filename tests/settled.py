"""Events that prove the work is done, for tests that assert something did NOT happen (no second
send, no second notice): instead of sleeping "long enough", wait until nothing is left to do.

- `broker_idle`: every queue of ours (and its delay queue) holds no message, ready or being
  processed: dramatiq acknowledges a message after its actor returned, and whatever the actor
  queued was confirmed before that, so an idle broker means every hop has run.
- `outbox_published`: no outbox row about this email or connection waits to be published (a
  relay publishes within moments; until then its work has not even been asked for).
"""

from __future__ import annotations

import subprocess

from dramatiq.common import dq_name

from mailroute.adapters.db.pool import Pool
from mailroute.events import queues


def broker_idle(vhost: str, names: tuple[str, ...] = queues.ALL_QUEUES) -> bool:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "messages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts = dict(line.split("\t") for line in listed.splitlines() if "\t" in line)
    watched = {*names, *(dq_name(n) for n in names)}
    return all(int(counts.get(name, "0")) == 0 for name in watched)


def outbox_published(database: Pool, *, email_id: str = "", connection_id: str = "") -> bool:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS waiting FROM outbox_events WHERE published_at IS NULL"
            " AND (payload->>'email_id' = %(email)s OR payload->'args'->>0 = %(email)s"
            "  OR payload->>'connection_id' = %(conn)s"
            "  OR payload->'args'->0->>'connection_id' = %(conn)s)",
            {"email": email_id or None, "conn": connection_id or None},
        ).fetchone()
    return row is not None and row["waiting"] == 0


def settled(database: Pool, vhost: str, *, email_id: str = "", connection_id: str = "") -> bool:
    """Nothing about this email or connection waits in the outbox or on a queue."""
    return outbox_published(
        database, email_id=email_id, connection_id=connection_id
    ) and broker_idle(vhost)
