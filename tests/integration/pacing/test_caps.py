"""The caps of one Gmail account, through the real workers and the sandbox: the daily cap parks
what is past it (or hands it to the default sender when the company chose so), and the
concurrency cap keeps a slow account under Google's concurrent-request limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.integration.pacing.conftest import GmailCompany
from tests.stack import Process, wait_for


def _rows(database: Pool, ids: list[str]) -> list[dict[str, Any]]:
    with database.connection() as conn:
        return conn.execute("SELECT * FROM emails WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()


def test_emails_past_the_daily_cap_wait_for_the_window_and_the_row_says_so(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    connections: PostgresConnections,
    database: Pool,
    publish: Callable[..., str],
    worker: Process,
) -> None:
    connections.set_pacing_limits(gmail_company.connection_id, daily_cap=3)

    ids = [publish(gmail_company) for _ in range(5)]

    def settled() -> list[dict[str, Any]] | None:
        rows = _rows(database, ids)
        waiting = [r for r in rows if r["status"] == "retrying"]
        sent = [r for r in rows if r["status"] == "sent"]
        return rows if len(sent) == 3 and len(waiting) == 2 else None

    rows = wait_for(settled, timeout=30, what="3 sent and 2 waiting for the daily cap")
    for row in (r for r in rows if r["status"] == "retrying"):
        assert row["error_code"] == "gmail_daily_cap"
        assert f"Gmail account {gmail_company.account}" in row["error_message"]
        assert "daily cap of 3" in row["error_message"]
        assert row["route"] == "gmail"
        assert row["parked"] is True  # the clock re-publishes it when the window frees
        assert row["attempts"] == 0  # waiting is not a failed attempt
        wait = row["next_attempt_at"] - datetime.now(UTC)
        assert timedelta(hours=23) < wait <= timedelta(hours=25)
    assert len(google.gmail_sent(gmail_company.account, content=False)) == 3
    assert google.counters()["rate_limited"].get(gmail_company.account, 0) == 0


def test_past_the_daily_cap_emails_go_from_the_default_address_when_the_company_chose_it(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    connections: PostgresConnections,
    database: Pool,
    settings: Settings,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    connections.set_pacing_limits(gmail_company.connection_id, daily_cap=2)
    PostgresCompanies(database).set_default_while_gmail_broken(gmail_company.id, True)

    rows = [finished(publish(gmail_company)) for _ in range(4)]

    assert [r["status"] for r in rows] == ["sent"] * 4
    assert [r["route"] for r in rows] == ["gmail", "gmail", "default", "default"]
    company = gmail_company.company
    assert rows[2]["from_address"] == f"{company.name} <no-reply@mailroute.localhost>"
    assert len(google.gmail_sent(gmail_company.account, content=False)) == 2
    by_default = google.smtp_messages(gmail_company.rcpt(), content=False)
    assert {m["message_id"] for m in by_default} == {rows[2]["message_id"], rows[3]["message_id"]}


def test_the_concurrency_cap_keeps_a_slow_account_under_googles_concurrent_request_limit(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    connections: PostgresConnections,
    database: Pool,
    publish: Callable[..., str],
    worker: Process,
) -> None:
    # Slow Gmail, a sandbox that refuses a third concurrent send, slots that are never the limit.
    google.settings(gmail_latency_ms=1000)
    google.set_limits(gmail_company.account, max_concurrent_sends=2)
    connections.set_pacing_limits(
        gmail_company.connection_id, sends_per_minute=6000, max_concurrent_sends=2
    )

    ids = [publish(gmail_company) for _ in range(8)]

    wait_for(
        lambda: all(r["status"] == "sent" for r in _rows(database, ids)),
        timeout=40,
        interval=0.2,
        what="8 emails sent two at a time",
    )
    assert google.counters()["rate_limited"].get(gmail_company.account, 0) == 0
    rows = _rows(database, ids)
    assert all(r["attempts"] == 1 for r in rows)  # waits for the cap are not attempts
    sent = sorted(r["sent_at"] for r in rows)
    assert sent[-1] - sent[0] >= timedelta(seconds=2.5)  # 8 sends of 1 s, 2 at a time
