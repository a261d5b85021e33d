"""The clock finds a revoked grant on its own, within its interval, and the admins hear once,
before any email has been sent."""

from __future__ import annotations

import time
from typing import Any

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.settled import settled
from tests.stack import Process, running, wait_for

INTERVAL = 4.0


def test_the_clock_notices_a_revoked_grant_within_its_interval_and_notifies_once(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    database: Pool,
    stack_env: dict[str, str],
    worker: Process,
    broker_vhost: str,
) -> None:
    env = {**stack_env, "CONNECTION_CHECK_INTERVAL_SECONDS": str(INTERVAL)}
    with running(Process("clock-checks", ["clock"], env), None):
        google.user_revokes(gmail_company.account)
        revoked_at = time.monotonic()

        def broken() -> Any:
            record = connections.get(gmail_company.connection_id)
            return record if record and record.state == "not_connected" else None

        record = wait_for(broken, timeout=INTERVAL * 3, interval=0.2, what="the clock to notice")
        noticed_after = time.monotonic() - revoked_at
        [notice] = wait_for(
            lambda: sandbox.smtp_messages(rcpt=gmail_company.company.admin_email),
            timeout=20,
            what="the notice",
        )
        wait_for(
            lambda: settled(database, broker_vhost, connection_id=gmail_company.connection_id),
            what="every notify task handled",
        )
        assert len(sandbox.smtp_messages(rcpt=gmail_company.company.admin_email)) == 1

    assert record.broken_reason == "revoked"
    assert noticed_after <= INTERVAL + INTERVAL / 2 + 2  # the interval, one tick, and slack
    assert gmail_company.account in notice["subject"]
    with database.connection() as conn:
        emails = conn.execute(
            "SELECT count(*) AS n FROM emails WHERE company_id = %s", (gmail_company.id,)
        ).fetchone()
    assert emails is not None
    assert emails["n"] == 0, "found before any invoice was sent"
