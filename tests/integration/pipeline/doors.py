"""The four doors an email request comes in by, as tests knock on them: HTTP (`POST /v1/emails`),
the CLI (`mailroute send`, a subprocess), Python `publish`, and a raw `EmailRequested` put on the
`dispatch` queue. Each answers what it refused, as (field, rule) pairs, or the accepted id.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import dramatiq
import httpx

from mailroute.adapters.db.pool import Pool
from mailroute.events import InvalidEventError, queues
from mailroute.services.intake import Intake
from tests.conftest import TestCompany
from tests.stack import MAILROUTE, wait_for

Refusal = list[tuple[str, str]]


def post_json(api: httpx.Client, company: TestCompany, body: Any) -> httpx.Response:
    """POST the body as JSON written with escapes only (a lone surrogate or NUL travels as
    `\\udXXX` / `\\u0000`, as any JSON library would send it)."""
    return api.post(
        "/v1/emails",
        content=json.dumps(body).encode(),
        headers={**company.headers(), "Content-Type": "application/json"},
    )


def refused_over_http(api: httpx.Client, company: TestCompany, body: Any) -> tuple[int, Refusal]:
    response = post_json(api, company, body)
    fields = response.json().get("error", {}).get("fields", []) if response.content else []
    return response.status_code, [(f["field"], f["rule"]) for f in fields]


def refused_by_publish(intake: Intake, body: Any) -> Refusal | None:
    try:
        intake.publish(body)
    except InvalidEventError as exc:
        return [(p.field, p.rule) for p in exc.problems]
    return None


def put_on_dispatch(broker: Any, payload: Any, actor: str = queues.DISPATCH_EMAIL) -> str:
    """A raw message on the dispatch queue, as a producer of our wire format would put it."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queues.DISPATCH, actor_name=actor, args=(payload,), kwargs={}, options={}
    )
    broker.enqueue(message)
    return message.message_id


def rejection(database: Pool, message_id: str, timeout: float = 15) -> dict[str, Any]:
    """The rejected_messages row the worker wrote for the message (waits for it)."""

    def row() -> dict[str, Any] | None:
        with database.connection() as conn:
            found: dict[str, Any] | None = conn.execute(
                "SELECT reason, payload FROM rejected_messages WHERE message_id = %s",
                (message_id,),
            ).fetchone()
        return found

    result: dict[str, Any] = wait_for(row, timeout=timeout, what=f"rejection of {message_id}")
    return result


def cli_send(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAILROUTE, "send", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored_emails(database: Pool, company: TestCompany) -> int:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM emails WHERE company_id = %s", (company.id,)
        ).fetchone()
    assert row is not None
    return int(row["n"])
