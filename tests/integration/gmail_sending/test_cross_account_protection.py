"""Google's Cross-Account Protection against the real web app, worker, sandbox and PostgreSQL:
a revoked grant is Not connected with one notice before anything is sent; tokens the spec says to
refuse or ignore change nothing; a burst with duplicates loses nothing and notifies once each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.google.risc_api import RiscStreamApi, service_account_signer
from mailroute.config.risc_settings import RiscSettings
from mailroute.config.settings import Settings
from mailroute.core.connection import BrokenReason, explain
from mailroute.core.risc import ALL_EVENT_TYPES
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from mailroute_sandbox.risc_client import RiscControls
from tests.conftest import SandboxClient
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import Process, wait_for


@pytest.fixture
def risc(web: str, worker: Process, settings: Settings) -> Iterator[RiscControls]:
    """The sandbox's stream pointed at the web app's receiver through the RISC API, as
    `mailroute risc configure` does; no receiver again after the test."""
    api = RiscStreamApi(
        RiscSettings.from_env({}, settings).api_root,
        service_account_signer(RiscSettings.from_env({}, settings)),
    )
    controls = RiscControls(settings.sandbox_base_url)
    try:
        api.configure(web + "/risc/events", ALL_EVENT_TYPES)
        yield controls
    finally:
        controls.reset()
        controls.close()
        api.close()


def _sub(google: GoogleSandbox, account: str) -> str:
    return str(google.account(account)["sub"])


def _rows(database: Pool, sub: str) -> list[dict[str, Any]]:
    with database.connection() as conn:
        rows: list[dict[str, Any]] = conn.execute(
            "SELECT jti, event_types, outcome, connections_broken FROM risc_events"
            " WHERE subject = %s",
            (sub,),
        ).fetchall()
    return rows


def _notices_in_db(database: Pool, connection_id: str) -> int:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM auth_broken_notices WHERE connection_id = %s",
            (connection_id,),
        ).fetchone()
    assert row is not None
    return int(row["n"])


def test_a_revoked_grant_is_not_connected_with_one_notice_within_2s_before_any_send(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    risc: RiscControls,
    database: Pool,
) -> None:
    started = time.monotonic()
    google.user_revokes(gmail_company.account)

    def notified() -> list[dict[str, Any]]:
        record = connections.get(gmail_company.connection_id)
        messages = sandbox.smtp_messages(rcpt=gmail_company.company.admin_email)
        return messages if record and record.state == "not_connected" and messages else []

    messages = wait_for(notified, timeout=2.0, interval=0.02, what="not connected and notified")
    assert time.monotonic() - started < 2.0
    record = connections.get(gmail_company.connection_id)
    assert record is not None
    assert record.broken_reason == BrokenReason.REVOKED
    assert len(messages) == 1
    assert explain(BrokenReason.REVOKED) in messages[0]["text"]
    assert google.gmail_sent(gmail_company.account) == []
    [delivery] = risc.deliveries()
    assert delivery["status"] == 202
    [row] = _rows(database, _sub(google, gmail_company.account))
    assert row["outcome"] == "broken"
    time.sleep(0.5)  # a second notice would have arrived by now
    assert len(sandbox.smtp_messages(rcpt=gmail_company.company.admin_email)) == 1


@pytest.mark.parametrize(
    ("kind", "err"),
    [
        ("forged", "invalid_key"),
        ("unknown_kid", "invalid_key"),
        ("expired", "invalid_request"),
        ("wrong_aud", "invalid_audience"),
    ],
)
def test_a_token_to_refuse_is_answered_400_with_its_error_and_changes_nothing(
    kind: str,
    err: str,
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    risc: RiscControls,
    database: Pool,
) -> None:
    delivery = risc.send(kind, account=gmail_company.account, event="tokens-revoked")

    assert delivery["status"] == 400
    assert delivery["body"]["err"] == err
    assert delivery["body"]["description"]
    record = connections.get(gmail_company.connection_id)
    assert record is not None
    assert record.state == "active"
    assert _rows(database, _sub(google, gmail_company.account)) == []
    assert sandbox.smtp_messages(rcpt=gmail_company.company.admin_email) == []


def test_a_replayed_token_is_answered_202_and_processed_once(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    risc: RiscControls,
    database: Pool,
) -> None:
    sub = _sub(google, gmail_company.account)
    first = risc.send("valid", account=gmail_company.account, event="account-enabled")
    again = risc.send("replay")

    assert (first["status"], again["status"]) == (202, 202)
    assert again["jti"] == first["jti"]
    rows = wait_for(lambda: [r for r in _rows(database, sub) if r["outcome"]], what="recorded")
    assert [(r["jti"], r["outcome"]) for r in rows] == [(first["jti"], "recorded")]
    record = connections.get(gmail_company.connection_id)
    assert record is not None
    assert record.state == "active"
    assert sandbox.smtp_messages(rcpt=gmail_company.company.admin_email) == []


def test_a_burst_of_1000_events_with_duplicates_loses_none_and_notifies_once_each(
    make_gmail_company: Callable[[], GmailCompany],
    google: GoogleSandbox,
    sandbox: SandboxClient,
    connections: PostgresConnections,
    risc: RiscControls,
    database: Pool,
) -> None:
    companies = [make_gmail_company() for _ in range(5)]
    subs = [_sub(google, c.account) for c in companies] + ["1000000000000000000000"]

    burst = risc.burst(subs, count=1000, replay_every=5, concurrency=16)

    assert burst["sent"] == 1000
    assert burst["statuses"] == {"202": 1000}
    unique = set(burst["jtis"])
    assert len(unique) == burst["unique"] == 800

    def all_processed() -> bool:
        with database.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n, count(outcome) AS done FROM risc_events WHERE jti = ANY(%s)",
                (list(unique),),
            ).fetchone()
        assert row is not None
        return row["n"] == row["done"] == len(unique)

    wait_for(all_processed, timeout=60.0, what="every stored event processed")
    for company in companies:
        wait_for(
            lambda c=company: sandbox.smtp_messages(rcpt=c.company.admin_email),
            timeout=10.0,
            what="the notice",
        )
    time.sleep(1.0)  # a double notice would have arrived by now
    for company in companies:
        record = connections.get(company.connection_id)
        assert record is not None
        assert record.state == "not_connected"
        assert len(sandbox.smtp_messages(rcpt=company.company.admin_email)) == 1
        assert _notices_in_db(database, company.connection_id) == 1
