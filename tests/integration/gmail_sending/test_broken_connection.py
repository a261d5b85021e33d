"""A broken Gmail connection: every send fails clearly, the admins hear exactly once per break."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.core.connection import BrokenReason, explain
from mailroute.core.records import ConnectionRecord
from mailroute.core.routing import not_connected_message
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient, TestCompany
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.settled import settled
from tests.stack import Process, wait_for


def no_more_work(database: Pool, vhost: str, connection_id: str) -> Callable[[], bool]:
    """True once every notify task of the connection was published and handled."""
    return lambda: settled(database, vhost, connection_id=connection_id)


def _statuses(database: Pool, company_id: str) -> list[dict[str, Any]]:
    with database.connection() as conn:
        rows: list[dict[str, Any]] = conn.execute(
            "SELECT id, status, route, error_code, error_message, from_address FROM emails"
            " WHERE company_id = %s",
            (company_id,),
        ).fetchall()
    return rows


def _notices(sandbox: SandboxClient, company: TestCompany) -> list[dict[str, Any]]:
    """The break notices the admin got (not the "Active again" one of a re-authorization)."""
    found = sandbox.smtp_messages(rcpt=company.admin_email)
    return [m for m in found if m["subject"].startswith("Action needed")]


def test_a_revoked_grant_fails_100_emails_clearly_and_notifies_the_admins_once_per_break(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    settings: Settings,
    database: Pool,
    connections: PostgresConnections,
    connect_gmail: Callable[[TestCompany, str], ConnectionRecord],
    publish: Callable[..., str],
    worker: Process,
    broker_vhost: str,
) -> None:
    company = gmail_company.company
    google.user_revokes(gmail_company.account)

    ids = [publish(gmail_company) for _ in range(100)]

    def all_failed() -> bool:
        rows = _statuses(database, company.id)
        return len(rows) == 100 and all(r["status"] == "failed" for r in rows)

    wait_for(all_failed, timeout=60, interval=0.2, what="100 emails to fail")
    expected = not_connected_message(gmail_company.account)
    for row in _statuses(database, company.id):
        assert row["error_code"] == "gmail_not_connected"
        assert row["error_message"] == expected
    assert {str(r["id"]) for r in _statuses(database, company.id)} == set(ids)
    assert google.gmail_sent(gmail_company.account) == []
    assert sandbox.smtp_messages(rcpt=company.rcpt()) == []
    record = connections.get(gmail_company.connection_id)
    assert record is not None
    assert record.state == "not_connected"
    assert record.broken_reason == BrokenReason.REVOKED

    [notice] = wait_for(lambda: _notices(sandbox, company), timeout=20, what="the notice")
    wait_for(no_more_work(database, broker_vhost, gmail_company.connection_id), what="the rest")
    assert len(_notices(sandbox, company)) == 1
    assert gmail_company.account in notice["subject"]
    assert gmail_company.account in notice["text"]
    assert explain(BrokenReason.REVOKED) in notice["text"]
    assert f"{settings.public_base_url}/settings/email" in notice["text"]
    assert "no further email will come" in notice["text"]
    assert notice["from"] == settings.default_from

    # Re-authorize, then the account is deleted: a new break, so exactly one more notice.
    connect_gmail(company, gmail_company.account)
    google.invalidate(gmail_company.account, "account_deleted")
    more = [publish(gmail_company) for _ in range(20)]
    wait_for(
        lambda: all(r["status"] == "failed" for r in _statuses(database, company.id)),
        timeout=30,
        what="the next 20 emails to fail",
    )
    assert all(str(r["id"]) in set(ids + more) for r in _statuses(database, company.id))
    notices = wait_for(
        lambda: (found := _notices(sandbox, company)) and len(found) == 2 and found,
        timeout=20,
        what="the second notice",
    )
    wait_for(no_more_work(database, broker_vhost, gmail_company.connection_id), what="the rest")
    assert len(_notices(sandbox, company)) == 2
    second = next(n for n in notices if n["message_id"] != notice["message_id"])
    assert explain(BrokenReason.ACCOUNT_DELETED) in second["text"]
    assert google.gmail_sent(gmail_company.account) == []


def test_a_notice_refused_twice_by_smtp_is_retried_and_arrives_exactly_once(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    database: Pool,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
    broker_vhost: str,
) -> None:
    company = gmail_company.company
    google.invalidate(gmail_company.account, "password_changed", expire_access_tokens=True)
    sandbox.smtp_fail_next(2, 451)

    row = finished(publish(gmail_company))
    assert row["error_code"] == "gmail_not_connected"

    [notice] = wait_for(lambda: _notices(sandbox, company), timeout=30, what="the notice")
    wait_for(no_more_work(database, broker_vhost, gmail_company.connection_id), what="the rest")
    assert len(_notices(sandbox, company)) == 1
    with database.connection() as conn:
        stored = conn.execute(
            "SELECT status, attempts, last_error FROM auth_broken_notices WHERE connection_id = %s",
            (gmail_company.connection_id,),
        ).fetchone()
    assert stored is not None
    assert stored["status"] == "sent"
    assert stored["attempts"] == 3
    assert gmail_company.account in notice["text"]


def test_a_company_that_chose_the_default_sender_while_broken_gets_its_email_sent_from_it(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    settings: Settings,
    database: Pool,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    company = gmail_company.company
    with database.connection() as conn:
        conn.execute(
            "UPDATE companies SET default_while_gmail_broken = true WHERE id = %s", (company.id,)
        )
    google.user_revokes(gmail_company.account)

    first = finished(publish(gmail_company))  # meets the broken grant while sending
    second = finished(publish(gmail_company))  # routed at dispatch: the connection is broken

    for row in (first, second):
        assert row["status"] == "sent", row["error_message"]
        assert row["route"] == "default"
        assert row["from_address"] == f"{company.name} <no-reply@mailroute.localhost>"
    assert google.gmail_sent(gmail_company.account) == []
    received = sandbox.smtp_messages(rcpt=company.rcpt())
    assert len(received) == 2
    [notice] = wait_for(lambda: _notices(sandbox, company), timeout=20, what="the notice")
    assert "from the default address" in notice["text"]
