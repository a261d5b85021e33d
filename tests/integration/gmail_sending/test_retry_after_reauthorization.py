"""After a re-authorization: retry one failed email over HTTP, or all that failed meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mailroute.adapters.db.pool import Pool
from mailroute.bootstrap.adapters import connection_store, dependencies
from mailroute.config.settings import Settings
from mailroute.core.records import ConnectionRecord
from mailroute.services import dispatching
from mailroute.services.dependencies import Dependencies
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import TestCompany
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.stack import Process


@pytest.fixture
def deps(settings: Settings, broker: Any, database: Pool) -> Dependencies:
    return dependencies(settings, broker, database, connection_store(settings, database))


def _broken_then_failed(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    count: int,
) -> list[str]:
    google.user_revokes(gmail_company.account)
    ids = [publish(gmail_company) for _ in range(count)]
    for email_id in ids:
        assert finished(email_id)["error_code"] == "gmail_not_connected"
    return ids


def test_the_emails_that_failed_while_not_connected_are_counted_and_sent_after_reauthorizing(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    deps: Dependencies,
    connect_gmail: Callable[[TestCompany, str], ConnectionRecord],
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    email_row: Callable[[str], dict[str, Any] | None],
    worker: Process,
) -> None:
    ids = _broken_then_failed(gmail_company, google, publish, finished, 3)
    assert dispatching.count_failed_while_not_connected(gmail_company.id, deps) == 0

    connect_gmail(gmail_company.company, gmail_company.account)
    assert dispatching.count_failed_while_not_connected(gmail_company.id, deps) == 3
    assert dispatching.retry_failed_while_not_connected(gmail_company.id, deps) == 3

    for email_id in ids:
        row = finished(email_id)
        assert row["status"] == "sent", row["error_message"]
        assert row["route"] == "gmail"
    sent = google.gmail_sent(gmail_company.account)
    assert sorted(m["message_id"] for m in sent) == sorted(
        f"<{email_id}@acme-sandbox.test>" for email_id in ids
    )
    assert dispatching.count_failed_while_not_connected(gmail_company.id, deps) == 0


def test_post_retry_sends_a_failed_email_again_and_refuses_one_that_is_not_failed(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    api: httpx.Client,
    connect_gmail: Callable[[TestCompany, str], ConnectionRecord],
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    if "/v1/emails/{email_id}/retry" not in api.get("/openapi.json").json()["paths"]:
        pytest.skip("the retry router is not mounted in app.py yet")
    company = gmail_company.company
    [email_id] = _broken_then_failed(gmail_company, google, publish, finished, 1)

    still_broken = api.post(f"/v1/emails/{email_id}/retry", headers=company.headers("sender"))
    assert still_broken.status_code == 409
    assert still_broken.json()["error"]["code"] == "gmail_not_connected"

    connect_gmail(company, gmail_company.account)
    response = api.post(f"/v1/emails/{email_id}/retry", headers=company.headers("sender"))
    assert response.status_code == 202, response.text
    row = finished(email_id)
    assert row["status"] == "sent"

    again = api.post(f"/v1/emails/{email_id}/retry", headers=company.headers())
    assert again.status_code == 409
    [field] = again.json()["error"]["fields"]
    assert (field["field"], field["rule"]) == ("status", "must_be_failed")
