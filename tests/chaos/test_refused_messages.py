"""A message the broker refuses never blocks the ones behind it: on a RabbitMQ node that refuses
messages over 64 KiB, an outbox row too large for it is marked with the broker's reason, the
email it carried on fails with `broker_refused` (and its EmailFailed is published), and every
row behind it is published in the same run of the relay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailroute.adapters.db import outbox
from mailroute.adapters.db.pool import Pool
from mailroute.bootstrap import build_producer
from mailroute.bootstrap.adapters import outbox_relay
from mailroute.config.settings import Settings
from mailroute.events import queues
from mailroute.services.intake import Intake
from tests.chaos.services import PrivateRabbit, private_rabbit
from tests.conftest import TestCompany, email_request, queue_depth

pytestmark = pytest.mark.chaos

BEHIND = 20


@pytest.fixture
def small_rabbit() -> Iterator[PrivateRabbit]:
    with private_rabbit("max_message_size = 65536") as rabbit:
        yield rabbit


@pytest.fixture
def node_settings(settings: Settings, small_rabbit: PrivateRabbit) -> Settings:
    env = {"DATABASE_URL": settings.database_url, "RABBITMQ_URL": small_rabbit.url}
    return Settings.from_env(env)


@pytest.fixture
def intake(node_settings: Settings, database: Pool) -> Iterator[Intake]:
    producer = build_producer(node_settings)
    yield producer.intake
    producer.close()


def _email(database: Pool, email_id: str) -> dict[str, Any]:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT status, error_code, error_message FROM emails WHERE id = %s", (email_id,)
        ).fetchone()
    assert row is not None
    return dict(row)


def test_a_row_the_broker_refuses_fails_its_email_and_the_rows_behind_it_are_published(
    node_settings: Settings, database: Pool, intake: Intake, company: TestCompany
) -> None:
    first = intake.accept(email_request(company, attachments=[]), company_id=company.id)
    behind = [
        intake.accept(email_request(company, attachments=[]), company_id=company.id)
        for _ in range(BEHIND)
    ]
    depth_before = queue_depth(node_settings.rabbitmq_url, queues.DISPATCH)
    with database.connection() as conn:
        # A task too large for this node, ahead of twenty small rows.
        refused_id = outbox.add_task(
            conn, queues.DISPATCH, queues.ROUTE_EMAIL, [first.email_id, "x" * 100_000]
        )
        waiting = [
            outbox.add_task(conn, queues.DISPATCH, queues.ROUTE_EMAIL, [a.email_id]) for a in behind
        ]

    relay = outbox_relay(node_settings, database)
    try:
        while relay.relay_waiting() > 0:
            pass
    finally:
        relay.close()

    with database.connection() as conn:
        rows = {
            r["id"]: r
            for r in conn.execute(
                "SELECT id, published_at, refused_reason FROM outbox_events WHERE id = ANY(%s)",
                ([refused_id, *waiting],),
            ).fetchall()
        }
        failed_events = conn.execute(
            "SELECT payload FROM outbox_events WHERE routing_key = 'email.failed'"
            " AND payload->>'email_id' = %s",
            (first.email_id,),
        ).fetchall()
    assert "larger than configured max size" in rows[refused_id]["refused_reason"]
    assert all(rows[i]["published_at"] is not None for i in waiting)
    assert all(rows[i]["refused_reason"] is None for i in waiting)
    assert queue_depth(node_settings.rabbitmq_url, queues.DISPATCH) == depth_before + BEHIND
    email = _email(database, first.email_id)
    assert email["status"] == "failed"
    assert email["error_code"] == "broker_refused"
    assert "larger than configured max size" in email["error_message"]
    assert [e["payload"]["error_code"] for e in failed_events] == ["broker_refused"]
