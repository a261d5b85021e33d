"""One Microsoft 365 mailbox sends 300 emails under Exchange Online's 30 messages a minute,
shared by both worker processes: none refused by the mailbox's rate limit, and close to it.

Ten minutes of slots: those further ahead than a queue delay may wait are parked in PostgreSQL
and put back on the queue by the clock shortly before their slot, as in production."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from mailroute.adapters.db.pool import Pool
from mailroute_sandbox.client import SandboxClient as FullSandbox
from tests.integration.microsoft_sending.conftest import MicrosoftCompany, all_ended, rows
from tests.stack import Process, running, wait_for

EMAILS = 300
EXCHANGE_PER_MINUTE = 30


@pytest.mark.timeout(1200)
def test_300_emails_from_one_mailbox_go_at_over_90_percent_of_30_a_minute_with_no_429(
    microsoft_company: MicrosoftCompany,
    microsoft: FullSandbox,
    database: Pool,
    publish: Callable[..., str],
    worker: Process,
    stack_env: dict[str, str],
) -> None:
    company = microsoft_company.company
    with running(Process("microsoft-pacing-clock", ["clock"], stack_env), None):
        ids = [publish(microsoft_company) for _ in range(EMAILS)]
        # 300 at 30 a minute is ten minutes; allow half as long again.
        wait_for(
            all_ended(database, company.id, EMAILS), timeout=900, interval=2.0, what="300 emails"
        )
    found = rows(database, company.id)
    assert {str(r["id"]) for r in found} == set(ids)
    assert {(r["status"], r["route"]) for r in found} == {("sent", "microsoft")}
    counters = microsoft.ms_counters()
    account = microsoft_company.account.lower()
    assert counters["throttled"].get(account, 0) == 0
    assert counters["sends"].get(account, 0) == EMAILS

    received = sorted(
        datetime.fromisoformat(m["received_at"].replace("Z", "+00:00"))
        for m in microsoft.ms_sent(microsoft_company.account, content=False)
    )
    assert len(received) == EMAILS
    minutes = (received[-1] - received[0]).total_seconds() / 60
    per_minute = (EMAILS - 1) / minutes
    assert per_minute >= 0.9 * EXCHANGE_PER_MINUTE, f"{per_minute:.1f} a minute"
    assert per_minute <= EXCHANGE_PER_MINUTE
