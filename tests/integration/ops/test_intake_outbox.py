"""HTTP intake keeps accepting while RabbitMQ cannot be reached: requests wait in the outbox and
the clock's relay publishes them once it can."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SandboxClient, TestCompany, email_request, final_email
from tests.stack import Process, free_port, http_ready, running


@pytest.fixture
def cut_off_web(stack_env: dict[str, str], database: object) -> Iterator[httpx.Client]:
    """A web process whose RabbitMQ is unreachable (nothing listens on its port)."""
    port = free_port()
    env = {
        **stack_env,
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
        "WEB_PORT": str(port),
    }
    with (
        running(
            Process("web-cut-off", ["web"], env), http_ready(f"http://127.0.0.1:{port}/healthz")
        ),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client


def test_requests_accepted_without_a_broker_are_sent_once_the_relay_runs(
    cut_off_web: httpx.Client,
    api: httpx.Client,
    stack_env: dict[str, str],
    company: TestCompany,
    sandbox: SandboxClient,
    worker: Process,
) -> None:
    ids = []
    for i in range(5):
        response = cut_off_web.post(
            "/v1/emails",
            json=email_request(company, event_id=f"outbox-{i}"),
            headers=company.headers(),
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    assert cut_off_web.get("/readyz").json()["checks"]["broker"].startswith("unavailable")
    assert api.get(f"/v1/emails/{ids[0]}", headers=company.headers()).json()["status"] == "accepted"

    with running(Process("clock", ["clock"], stack_env), None):
        for email_id in ids:
            assert final_email(api, company, email_id, timeout=30)["status"] == "sent"
    assert len(sandbox.smtp_messages(rcpt=company.rcpt())) == 5
