"""Access tokens under load: 2 worker processes x 8 threads refresh once per expiry, not each."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from mailroute.adapters.db.connections import PostgresConnections
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import Process, wait_for

LIFETIME = 4  # seconds an access token lives in the sandbox during this test


def test_200_sends_with_a_token_expiring_during_the_run_refresh_at_most_twice_per_expiry(
    make_gmail_company: Callable[[], GmailCompany],
    google: GoogleSandbox,
    publish: Callable[..., str],
    email_row: Callable[[str], dict[str, Any] | None],
    database: Any,
    connections: PostgresConnections,
    worker: Process,
) -> None:
    google.settings(access_token_lifetime=LIFETIME, gmail_latency_ms=400)
    gmail_company = make_gmail_company()
    # Above Google's per-user pacing on purpose: this test is about tokens, not quotas.
    google.set_limits(
        gmail_company.account, max_concurrent_sends=64, quota_units_per_minute=1_000_000
    )
    connections.set_pacing_limits(
        gmail_company.connection_id, sends_per_minute=10_000, max_concurrent_sends=64
    )
    before = google.counters()["token_refreshes"].get(gmail_company.account, 0)

    started = time.monotonic()
    ids = [
        publish(gmail_company, event_id=f"bulk-{n}-{gmail_company.company.tag}") for n in range(200)
    ]

    def all_sent() -> bool:
        with database.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'sent') AS sent,"
                " count(*) FILTER (WHERE status = 'failed') AS failed"
                " FROM emails WHERE company_id = %s",
                (gmail_company.id,),
            ).fetchone()
        assert row["failed"] == 0, "no email may fail"
        return bool(row["sent"] == len(ids))

    wait_for(all_sent, timeout=90, interval=0.2, what="200 emails sent")
    duration = time.monotonic() - started

    assert len(google.gmail_sent(gmail_company.account, content=False)) == 200
    refreshes = google.counters()["token_refreshes"].get(gmail_company.account, 0) - before
    # A token is refreshed when half its life is left: one refresh per half-lifetime at most,
    # counted as an expiry; plus one warm-up per worker process (it learns the lifetime).
    expiries = math.ceil(duration / (LIFETIME / 2)) + 1
    assert duration > LIFETIME, "the run must outlive a token"
    assert 1 <= refreshes <= 2 * expiries, (refreshes, expiries, duration)
    assert email_row(ids[0]) is not None
