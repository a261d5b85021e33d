"""A revoked Microsoft grant under a storm of sends: every email fails clearly, the admins hear
exactly once, Re-authorize sends again and Revoke Access hands the company to the default
sender."""

from __future__ import annotations

from collections.abc import Callable

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.core.connection import explain
from mailroute.core.records import ConnectionRecord
from mailroute.core.routing import not_connected_message
from mailroute_sandbox.client import SandboxClient as FullSandbox
from tests.conftest import SandboxClient, TestCompany
from tests.integration.microsoft_sending.conftest import MicrosoftCompany, all_ended, rows
from tests.settled import settled
from tests.stack import Process, wait_for


def test_100_concurrent_sends_on_a_revoked_grant_fail_with_one_notice_then_reauthorize_and_revoke(
    microsoft_company: MicrosoftCompany,
    microsoft: FullSandbox,
    sandbox: SandboxClient,
    database: Pool,
    ms_connections: PostgresConnections,
    connect_microsoft: Callable[[TestCompany, str], ConnectionRecord],
    publish: Callable[..., str],
    worker: Process,
    broker_vhost: str,
) -> None:
    company = microsoft_company.company
    # Pacing is not what this tests: let the 100 sends run as fast as the mailbox's four
    # concurrent requests allow, so they really meet the revoked grant together.
    ms_connections.set_pacing_limits(
        microsoft_company.connection_id, sends_per_minute=60_000, max_concurrent_sends=4
    )
    microsoft.ms_invalidate(microsoft_company.account, "revoked")

    ids = [publish(microsoft_company) for _ in range(100)]

    wait_for(all_ended(database, company.id, 100), timeout=90, interval=0.2, what="100 emails")
    found = rows(database, company.id)
    assert {str(r["id"]) for r in found} == set(ids)
    expected = not_connected_message(microsoft_company.account, "microsoft")
    assert {(r["status"], r["error_code"], r["error_message"]) for r in found} == {
        ("failed", "microsoft_not_connected", expected)
    }
    assert microsoft.ms_sent(microsoft_company.account) == []
    record = ms_connections.get(microsoft_company.connection_id)
    assert record is not None
    assert record.state == "not_connected"
    assert record.broken_reason is not None

    notices = wait_for(
        lambda: sandbox.smtp_messages(rcpt=company.admin_email), timeout=30, what="the notice"
    )
    wait_for(
        lambda: settled(database, broker_vhost, connection_id=microsoft_company.connection_id),
        what="every notify task handled",
    )
    [notice] = sandbox.smtp_messages(rcpt=company.admin_email)
    assert notices == [notice]
    assert notice["subject"].startswith("Action needed")
    assert microsoft_company.account in notice["subject"]
    assert "Microsoft 365" in notice["text"]
    assert explain(record.broken_reason, "microsoft") in notice["text"]

    # Re-authorize Sync: the same mailbox sends again.
    connect_microsoft(company, microsoft_company.account)
    sent_id = publish(microsoft_company)
    wait_for(all_ended(database, company.id, 101), timeout=30, what="the email after")
    after = {str(r["id"]): r for r in rows(database, company.id)}[sent_id]
    assert (after["status"], after["route"]) == ("sent", "microsoft")
    [delivered] = microsoft.ms_sent(microsoft_company.account)
    assert delivered["via"] == "sendMail"

    # Revoke Access: the default sender takes the company's emails, From the default address.
    ms_connections.revoke(company.id)
    default_id = publish(microsoft_company, sender="auto")
    wait_for(all_ended(database, company.id, 102), timeout=30, what="the email after revoking")
    last = {str(r["id"]): r for r in rows(database, company.id)}[default_id]
    assert (last["status"], last["route"]) == ("sent", "default")
    assert microsoft_company.account not in last["from_address"]
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 1
    breaks = [
        m
        for m in sandbox.smtp_messages(rcpt=company.admin_email)
        if m["subject"].startswith("Action needed")
    ]
    assert len(breaks) == 1  # still the one notice of the break
