"""The dead-letter queue: each dead message listed with its reason, replayed once on demand,
and a poison message never loops."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import dramatiq
import httpx

from mailroute.adapters.db.companies import PostgresCompanies
from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.events import queues
from tests.conftest import SandboxClient, TestCompany, email_request, queue_depth
from tests.stack import MAILROUTE, Process, wait_for


def _dlq(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, "dlq", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _listed(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = _dlq(env, "list", "--queue", "dispatch")
    assert result.returncode == 0, result.stderr
    return {
        row["message_id"]: row
        for row in map(json.loads, result.stdout.splitlines())
        if row["message_id"]
    }


def test_dead_messages_are_listed_with_their_reason_and_replayed_once(
    stack_env: dict[str, str],
    settings: Settings,
    broker: Any,
    database: Pool,
    worker: Process,
    api: httpx.Client,
    company: TestCompany,
    sandbox: SandboxClient,
) -> None:
    # An email for a company that does not exist yet dies; so does a message that is not JSON.
    later_company = str(uuid.uuid4())
    request = {**email_request(company), "company_id": later_company}
    for_later: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.DISPATCH,
        actor_name=queues.DISPATCH_EMAIL,
        args=({**request, "type": "EmailRequested", "schema_version": 1},),
        kwargs={},
        options={},
    )
    poison: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.DISPATCH,
        actor_name=queues.DISPATCH_EMAIL,
        args=("{not json",),
        kwargs={},
        options={},
    )
    broker.enqueue(for_later)
    broker.enqueue(poison)
    listed = wait_for(
        lambda: (
            (rows := _listed(stack_env))
            and {for_later.message_id, poison.message_id} <= set(rows)
            and rows
        ),
        timeout=15,
        what="both messages in the dead-letter queue",
    )
    assert "no company" in listed[for_later.message_id]["reason"]
    assert "not JSON" in listed[poison.message_id]["reason"]
    assert listed[poison.message_id]["actor"] == queues.DISPATCH_EMAIL
    assert set(_listed(stack_env)) >= {for_later.message_id, poison.message_id}, (
        "listing consumed nothing"
    )

    # The company is created; replaying its message sends the email.
    PostgresCompanies(database).create(
        "Later Ltd", "billing@later.example", company_id=later_company
    )
    replayed = _dlq(stack_env, "replay", "--id", for_later.message_id)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.split() == [for_later.message_id]
    wait_for(
        lambda: sandbox.smtp_messages(rcpt=company.rcpt()), timeout=15, what="the replayed email"
    )

    # A poison message replayed fails once more and is dead again: it never loops.
    dead_before = queue_depth(settings.rabbitmq_url, "dispatch.XQ")
    assert _dlq(stack_env, "replay", "--id", poison.message_id).returncode == 0
    wait_for(
        lambda: poison.message_id in _listed(stack_env),
        timeout=15,
        what="the poison message dead again",
    )
    with database.connection() as conn:
        rejected = conn.execute(
            "SELECT count(*) AS n FROM rejected_messages WHERE message_id = %s",
            (poison.message_id,),
        ).fetchone()
    assert rejected is not None
    assert rejected["n"] == 2
    assert queue_depth(settings.rabbitmq_url, "dispatch.XQ") == dead_before


def test_replaying_an_unknown_id_names_it(stack_env: dict[str, str], broker: Any) -> None:
    result = _dlq(stack_env, "replay", "--id", "no-such-message")
    assert result.returncode != 0
    assert "no-such-message" in result.stderr
