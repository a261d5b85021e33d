"""What an attacker or a sloppy producer sends that no field rule can see: JSON nested past any
parser's patience, raw queue messages holding NUL or not even JSON, ids in the other forms a
UUID parser accepts. Each is refused, naming the field and the rule, never a 500 or a retry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mailroute.adapters.db.pool import Pool
from mailroute.config.settings import Settings
from mailroute.events import queues
from mailroute.services.intake import Intake
from tests.conftest import SandboxClient, TestCompany, email_request, final_email, queue_depth
from tests.integration.pipeline.doors import (
    put_on_dispatch,
    refused_by_publish,
    rejection,
    stored_emails,
)
from tests.settled import broker_idle
from tests.stack import Process, wait_for


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def intake(database: Any, broker_vhost: str, settings: Any) -> Iterator[Intake]:
    from mailroute.bootstrap import build_producer

    producer = build_producer(settings)
    yield producer.intake
    producer.close()


@pytest.mark.parametrize("depth", [33, 100_000])
def test_json_nested_too_deep_is_refused_over_http_naming_the_body(
    api: httpx.Client, company: TestCompany, database: Pool, depth: int
) -> None:
    body = b'{"to": ["a@example.com"], "subject": "x", "text": ' + b"[" * depth
    body += b"1" + b"]" * depth + b"}"

    response = api.post(
        "/v1/emails",
        content=body,
        headers={**company.headers(), "Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.text
    [problem] = response.json()["error"]["fields"]
    assert (problem["field"], problem["rule"]) == ("body", "max_depth")
    assert stored_emails(database, company) == 0


def test_json_nested_as_deep_as_the_limit_is_read_and_judged_by_its_fields(
    api: httpx.Client, company: TestCompany
) -> None:
    response = api.post(
        "/v1/emails", json=email_request(company, text=_nested(31)), headers=company.headers()
    )

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["rule"] == "string"


def test_publish_refuses_a_nested_mapping_naming_the_key(
    intake: Intake, company: TestCompany, database: Pool
) -> None:
    body = email_request(company, company_id=company.id, metadata={"x": _nested(50)})

    assert refused_by_publish(intake, body) == [("metadata", "max_depth")]
    assert stored_emails(database, company) == 0


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, "(max_depth)"),
        ({"type": "EmailRequested", "notes": _nested(40)}, "notes: nested deeper"),
        ('{"type": "EmailRequested", "subject": "a\x00b"}', "not JSON"),
        ("\ud800\x00 not json", "not JSON"),
        (None, "an event is a JSON object"),
    ],
    ids=["deep json text", "deep object", "raw NUL in json text", "NUL and a surrogate", "null"],
)
def test_a_raw_message_the_reader_cannot_use_is_recorded_as_it_came_and_not_retried(
    broker: Any,
    worker: Process,
    database: Pool,
    broker_vhost: str,
    payload: Any,
    expected: str,
) -> None:
    message_id = put_on_dispatch(broker, payload)

    recorded = rejection(database, message_id)

    assert expected in recorded["reason"]
    if isinstance(payload, str) and "\x00" in payload:
        assert "\\x00" in recorded["payload"]  # kept, written as an escape PostgreSQL can store
    wait_for(lambda: broker_idle(broker_vhost), timeout=15, what="the dispatch queue to drain")


def test_a_raw_message_of_many_emails_fields_broken_at_once_names_each(
    broker: Any, worker: Process, database: Pool, company: TestCompany
) -> None:
    body = email_request(
        company, company_id=company.id, subject="a\u2028b", text="x\x00", to=["nobody"]
    )

    reason = rejection(database, put_on_dispatch(broker, body))["reason"]

    for part in ("subject: ", "(line_separator)", "text: ", "(control_characters)", "to[0]: "):
        assert part in reason
    assert stored_emails(database, company) == 0


@pytest.mark.parametrize("email_id", [7, "not-an-id", f"urn:uuid:{uuid.uuid4()}", None])
def test_a_route_task_whose_id_is_no_email_id_is_dead_lettered_at_once_not_retried(
    broker: Any,
    worker: Process,
    broker_vhost: str,
    settings: Settings,
    api: httpx.Client,
    company: TestCompany,
    email_id: Any,
) -> None:
    dead_before = queue_depth(settings.rabbitmq_url, "dispatch.XQ")

    put_on_dispatch(broker, email_id, actor=queues.ROUTE_EMAIL)

    wait_for(
        lambda: queue_depth(settings.rabbitmq_url, "dispatch.XQ") == dead_before + 1,
        timeout=15,
        what="the route task to be dead-lettered",
    )
    assert broker_idle(broker_vhost)  # ...at once: no retry waits on the delay queue
    accepted = api.post("/v1/emails", json=email_request(company), headers=company.headers())
    assert final_email(api, company, accepted.json()["id"])["status"] == "sent"


def _other_forms(email_id: str) -> list[str]:
    return [
        f"urn:uuid:{email_id}",
        "{" + email_id + "}",
        email_id.upper(),
        email_id.replace("-", ""),
        f"{email_id}%0A",
    ]


def test_an_email_id_is_only_its_canonical_form(
    api: httpx.Client, company: TestCompany, worker: Process, sandbox: SandboxClient
) -> None:
    accepted = api.post("/v1/emails", json=email_request(company), headers=company.headers())
    email_id = accepted.json()["id"]
    assert final_email(api, company, email_id)["status"] == "sent"

    for other in _other_forms(email_id):
        shown = api.get(f"/v1/emails/{other}", headers=company.headers())
        retried = api.post(f"/v1/emails/{other}/retry", headers=company.headers())
        for response in (shown, retried):
            assert response.status_code == 404, (other, response.text)
            [problem] = response.json()["error"]["fields"]
            assert (problem["field"], problem["rule"]) == ("email_id", "uuid")
    assert api.get(f"/v1/emails/{email_id}", headers=company.headers()).status_code == 200


def test_an_idempotency_key_header_meets_the_event_id_rules_and_a_refusal_names_it(
    api: httpx.Client, company: TestCompany, database: Pool
) -> None:
    response = api.post(
        "/v1/emails",
        json={k: v for k, v in email_request(company).items() if k != "event_id"},
        headers={**company.headers(), "Idempotency-Key": "k" * 201},
    )

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert response.json()["error"]["fields"][0]["rule"] == "max_length"
    assert stored_emails(database, company) == 0
