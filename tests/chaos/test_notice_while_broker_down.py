"""With the broker stopped, the clock's check finds a revoked grant; after the broker returns,
exactly one notice is sent.

The break is found and recorded while RabbitMQ is down (the connection turns `not_connected` in
PostgreSQL); the admins must not lose their notice to the outage, and must not get two once the
broker is back and every deferred event and message has been delivered.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from typing import Any

import pytest

from mailroute.adapters.crypto import TokenCipher
from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.adapters.google.oauth import GoogleOAuth
from mailroute.config.settings import Settings
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.chaos.services import PrivateRabbit, private_rabbit
from tests.conftest import SandboxClient, TestCompany, worker_ready
from tests.google_sign_in import connect_for_real
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import Process, running, wait_for

pytestmark = pytest.mark.chaos

INTERVAL = 4.0  # CONNECTION_CHECK_INTERVAL_SECONDS: the clock then checks every 2 s
NOTIFY_QUEUES = ("notify", "notify.DQ")  # dramatiq's queue and its delay queue


@pytest.fixture
def gmail_company(
    make_company: Any, settings: Settings, database: Pool, sandbox: SandboxClient
) -> GmailCompany:
    """A company whose Gmail is connected for real through the sandbox's OAuth, to a sandbox
    account of its own (as tests/integration/gmail_sending/conftest.py connects one)."""
    company: TestCompany = make_company()
    account = f"owner.{company.tag}@acme-sandbox.test"
    with database.connection() as conn:
        admin = conn.execute(
            "SELECT id FROM users WHERE company_id = %s AND email = %s",
            (company.id, company.admin_email),
        ).fetchone()
    assert admin is not None
    with GoogleSandbox(settings.sandbox_base_url) as google:
        google.add_account(account, name=f"Owner {company.tag}")
        connect_for_real(
            GoogleOAuth(settings),
            google,
            PostgresConnections(database, TokenCipher(settings.token_encryption_keys)),
            company_id=company.id,
            account=account,
            connected_by=str(admin["id"]),
        )
    with database.connection() as conn:
        connection = conn.execute(
            "SELECT id FROM mailbox_connections WHERE company_id = %s", (company.id,)
        ).fetchone()
    assert connection is not None, "Sign in with Google stored no connection"
    return GmailCompany(company=company, account=account, connection_id=str(connection["id"]))


def _connection(database: Pool, connection_id: str) -> dict[str, Any]:
    with database.connection() as conn:
        row: dict[str, Any] | None = conn.execute(
            "SELECT state, broken_reason, last_verified_at FROM mailbox_connections WHERE id = %s",
            (connection_id,),
        ).fetchone()
    assert row is not None, f"connection {connection_id} is gone"
    return row


def _notice_rows(database: Pool, connection_id: str) -> list[dict[str, Any]]:
    with database.connection() as conn:
        rows: list[dict[str, Any]] = conn.execute(
            "SELECT generation, status, attempts FROM auth_broken_notices WHERE connection_id = %s",
            (connection_id,),
        ).fetchall()
    return rows


def _unpublished_events(database: Pool, gmail: GmailCompany) -> int:
    """Outbox rows that name this connection or its company anywhere in their payload (an
    event, or a queued task whose arguments name them) and still wait for the broker."""
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL"
            " AND (position(%s in payload::text) > 0 OR position(%s in payload::text) > 0)",
            (gmail.connection_id, gmail.id),
        ).fetchone()
    assert row is not None
    return int(row["n"])


def _messages_held(rabbit: PrivateRabbit, queues: tuple[str, ...]) -> int:
    """Messages in `queues`, ready or delivered and not yet acknowledged: a notify message a
    worker has taken but not finished still counts (`queue_depth` sees only ready ones)."""
    command = ["rabbitmqctl", "-n", rabbit.node, "-q", "list_queues", "--no-table-headers"]
    listed = subprocess.run(
        [*command, "name", "messages"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise RuntimeError(f"rabbitmqctl list_queues failed: {listed.stderr}{listed.stdout}")
    counts = dict(line.split("\t") for line in listed.stdout.splitlines() if "\t" in line)
    return sum(int(counts.get(queue, 0)) for queue in queues)


def _alive(*processes: Process) -> None:
    for process in processes:
        if not process.alive():
            raise AssertionError(f"{process.name} exited:\n{process.log_tail()}")


def test_a_break_found_by_the_clock_while_rabbitmq_is_down_is_notified_once_when_it_is_back(
    stack_env: dict[str, str],
    database: Pool,
    sandbox: SandboxClient,
    gmail_company: GmailCompany,
) -> None:
    admin = gmail_company.company.admin_email
    connected = _connection(database, gmail_company.connection_id)
    assert connected["state"] == "active"
    connected_verified_at: datetime = connected["last_verified_at"]

    with private_rabbit() as rabbit:
        env = {
            **stack_env,
            "RABBITMQ_URL": rabbit.url,
            "CONNECTION_CHECK_INTERVAL_SECONDS": str(INTERVAL),
            # The session database may hold other tests' active connections: check them all.
            "CONNECTION_CHECKS_PER_TICK": "1000",
        }
        workers = Process(
            "notice-down-worker", ["worker", "--processes", "2", "--threads", "8"], env
        )
        clock = Process("notice-down-clock", ["clock"], env)
        with (
            running(workers, lambda: worker_ready(workers, 2)),
            running(clock, None),
        ):

            def verified_again() -> bool:
                _alive(clock)
                row = _connection(database, gmail_company.connection_id)
                return bool(row["last_verified_at"] > connected_verified_at)

            # The clock is checking: ours is verified once more while the broker is still up.
            wait_for(
                verified_again,
                timeout=INTERVAL * 3 + 10,
                interval=0.2,
                what="the clock's first check of the connection",
            )

            rabbit.stop()
            sandbox.post(f"/_sandbox/accounts/{gmail_company.account}/revoke")

            def found_broken() -> dict[str, Any] | None:
                _alive(clock, workers)
                row = _connection(database, gmail_company.connection_id)
                return row if row["state"] == "not_connected" else None

            broken = wait_for(
                found_broken,
                timeout=INTERVAL * 3 + 10,
                interval=0.2,
                what="the clock to find the revoked grant while RabbitMQ is down",
            )
            assert broken["broken_reason"] == "revoked"
            assert sandbox.smtp_messages(rcpt=admin) == [], "a notice went out with no broker"

            rabbit.start()

            def notice_arrived() -> list[dict[str, Any]]:
                _alive(clock, workers)
                return sandbox.smtp_messages(rcpt=admin)

            wait_for(
                notice_arrived, timeout=90, interval=0.2, what="the notice after RabbitMQ is back"
            )
            _wait_until_settled(rabbit, database, gmail_company, clock, workers)
            notices = sandbox.smtp_messages(rcpt=admin)

    assert len(notices) == 1, [n["subject"] for n in notices]
    [notice] = notices
    assert gmail_company.account in notice["subject"]
    assert gmail_company.account in notice["text"]
    [record] = _notice_rows(database, gmail_company.connection_id)
    assert record["status"] == "sent"


def _wait_until_settled(
    rabbit: PrivateRabbit,
    database: Pool,
    gmail: GmailCompany,
    clock: Process,
    workers: Process,
) -> None:
    """Every piece of deferred work about this break is done: its notice is recorded sent, no
    event or task about it waits in the outbox, and no notify message is queued or in a worker's
    hands. A second notice would have to come from one of those."""

    def settled() -> bool:
        _alive(clock, workers)
        rows = _notice_rows(database, gmail.connection_id)
        return (
            bool(rows)
            and all(r["status"] == "sent" for r in rows)
            and _unpublished_events(database, gmail) == 0
            and _messages_held(rabbit, NOTIFY_QUEUES) == 0
        )

    wait_for(
        settled,
        timeout=60,
        interval=0.5,
        what="the notice recorded sent, the outbox relayed and the notify queue empty",
    )
