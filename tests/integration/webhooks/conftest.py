"""Outcome webhooks against the real stack: a database and vhost of their own (the private
stack), with a worker, the clock and a web process started with settings for tests — a short
retry schedule and the loopback address 127.0.0.1 allowed as a target, so the receivers the
tests start on it can be reached over plain HTTP — and the session's sandbox SMTP sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import SandboxClient, TestCompany, email_request
from tests.private_stack import PrivateStack, private_stack
from tests.stack import wait_for

# Eight retries within about 20 seconds.
RETRY_SCHEDULE = "1,1,2,2,3,3,4,4"
HOOKS_ENV = {
    "WEBHOOK_RETRY_SCHEDULE": RETRY_SCHEDULE,
    "WEBHOOK_ALLOWED_PRIVATE_NETWORKS": "127.0.0.1/32",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "2",
}


@pytest.fixture(scope="package")
def hooks_stack(stack_env: dict[str, str], sandbox: SandboxClient) -> Iterator[PrivateStack]:
    with private_stack(stack_env, **HOOKS_ENV) as stack:
        stack.worker()
        stack.start("webhooks-clock", ["clock"])
        yield stack


@pytest.fixture(scope="package")
def hooks_web(hooks_stack: PrivateStack) -> httpx.Client:
    return hooks_stack.web()


@dataclass
class Hooks:
    """One company's admin, speaking to the webhook API of the stack."""

    api: httpx.Client
    company: TestCompany

    def register(self, url: str, event_types: list[str] | None = None) -> tuple[str, str]:
        """A new endpoint: its id and its signing secret."""
        response = self.api.post(
            "/v1/webhooks",
            json={"url": url, "event_types": event_types or ["email.*"]},
            headers=self.company.headers(),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["id"], body["secret"]

    def get(self, path: str) -> Any:
        response = self.api.get(f"/v1/webhooks{path}", headers=self.company.headers())
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, **json: Any) -> httpx.Response:
        return self.api.post(
            f"/v1/webhooks{path}", json=json or None, headers=self.company.headers()
        )

    def deliveries(self, endpoint_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get(f"/{endpoint_id}/deliveries?limit=100")["deliveries"]
        return found

    def wait_deliveries(
        self,
        endpoint_id: str,
        done: Callable[[list[dict[str, Any]]], bool],
        *,
        timeout: float = 30.0,
        what: str = "the deliveries",
    ) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            found = self.deliveries(endpoint_id)
            return found if done(found) else None

        result: list[dict[str, Any]] = wait_for(check, timeout=timeout, what=what)
        return result

    def send_email(self) -> str:
        """An email of the company, through the default SMTP sender; its id."""
        response = self.api.post(
            "/v1/emails",
            json=email_request(self.company, attachments=[]),
            headers=self.company.headers(),
        )
        assert response.status_code == 202, response.text
        email_id: str = response.json()["id"]
        return email_id


@pytest.fixture
def make_hooks(hooks_stack: PrivateStack, hooks_web: httpx.Client) -> Callable[[], Hooks]:
    def make() -> Hooks:
        return Hooks(hooks_web, hooks_stack.company())

    return make


@pytest.fixture
def hooks(make_hooks: Callable[[], Hooks]) -> Hooks:
    return make_hooks()


def endpoint_sql(stack: PrivateStack, statement: str, endpoint_id: str, *values: Any) -> None:
    """Change an endpoint's row as time would have: `values`, then its id, fill the `%s`."""
    with stack.pool.connection() as conn:
        conn.execute(statement, (*values, endpoint_id))
