"""With RabbitMQ stopped, POST /v1/emails still answers 202 (the request waits in the outbox);
once RabbitMQ is back, every one of them is sent."""

from __future__ import annotations

import time

import httpx
import pytest

from mailroute.adapters.db.pool import Pool
from tests.chaos.services import private_rabbit
from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process, free_port, http_ready, running, wait_for

pytestmark = pytest.mark.chaos

REQUESTS = 100


def test_a_hundred_requests_accepted_while_rabbitmq_is_down_are_all_sent_after_it_restarts(
    stack_env: dict[str, str], database: Pool, sandbox: SandboxClient, company: TestCompany
) -> None:
    port = free_port()
    with private_rabbit() as rabbit:
        env = {**stack_env, "RABBITMQ_URL": rabbit.url, "WEB_PORT": str(port)}
        base = f"http://127.0.0.1:{port}"
        with (
            running(Process("down-web", ["web"], env), http_ready(base + "/healthz")),
            running(Process("down-clock", ["clock"], env), None),
            running(
                Process("down-worker", ["worker", "--processes", "2", "--threads", "8"], env), None
            ),
            httpx.Client(base_url=base, timeout=30) as api,
        ):
            rabbit.stop()
            assert api.get("/readyz").status_code == 503

            started = time.monotonic()
            ids = []
            for i in range(REQUESTS):
                response = api.post(
                    "/v1/emails",
                    json=email_request(company, event_id=f"broker-down-{i}", attachments=[]),
                    headers=company.headers(),
                )
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            answered_in = time.monotonic() - started

            rabbit.start()
            for email_id in ids:
                assert final_email(api, company, email_id, timeout=120)["status"] == "sent"
    wait_for(
        lambda: len(sandbox.smtp_messages(rcpt=company.rcpt())) >= REQUESTS,
        timeout=10,
        what="all in the sink",
    )
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == REQUESTS
    print(f"\nbroker down: {REQUESTS} requests answered 202 in {answered_in:.1f}s, all sent")  # noqa: T201
