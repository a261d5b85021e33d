"""Each Google error, injected through the sandbox, ends as the translator's table says."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.email_sweeps import PostgresEmailSweeps
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.rabbitmq.queues import DramatiqQueues
from mailroute.config.settings import Settings
from mailroute.core.connection import BrokenReason, explain
from mailroute.core.routing import not_connected_message
from mailroute.services.sweeps import requeue
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.settled import settled
from tests.stack import Process, wait_for


@pytest.mark.parametrize("kind", [500, 503, "timeout"])
def test_server_errors_and_hangs_are_retried_then_sent_once(
    kind: int | str,
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.add_fault(kind, count=2, account=gmail_company.account, hang_seconds=0.5)

    row = finished(publish(gmail_company), timeout=30)

    assert row["status"] == "sent", row["error_message"]
    assert row["attempts"] == 3
    assert len(google.gmail_sent(gmail_company.account)) == 1


def test_a_429_retry_after_is_waited_out_while_the_workers_keep_sending(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    email_row: Callable[[str], dict[str, Any] | None],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.add_fault(429, count=1, account=gmail_company.account, retry_after_seconds=4)
    limited = publish(gmail_company)

    waiting = wait_for(
        lambda: (row := email_row(limited)) and row["status"] == "retrying" and row,
        what="the rate-limited email to wait",
    )
    assert waiting["error_code"] == "gmail_rate_limited"
    due = waiting["next_attempt_at"]
    assert due > datetime.now(UTC) + timedelta(seconds=2)
    others = [finished(publish(gmail_company)) for _ in range(3)]  # no thread is asleep
    assert all(o["status"] == "sent" and o["sent_at"] < due for o in others)

    row = finished(limited, timeout=30)
    assert row["status"] == "sent"
    assert row["sent_at"] >= due
    assert row["attempts"] == 2


def test_a_retry_after_hours_away_is_parked_for_the_clock_not_held_by_a_worker(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    database: Pool,
    broker: Any,
    publish: Callable[..., str],
    email_row: Callable[[str], dict[str, Any] | None],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.add_fault(429, count=1, account=gmail_company.account, retry_after_seconds=3 * 3600)
    email_id = publish(gmail_company)
    parked = wait_for(
        lambda: (row := email_row(email_id)) and row["status"] == "retrying" and row,
        what="the email to be parked",
    )
    assert parked["parked"] is True
    assert parked["next_attempt_at"] > datetime.now(UTC) + timedelta(hours=2)

    with database.connection() as conn:  # three hours pass
        conn.execute(
            "UPDATE emails SET next_attempt_at = now() - interval '1 second' WHERE id = %s",
            (email_id,),
        )
    due = PostgresEmailSweeps(database).due_retries()
    assert (email_id, "gmail") in [(d.email_id, d.route) for d in due]
    requeue(due, DramatiqQueues(broker))

    row = finished(email_id)
    assert row["status"] == "sent"
    assert row["parked"] is False


def test_a_removed_send_permission_breaks_the_connection_and_fails_the_email(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    connections: PostgresConnections,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.set_scopes(["openid", "email"], account=gmail_company.account)

    row = finished(publish(gmail_company))

    assert row["status"] == "failed"
    assert row["error_code"] == "gmail_not_connected"
    assert row["error_message"] == not_connected_message(gmail_company.account)
    record = connections.get(gmail_company.connection_id)
    assert record is not None
    assert record.broken_reason == BrokenReason.SCOPE_REMOVED


def test_a_message_gmail_refuses_as_too_large_fails_at_once_in_plain_words(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.settings(json_body_limit=1000)

    row = finished(publish(gmail_company))

    assert row["status"] == "failed"
    assert row["error_code"] == "gmail_too_large"
    assert row["attempts"] == 1
    assert "too large for Gmail" in row["error_message"]
    assert google.gmail_sent(gmail_company.account) == []


@pytest.mark.parametrize("kind", ["403_userRateLimitExceeded", "403_rateLimitExceeded"])
def test_a_403_rate_limit_is_retried_with_backoff_then_sent_once(
    kind: str,
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    email_row: Callable[[str], dict[str, Any] | None],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.add_fault(kind, count=2, account=gmail_company.account)
    email_id = publish(gmail_company)

    waiting = wait_for(
        lambda: (row := email_row(email_id)) and row["status"] == "retrying" and row,
        what="the rate-limited email to wait",
    )
    assert waiting["error_code"] == "gmail_rate_limited"
    row = finished(email_id, timeout=30)

    assert row["status"] == "sent", row["error_message"]
    assert row["attempts"] == 3
    assert len(google.gmail_sent(gmail_company.account)) == 1
    assert google.counters()["rate_limited"][gmail_company.account] == 2


@pytest.mark.parametrize(
    ("kind", "code", "words", "google_said"),
    [
        (
            "400_invalidArgument",
            "gmail_invalid_message",
            "Gmail refused the email: an address in To is not valid.",
            "Invalid To header",
        ),
        (
            "400_failedPrecondition",
            "gmail_not_enabled",
            "Gmail is not enabled for the connected Google account",
            "Precondition check failed.",
        ),
    ],
)
def test_a_400_gmail_will_never_accept_fails_at_once_in_words_an_admin_understands(
    kind: str,
    code: str,
    words: str,
    google_said: str,
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    connections: PostgresConnections,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    google.add_fault(kind, count=1, account=gmail_company.account)

    row = finished(publish(gmail_company))

    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert row["error_code"] == code
    assert words in row["error_message"]
    assert f"(Gmail said: {google_said})" in row["error_message"]
    assert google.gmail_sent(gmail_company.account) == []
    record = connections.get(gmail_company.connection_id)
    assert record is not None
    assert record.state == "active"  # the email is refused, the connection is not broken
    assert all(f["account"] != gmail_company.account for f in google.faults())  # used once


def test_gmail_refusing_the_authorization_even_after_a_fresh_token_breaks_the_connection(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    settings: Settings,
    connections: PostgresConnections,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
    database: Pool,
    broker_vhost: str,
) -> None:
    company = gmail_company.company
    google.refuse_authorization(gmail_company.account)
    try:
        row = finished(publish(gmail_company))

        assert row["status"] == "failed"
        assert row["attempts"] == 1
        assert row["error_code"] == "gmail_not_connected"
        assert row["error_message"] == not_connected_message(gmail_company.account)
        record = connections.get(gmail_company.connection_id)
        assert record is not None
        assert record.state == "not_connected"
        assert record.broken_reason == BrokenReason.UNAUTHORIZED
        counters = google.counters()
        assert counters["token_refreshes"].get(gmail_company.account, 0) >= 1
        assert counters["auth_failures"][gmail_company.account] == 2  # stale token, fresh token
        assert google.gmail_sent(gmail_company.account) == []

        def notices() -> list[dict[str, Any]]:
            return sandbox.smtp_messages(rcpt=company.admin_email)

        [notice] = wait_for(notices, timeout=20, what="the notice to the admins")
        wait_for(
            lambda: settled(database, broker_vhost, connection_id=gmail_company.connection_id),
            what="every notify task handled",
        )
        assert len(notices()) == 1
        assert gmail_company.account in notice["subject"]
        assert explain(BrokenReason.UNAUTHORIZED) in notice["text"]
        assert f"{settings.public_base_url}/settings/email" in notice["text"]
    finally:
        google.clear_faults(gmail_company.account)
