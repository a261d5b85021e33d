"""`publish_many` to companies on Gmail and on the default sender: each route's emails go on as
one batch, and each Gmail email is sent as the company's account, paced, once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mailroute.services.intake import Intake
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import TestCompany, email_request
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import Process


@pytest.fixture
def intake(database: Any, broker_vhost: str, settings: Any) -> Iterator[Intake]:
    from mailroute.bootstrap import build_producer

    producer = build_producer(settings)
    yield producer.intake
    producer.close()


def test_a_batch_for_gmail_and_the_default_sender_sends_each_by_its_route(
    intake: Intake,
    gmail_company: GmailCompany,
    company: TestCompany,
    google: GoogleSandbox,
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    gmail = [
        email_request(gmail_company.company, company_id=gmail_company.id, sender="gmail")
        for _ in range(5)
    ]
    default = [email_request(company, company_id=company.id) for _ in range(5)]

    accepted = intake.publish_many([e for pair in zip(gmail, default, strict=True) for e in pair])

    rows = [finished(a.email_id, timeout=30) for a in accepted]
    assert [r["status"] for r in rows] == ["sent"] * 10
    assert [r["route"] for r in rows] == ["gmail", "default"] * 5
    sent = google.gmail_sent(gmail_company.account)
    assert sorted(s["message_id"] for s in sent) == sorted(r["message_id"] for r in rows[::2])
