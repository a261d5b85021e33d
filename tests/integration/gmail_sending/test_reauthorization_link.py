"""The mailbox owner's re-authorization link, over HTTP against the real web app, worker,
sandbox and PostgreSQL: the break's notice carries it; a browser with no mailroute session
opens it (spending nothing), confirms, signs in at Google as the same account, and the
connection is Active again with one "Active again" notice. The link works once, for its own
account only, and not after it expired."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mailroute.adapters.db.connections import PostgresConnections
from mailroute.adapters.db.pool import Pool
from mailroute.core.records import ConnectionRecord
from mailroute_sandbox.client import SandboxClient as GoogleSandbox
from tests.conftest import SandboxClient
from tests.integration.gmail_sending.conftest import GmailCompany
from tests.settled import settled
from tests.stack import Process, wait_for

_LINK = re.compile(r"https?://\S+?/reauthorize/[A-Za-z0-9_\-]+")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def owner(web: str) -> Iterator[httpx.Client]:
    """The mailbox owner's browser: its own cookie jar, never signed in to mailroute."""
    with httpx.Client(base_url=web, timeout=30.0) as client:
        if client.get("/reauthorize/probe").status_code == 404:
            pytest.skip("the re-authorization routes are not mounted in app.py yet")
        yield client


def _messages(sandbox: SandboxClient, rcpt: str, subject_start: str) -> list[dict[str, Any]]:
    found = sandbox.smtp_messages(rcpt=rcpt)
    return [m for m in found if m["subject"].startswith(subject_start)]


def _broken_with_link(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
) -> str:
    """Revoke at Google, send one email (it fails): the one notice's re-authorization link."""
    google.user_revokes(gmail_company.account)
    assert finished(publish(gmail_company))["error_code"] == "gmail_not_connected"
    rcpt = gmail_company.company.admin_email
    [notice] = wait_for(
        lambda: _messages(sandbox, rcpt, "Action needed"), timeout=20, what="the notice"
    )
    found = _LINK.search(notice["text"])
    assert found is not None, notice["text"]
    assert "works once, for 7 days" in notice["text"]
    return urlsplit(found.group(0)).path


def _confirm(owner: httpx.Client, path: str) -> str:
    """Open the link (twice, as a link scanner would first) and press its button: where the
    browser is sent to sign in."""
    assert owner.get(path).status_code == 200
    page = owner.get(path)
    assert page.status_code == 200, page.text
    csrf = _CSRF.search(page.text)
    assert csrf is not None
    started = owner.post(path, data={"csrf": csrf.group(1)})
    assert started.status_code == 303, started.text
    location: str = started.headers["location"]
    return location


def _signs_in(
    owner: httpx.Client, sandbox: SandboxClient, auth_url: str, account: str
) -> httpx.Response:
    answer = sandbox.post(
        "/_sandbox/oauth/approve", auth_url=auth_url, account=account, grant_send=True
    )
    parts = urlsplit(answer["redirect_url"])
    return owner.get(parts.path + "?" + parts.query)


def _record(connections: PostgresConnections, gmail_company: GmailCompany) -> ConnectionRecord:
    record = connections.for_company(gmail_company.id)
    assert record is not None
    return record


def test_the_owner_reauthorizes_from_the_notice_once_and_the_admins_hear_it_is_active_again(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    owner: httpx.Client,
    connections: PostgresConnections,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    database: Pool,
    broker_vhost: str,
    worker: Process,
) -> None:
    path = _broken_with_link(gmail_company, google, sandbox, publish, finished)
    broken = _record(connections, gmail_company)
    assert broken.state == "not_connected"

    auth_url = _confirm(owner, path)
    assert "login_hint=" + gmail_company.account.replace("@", "%40") in auth_url
    result = _signs_in(owner, sandbox, auth_url, gmail_company.account)

    assert result.status_code == 200, result.text
    assert 'data-ok="true"' in result.text
    after = _record(connections, gmail_company)
    assert (after.state, after.generation) == ("active", broken.generation + 1)
    assert after.connected_by == broken.connected_by
    rcpt = gmail_company.company.admin_email
    [again] = wait_for(
        lambda: _messages(sandbox, rcpt, "Active again"), timeout=20, what="Active again"
    )
    assert gmail_company.account in again["subject"]
    wait_for(lambda: settled(database, broker_vhost, connection_id=after.id), what="the rest")
    assert len(_messages(sandbox, rcpt, "Active again")) == 1

    assert owner.get(path).status_code == 400
    assert owner.get("/settings/email").status_code == 401  # the link signs nobody in


def test_signing_in_as_another_account_is_refused_and_connects_nothing(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    owner: httpx.Client,
    connections: PostgresConnections,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    worker: Process,
) -> None:
    path = _broken_with_link(gmail_company, google, sandbox, publish, finished)
    broken = _record(connections, gmail_company)
    other = f"someone.{gmail_company.company.tag}@acme-sandbox.test"
    google.add_account(other, name="Someone Else")

    result = _signs_in(owner, sandbox, _confirm(owner, path), other)

    assert result.status_code == 403, result.text
    assert 'data-code="reauthorization_wrong_account"' in result.text
    assert "Nothing was connected" in result.text
    after = _record(connections, gmail_company)
    assert (after.state, after.generation, after.address) == (
        "not_connected",
        broken.generation,
        gmail_company.account,
    )
    assert owner.get(path).status_code == 200  # the owner may still sign in as themselves


def test_an_expired_link_is_refused(
    gmail_company: GmailCompany,
    google: GoogleSandbox,
    sandbox: SandboxClient,
    owner: httpx.Client,
    connections: PostgresConnections,
    publish: Callable[..., str],
    finished: Callable[..., dict[str, Any]],
    database: Pool,
    worker: Process,
) -> None:
    path = _broken_with_link(gmail_company, google, sandbox, publish, finished)
    auth_url = _confirm(owner, path)
    with database.connection() as conn:
        conn.execute(
            "UPDATE reauthorization_links SET expires_at = now() - interval '1 second'"
            " WHERE connection_id = %s",
            (gmail_company.connection_id,),
        )

    assert owner.get(path).status_code == 400
    result = _signs_in(owner, sandbox, auth_url, gmail_company.account)

    assert result.status_code == 410, result.text
    assert _record(connections, gmail_company).state == "not_connected"
