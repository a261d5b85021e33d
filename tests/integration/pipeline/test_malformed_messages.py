"""A malformed message that reaches the dispatch queue anyway is recorded with its reason,
dead-lettered, never retried, and the worker keeps going."""

from __future__ import annotations

import uuid
from typing import Any

import dramatiq
import httpx
import pika

from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.events import queues
from tests.conftest import SandboxClient, TestCompany, email_request, final_email, queue_depth
from tests.stack import Process, wait_for


def _put(broker: Any, payload: Any) -> str:
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.DISPATCH,
        actor_name=queues.DISPATCH_EMAIL,
        args=(payload,),
        kwargs={},
        options={},
    )
    broker.enqueue(message)
    return message.message_id


def _rejection(database: Pool, message_id: str) -> dict[str, Any] | None:
    with database.connection() as conn:
        return conn.execute(
            "SELECT reason, payload FROM rejected_messages WHERE message_id = %s", (message_id,)
        ).fetchone()


def test_unreadable_events_are_recorded_dead_lettered_and_not_retried(
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
    broker: Any,
    database: Pool,
    settings: Settings,
) -> None:
    dead_before = queue_depth(settings.rabbitmq_url, "dispatch.XQ")
    bad_json = _put(broker, "{this is not json")
    missing = _put(broker, {"type": "EmailRequested", "schema_version": 1, "event_id": "x"})
    future = _put(broker, {**email_request(company, company_id=company.id), "schema_version": 99})
    unknown_company = _put(broker, {**email_request(company), "company_id": str(uuid.uuid4())})
    # Not even a dramatiq message: dramatiq cannot decode it and dead-letters it unread.
    connection = pika.BlockingConnection(pika.URLParameters(settings.rabbitmq_url))
    connection.channel().basic_publish("", queues.DISPATCH, b"\x00\xffgarbage")
    connection.close()

    reasons = {
        name: wait_for(lambda mid=mid: _rejection(database, mid), timeout=10, what=name)["reason"]
        for name, mid in [
            ("bad json", bad_json),
            ("missing fields", missing),
            ("future version", future),
            ("unknown company", unknown_company),
        ]
    }
    assert "not JSON" in reasons["bad json"]
    assert "company_id" in reasons["missing fields"]
    assert "required" in reasons["missing fields"]
    assert "unknown schema_version 99" in reasons["future version"]
    assert "no company" in reasons["unknown company"]
    wait_for(
        lambda: queue_depth(settings.rabbitmq_url, "dispatch.XQ") == dead_before + 5,
        timeout=10,
        what="five dead letters",
    )

    # ...and the worker keeps going.
    accepted = api.post("/v1/emails", json=email_request(company), headers=company.headers())
    assert final_email(api, company, accepted.json()["id"])["status"] == "sent"
    with database.connection() as conn:
        rows = conn.execute(
            "SELECT count(*) AS n FROM rejected_messages WHERE message_id = ANY(%s)",
            ([bad_json, missing, future, unknown_company],),
        ).fetchone()
    assert rows is not None
    assert rows["n"] == 4
